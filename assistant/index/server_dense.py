"""Dense scores from the Chroma server, for a shared index too large to mirror in every client.

In server mode a client normally keeps every chunk vector in a local matrix
(:class:`~assistant.index.dense_cache.DenseCache`, about 1.5 KB a chunk at 384 dimensions) and
scores all of them exactly. Above ``settings.server_dense_above_chunks`` chunks on the server it
keeps none: a search asks the server's HNSW index for the chunks nearest to the query
(:meth:`ServerDense.nearest`), and the few papers whose own vectors are needed (the lexical
candidates' dense scores, diversification, "papers like this one") are fetched by chunk id and
kept in a small cache of recently used papers.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from assistant.index.catalog import Catalog
    from assistant.index.chroma_store import VectorStore

#: Chunks asked for per paper wanted. Papers average 2.5 chunks, but Chroma's HNSW search
#: (ef = the chunks asked for) finds more of the truly nearest when asked for more: at 59k
#: papers, 4 a paper found 98.1% of the 200 best papers, 8 found 98.9% (docs/benchmarks.md).
CHUNKS_PER_PAPER = 8
#: At most this many chunks in one query; a filter that keeps few papers beyond that is scored
#: exactly from the kept papers' own vectors instead (:data:`EXACT_PAPERS`).
MAX_RESULTS = 20000
#: A filter keeping at most this many papers is scored exactly from their fetched vectors
#: (about 1,250 vectors, 2 MB of JSON).
EXACT_PAPERS = 500
#: A filter keeping at least this share of the papers is applied to the answer of a larger
#: unfiltered query rather than sent as a ``where`` clause: at 59k papers a ``where`` query
#: took about 1.1 s whatever it kept (Chroma filters the metadata first), an unfiltered one
#: about 0.1 ms a chunk asked for.
WHERE_BELOW_SHARE = 0.2
#: Papers whose chunk vectors stay cached in the process.
CACHED_PAPERS = 4096


class ServerDense:
    """The dense side of an index whose vectors stay on the Chroma server.

    It stands where the dense mirror stands for ingest (``put``, ``remove_papers`` and
    ``save`` keep nothing but drop cached papers) and answers what search needs.
    """

    def __init__(self, store: VectorStore, catalog: Catalog) -> None:
        self._store = store
        self._catalog = catalog
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self.queries = 0  # server queries made (the benchmark reports them)

    def __len__(self) -> int:
        return self._catalog.count_chunks()

    # --- what ingest and sync call on a dense mirror
    def put(
        self, chunk_ids: list[str], paper_ids: list[str], vectors: Any, tokens: dict[str, int]
    ) -> None:
        self.remove_papers(set(paper_ids) | set(tokens))

    def remove_papers(self, paper_ids: set[str]) -> None:
        for pid in paper_ids:
            self._vectors.pop(pid, None)

    def save(self, index_dir: Path, fingerprint: str) -> None:
        """Nothing to save: the vectors stay on the server."""

    # --- reading
    def chunk_vectors(self, paper_ids: Iterable[str]) -> dict[str, np.ndarray]:
        """Each paper's chunk vectors (rows in chunk order), fetched from the server once."""
        wanted = list(dict.fromkeys(paper_ids))
        missing = [pid for pid in wanted if pid not in self._vectors]
        if missing:
            counts = self._catalog.hashes(missing)
            ids = {pid: [f"{pid}#{n}" for n in range(counts[pid][1])] for pid in counts}
            found = self._store.get_embeddings([cid for cids in ids.values() for cid in cids])
            for pid, cids in ids.items():
                rows = [found[cid] for cid in cids if cid in found]
                if rows:
                    self._vectors[pid] = np.asarray(rows, dtype=np.float32)
        out = {}
        for pid in wanted:
            if pid in self._vectors:
                self._vectors.move_to_end(pid)
                out[pid] = self._vectors[pid]
        while len(self._vectors) > max(CACHED_PAPERS, len(out)):
            self._vectors.popitem(last=False)
        return out

    def paper_means(self, paper_ids: list[str]) -> dict[str, np.ndarray]:
        """The mean chunk vector (unit length) of each of these papers the server holds."""
        means = {}
        for pid, rows in self.chunk_vectors(paper_ids).items():
            mean = rows.mean(axis=0)
            means[pid] = mean / max(float(np.linalg.norm(mean)), 1e-12)
        return means

    def best_scores(self, vector: np.ndarray, paper_ids: Iterable[str]) -> dict[str, float]:
        """Each paper's best chunk cosine with ``vector``, computed from its own vectors."""
        return {
            pid: float((rows @ vector).max()) for pid, rows in self.chunk_vectors(paper_ids).items()
        }

    def nearest(
        self,
        vector: np.ndarray,
        papers: int,
        allowed: set[str] | None = None,
        where: dict[str, Any] | None = None,
        complete: bool = True,
    ) -> dict[str, float]:
        """Best chunk cosine of the ``papers`` papers nearest to ``vector`` (fewer when fewer
        pass), among ``allowed`` (None: all).

        ``where``: a ``where`` clause on chunk metadata that keeps (at least) the allowed
        papers' chunks, sent when they are few (:data:`WHERE_BELOW_SHARE`); ``complete``: it
        keeps no other, so no more chunks need asking for.
        The papers of the nearest chunks are exactly the papers with the best chunks, each
        with its best one, so ``papers`` distinct papers among them are the best ``papers``.
        """
        if allowed is not None and len(allowed) <= EXACT_PAPERS:
            return self.best_scores(vector, allowed)
        share = 1.0
        if allowed is not None:
            share = min(1.0, max(len(allowed) / max(self._catalog.count_papers(), 1), 1e-3))
            if share >= WHERE_BELOW_SHARE:
                where = None  # asking for more chunks unfiltered is cheaper than a where
        if where is not None and complete:
            share = 1.0  # the server keeps the allowed chunks only: no need to ask for more
        n = min(MAX_RESULTS, int(papers * CHUNKS_PER_PAPER / share))
        while True:
            self.queries += 1
            hits = self._store.nearest(vector, n, where)
            best: dict[str, float] = {}
            for paper_id, similarity in hits:
                if (allowed is None or paper_id in allowed) and paper_id not in best:
                    best[paper_id] = similarity  # hits come nearest first
            if allowed is None:  # chunks whose paper this folder has not read (yet) are left out
                committed = self._catalog.hashes(best)
                best = {pid: score for pid, score in best.items() if pid in committed}
            if len(best) >= papers or len(hits) < n or n >= MAX_RESULTS:
                return best
            n = min(MAX_RESULTS, n * 4)
