"""One ingest in progress: windows of papers deduplicated, then chunked, embedded and committed
in batches.

A batch's vectors go to Chroma first (idempotent upserts), then its catalog rows are committed,
then the derived indexes (BM25, dense mirror) follow. Embedding batch k+1 runs in a worker
thread while batch k is written: onnxruntime releases the GIL, and the writes (Chroma, SQLite,
BM25) would otherwise leave a core idle. Batches are still committed one by one, in order, so an
interrupted ingest resumes after the last committed batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from assistant.index.catalog import content_hash
from assistant.index.state import paper_token
from assistant.ingest.chunking import (
    Chunk,
    chunk_paper,
    embedded_text,
    paper_sentences,
    precounted,
)
from assistant.records import IngestReport, Paper

if TYPE_CHECKING:
    import numpy as np

    from assistant.embeddings import Embedder
    from assistant.index.bm25 import LexicalIndex
    from assistant.index.catalog import Catalog
    from assistant.index.chroma_store import VectorStore
    from assistant.index.dense_cache import DenseCache
    from assistant.index.server_dense import ServerDense
    from assistant.index.server_sync import SharedIndex
    from assistant.index.shipped_vectors import ShippedVectors
    from assistant.settings import Settings

ProgressFn = Callable[[int, int], None]
Known = dict[str, tuple[str, int]]  # paper id -> (content hash, chunks) of indexed papers


class IngestTarget(Protocol):
    """What an ingest writes into (a :class:`~assistant.index.paper_index.PaperIndex`)."""

    settings: Settings
    spec: dict[str, str]
    catalog: Catalog
    shared: SharedIndex | None
    shipped_vectors: ShippedVectors | None

    @property
    def embedder(self) -> Embedder: ...
    @property
    def store(self) -> VectorStore: ...
    @property
    def dense(self) -> DenseCache | ServerDense: ...
    @property
    def lexical(self) -> LexicalIndex: ...


@dataclass
class ChunkedBatch:
    """Papers chunked, with the texts to embed (each distinct text once)."""

    entries: list[tuple[Paper, str, list[Chunk]]]  # (paper, content hash, chunks)
    texts: list[str]  # the embedded text of every chunk, in order
    distinct: list[str]


def chunk_batch(index: IngestTarget, batch: list[tuple[Paper, str]]) -> ChunkedBatch:
    """Split each paper's abstract (or title-only text) into chunks; one tokenizer call counts
    the whole batch."""
    sentences = [paper_sentences(paper) for paper, _digest in batch]
    count = precounted(
        index.embedder.count_tokens,
        [f"{p.title}." for p, _d in batch] + [s for each in sentences for s in each],
    )
    entries: list[tuple[Paper, str, list[Chunk]]] = []
    texts: list[str] = []
    for (paper, digest), split in zip(batch, sentences, strict=True):
        chunks = chunk_paper(
            paper.paper_id,
            paper.title,
            split,
            count,
            index.settings.chunk_tokens,
            index.settings.chunk_overlap_sentences,
        )
        entries.append((paper, digest, chunks))
        texts.extend(embedded_text(paper.title, c.text) for c in chunks)
    # The same text is embedded once, even when several chunks carry it.
    return ChunkedBatch(entries, texts, list(dict.fromkeys(texts)))


def embed_batch(index: IngestTarget, chunked: ChunkedBatch) -> np.ndarray:
    """One vector per chunk (shipped vectors are looked up for the demo's known texts)."""
    import numpy as np

    if not chunked.distinct:
        return np.zeros((0, index.embedder.dim), np.float32)
    embed = (index.shipped_vectors or index.embedder).embed
    vectors_of_distinct = embed(chunked.distinct)
    row_of = {text: i for i, text in enumerate(chunked.distinct)}
    return vectors_of_distinct[[row_of[t] for t in chunked.texts]]


def commit_batch(index: IngestTarget, chunked: ChunkedBatch, vectors: Any, known: Known) -> int:
    """Upsert into Chroma, commit to the catalog, update BM25 and the mirror; chunks embedded."""
    entries = chunked.entries
    from assistant.index.chroma_store import chunk_metadata

    ids, documents, metadatas, paper_of = [], [], [], []
    for paper, _digest, chunks in entries:
        for chunk in chunks:
            ids.append(chunk.chunk_id)
            documents.append(chunk.text)
            metadatas.append(chunk_metadata(paper, chunk.ordinal))
            paper_of.append(paper.paper_id)
    if ids:
        index.store.upsert(ids, vectors, documents, metadatas)
    stale = [
        f"{paper.paper_id}#{n}"
        for paper, _digest, chunks in entries
        for n in range(len(chunks), known.get(paper.paper_id, ("", 0))[1])
    ]
    if stale:
        index.store.delete(stale)
    if index.shared is not None:  # under the server's lock, after what others committed
        entries = index.shared.commit(entries)
        kept = {paper.paper_id for paper, _digest, _chunks in entries}
        ids, paper_of, vectors = _only(kept, ids, paper_of, vectors)
    else:
        index.catalog.write_papers(entries)
    # Derived indexes follow the committed state.
    tokens = {paper.paper_id: paper_token(paper.paper_id, digest) for paper, digest, _c in entries}
    index.dense.remove_papers(set(tokens))
    index.dense.put(ids, paper_of, vectors, tokens)
    for paper, _digest, _chunks in entries:
        index.lexical.add(paper.paper_id, paper.title, paper.abstract, tokens[paper.paper_id])
    return len(chunked.distinct)


def refresh_chunk_filters(index: IngestTarget, papers: list[Paper], known: Known) -> None:
    """Papers whose text is unchanged but whose year or source changed: their chunks' metadata
    in Chroma follows (search filters on a server read it as ``where`` clauses). Called before
    the catalog takes the new metadata."""
    before = index.catalog.get_papers([p.paper_id for p in papers])
    ids: list[str] = []
    metadatas: list[dict[str, str | int | float | None]] = []
    for paper in papers:
        old = before.get(paper.paper_id)
        if old is None:
            continue
        source = old.source or paper.source  # as the catalog keeps it: the first source stays
        if (old.year, old.source) == (paper.year, source):
            continue
        for ordinal in range(known[paper.paper_id][1]):
            ids.append(f"{paper.paper_id}#{ordinal}")
            metadatas.append(
                {
                    "paper_id": paper.paper_id,
                    "ordinal": ordinal,
                    "year": paper.year,  # None removes the key
                    "source": source or None,
                }
            )
    if ids:
        index.store.update_metadata(ids, metadatas)


def _only(kept: set[str], ids: list[str], owners: list[str], vectors: Any) -> tuple[Any, ...]:
    """The chunk rows of the kept papers."""
    rows = [i for i, owner in enumerate(owners) if owner in kept]
    return [ids[i] for i in rows], [owners[i] for i in rows], vectors[rows]


class IngestRun:
    """One ingest in progress: each window of papers is deduplicated, embedded and committed.

    A paper id seen in an earlier window of the same run is merged into the committed paper
    (as :func:`~assistant.ingest.dedup.merge_duplicates` does within a window), so streaming the
    input gives the same index as reading it whole.
    """

    def __init__(self, index: IngestTarget, progress: ProgressFn | None, total: int) -> None:
        self.index = index
        self.report = IngestReport()
        self.progress = progress
        self.total = total
        self.done = 0
        self.changed = False
        self._seen: set[str] = set()
        if progress:
            progress(0, total)

    def add(self, papers: list[Paper]) -> None:
        """Ingest one window of papers."""
        from assistant.index.merging import merge_window

        index, report = self.index, self.report
        # Duplicates in the window, of this run's earlier windows and of indexed papers.
        unique, again, merged = merge_window(papers, index.catalog, self._seen)
        report.duplicates_merged += merged
        self._seen.update(p.paper_id for p in unique)
        fingerprint = index.spec["fingerprint"]
        known = index.catalog.hashes(p.paper_id for p in unique)
        to_embed: list[tuple[Paper, str]] = []
        unchanged: list[Paper] = []
        for paper in unique:
            digest = content_hash(paper, fingerprint)
            previous = known.get(paper.paper_id)
            counted = paper.paper_id not in again  # a repeat was counted in its first window
            if previous is not None and previous[0] == digest:
                report.unchanged += counted
                unchanged.append(paper)
                continue
            if previous is None:
                report.added += 1
            elif counted:
                report.updated += 1
            to_embed.append((paper, digest))
        if unchanged:
            refresh_chunk_filters(index, unchanged, known)
        if unchanged and index.shared is not None:
            index.shared.publish(unchanged)  # and to the server, if changed or not there
        elif unchanged:
            index.catalog.update_metadata(unchanged)
            self.changed = True
        self._advance(len(papers) - len(to_embed), embedded=False)
        if to_embed:
            self._embed_and_commit(to_embed, known)
            index.lexical.compact()

    def _embed_and_commit(self, to_embed: list[tuple[Paper, str]], known: Known) -> None:
        index = self.index
        # Loaded from the state before this window: loaded after the first commit, the
        # derived indexes would read that batch back (from Chroma, the catalog), then add it again.
        _ = (index.dense, index.lexical)
        step = index.settings.ingest_batch_papers
        batches = (to_embed[start : start + step] for start in range(0, len(to_embed), step))
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed") as worker:
            for chunked, vectors in _embedded_ahead(index, batches, worker):
                self.report.chunks_embedded += commit_batch(index, chunked, vectors, known)
                self.changed = True
                self._advance(len(chunked.entries))

    def _advance(self, papers: int, embedded: bool = True) -> None:
        self.done += papers
        skipped = getattr(self.progress, "skipped", None)  # papers/s counts embedded ones only
        if not embedded and papers and callable(skipped):
            skipped(papers)
        if self.progress and papers:
            self.progress(min(self.done, self.total), self.total)


def _embedded_ahead(
    index: IngestTarget,
    batches: Iterator[list[tuple[Paper, str]]],
    worker: ThreadPoolExecutor,
) -> Iterator[tuple[ChunkedBatch, Any]]:
    """Each batch chunked and embedded, the next one's embedding already started in ``worker``
    when a batch is handed out. After an error, the batch being embedded is waited for, not
    committed."""
    ahead: tuple[ChunkedBatch, Future[Any]] | None = None
    for batch in batches:
        chunked = chunk_batch(index, batch)
        started = (chunked, worker.submit(embed_batch, index, chunked))
        if ahead is not None:
            yield ahead[0], ahead[1].result()
        ahead = started
    if ahead is not None:
        yield ahead[0], ahead[1].result()
