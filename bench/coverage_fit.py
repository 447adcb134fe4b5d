"""Fit the coverage ("not covered") model on the tuning parts only; report it on the held-out parts.

    python bench/coverage_fit.py                  # bundled + SciFact, with their ablations
    python bench/coverage_fit.py --skip-scifact

Questions, parts and ablated corpora come from bench/heldout.py (hashes, not hand picks). For
every question the hybrid retriever's coverage features are recorded
(assistant.retrieval.coverage.coverage_features); a logistic model is fitted on the tuning
questions of all corpora together (classes balanced per corpus, so no corpus dominates), one
threshold is chosen on the tuning part (the largest share of unanswerable questions flagged
with at most 4% of answerable ones flagged), and both parts are printed per corpus with that
one threshold. The fitted weights are printed for assistant/retrieval/coverage.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO))

from heldout import Corpus, ablate, bundled_corpus, open_built, scifact_corpus  # noqa: E402

from assistant.evaluation import resolve_gold  # noqa: E402
from assistant.retrieval.coverage import FEATURES, coverage_features  # noqa: E402
from assistant.retrieval.retriever import RetrievalOptions, Retriever  # noqa: E402

MAX_FALSE_FLAGS = 0.04


def collect(results: Path, corpus: Corpus) -> list[dict]:
    index = open_built(results, corpus)
    titles = {p.title: p.paper_id for p in index.catalog.iter_papers()}
    retriever = Retriever(index)
    retriever.search("warm-up query")
    rows = []
    questions, _ = resolve_gold([it.question for it in corpus.items], titles, set(titles.values()))
    parts = {it.question.id: it.part for it in corpus.items}
    for q in questions:
        result, signals = retriever.search_with_signals(q.question, RetrievalOptions(k=10))
        features = coverage_features(
            signals, index.lexical, retriever.sentences_of, q.question, result
        )
        rows.append(
            {
                "corpus": corpus.name,
                "id": q.id,
                "part": parts[q.id],
                "answerable": not q.unanswerable,
                "features": features,
                "covered_now": result.covered,
            }
        )
    index.close()
    return rows


def fit(x: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float = 1.0) -> np.ndarray:
    """Weighted, L2-regularised logistic regression by Newton's method (bias first)."""
    design = np.hstack([np.ones((len(x), 1)), x])
    beta = np.zeros(design.shape[1])
    penalty = np.eye(design.shape[1]) * l2
    penalty[0, 0] = 0.0
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-design @ beta))
        grad = design.T @ (w * (p - y)) + penalty @ beta
        hess = (design * (w * p * (1 - p))[:, None]).T @ design + penalty
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return beta


def rates(p: np.ndarray, y: np.ndarray, threshold: float) -> tuple[float, float]:
    flagged = p < threshold
    unanswerable = flagged[y == 0].mean() if (y == 0).any() else float("nan")
    answerable = flagged[y == 1].mean() if (y == 1).any() else float("nan")
    return float(unanswerable), float(answerable)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--skip-scifact", action="store_true")
    args = parser.parse_args()
    corpora = [bundled_corpus()] + ([] if args.skip_scifact else [scifact_corpus()])
    rows: list[dict] = []
    for corpus in corpora:
        ids = {p.title: p.paper_id for p in corpus.papers} | {
            p.paper_id: p.paper_id for p in corpus.papers
        }
        rows += collect(args.results, corpus)
        smaller, _ = ablate(corpus, ids)
        rows += collect(args.results, smaller)
    (args.results / "coverage-features.json").write_text(json.dumps(rows))

    x = np.asarray([r["features"] for r in rows], dtype=np.float64)
    y = np.asarray([1.0 if r["answerable"] else 0.0 for r in rows])
    tune = np.asarray([r["part"] == "tune" for r in rows])
    family = np.asarray([r["corpus"].split("-")[0] for r in rows])
    weights = np.zeros(len(rows))
    for name in set(family):  # balance classes within each corpus family
        for label in (0.0, 1.0):
            mask = tune & (family == name) & (y == label)
            if mask.any():
                weights[mask] = 1.0 / mask.sum()
    mean, std = x[tune].mean(axis=0), x[tune].std(axis=0) + 1e-9
    beta = fit((x[tune] - mean) / std, y[tune], weights[tune] * tune.sum() / 4)
    p = 1.0 / (1.0 + np.exp(-(beta[0] + ((x - mean) / std) @ beta[1:])))
    best = (0.0, 0.5)
    for threshold in np.linspace(0.01, 0.99, 99):
        flagged_u, flagged_a = rates(p[tune], y[tune], threshold)
        if flagged_a <= MAX_FALSE_FLAGS and flagged_u > best[0]:
            best = (flagged_u, float(threshold))
    threshold = best[1]
    print(f"features: {FEATURES}")
    raw = beta[1:] / std
    print("weights on raw features:", ", ".join(f"{v:.4f}" for v in raw))
    print(f"bias on raw features: {beta[0] - float((beta[1:] * mean / std).sum()):.4f}")
    print(f"threshold (chosen on the tuning part): {threshold:.2f}")
    print(
        "\n| corpus | part | n | unanswerable flagged (new) | answerable flagged (new) |"
        " unanswerable flagged (today) | answerable flagged (today) |"
    )
    print("|---|---|---|---|---|---|---|")
    now = np.asarray([0.0 if r["covered_now"] else 1.0 for r in rows])
    for corpus in dict.fromkeys(r["corpus"] for r in rows):
        for part in ("tune", "heldout"):
            mask = np.asarray([r["corpus"] == corpus and r["part"] == part for r in rows])
            if not mask.any():
                continue
            u, a = rates(p[mask], y[mask], threshold)
            nu = now[mask][y[mask] == 0].mean() if (y[mask] == 0).any() else float("nan")
            na = now[mask][y[mask] == 1].mean() if (y[mask] == 1).any() else float("nan")
            print(
                f"| {corpus} | {part} | {int(mask.sum())} | {u:.3f} | {a:.3f} | {nu:.3f} |"
                f" {na:.3f} |"
            )


if __name__ == "__main__":
    main()
