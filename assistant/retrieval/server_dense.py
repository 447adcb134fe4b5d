"""The dense side of a search whose vectors stay on the Chroma server.

:class:`~assistant.index.server_dense.ServerDense` answers with the papers of the chunks nearest
to the query; this module turns the search filters into a ``where`` clause on the chunks'
metadata (year and source; the other filters are applied to the answer, from a larger one) and
lays the scores out as the local mirror's are, so that :func:`~.retriever.add_dense` and the
fusion treat both paths alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from assistant.index.server_dense import ServerDense
    from assistant.retrieval.filters import SearchFilters


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
    in the layout :func:`~.retriever.add_dense` reads. ``restricted``: ``allowed`` holds more
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
