"""Running a retrieval evaluation: search every question, score it, aggregate a report.

Everything here is a pure function; the CLI (``assistant eval``) only wires a search function in
and formats the :class:`~assistant.evaluation.report.EvalReport`. Question sets live in
:mod:`assistant.evaluation.questions`, BEIR folders in :mod:`assistant.evaluation.beir`, the
metrics in :mod:`assistant.evaluation.metrics`; their public names are re-exported here, where
they used to be defined.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from assistant.errors import UsageError
from assistant.evaluation.metrics import (
    first_relevant_rank,
    hit_at_k,
    mrr_at_k,
    ndcg_at_k,
    recall_at_k,
)
from assistant.evaluation.questions import EvalQuestion
from assistant.evaluation.report import EvalReport, GroupReport, LatencyStats, QuestionResult

SearchFn = Callable[[str], tuple[list[str], bool]]
"""``search(question) -> (ranked paper ids, covered)``; covered=False means 'not in corpus'."""

ProgressFn = Callable[[int, int], None]
"""``progress(done, total)``, called after each question."""


def _metric_names(ks: Sequence[int]) -> list[str]:
    top = max(ks)
    return [f"recall@{k}" for k in ks] + [f"hit@{top}", f"mrr@{top}", f"ndcg@{top}"]


def _question_metrics(ranked: list[str], q: EvalQuestion, ks: Sequence[int]) -> dict[str, float]:
    gold = set(q.gold)
    top = max(ks)
    out = {f"recall@{k}": recall_at_k(ranked, gold, k) for k in ks}
    out[f"hit@{top}"] = hit_at_k(ranked, gold, top)
    out[f"mrr@{top}"] = mrr_at_k(ranked, gold, top)
    out[f"ndcg@{top}"] = ndcg_at_k(ranked, gold, top, q.graded or None)
    return out


def _group(results: Sequence[QuestionResult], ks: Sequence[int]) -> GroupReport:
    answerable = [r for r in results if not r.unanswerable]
    unanswerable = [r for r in results if r.unanswerable]
    metrics: dict[str, float] = {}
    if answerable:
        metrics = {
            name: float(np.mean([r.metrics[name] for r in answerable]))
            for name in _metric_names(ks)
        }
    return GroupReport(
        questions=len(results),
        answerable=len(answerable),
        unanswerable=len(unanswerable),
        metrics=metrics,
        abstain_unanswerable=(
            float(np.mean([r.flagged for r in unanswerable])) if unanswerable else None
        ),
        false_abstain=float(np.mean([r.flagged for r in answerable])) if answerable else None,
    )


def evaluate(
    questions: Sequence[EvalQuestion],
    search: SearchFn,
    ks: Sequence[int] = (1, 5, 10),
    progress: ProgressFn | None = None,
) -> EvalReport:
    """Run ``search`` on every question and score the rankings against the gold papers.

    Answerable questions get recall@k for each k, and hit/MRR/nDCG at max(ks); unanswerable
    ones only count towards abstention (were they flagged not covered?). Latency is timed
    around each ``search`` call.
    """
    ks = sorted(set(ks))
    if not ks or ks[0] < 1:
        raise ValueError(f"ks must be positive integers, got {ks}")
    if not questions:
        raise UsageError("no questions to evaluate", "Give a question set with at least one line.")
    top = max(ks)
    results: list[QuestionResult] = []
    total = len(questions)
    for done, q in enumerate(questions, start=1):
        start = time.perf_counter()
        ranked, covered = search(q.question)
        elapsed_ms = (time.perf_counter() - start) * 1000.0
        ranked = [str(pid) for pid in ranked]
        gold = set(q.gold)
        answerable = not q.unanswerable
        results.append(
            QuestionResult(
                id=q.id,
                question=q.question,
                type=q.type,
                unanswerable=q.unanswerable,
                gold=list(q.gold),
                ranked=ranked[:top],
                first_gold_rank=first_relevant_rank(ranked, gold) if answerable else None,
                flagged=not covered,
                latency_ms=elapsed_ms,
                metrics=_question_metrics(ranked, q, ks) if answerable else {},
            )
        )
        if progress is not None:
            progress(done, total)
    latencies = np.array([r.latency_ms for r in results], dtype=float)
    latency = LatencyStats(
        mean_ms=float(latencies.mean()),
        p50_ms=float(np.percentile(latencies, 50)),
        p95_ms=float(np.percentile(latencies, 95)),
        max_ms=float(latencies.max()),
    )
    by_type: dict[str, GroupReport] = {}
    if any(r.type is not None for r in results):
        types = sorted({r.type or "untyped" for r in results})
        by_type = {t: _group([r for r in results if (r.type or "untyped") == t], ks) for t in types}
    return EvalReport(
        questions=len(results),
        ks=list(ks),
        overall=_group(results, ks),
        by_type=by_type,
        latency=latency,
        details=results,
    )
