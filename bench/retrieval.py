"""Retrieval quality and latency: BM25 alone, dense alone and hybrid, measured in one run.

    python bench/retrieval.py                      # dev set on the bundled corpus + SciFact
    python bench/retrieval.py --skip-scifact       # dev set only

Indexes are built (once, then reused) under bench/results/ (git-ignored). SciFact is read
from ../shared/bench/scifact (the BEIR-style train claims), never copied into the project.
Prints a table per dataset and writes bench/results/retrieval.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assistant.api import ensure_corpus, open_index  # noqa: E402
from assistant.evaluation import (  # noqa: E402
    EvalQuestion,
    evaluate,
    load_beir,
    load_questions_jsonl,
    resolve_gold,
)
from assistant.index.paper_index import PaperIndex  # noqa: E402
from assistant.retrieval.retriever import Method, RetrievalOptions, Retriever  # noqa: E402
from assistant.settings import Settings  # noqa: E402

METHODS: tuple[Method, ...] = ("bm25", "dense", "hybrid")


def run_baseline(
    folder: Path, papers: list, questions: list[EvalQuestion], titles: dict[str, str]
) -> dict:
    """The llama-index default pipeline (one vector per abstract, truncated at 256 pieces)."""
    from baseline_llamaindex import LlamaIndexBaseline

    questions, _ = resolve_gold(questions, titles, set(titles.values()))
    baseline = LlamaIndexBaseline(folder)
    baseline.build(papers)
    report = evaluate(questions, lambda q: (baseline.search(q, 10), True))
    summary = report.summary()
    for key in ("abstain_unanswerable", "false_abstain"):
        summary.pop(key, None)  # it has no coverage signal
    single = [d for d in report.details if not d.unanswerable and (d.type or "") != "topic"]
    topic = [d for d in report.details if d.type == "topic"]
    if single and topic:
        summary["single_recall@5"] = sum(d.metrics["recall@5"] for d in single) / len(single)
        summary["topic_recall@10"] = sum(d.metrics["recall@10"] for d in topic) / len(topic)
    return summary


def run_methods(index: PaperIndex, questions: list[EvalQuestion], label: str) -> dict:
    titles = {p.title: p.paper_id for p in index.catalog.iter_papers()}
    questions, warnings = resolve_gold(questions, titles, set(titles.values()))
    for warning in warnings[:5]:
        print(f"  warning: {warning}", file=sys.stderr)
    retriever = Retriever(index)
    retriever.search("warm-up query")  # loads the model, the caches and the BM25 arrays
    results: dict = {}
    for method in METHODS:
        options = RetrievalOptions(k=10, method=method)

        def search(question: str, options: RetrievalOptions = options) -> tuple[list[str], bool]:
            result = retriever.search(question, options)
            return [hit.paper_id for hit in result.results], result.covered

        report = evaluate(questions, search)
        single = [d for d in report.details if not d.unanswerable and (d.type or "") != "topic"]
        topic = [d for d in report.details if d.type == "topic"]
        summary = report.summary()
        if single and topic:
            summary["single_recall@5"] = sum(d.metrics["recall@5"] for d in single) / len(single)
            summary["topic_recall@10"] = sum(d.metrics["recall@10"] for d in topic) / len(topic)
        results[method] = summary
    return results


def print_table(label: str, results: dict) -> None:
    keys = [
        "recall@1",
        "recall@5",
        "recall@10",
        "mrr@10",
        "ndcg@10",
        "single_recall@5",
        "topic_recall@10",
        "abstain_unanswerable",
        "false_abstain",
        "p50_ms",
        "p95_ms",
    ]
    keys = [k for k in keys if any(k in r for r in results.values())]
    print(f"\n## {label}")
    print("| method | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for method, summary in results.items():
        cells = [f"{summary[k]:.3f}" if k in summary else "" for k in keys]
        print(f"| {method} | " + " | ".join(cells) + " |")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--devset", type=Path, default=REPO / "bench" / "devset.jsonl")
    parser.add_argument("--scifact", type=Path, default=REPO.parent / "shared/bench/scifact")
    parser.add_argument("--skip-scifact", action="store_true")
    parser.add_argument(
        "--no-baseline", action="store_true", help="Skip the llama-index default pipeline."
    )
    args = parser.parse_args()
    args.results.mkdir(parents=True, exist_ok=True)
    model = Settings().embedding_model  # ASSISTANT_EMBEDDING_MODEL picks another
    report: dict = {"date": time.strftime("%Y-%m-%d %H:%M"), "embedding_model": model}

    index = open_index(Settings(index_dir=args.results / f"index-bundled-{model}"))
    ensure_corpus(index)
    label = f"Dev set ({args.devset.name}, bundled corpus, {model})"
    devset = load_questions_jsonl(args.devset)
    report["devset"] = run_methods(index, devset, label)
    if not args.no_baseline:
        papers = list(index.catalog.iter_papers())
        titles = {p.title: p.paper_id for p in papers}
        report["devset"]["llama-index default"] = run_baseline(
            args.results / "llamaindex-bundled", papers, devset, titles
        )
    print_table(label, report["devset"])

    if not args.skip_scifact and args.scifact.is_dir():
        dataset = load_beir(args.scifact)
        index = open_index(Settings(index_dir=args.results / f"index-scifact-{model}"))
        started = time.perf_counter()
        ingest = index.ingest(dataset.corpus)
        if ingest.added or ingest.updated:
            print(f"SciFact index built in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        report["scifact"] = run_methods(
            index,
            dataset.questions,
            f"SciFact train ({len(dataset.questions)} claims, {len(dataset.corpus)} abstracts,"
            f" {model})",
        )
        if not args.no_baseline:
            ids = {p.paper_id: p.paper_id for p in dataset.corpus}
            report["scifact"]["llama-index default"] = run_baseline(
                args.results / "llamaindex-scifact", dataset.corpus, dataset.questions, ids
            )
        print_table(f"SciFact train ({model})", report["scifact"])
    out = args.results / f"retrieval-{model}.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"\nwritten {out}")


if __name__ == "__main__":
    main()
