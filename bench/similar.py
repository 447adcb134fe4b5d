"""``similar`` (papers like this one) against dense-only and BM25-only, in one run.

    python bench/similar.py

There is no public query-by-example set of scientific abstracts on PyPI or in the shared
folder, so this is SciFact co-citation: a SciFact paper is the query, and the papers cited as
evidence by the same claim (``qrels_train.tsv``: 77 claims cite 2-5 papers) are its relevant
neighbours. 123 papers have at least one. The query paper is left out of its own results.

- **ranking**: Recall@10, nDCG@10 and in-process latency of ``similar_papers`` for the three
  methods on the same queries. The fusion's two parameters (the number of distinctive terms,
  the BM25 weight) were tuned on the papers of the ``tune`` half (a hash of the paper id), so
  the table gives the ``held-out`` half apart.
- **"nothing close"**: the share of queries said to have no close paper (best cosine below
  ``CLOSE_THRESHOLD``): SciFact papers in SciFact (all have co-cited neighbours: should be
  low), and across fields, where nothing should be close: SciFact papers (a hashed 200)
  against the bundled ML/NLP corpus and the bundled papers against SciFact, each compared as a
  text that is not indexed (embedded, as ``similar --text`` does).

Reuses the SciFact and bundled indexes of bench/heldout.py and bench/retrieval.py under
bench/results/ when they hold exactly those corpora (read only), else builds its own there.
Writes bench/results/similar.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assistant.api import ensure_corpus, open_index, similar_papers  # noqa: E402
from assistant.evaluation import load_beir  # noqa: E402
from assistant.evaluation.metrics import ndcg_at_k, recall_at_k  # noqa: E402
from assistant.index.paper_index import PaperIndex  # noqa: E402
from assistant.records import Paper  # noqa: E402
from assistant.retrieval.retriever import Method, RetrievalOptions  # noqa: E402
from assistant.retrieval.similar import CLOSE_THRESHOLD  # noqa: E402
from assistant.settings import Settings  # noqa: E402

METHODS: tuple[Method, ...] = ("bm25", "dense", "hybrid")
SCIFACT = REPO.parent / "shared" / "bench" / "scifact"
SALT = "similar-v1"  # changing it reshuffles the halves: never do it to improve a figure
CROSS_SAMPLE = 200


def part_of(paper_id: str) -> str:
    digest = hashlib.sha256(f"{SALT}:{paper_id}".encode()).digest()
    return "heldout" if digest[0] % 2 else "tune"


def co_cited(questions: list) -> dict[str, set[str]]:
    """paper -> the other papers cited by a claim that cites it."""
    out: dict[str, set[str]] = {}
    for question in questions:
        gold = set(question.gold)
        for paper_id in gold:
            if len(gold) > 1:
                out.setdefault(paper_id, set()).update(gold - {paper_id})
    return out


def open_existing(folder: Path, ids: set[str]) -> PaperIndex | None:
    """An index built by another benchmark, when it holds exactly these papers."""
    if not (folder / "catalog.sqlite").is_file():
        return None
    index = open_index(Settings(index_dir=folder))
    held = {p.paper_id for p in index.catalog.iter_papers()}
    if held == ids and not index.ingest_running():
        return index
    index.close()
    return None


def scifact_index(results: Path, papers: list[Paper]) -> PaperIndex:
    model = Settings().embedding_model
    ids = {p.paper_id for p in papers}
    index = open_existing(results / f"index-scifact-{model}", ids)
    if index is not None:
        return index
    index = open_index(Settings(index_dir=results / f"index-similar-scifact-{model}"))
    started = time.perf_counter()
    index.ingest(papers)
    print(f"scifact index built in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return index


def bundled_index(results: Path) -> PaperIndex:
    model = Settings().embedding_model
    folder = results / f"index-bundled-{model}"
    if (folder / "catalog.sqlite").is_file():
        index = open_index(Settings(index_dir=folder))
        if index.holds_only_demo() or index.catalog.count_papers() == 425:
            return index
        index.close()
    index = open_index(Settings(index_dir=results / f"index-similar-bundled-{model}"))
    ensure_corpus(index)
    return index


def ranking(index: PaperIndex, relevant: dict[str, set[str]]) -> dict[str, dict[str, float]]:
    """method -> figures (R@10 and nDCG@10 overall and per half, latency)."""
    similar_papers(index, next(iter(relevant)))  # warm-up: caches, paper vectors
    out: dict[str, dict[str, float]] = {}
    for method in METHODS:
        options = RetrievalOptions(k=10, method=method)
        rows: dict[str, list[tuple[float, float]]] = {"tune": [], "heldout": []}
        times: list[float] = []
        for paper_id, gold in relevant.items():
            started = time.perf_counter()
            result = similar_papers(index, paper_id, options)
            times.append((time.perf_counter() - started) * 1000)
            ranked = [hit.paper_id for hit in result.results]
            rows[part_of(paper_id)].append(
                (recall_at_k(ranked, gold, 10), ndcg_at_k(ranked, gold, 10))
            )
        both = rows["tune"] + rows["heldout"]
        figures = {
            "n": float(len(both)),
            "recall@10": statistics.mean(r for r, _ in both),
            "ndcg@10": statistics.mean(n for _, n in both),
            "p50_ms": statistics.median(times),
            "p95_ms": sorted(times)[int(0.95 * (len(times) - 1))],
        }
        for part, part_rows in rows.items():
            figures[f"{part} n"] = float(len(part_rows))
            figures[f"{part} ndcg@10"] = statistics.mean(n for _, n in part_rows)
        out[method] = figures
    return out


def flagged_share(index: PaperIndex, queries: list[Paper | str]) -> tuple[float, float]:
    """Share of queries with no close paper, and the median best similarity."""
    flags, best = [], []
    for query in queries:
        result = similar_papers(index, query, RetrievalOptions(k=10))
        flags.append(not result.close)
        best.append(result.best_similarity)
    return sum(flags) / len(flags), statistics.median(best)


def as_text(paper: Paper) -> Paper:
    """The paper as a text that is not indexed (no id: embedded, as ``similar --text``)."""
    return paper.model_copy(update={"paper_id": ""})


def sample(papers: list[Paper], n: int) -> list[Paper]:
    key = lambda p: hashlib.sha256(f"{SALT}:cross:{p.paper_id}".encode()).digest()  # noqa: E731
    return sorted(papers, key=key)[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    args.results.mkdir(parents=True, exist_ok=True)
    dataset = load_beir(SCIFACT, "train")
    relevant = co_cited(dataset.questions)
    scifact = scifact_index(args.results, dataset.corpus)
    bundled = bundled_index(args.results)
    report: dict = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "queries": len(relevant),
        "threshold": CLOSE_THRESHOLD,
        "ranking": ranking(scifact, relevant),
    }
    bundled_papers = list(bundled.catalog.iter_papers())
    report["not close"] = {
        "scifact in scifact (co-cited exist)": flagged_share(scifact, list(relevant)),
        "scifact texts in bundled": flagged_share(
            bundled, [as_text(p) for p in sample(dataset.corpus, CROSS_SAMPLE)]
        ),
        "bundled texts in scifact": flagged_share(
            scifact, [as_text(p) for p in sample(bundled_papers, CROSS_SAMPLE)]
        ),
    }
    scifact.close()
    bundled.close()

    print(f"\n## SciFact co-citation: {len(relevant)} query papers over 5,183 abstracts")
    print("| method | R@10 | nDCG@10 | nDCG@10 tune / held-out | p50 ms | p95 ms |")
    print("|---|---|---|---|---|---|")
    names = {"bm25": "BM25 alone", "dense": "dense alone", "hybrid": "**similar (hybrid)**"}
    for method, f in report["ranking"].items():
        print(
            f"| {names[method]} | {f['recall@10']:.3f} | {f['ndcg@10']:.3f} | "
            f"{f['tune ndcg@10']:.3f} / {f['heldout ndcg@10']:.3f} | {f['p50_ms']:.1f} | "
            f"{f['p95_ms']:.1f} |"
        )
    print(f"\n## Said to have no close paper (best similarity < {CLOSE_THRESHOLD})")
    print("| queries | share flagged | median best similarity |")
    print("|---|---|---|")
    for label, (share, median) in report["not close"].items():
        print(f"| {label} | {share:.3f} | {median:.3f} |")
    out = args.results / "similar.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"\nwritten {out}")


if __name__ == "__main__":
    main()
