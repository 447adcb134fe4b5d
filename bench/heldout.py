"""Quality on questions nobody tuned on: a tuning part and a held-out part, grown by procedures.

    python bench/heldout.py                 # bundled corpus + SciFact, both parts, three methods
    python bench/heldout.py --skip-scifact  # bundled corpus only (about 2 minutes)

Every question gets a part from a hash of its source and id (``part_of``), never by hand:
- ``bench/devset.jsonl`` is all tuning (the fusion and the coverage model were fitted on it);
- ``../shared/bench/questions/seeds_tuning.jsonl`` (written independently of the dev set) is
  split half and half;
- SciFact train claims over its 5,183 abstracts are split half and half;
- corpus ablation makes unanswerable questions on both corpora: the gold papers of a hashed
  third of the answerable lookups, citations and claims are left out of a second index (with
  any paper of the same normalised title or most of the same text), and those questions become
  unanswerable there; the questions whose gold stays are the answerable ones of that index.
  Ablated questions keep the part of the question they came from;
- cross-corpus: every answerable question of one corpus asked of the other (SciFact claims of
  the bundled LLM papers, the bundled questions of SciFact's biomedical abstracts) is
  unanswerable there, and keeps its part.
Each table row prints the tuning figure and the held-out figure side by side, for BM25 alone,
dense alone and the hybrid (the default); on the bundled corpus, also the share of extractive
answers to lookups whose first citation is a gold paper. Indexes are built once under
bench/results/.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assistant.demo_data import bundled_corpus_dir  # noqa: E402
from assistant.evaluation import (  # noqa: E402
    EvalQuestion,
    evaluate,
    load_beir,
    load_questions_jsonl,
    resolve_gold,
)
from assistant.index.paper_index import PaperIndex  # noqa: E402
from assistant.ingest.dedup import merge_duplicates  # noqa: E402
from assistant.ingest.readers import read_paths  # noqa: E402
from assistant.ingest.text import normalize_title  # noqa: E402
from assistant.records import Paper  # noqa: E402
from assistant.retrieval.retriever import Method, RetrievalOptions, Retriever  # noqa: E402
from assistant.settings import Settings  # noqa: E402

METHODS: tuple[Method, ...] = ("bm25", "dense", "hybrid")
SHARED = REPO.parent / "shared" / "bench"
SALT = "heldout-v1"  # changing it reshuffles every split: never do it to improve a figure


def part_of(source: str, qid: str) -> str:
    """'tune' or 'heldout', from a hash: the same question always falls on the same side."""
    digest = hashlib.sha256(f"{SALT}:{source}:{qid}".encode()).digest()
    return "heldout" if digest[0] % 2 else "tune"


def ablated(source: str, qid: str) -> bool:
    """Whether this question's gold papers are left out of the ablated index (one in three)."""
    digest = hashlib.sha256(f"{SALT}:ablate:{source}:{qid}".encode()).digest()
    return digest[1] % 3 == 0


@dataclass
class Item:
    question: EvalQuestion
    part: str
    kind: str  # lookup, topic, unanswerable, claim


@dataclass
class Corpus:
    name: str
    papers: list[Paper]
    items: list[Item] = field(default_factory=list)


def kind_of(q: EvalQuestion) -> str:
    if q.unanswerable:
        return "unanswerable"
    return "topic" if (q.type or "") == "topic" else "lookup"


def bundled_corpus() -> Corpus:
    papers, _ = merge_duplicates(read_paths([bundled_corpus_dir()]).papers)
    corpus = Corpus("bundled", papers)
    for q in load_questions_jsonl(REPO / "bench" / "devset.jsonl"):
        corpus.items.append(Item(q, "tune", kind_of(q)))
    seeds = SHARED / "questions" / "seeds_tuning.jsonl"
    for line in seeds.read_text(encoding="utf-8").splitlines():
        raw = json.loads(line)
        kind = {"citation": "lookup"}.get(raw["kind"], raw["kind"])
        q = EvalQuestion(
            id=f"seeds:{raw['id']}",
            question=raw["question"].replace("[CITE]", "").strip(),
            gold=raw["gold"],
            type="topic" if kind == "topic" else raw["kind"],
        )
        corpus.items.append(Item(q, part_of("seeds", raw["id"]), kind))
    return corpus


def scifact_corpus() -> Corpus:
    dataset = load_beir(SHARED / "scifact")
    corpus = Corpus("scifact", dataset.corpus)
    for q in dataset.questions:
        corpus.items.append(Item(q, part_of("scifact", q.id), "claim"))
    return corpus


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return {tuple(words[i : i + 5]) for i in range(max(0, len(words) - 4))}


def ablate(corpus: Corpus, ids: dict[str, str]) -> tuple[Corpus, int]:
    """The corpus without the gold papers of the ablated questions, nor their near-copies.

    ``ids`` maps gold entries (titles or ids) to paper ids. Returns the new corpus, with its
    questions, and the number of papers left out.
    """
    removed: set[str] = set()
    chosen = [
        it
        for it in corpus.items
        if it.kind in ("lookup", "claim") and ablated(corpus.name, it.question.id)
    ]
    for it in chosen:
        removed.update(ids[g] for g in it.question.gold if g in ids)
    by_id = {p.paper_id: p for p in corpus.papers}
    gone_titles = {normalize_title(by_id[i].title) for i in removed}
    gone_text = [_shingles(by_id[i].abstract) for i in removed]
    for paper in corpus.papers:
        if paper.paper_id in removed:
            continue
        shingles = _shingles(paper.abstract)
        copy = normalize_title(paper.title) in gone_titles or any(
            shingles and len(shingles & other) > 0.5 * min(len(shingles), len(other))
            for other in gone_text
        )
        if copy:
            removed.add(paper.paper_id)
    out = Corpus(f"{corpus.name}-ablated", [p for p in corpus.papers if p.paper_id not in removed])
    for it in corpus.items:
        if it.kind not in ("lookup", "claim"):
            continue
        gold = {ids[g] for g in it.question.gold if g in ids}
        if gold and gold <= removed:
            q = it.question.model_copy(update={"gold": [], "unanswerable": True})
            out.items.append(Item(q, it.part, "unanswerable"))
        elif gold and not gold & removed:
            out.items.append(it)
    return out, len(removed)


def asked_of(corpus: Corpus, source: Corpus) -> Corpus:
    """``source``'s answerable questions asked of ``corpus``'s papers: all unanswerable."""
    out = Corpus(f"{corpus.name}, asked {source.name}'s questions", corpus.papers)
    for it in source.items:
        if it.kind == "unanswerable":
            continue
        q = it.question.model_copy(
            update={"id": f"{source.name}:{it.question.id}", "gold": [], "unanswerable": True}
        )
        out.items.append(Item(q, it.part, "unanswerable"))
    return out


def open_built(results: Path, corpus: Corpus) -> PaperIndex:
    model = Settings().embedding_model
    index = PaperIndex(Settings(index_dir=results / f"index-{corpus.name}-{model}"))
    started = time.perf_counter()
    report = index.ingest(corpus.papers)
    if report.added or report.updated:
        print(
            f"{corpus.name}: index built in {time.perf_counter() - started:.0f} s", file=sys.stderr
        )
    return index


def measure(index: PaperIndex, corpus: Corpus) -> dict[str, dict[str, dict[str, float]]]:
    """method -> part -> figure."""
    titles = {p.title: p.paper_id for p in index.catalog.iter_papers()}
    retriever = Retriever(index)
    retriever.search("warm-up query")
    out: dict[str, dict[str, dict[str, float]]] = {}
    for method in METHODS:
        options = RetrievalOptions(k=10, method=method)

        def search(text: str, options: RetrievalOptions = options) -> tuple[list[str], bool]:
            result = retriever.search(text, options)
            return [hit.paper_id for hit in result.results], result.covered

        out[method] = {}
        for part in ("tune", "heldout"):
            items = [it for it in corpus.items if it.part == part]
            questions, _ = resolve_gold([it.question for it in items], titles, set(titles.values()))
            kinds = {it.question.id: it.kind for it in items}
            report = evaluate(questions, search)
            out[method][part] = figures(report.details, kinds)
    return out


def extractive_citations(
    index: PaperIndex, corpus: Corpus, score_share: float | None = None
) -> dict[str, dict[str, float]]:
    """Extractive answers to the answerable lookups, topic questions and claims, per part: the
    share of lookups whose first citation is a gold paper (an abstention counts as wrong), and
    over the answers given, the cited papers' precision (share that are gold) and recall (share
    of the gold cited). ``score_share``: another QUOTE_SCORE_SHARE than the product's, to
    compare (0: the 5 best papers all quoted, as before it)."""
    from assistant.api import ask
    from assistant.generation import answer as answer_module
    from assistant.generation.answer import CitationRegistry

    titles = {p.title: p.paper_id for p in index.catalog.iter_papers()}
    settings = Settings(index_dir=index.dir)  # no model configured: extractive
    product = answer_module.QUOTE_SCORE_SHARE
    if score_share is not None:
        answer_module.QUOTE_SCORE_SHARE = score_share
    out: dict[str, dict[str, float]] = {}
    try:
        for part in ("tune", "heldout"):
            got: dict[str, float] = {}
            for kind in ("lookup", "topic", "claim"):
                items = [it for it in corpus.items if it.part == part and it.kind == kind]
                questions, _ = resolve_gold(
                    [it.question for it in items], titles, set(titles.values())
                )
                first = precision = recall = 0.0
                answered = 0
                for q in questions:
                    answer = ask(index, q.question, settings, registry=CitationRegistry())
                    if answer.abstained or not answer.citations:
                        continue
                    cited, gold = [c.paper_id for c in answer.citations], set(q.gold)
                    answered += 1
                    first += cited[0] in gold
                    precision += len(gold & set(cited)) / len(cited)
                    recall += len(gold & set(cited)) / len(gold)
                if kind == "lookup" and questions:
                    got["lookup first"] = first / len(questions)
                if answered:
                    got[f"{kind} precision"] = precision / answered
                    got[f"{kind} recall"] = recall / answered
            out[part] = got
    finally:
        answer_module.QUOTE_SCORE_SHARE = product
    return out


def figures(details: Iterable, kinds: dict[str, str]) -> dict[str, float]:
    def mean(values: list[float]) -> float:
        return sum(values) / len(values) if values else float("nan")

    rows = list(details)
    pick: Callable[[str], list] = lambda kind: [d for d in rows if kinds[d.id] == kind]  # noqa: E731
    lookups, topics, claims = pick("lookup"), pick("topic"), pick("claim")
    unanswerable = pick("unanswerable")
    answerable = lookups + topics + claims
    got: dict[str, float] = {
        "n": float(len(rows)),
        "lookup R@1": mean([d.metrics["recall@1"] for d in lookups]),
        "lookup R@5": mean([d.metrics["recall@5"] for d in lookups]),
        "topic R@10": mean([d.metrics["recall@10"] for d in topics]),
        "claim nDCG@10": mean([d.metrics["ndcg@10"] for d in claims]),
        "unanswerable flagged": mean([float(d.flagged) for d in unanswerable]),
        "answerable flagged": mean([float(d.flagged) for d in answerable]),
    }
    return {k: v for k, v in got.items() if v == v}  # drop NaN (no such questions)


def print_table(label: str, results: dict[str, dict[str, dict[str, float]]]) -> None:
    keys = [k for k in next(iter(results.values()))["heldout"] if k != "n"]
    counts = {part: int(results["hybrid"][part].get("n", 0)) for part in ("tune", "heldout")}
    print(f"\n## {label} (tune {counts['tune']} / held-out {counts['heldout']} questions)")
    print("| method | " + " | ".join(f"{k} (tune / held-out)" for k in keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for method, parts in results.items():
        cells = []
        for key in keys:
            tune, held = parts["tune"].get(key), parts["heldout"].get(key)
            cells.append(" / ".join("-" if v is None else f"{v:.3f}" for v in (tune, held)))
        print(f"| {method} | " + " | ".join(cells) + " |")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--skip-scifact", action="store_true")
    args = parser.parse_args()
    args.results.mkdir(parents=True, exist_ok=True)
    report: dict = {"date": time.strftime("%Y-%m-%d %H:%M"), "salt": SALT}
    corpora = [bundled_corpus()]
    if not args.skip_scifact:
        corpora.append(scifact_corpus())
    for corpus in corpora:
        others = [c for c in corpora if c is not corpus]
        index = open_built(args.results, corpus)
        results = measure(index, corpus)
        print_table(f"{corpus.name}: {len(corpus.papers)} papers", results)
        report[corpus.name] = results
        product = extractive_citations(index, corpus)
        before = extractive_citations(index, corpus, score_share=0.0)
        report[f"{corpus.name} extractive citations"] = {"product": product, "all 5": before}
        if corpus.name == "bundled":
            report["bundled first citation"] = {p: product[p]["lookup first"] for p in product}
        print("\nextractive answers (tune / held-out), papers quoted as shipped | all 5 quoted:")
        for key in product["tune"]:
            cells = [
                " / ".join(f"{got[part].get(key, float('nan')):.3f}" for part in product)
                for got in (product, before)
            ]
            print(f"  {key}: {cells[0]} | {cells[1]}")
        ids = {p.title: p.paper_id for p in corpus.papers} | {
            p.paper_id: p.paper_id for p in corpus.papers
        }
        for other in others:
            cross = asked_of(corpus, other)
            results = measure(index, cross)
            print_table(cross.name, results)
            report[cross.name] = results
        index.close()
        smaller, left_out = ablate(corpus, ids)
        index = open_built(args.results, smaller)
        results = measure(index, smaller)
        print_table(f"{smaller.name}: {len(smaller.papers)} papers ({left_out} left out)", results)
        report[smaller.name] = results
        index.close()
    out = args.results / "heldout.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"\nwritten {out}")


if __name__ == "__main__":
    main()
