"""The derived files of an index (BM25, the dense mirror) brought to exactly the catalog's state.

The catalog is the record of truth. A derived file holds each paper's state token
(:mod:`assistant.index.state`); when its state differs from the catalog's (an ingest that was
interrupted before it saved, another process's commits, a file restored from elsewhere), the
papers whose tokens differ are dropped and the catalog's are added: their text from the
catalog, their vectors from Chroma. A chunk whose vector Chroma no longer has (a deleted or
damaged Chroma folder) is embedded again from the catalog's chunk text and written back, so
that no committed paper drops out of search. A file that cannot be read is rebuilt whole.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pathlib import Path

    from assistant.embeddings import Embedder
    from assistant.index.bm25 import LexicalIndex
    from assistant.index.catalog import Catalog
    from assistant.index.chroma_store import VectorStore
    from assistant.index.dense_cache import DenseCache

logger = logging.getLogger(__name__)


class DerivedSource(Protocol):
    """What catching up reads: the catalog, Chroma, and the embedder for lost vectors."""

    dir: Path
    catalog: Catalog

    @property
    def store(self) -> VectorStore: ...

    @property
    def embedder(self) -> Embedder: ...


def _differences(have: dict[str, int], want: dict[str, int]) -> tuple[set[str], list[str]]:
    """(papers to drop, papers to add) to turn ``have`` into ``want``."""
    stale = {pid for pid, token in have.items() if want.get(pid) != token}
    missing = [pid for pid, token in want.items() if have.get(pid) != token]
    return stale, missing


def catch_up_lexical(lexical: LexicalIndex, catalog: Catalog) -> bool:
    """Make the BM25 index hold exactly the catalog's papers; True when it changed."""
    want = catalog.paper_tokens()
    stale, missing = _differences(lexical.paper_tokens(), want)
    for pid in stale:
        lexical.remove(pid)
    for start in range(0, len(missing), 2000):
        part = missing[start : start + 2000]
        papers = catalog.get_papers(part)
        for pid in part:
            paper = papers.get(pid)
            if paper is not None:  # deleted meanwhile: the next catch-up sees it
                lexical.add(pid, paper.title, paper.abstract, want[pid])
    lexical.compact()
    return bool(stale or missing)


def catch_up_dense(dense: DenseCache, source: DerivedSource) -> bool:
    """Make the dense mirror hold exactly the catalog's papers' vectors; True when it changed."""
    import numpy as np

    catalog = source.catalog
    want = catalog.paper_tokens()
    stale, missing = _differences(dense.tokens, want)
    if stale:
        dense.remove_papers(stale)
    for start in range(0, len(missing), 2000):
        part = missing[start : start + 2000]
        chunks = catalog.chunks_of(part)
        ids = [c.chunk_id for pid in part for c in chunks[pid]]
        owners = [pid for pid in part for _c in chunks[pid]]
        found = source.store.get_embeddings(ids)
        lost = [cid for cid in ids if cid not in found]
        if lost:
            found.update(_embed_again(source, lost, chunks))
        vectors = np.asarray([found[cid] for cid in ids], dtype=np.float32)
        if not ids:
            vectors = np.zeros((0, dense.dim), dtype=np.float32)
        dense.put(ids, owners, vectors, {pid: want[pid] for pid in part})
    return bool(stale or missing)


def _embed_again(source: DerivedSource, lost: list[str], chunks: dict[str, list[Any]]) -> dict:
    """Vectors of committed chunks that Chroma lost, embedded from the catalog and written back."""
    from assistant.index.chroma_store import chunk_metadata
    from assistant.ingest.chunking import embedded_text

    wanted = set(lost)
    lost_chunks = [c for each in chunks.values() for c in each if c.chunk_id in wanted]
    papers = source.catalog.get_papers({c.paper_id for c in lost_chunks})
    logger.warning(
        "%d chunk vectors of %d papers were missing from the vector store (Chroma collection "
        "%s); embedding them again from the catalog.",
        len(lost_chunks),
        len(papers),
        source.store.name,
    )
    texts = [embedded_text(papers[c.paper_id].title, c.text) for c in lost_chunks]
    vectors = source.embedder.embed(texts)
    source.store.upsert(
        [c.chunk_id for c in lost_chunks],
        vectors,
        [c.text for c in lost_chunks],
        [chunk_metadata(papers[c.paper_id], c.ordinal) for c in lost_chunks],
    )
    return {c.chunk_id: vectors[i] for i, c in enumerate(lost_chunks)}
