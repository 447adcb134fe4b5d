"""Retrieval evaluation: question sets, BEIR-style datasets, ranking metrics, reports.

:mod:`~assistant.evaluation.questions` reads question sets and resolves gold titles,
:mod:`~assistant.evaluation.beir` loads BEIR-style benchmark folders,
:mod:`~assistant.evaluation.metrics` holds the ranking metrics,
:mod:`~assistant.evaluation.report` the report models and
:mod:`~assistant.evaluation.runner` runs an evaluation.
"""

from assistant.evaluation.beir import BeirDataset, load_beir
from assistant.evaluation.metrics import (
    first_relevant_rank,
    hit_at_k,
    mrr_at_k,
    ndcg_at_k,
    recall_at_k,
)
from assistant.evaluation.questions import EvalQuestion, load_questions_jsonl, resolve_gold
from assistant.evaluation.report import EvalReport, GroupReport, LatencyStats, QuestionResult
from assistant.evaluation.runner import ProgressFn, SearchFn, evaluate

__all__ = [
    "BeirDataset",
    "EvalQuestion",
    "EvalReport",
    "GroupReport",
    "LatencyStats",
    "ProgressFn",
    "QuestionResult",
    "SearchFn",
    "evaluate",
    "first_relevant_rank",
    "hit_at_k",
    "load_beir",
    "load_questions_jsonl",
    "mrr_at_k",
    "ndcg_at_k",
    "recall_at_k",
    "resolve_gold",
]
