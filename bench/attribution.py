"""The attribution check measured on SciFact: is a claim supported by the abstract it cites?

    python bench/attribution.py            # about 5 minutes on 2 cores

Pairs (claim, abstract), scored as the product scores (answer sentence, cited abstract)
(:mod:`assistant.generation.attribution`):

* positives: each claim against the abstracts annotated as SUPPORTing it;
* negatives: the same claims against the top non-gold abstracts the project's own retriever
  (hybrid) returns for them from the 5,183 SciFact abstracts: same topic, not the source;
* shown apart, not in precision/recall: abstracts annotated as CONTRADICTing the claim (on the
  same point, so a closeness check passes them) and cited abstracts without evidence (NEI).

Claims are split into a tuning and a held-out half by a hash of their id. On the tuning half
the overlap weight and the threshold are chosen (max F1 of "supported"); both halves are
reported with them, beside two baselines tuned the same way: cosine alone, overlap alone. The
product's constants (``OVERLAP_WEIGHT``, ``SUPPORT_THRESHOLD``) are reported too.
Reads /work/shared/bench/scifact and the SciFact index bench/results/index-scifact-*
(built by bench/heldout.py or bench/retrieval.py; built here if missing). Writes
bench/results/attribution.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assistant.evaluation import load_beir  # noqa: E402
from assistant.generation.attribution import (  # noqa: E402
    ABSTRACT_OVERLAP_WEIGHT,
    OVERLAP_WEIGHT,
    SUPPORT_THRESHOLD,
    pair_signals,
    support_score,
)
from assistant.index.paper_index import PaperIndex  # noqa: E402
from assistant.records import Paper  # noqa: E402
from assistant.retrieval.retriever import RetrievalOptions, Retriever  # noqa: E402
from assistant.settings import Settings  # noqa: E402

SCIFACT = Path("/work/shared/bench/scifact")
NEGATIVES_PER_CLAIM = 3
#: The export glues each abstract's sentences together ("...disabilities.A line scan..."):
#: where a period meets a capital letter, the original sentences met.
GLUED = re.compile(r"(?<=[a-z0-9)%\]])\.(?=[A-Z])")


def original_sentences(abstract: str) -> list[str]:
    """The export's sentences, as numbered by the evidence annotations."""
    return [s.strip() + ("" if s.strip().endswith(".") else ".") for s in GLUED.split(abstract)]


def unglued(paper: Paper) -> Paper:
    """The paper as an abstract is normally written: sentences apart."""
    return paper.model_copy(update={"abstract": GLUED.sub(". ", paper.abstract)})


WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5)
ABSTRACT_WEIGHTS = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0)


def tuning_half(claim_id: str) -> bool:
    return int(hashlib.sha1(f"attribution:{claim_id}".encode()).hexdigest(), 16) % 2 == 0


def collect(index: PaperIndex, folder: Path, limit: int | None = None) -> list[dict]:
    """One row per (claim, abstract): kind, half, and every abstract sentence's signals."""
    papers = {p.paper_id: unglued(p) for p in index.catalog.iter_papers()}
    raw_abstracts = {}
    for line in (folder / "corpus.jsonl").open(encoding="utf-8"):
        record = json.loads(line)
        raw_abstracts[str(record["doc_id"])] = original_sentences(" ".join(record["abstract"]))
    retriever = Retriever(index)
    rows: list[dict] = []
    claims = [json.loads(line) for line in (folder / "claims_train.jsonl").open()][:limit]
    started = time.perf_counter()
    for i, claim in enumerate(claims):
        cid, text = str(claim["id"]), claim["claim"]
        labels = {doc: {e["label"] for e in ev} for doc, ev in claim["evidence"].items()}
        gold = set(labels) | {str(d) for d in claim["cited_doc_ids"]}
        pairs: list[tuple[str, str, list[str]]] = []  # doc, kind, rationale sentences
        for doc, kinds in labels.items():
            numbers = [s for e in claim["evidence"][doc] for s in e["sentences"]]
            sentences = raw_abstracts[doc]
            # not checked where the sentences could not be told apart as annotated
            fits = all(s < len(sentences) for s in numbers)
            rationale = [sentences[s] for s in numbers] if fits else []
            pairs.append((doc, "support" if "SUPPORT" in kinds else "contradict", rationale))
        pairs.extend((d, "nei", []) for d in sorted(gold - set(labels)))
        if any(kind == "support" for _d, kind, _r in pairs):
            hits = retriever.search(text, RetrievalOptions(k=10)).results
            others = [h.paper_id for h in hits if h.paper_id not in gold]
            pairs.extend((d, "negative", []) for d in others[:NEGATIVES_PER_CLAIM])
        pairs = [p for p in pairs if p[0] in papers]
        signals = pair_signals(index, [(text, papers[doc]) for doc, _k, _r in pairs])
        for (doc, kind, rationale), (scored, whole) in zip(pairs, signals, strict=True):
            rows.append(
                {
                    "claim": cid,
                    "doc": doc,
                    "kind": kind,
                    "tuning": tuning_half(cid),
                    "rationale": rationale,
                    "sentences": scored,
                    "abstract_overlap": whole,
                }
            )
        if (i + 1) % 100 == 0:
            print(
                f"{i + 1}/{len(claims)} claims, {time.perf_counter() - started:.0f} s",
                file=sys.stderr,
            )
    return rows


def best(row: dict, method: str, weight: float, abstract_weight: float = 0.0) -> tuple[float, str]:
    """The row's score and evidence sentence under a method."""
    scored = row["sentences"]
    if not scored:
        return 0.0, ""
    if method == "with abstract":
        score, text = best(row, "combined", weight)
        return score + abstract_weight * row["abstract_overlap"], text
    if method == "cosine":
        text, cosine, _overlap = max(scored, key=lambda t: t[1])
        return cosine, text
    if method == "overlap":
        text, _cosine, overlap = max(scored, key=lambda t: t[2])
        return overlap, text
    text, cosine, overlap = max(scored, key=lambda t: support_score(t[1], t[2], weight))
    return support_score(cosine, overlap, weight), text


def prf(scores: list[tuple[float, bool]], threshold: float) -> dict[str, float]:
    tp = sum(s >= threshold and p for s, p in scores)
    fp = sum(s >= threshold and not p for s, p in scores)
    fn = sum(s < threshold and p for s, p in scores)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def auc(scores: list[tuple[float, bool]]) -> float:
    """Probability that a positive outscores a negative (ties count half)."""
    ordered = sorted(scores)
    positives = sum(p for _s, p in scores)
    negatives = len(scores) - positives
    rank_sum, i = 0.0, 0
    while i < len(ordered):
        j = i
        while j < len(ordered) and ordered[j][0] == ordered[i][0]:
            j += 1
        mid = (i + j + 1) / 2  # average 1-based rank of the tie group
        rank_sum += mid * sum(p for _s, p in ordered[i:j])
        i = j
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


GOALS = ("max F1", "recall >= 0.9")


def best_threshold(scores: list[tuple[float, bool]], goal: str = "max F1") -> tuple[float, float]:
    """The threshold meeting ``goal`` on the given scores, and the goal's value there.

    "max F1": the highest F1; "recall >= 0.9": the highest precision among the thresholds
    that keep nine supported citations in ten passing (few right citations flagged).
    """
    candidates = sorted({round(s, 4) for s, _p in scores})
    best_t, best_value = candidates[0], -1.0
    for t in candidates:
        m = prf(scores, t)
        value = m["f1"] if goal == "max F1" else (m["precision"] if m["recall"] >= 0.9 else -1)
        if value > best_value:
            best_t, best_value = t, value
    return best_t, best_value


def labelled(
    rows: list[dict], method: str, weight: float, tuning: bool, abstract_weight: float = 0.0
) -> list[tuple[float, bool]]:
    return [
        (best(r, method, weight, abstract_weight)[0], r["kind"] == "support")
        for r in rows
        if r["tuning"] == tuning and r["kind"] in ("support", "negative")
    ]


def evaluate(
    rows: list[dict], method: str, weight: float, threshold: float, abstract_weight: float = 0.0
) -> dict:
    out: dict = {"weight": weight, "threshold": threshold}
    if method == "with abstract":
        out["abstract_weight"] = abstract_weight
    for name, tuning in (("tuning", True), ("heldout", False)):
        scores = labelled(rows, method, weight, tuning, abstract_weight)
        wrong = [sc for sc, positive in scores if not positive]
        flagged = sum(sc < threshold for sc in wrong) / len(wrong) if wrong else None
        out[name] = {
            **prf(scores, threshold),
            "auc": auc(scores),
            "pairs": len(scores),
            "wrong_flagged": flagged,
        }
    return out


def quantiles(values: list[float]) -> dict[str, float]:
    if len(values) < 2:
        return {}
    q = statistics.quantiles(values, n=10)
    return {
        "p10": q[0],
        "p25": statistics.quantiles(values, n=4)[0],
        "p50": q[4],
        "p75": statistics.quantiles(values, n=4)[2],
        "p90": q[8],
    }


def product_score(row: dict) -> tuple[float, str]:
    return best(row, "with abstract", OVERLAP_WEIGHT, ABSTRACT_OVERLAP_WEIGHT)


def _plain(sentence: str) -> str:
    return " ".join(sentence.split()).rstrip(".")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--scifact", type=Path, default=SCIFACT)
    parser.add_argument(
        "--cached", action="store_true", help="reuse the scored pairs of the last run"
    )
    parser.add_argument(
        "--claims", type=int, help="only the first N claims (a quick check; nothing written)"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    model = Settings().embedding_model
    index = PaperIndex(Settings(index_dir=args.results / f"index-scifact-{model}"))
    corpus = load_beir(args.scifact).corpus
    if index.catalog.count_papers() < len(corpus):  # built once (bench/heldout.py builds it too)
        index.ingest(corpus, wait=True)
    cache = args.results / "attribution-pairs.json"
    if args.cached and cache.is_file():
        rows = json.loads(cache.read_text())
    else:
        rows = collect(index, args.scifact, args.claims)
        if args.claims is None:
            cache.write_text(json.dumps(rows))
    methods: dict[str, dict] = {}
    families = {  # name: (method, [(weight, abstract weight)])
        "cosine alone": ("cosine", [(0.0, 0.0)]),
        "overlap alone": ("overlap", [(0.0, 0.0)]),
        "cosine + overlap": ("combined", [(w, 0.0) for w in WEIGHTS]),
        "cosine + overlap + abstract overlap": (
            "with abstract",
            [(w, v) for w in WEIGHTS for v in ABSTRACT_WEIGHTS],
        ),
    }
    for goal in GOALS:  # weights and threshold chosen together, on the tuning half only
        for name, (method, grid) in families.items():
            tuned = max(
                (
                    (w, v, *best_threshold(labelled(rows, method, w, True, v), goal))
                    for w, v in grid
                ),
                key=lambda t: t[3],
            )
            methods[f"{name} ({goal})"] = evaluate(rows, method, tuned[0], tuned[2], tuned[1])
    methods["product constants"] = evaluate(
        rows, "with abstract", OVERLAP_WEIGHT, SUPPORT_THRESHOLD, ABSTRACT_OVERLAP_WEIGHT
    )
    distribution = {}
    evidence_hits = evidence_total = 0
    for kind in ("support", "negative", "contradict", "nei"):
        chosen = [r for r in rows if r["kind"] == kind]
        values = [product_score(r)[0] for r in chosen]
        distribution[kind] = {
            "pairs": len(values),
            "passing": sum(v >= SUPPORT_THRESHOLD for v in values) / len(values)
            if values
            else None,
            **quantiles(values),
        }
    for r in rows:
        if r["kind"] == "support" and r["rationale"]:
            text = _plain(product_score(r)[1])
            evidence_total += 1
            evidence_hits += any(_plain(s) in text or text in _plain(s) for s in r["rationale"])
    out = {
        "pairs": len(rows),
        "claims": len({r["claim"] for r in rows}),
        "negatives_per_claim": NEGATIVES_PER_CLAIM,
        "weights_tried": list(WEIGHTS),
        "methods": methods,
        "score_distribution": distribution,
        "evidence_is_a_gold_rationale_sentence": evidence_hits / evidence_total,
        "positives_with_rationale_checked": evidence_total,
        "seconds": round(time.perf_counter() - started),
    }
    args.results.mkdir(parents=True, exist_ok=True)
    if args.claims is None:  # a quick check is not the result
        (args.results / "attribution.json").write_text(json.dumps(out, indent=2))
    print(f"{'method':46} {'w':>5} {'thr':>6}  tuning P/R/F1/AUC          held-out P/R/F1/AUC")
    for name, m in methods.items():
        cells = [
            "/".join(f"{m[h][k]:.2f}" for k in ("precision", "recall", "f1", "auc"))
            for h in ("tuning", "heldout")
        ]
        print(f"{name:46} {m['weight']:5.2f} {m['threshold']:6.3f}  {cells[0]:26} {cells[1]}")
    print(json.dumps({k: v for k, v in out.items() if k != "methods"}, indent=2))


if __name__ == "__main__":
    main()
