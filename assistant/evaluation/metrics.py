"""Ranking metrics over one ranked list of paper ids and a set of gold ids.

Relevance is binary (a gold paper is relevant, anything else is not) unless ``grades`` are
given, which only nDCG uses. nDCG follows trec_eval / pytrec_eval (as used by BEIR): linear
gains, ``DCG@k = sum(rel_i / log2(i + 1))`` over ranks ``i = 1..k``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def _top_k(ranked: Sequence[str], k: int) -> list[str | None]:
    """The first k entries of a ranking, with repeats blanked out.

    A repeated id keeps its slot (it is what the user sees) but gains nothing: it is
    replaced by None, which is never gold.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    out: list[str | None] = []
    seen: set[str] = set()
    for pid in ranked[:k]:
        out.append(None if pid in seen else pid)
        seen.add(pid)
    return out


def recall_at_k(ranked: Sequence[str], gold: set[str], k: int) -> float:
    """Fraction of the gold papers found in the top k (0.0 when gold is empty)."""
    top = _top_k(ranked, k)
    if not gold:
        return 0.0
    return sum(1 for pid in top if pid is not None and pid in gold) / len(gold)


def hit_at_k(ranked: Sequence[str], gold: set[str], k: int) -> float:
    """1.0 if any gold paper is in the top k, else 0.0."""
    return 1.0 if any(pid is not None and pid in gold for pid in _top_k(ranked, k)) else 0.0


def mrr_at_k(ranked: Sequence[str], gold: set[str], k: int) -> float:
    """Reciprocal rank of the first gold paper in the top k (0.0 if none)."""
    for rank, pid in enumerate(_top_k(ranked, k), start=1):
        if pid is not None and pid in gold:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(
    ranked: Sequence[str], gold: set[str], k: int, grades: dict[str, int] | None = None
) -> float:
    """nDCG@k with linear gains, as trec_eval / pytrec_eval (BEIR).

    A gold paper's gain is its grade in ``grades`` (default 1); other papers gain 0. The ideal
    DCG sorts all gold gains in descending order. Returns 0.0 when nothing is relevant.
    """
    grades = grades or {}

    def gain(pid: str | None) -> float:
        return float(max(grades.get(pid, 1), 0)) if pid is not None and pid in gold else 0.0

    dcg = sum(gain(pid) / math.log2(i + 1) for i, pid in enumerate(_top_k(ranked, k), start=1))
    ideal = sorted((gain(pid) for pid in gold), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 1) for i, g in enumerate(ideal, start=1))
    return dcg / idcg if idcg > 0 else 0.0


def first_relevant_rank(ranked: Sequence[str], gold: set[str]) -> int | None:
    """1-based rank of the first gold paper in the whole ranking, or None."""
    for rank, pid in enumerate(ranked, start=1):
        if pid in gold:
            return rank
    return None
