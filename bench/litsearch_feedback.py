"""LitSearch at 59k: dense pseudo-relevance feedback from the fused ranking (a trial).

    python bench/litsearch_feedback.py                           # the grid, tuning part only
    python bench/litsearch_feedback.py --grid 0:0,0.5:5 --heldout  # the chosen one, held out

The question is searched as the assistant does (hybrid, its request left out); the mean vector
of the ``m`` best fused papers is added to the question's vector (times ``beta``, Rocchio), and
the dense signal is scored again with that vector and fused with BM25 as before. The trial
signal is registered in place of the dense one through the signal registry
(``assistant.retrieval.signals.register``), so nothing else of the pipeline changes. Broad
questions ask for a topic; the papers that answer them are near each other, and the feedback
moves the question towards them. Needs the 59k index (``bench/scale.py --part full``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from litsearch import load_questions, measure  # noqa: E402

from assistant.embeddings.base import embed_queries  # noqa: E402
from assistant.index.paper_index import PaperIndex  # noqa: E402
from assistant.retrieval import signal_dense  # noqa: E402
from assistant.retrieval.retriever import RetrievalOptions, Retriever  # noqa: E402
from assistant.retrieval.signals import QueryAsk, register  # noqa: E402
from assistant.settings import Settings  # noqa: E402


class FeedbackDense(signal_dense.Dense):
    """The dense signal, its query vector moved towards the given papers' mean vector."""

    def __init__(self) -> None:
        self.feedback: list[str] = []
        self.beta = 0.0

    def for_query(self, ask: QueryAsk, others: list[str]) -> signal_dense.DenseRun | None:
        dense = ask.index.dense
        vector = embed_queries(ask.index.embedder, [ask.text])[0]
        means = dense.paper_means(self.feedback) if self.feedback and self.beta else {}
        if means:
            centroid = np.mean(np.stack(list(means.values())), axis=0)
            vector = vector + self.beta * centroid
            vector = vector / max(float(np.linalg.norm(vector)), 1e-12)
        paper_list, starts = dense.layout()
        best = np.maximum.reduceat(dense.matrix() @ vector.astype(np.float32), starts)
        return signal_dense.DenseRun(best, paper_list, dense.positions(), ask.pool, ask.top, others)


def feedback_search(index: PaperIndex, signal: FeedbackDense, beta: float, papers: int) -> Any:
    retriever = Retriever(index)

    def search(question: str, k: int) -> tuple[list[str], bool]:
        signal.feedback, signal.beta = [], 0.0
        first = retriever.search(question, RetrievalOptions(k=papers))
        signal.feedback = [hit.paper_id for hit in first.results]
        signal.beta = beta
        second = retriever.search(question, RetrievalOptions(k=k))
        return [hit.paper_id for hit in second.results], first.covered

    return search


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--grid", default="0:0,0.3:3,0.5:3,0.5:5,1.0:5,0.5:10,1.0:10")
    parser.add_argument(
        "--heldout", action="store_true", help="print the held-out figures (once, when chosen)"
    )
    args = parser.parse_args()
    folder = args.results / f"index-acl-{Settings().embedding_model}"
    if not (folder / "catalog.sqlite").exists():
        sys.exit(f"no 59k index at {folder}: run python bench/scale.py --part full first")
    index = PaperIndex(Settings(index_dir=folder))
    questions = load_questions()
    signal = FeedbackDense()
    register(signal)  # in place of the dense signal: the same name
    for setting in args.grid.split(","):
        beta_text, papers_text = setting.split(":")
        search = feedback_search(index, signal, float(beta_text), int(papers_text))
        search("warm up", 20)
        row = measure(search, questions)
        parts = ("tune", "heldout") if args.heldout else ("tune",)
        figures = "  ".join(
            f"{name} " + " / ".join(f"{row[part][key]:.3f}" for part in parts)
            for name, key in (
                ("specific R@5", "specific_r5"),
                ("broad R@20", "broad_r20"),
                ("pooled R@5", "pooled_r5"),
                ("R@20", "pooled_r20"),
            )
        )
        shown = "tuning / held-out" if args.heldout else "tuning"
        print(
            f"beta {beta_text:4s} papers {papers_text:3s} {figures}  "
            f"p50 {row['latency_ms']['p50']} ms  ({shown})",
            flush=True,
        )


if __name__ == "__main__":
    main()
