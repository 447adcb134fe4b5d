"""The dense signal: the embedding vectors of the papers' chunks.

For a question, a paper's score is its best chunk's cosine with the question (embedded as a
query); for a paper (``similar``), the cosine of the two papers' mean chunk vectors. The
vectors are the index's dense cache, or, for a large shared index, the Chroma server's HNSW:
:class:`~assistant.index.server_dense.ServerDense` answers with the papers of the chunks nearest
to the query; the search filters become a ``where`` clause on the chunks' metadata (year and
source; the other filters are applied to the answer, from a larger one) and the scores are laid
out as the local mirror's are, so that both paths are scored alike (:class:`DenseRun`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant.retrieval.signals import PaperAsk, QueryAsk, SignalScores, top_stats

if TYPE_CHECKING:
    from assistant.index.server_dense import ServerDense
    from assistant.retrieval.filters import SearchFilters


class DenseRun:
    """One score per paper (``best``, in ``paper_list`` order; -1.0 for a paper left out): the
    ``pool`` best are the candidates, with every candidate of the signals before it."""

    def __init__(
        self,
        best: np.ndarray,
        paper_list: list[str],
        positions: dict[str, int],
        pool: int,
        top: int,
        others: list[str],
    ) -> None:
        self._best, self._papers, self._positions = best, paper_list, positions
        self.scores = SignalScores()
        if not len(best):
            return
        chosen_at = np.argpartition(-best, min(pool, len(best)) - 1)[:pool]
        chosen = {int(i) for i in chosen_at if best[i] > -1.0}
        # Fusion needs the dense score of every earlier signal's candidate too.
        chosen.update(positions[pid] for pid in others if pid in positions)
        eligible = best[best > -1.0]
        self.scores = SignalScores(
            scores={paper_list[i]: float(best[i]) for i in chosen},
            stats=top_stats(eligible, len(eligible), top),
            best=float(best.max()),
        )

    def complete(self, paper_ids: Iterable[str]) -> None:
        for pid in paper_ids:
            at = self._positions.get(pid)
            if at is not None and self._best[at] > -1.0:
                self.scores.scores[pid] = float(self._best[at])


class Dense:
    name = "dense"
    rank = 20
    weight = 1.0
    alone = "dense"

    def for_query(self, ask: QueryAsk, others: list[str]) -> DenseRun | None:
        from assistant.embeddings.base import embed_queries  # the query prefix, if any
        from assistant.index.server_dense import ServerDense

        index = ask.index
        if not len(index.dense):
            return None
        vector = embed_queries(index.embedder, [ask.text])[0]
        dense = index.dense
        if isinstance(dense, ServerDense):  # a large shared index: the server's HNSW
            wanted = max(ask.pool, ask.top)
            best, paper_list, positions = server_best(
                dense, vector, wanted, ask.allowed, ask.filters, others, ask.restricted
            )
        else:
            paper_list, starts = dense.layout()
            positions = dense.positions()
            best = np.maximum.reduceat(dense.matrix() @ vector, starts)
            if ask.allowed is not None:
                allowed = ask.allowed
                mask = np.fromiter((pid in allowed for pid in paper_list), dtype=bool)
                best = np.where(mask, best, -1.0)
        return DenseRun(best, paper_list, positions, ask.pool, ask.top, others)

    def for_paper(self, ask: PaperAsk, others: list[str]) -> DenseRun | None:
        if not ask.eligible.any():
            return None
        masked = np.where(ask.eligible, ask.cosines, -1.0)
        return DenseRun(masked, ask.paper_list, ask.positions, ask.pool, ask.top, others)


SIGNAL = Dense()


def chunk_where(filters: SearchFilters | None) -> tuple[dict[str, Any] | None, bool]:
    """The filters that chunk metadata can express, as a Chroma ``where`` clause, and whether
    that is all of them (venue, author and other metadata live only in the catalog)."""
    if filters is None:
        return None, True
    clauses: list[dict[str, Any]] = []
    if filters.year_from is not None:
        clauses.append({"year": {"$gte": filters.year_from}})
    if filters.year_to is not None:
        clauses.append({"year": {"$lte": filters.year_to}})
    if filters.source:
        clauses.append({"source": {"$eq": filters.source}})
    complete = not filters.needs_records()
    if not clauses:
        return None, complete
    return (clauses[0] if len(clauses) == 1 else {"$and": clauses}), complete


def server_best(
    dense: ServerDense,
    vector: np.ndarray,
    papers: int,
    allowed: set[str] | None,
    filters: SearchFilters | None,
    also: list[str],
    restricted: bool = False,
) -> tuple[np.ndarray, list[str], dict[str, int]]:
    """Best chunk cosine of the ``papers`` nearest allowed papers and of the papers ``also``
    (the lexical candidates, scored from their own vectors), as ``(scores, papers, positions)``
    in the layout :class:`DenseRun` reads. ``restricted``: ``allowed`` holds more
    than the filters say (a chat follow-up's papers)."""
    where, complete = chunk_where(filters)
    best = dense.nearest(vector, papers, allowed, where, complete and not restricted)
    missing = [pid for pid in also if pid not in best]
    if missing:
        best.update(dense.best_scores(vector, missing))
    paper_list = list(best)
    scores = np.asarray([best[pid] for pid in paper_list], dtype=np.float32)
    return scores, paper_list, {pid: i for i, pid in enumerate(paper_list)}


def server_mean_cosines(
    dense: ServerDense, vector: np.ndarray, papers: int, allowed: set[str] | None, also: list[str]
) -> tuple[np.ndarray, list[str], dict[str, int]]:
    """Cosine of ``vector`` with the mean chunk vector of each candidate paper: the papers of
    the chunks nearest to it (``papers`` of them) and ``also``, as ``(cosines, papers,
    positions)``; papers like a given one, without a mirror of every paper's mean vector."""
    near = dense.nearest(vector, papers, allowed)
    means = dense.paper_means(list(dict.fromkeys([*near, *also])))
    paper_list = list(means)
    cosines = np.asarray([float(means[pid] @ vector) for pid in paper_list], dtype=np.float32)
    return cosines, paper_list, {pid: i for i, pid in enumerate(paper_list)}
