"""The lexical signal: BM25 over titles and abstracts (the index's ``lexical.npz``).

For a question, the BM25 score of its words; for a paper (``similar``), the BM25 score of its
distinctive terms, each weighted by its frequency in the paper
(:func:`weighted_bm25`). Exact names ("LongLoRA", "IEMOCAP") that
the dense signal blurs are what it brings to the fusion.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from assistant.retrieval.signals import PaperAsk, QueryAsk, SignalScores, top_stats

if TYPE_CHECKING:
    from assistant.index.bm25 import LexicalIndex

#: BM25's weight in search's fusion (the dense signal's is 1).
LEXICAL_WEIGHT = 1.0


class LexicalRun:
    """The BM25 scores of every document for one query; its ``pool`` best are the candidates."""

    def __init__(
        self, lexical: LexicalIndex, all_scores: np.ndarray, population: int, pool: int, top: int
    ) -> None:
        self._lexical = lexical
        self._all = all_scores
        ranked = lexical.top(all_scores, max(pool, top))
        self.scores = SignalScores(
            scores=dict(ranked[:pool]),
            stats=top_stats(np.asarray([s for _, s in ranked]), population, top),
        )

    def complete(self, paper_ids: Iterable[str]) -> None:
        """The BM25 score of other candidates too, not 0 beyond the BM25 top."""
        for pid in paper_ids:
            score = self._lexical.score_of(self._all, pid)
            if score > 0:
                self.scores.scores[pid] = score


class Lexical:
    name = "lexical"
    rank = 10
    weight = LEXICAL_WEIGHT
    alone = "bm25"

    def for_query(self, ask: QueryAsk, others: list[str]) -> LexicalRun:
        lexical = ask.index.lexical
        scores = lexical.allowed_scores(ask.text, ask.allowed)
        population = lexical.size if ask.allowed is None else len(ask.allowed)
        return LexicalRun(lexical, scores, population, ask.pool, ask.top)

    def for_paper(self, ask: PaperAsk, others: list[str]) -> LexicalRun:
        lexical = ask.index.lexical
        scores = weighted_bm25(lexical, ask.terms)
        mask = np.zeros(len(scores), dtype=bool)
        for pid, number in lexical.doc_pos.items():
            allowed = ask.allowed is None or pid in ask.allowed
            if number < len(mask) and allowed and pid not in ask.excluded:
                mask[number] = True
        scores = np.where(mask, scores, 0.0)
        return LexicalRun(lexical, scores, int(mask.sum()), ask.pool, ask.top)


def weighted_bm25(lexical: LexicalIndex, terms: dict[str, float]) -> np.ndarray:
    """BM25 score of every document position for a query of weighted analysed terms."""
    n_docs = lexical.size  # also folds in pending additions
    scores = np.zeros(len(lexical.doc_ids), dtype=np.float32)
    if n_docs == 0:
        return scores
    avgdl = float(lexical.doc_len[lexical.alive].mean())
    k1, b = lexical.K1, lexical.B
    for term, weight in terms.items():
        row = lexical.term_row.get(term)
        if row is None:
            continue
        lo, hi = lexical.offsets[row], lexical.offsets[row + 1]
        docs, tfs = lexical.post_doc[lo:hi], lexical.post_tf[lo:hi]
        live = lexical.alive[docs]
        df = int(live.sum())
        if df == 0:
            continue
        idf = math.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))
        norm = tfs + k1 * (1 - b + b * lexical.doc_len[docs] / avgdl)
        scores[docs] += (weight * idf) * (tfs * (k1 + 1) / norm) * live
    return scores


SIGNAL = Lexical()
