"""A shared index on a Chroma server: the records live there, the index folder is a cache.

In server mode (``ASSISTANT_CHROMA_URL``) the server holds everything a client needs: the chunk
vectors (collection ``<collection>-<fingerprint>``) and the papers' records (collection
``<collection>-papers``, see :class:`~assistant.index.chroma_store.SharedRecords`): title,
abstract, metadata, chunks, content hash, ingest order and a change counter ``seq``. The
papers collection's head record names the index fingerprint (embedding model, chunking), so a
client with other settings gets a clear error instead of a second, empty index.

The index folder (catalog, BM25, dense mirror) is a cache brought up to date from the server:
the catalog keeps the server's epoch and the highest ``seq`` it has read (its high-water mark),
and each sync fetches only the records with a higher ``seq``, with the vectors of their chunks.
A rebuild on the server gives it a new epoch, and clients start over. Writers commit each batch
under the server's write lock: first they read what others committed (so their catalog and
caches stay complete), then they write their records with the next ``seq`` numbers, then the
head; a reader never misses a record, since the head moves only after the records are written.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from assistant.checked_files import locked
from assistant.errors import AssistantError, IndexMismatchError
from assistant.index.state import paper_token
from assistant.ingest.chunking import Chunk
from assistant.records import Paper

if TYPE_CHECKING:
    from assistant.index.bm25 import LexicalIndex
    from assistant.index.catalog import Catalog
    from assistant.index.chroma_store import SharedRecords, VectorStore
    from assistant.index.dense_cache import DenseCache
    from assistant.index.server_dense import ServerDense
    from assistant.settings import Settings

EPOCH_META = "server_epoch"  # the server epoch the catalog reflects
MARK_META = "server_seq"  # the highest seq read from the server
WINDOW = 2000  # records fetched at once
_PAPER_FIELDS = ("title", "abstract", "year", "authors", "venue", "doi", "arxiv_id", "url")
_SPEC_KEYS = ("embedding_model", "chunk_tokens", "chunk_overlap_sentences", "chunker_version")

Entry = tuple[Paper, str, list[Chunk]]


class SyncedIndex(Protocol):
    """What the sync reads and fills of a :class:`~assistant.index.paper_index.PaperIndex`:
    its folder, settings and fingerprint, its catalog, and its caches (cached properties, which
    the sync replaces through ``__dict__`` when it has brought them up to date)."""

    dir: Path
    settings: Settings
    spec: dict[str, str]
    catalog: Catalog

    @property
    def store(self) -> VectorStore: ...

    @property
    def lexical(self) -> LexicalIndex: ...

    @property
    def dense(self) -> DenseCache | ServerDense: ...

    def ingest_running(self) -> bool: ...

    def _save_quietly(self, save: Callable[[], None]) -> None: ...


@dataclass
class SyncReport:
    papers: int  # papers read from the server by this sync
    held: int  # papers the index holds after it
    first: bool  # the folder had read nothing from this server before
    seconds: float


def encode(paper: Paper, chunks: list[Chunk]) -> str:
    """A paper's record document: its fields and chunks, as JSON."""
    data: dict[str, Any] = {name: getattr(paper, name) for name in _PAPER_FIELDS}
    data["source"] = paper.source
    data["extra"] = paper.extra
    data["chunks"] = [[c.ordinal, c.first_sentence, c.last_sentence, c.text] for c in chunks]
    return json.dumps(data, ensure_ascii=False)


def decode(paper_id: str, document: str) -> tuple[Paper, list[Chunk]]:
    data = json.loads(document)
    chunks = [Chunk(paper_id, o, first, last, text) for o, first, last, text in data.pop("chunks")]
    return Paper(paper_id=paper_id, **data), chunks


class SharedIndex:
    """The server side of a :class:`~assistant.index.paper_index.PaperIndex` in server mode."""

    def __init__(self, index: SyncedIndex) -> None:
        from assistant.index.chroma_store import SharedRecords

        self.index = index
        self.url = index.settings.chroma_url
        self.records: SharedRecords = SharedRecords(
            index.store.client, f"{index.settings.collection}-papers", str(self.url)
        )
        self.joined: SyncReport | None = None  # set by the first sync of this folder
        self.last: SyncReport | None = None  # the last sync that read records
        self._dense_on_server: bool | None = None

    def dense_on_server(self) -> bool:
        """True when dense search asks the server (no local mirror of the vectors): above
        ``settings.server_dense_above_chunks`` chunks on it, decided once per open index."""
        if self._dense_on_server is None:
            limit = self.index.settings.server_dense_above_chunks
            self._dense_on_server = self.index.store.count() > limit
        return self._dense_on_server

    # --- the fingerprint
    def check(self) -> None:
        """Refuse settings other than those the server's index was built with."""
        head = self.records.head()
        if head is None or int(head["seq"]) == 0:
            return
        spec = self.index.spec
        if head.get("fingerprint") == spec["fingerprint"]:
            return
        model, tokens = head.get("embedding_model"), head.get("chunk_tokens")
        raise IndexMismatchError(
            f"The shared index {self.records.name!r} on {self.url} was built with embedding "
            f"model {model!r} (chunks of {tokens} tokens, overlap "
            f"{head.get('chunk_overlap_sentences')}); the settings ask for "
            f"{spec['embedding_model']!r} (chunks of {spec['chunk_tokens']}, overlap "
            f"{spec['chunk_overlap_sentences']}).",
            hint=(
                f"Use the server's settings (ASSISTANT_EMBEDDING_MODEL={model}, "
                f"ASSISTANT_CHUNK_TOKENS={tokens}), or another ASSISTANT_COLLECTION for a "
                "separate shared index ('assistant ingest --rebuild' replaces it for everyone)."
            ),
        )

    # --- reading
    def sync(self) -> SyncReport | None:
        """Bring the folder up to date with the server (None: it already was, or is empty)."""
        index = self.index
        if index.ingest_running():  # that ingest syncs this folder before each commit
            return None
        started = time.perf_counter()
        with self._folder_lock():
            head = self.records.head()
            if head is None:
                return None
            first = index.catalog.get_meta(EPOCH_META) != head["epoch"]
            pulled = self._pull(head)
        if pulled is None:
            return None
        report = SyncReport(
            pulled, index.catalog.count_papers(), first, time.perf_counter() - started
        )
        self.last = report
        if first:
            self.joined = report
        return report

    def _pull(self, head: dict[str, Any]) -> int | None:
        """Read the records above the folder's mark into the catalog and caches."""
        index, catalog = self.index, self.index.catalog
        local_epoch = catalog.get_meta(EPOCH_META)
        if local_epoch != head["epoch"]:
            held = catalog.count_papers()
            if held and local_epoch is None and int(head["seq"]) > 0:
                raise AssistantError(
                    f"The index folder {index.dir} holds {held} papers that are not from the "
                    f"shared index on {self.url}.",
                    hint="Use a new, empty --index folder with the server (the folder is only "
                    "a cache of the shared index), or unset ASSISTANT_CHROMA_URL for this one.",
                )
            if held and local_epoch is not None:  # the server was rebuilt, or is another one
                _drop_local(index)
            catalog.set_meta({EPOCH_META: str(head["epoch"]), MARK_META: "0"})
            catalog.set_meta({k: v for k, v in index.spec.items()})
        mark, top = int(catalog.get_meta(MARK_META) or 0), int(head["seq"])
        if top <= mark:
            return None
        lexical, dense = index.lexical, _dense(index, self.dense_on_server())
        pulled = 0
        for after in range(mark, top, WINDOW):
            upto = min(after + WINDOW, top)
            rows = self.records.fetch(after, upto)
            entries: list[Entry] = []
            orders: dict[str, int] = {}
            for paper_id, document, meta in rows:
                paper, chunks = decode(paper_id, document)
                entries.append((paper, str(meta["content_hash"]), chunks))
                orders[paper_id] = int(meta["order"])
            with catalog.transaction():
                if entries:
                    catalog.write_papers(entries, orders=orders)
                catalog.set_meta({MARK_META: str(upto)})
            self._apply(entries, lexical, dense)
            pulled += len(entries)
        lexical.compact()
        # The caches' states say whether they hold what the catalog holds (another process may
        # have written the folder meanwhile): saved if so, else caught up on next use.
        state = catalog.state
        if lexical.state == state:
            index._save_quietly(lambda: lexical.save(index.dir))
        else:
            index.__dict__.pop("lexical", None)
        if getattr(dense, "state", state) == state:
            index._save_quietly(lambda: dense.save(index.dir, index.spec["fingerprint"]))
        else:
            index.__dict__.pop("dense", None)
        return pulled

    def _apply(self, entries: list[Entry], lexical: Any, dense: Any) -> None:
        """Put papers read from the server into the BM25 index and the dense mirror."""
        import numpy as np

        from assistant.index.server_dense import ServerDense

        if not entries:
            return
        tokens = {p.paper_id: paper_token(p.paper_id, digest) for p, digest, _c in entries}
        for paper, _digest, _chunks in entries:
            lexical.add(paper.paper_id, paper.title, paper.abstract, tokens[paper.paper_id])
        if isinstance(dense, ServerDense):  # no mirror: the vectors stay on the server
            dense.remove_papers(set(tokens))
            return
        owners = {c.chunk_id: p.paper_id for p, _d, chunks in entries for c in chunks}
        found = self.index.store.get_embeddings(list(owners))
        ids = [cid for cid in owners if cid in found]
        dense.remove_papers(set(tokens))
        vectors = np.asarray([found[c] for c in ids], dtype=np.float32).reshape(len(ids), -1)
        # A paper whose chunks the server lacks gets no token: the next catch-up embeds them.
        complete = {
            p.paper_id: tokens[p.paper_id]
            for p, _d, chunks in entries
            if all(c.chunk_id in found for c in chunks)
        }
        dense.put(ids, [owners[c] for c in ids], vectors, complete)

    # --- writing
    def commit(self, entries: list[Entry]) -> list[Entry]:
        """Write a batch's records (their chunks are on the server already) and commit them
        locally; returns the entries kept (a paper another member committed first under
        another id, found by DOI, arXiv id or title and first author, is left out)."""
        from assistant.ingest.dedup import identity_keys

        index, catalog = self.index, self.index.catalog
        with self._folder_lock(), self.records.lock():
            head = self.records.head() or self._new_head()
            self._pull(head)
            ours = {p.paper_id for p, _d, _c in entries}
            kept: list[Entry] = []
            dropped: list[Entry] = []
            for entry in entries:
                owners = set(catalog.find_keys(identity_keys(entry[0])).values()) - ours
                (dropped if owners else kept).append(entry)
            if dropped:
                index.store.delete([c.chunk_id for _p, _d, chunks in dropped for c in chunks])
            self._write(kept, head)
        return kept

    def publish(self, papers: list[Paper]) -> None:
        """Unchanged papers of an ingest: refresh their metadata, and write the records of
        those whose metadata changed or that the server lacks (an index made before sharing)."""
        catalog = self.index.catalog
        ids = [p.paper_id for p in papers]
        before = catalog.get_papers(ids)
        catalog.update_metadata(papers)
        after = catalog.get_papers(ids)
        on_server = self.records.orders(ids)
        changed = [pid for pid in ids if pid not in on_server or before.get(pid) != after[pid]]
        if not changed:
            return
        hashes, chunks = catalog.hashes(changed), catalog.chunks_of(changed)
        entries = [(after[pid], hashes[pid][0], chunks[pid]) for pid in changed]
        with self._folder_lock(), self.records.lock():
            head = self.records.head() or self._new_head()
            self._pull(head)
            self._write(entries, head)

    def _write(self, entries: list[Entry], head: dict[str, Any]) -> None:
        """Under the lock: records with the next seq numbers, the head, then the catalog."""
        catalog = self.index.catalog
        seq, order = int(head["seq"]), int(head["order"])
        orders = self.records.orders([p.paper_id for p, _d, _c in entries])
        records = []
        for paper, digest, chunks in entries:
            seq += 1
            if paper.paper_id not in orders:
                order += 1
                orders[paper.paper_id] = order
            meta: dict[str, str | int | float] = {
                "seq": seq,
                "order": orders[paper.paper_id],
                "content_hash": digest,
                "n_chunks": len(chunks),
            }
            records.append((paper.paper_id, encode(paper, chunks), meta))
        if records:
            self.records.write(records)
            self.records.set_head({**head, "seq": seq, "order": order})
        with catalog.transaction():
            catalog.write_papers(entries, orders=orders)
            catalog.set_meta({MARK_META: str(seq)})

    def _new_head(self) -> dict[str, Any]:
        head: dict[str, str | int | float] = {
            "epoch": secrets.token_hex(8),
            "seq": 0,
            "order": 0,
            "fingerprint": self.index.spec["fingerprint"],
            **{k: self.index.spec[k] for k in _SPEC_KEYS},
        }
        self.records.set_head(head)
        return {"kind": "head", **head}

    def reset(self) -> None:
        """Empty the shared index for everyone (``ingest --rebuild``): a new epoch."""
        with self.records.lock():
            old = self.records.head()
            self.records.clear()
            head = self._new_head()
        if old and old.get("fingerprint") != self.index.spec["fingerprint"]:
            self.index.store.drop_other(f"{self.index.settings.collection}-{old['fingerprint']}")
        self.index.catalog.set_meta({EPOCH_META: str(head["epoch"]), MARK_META: "0"})

    def _folder_lock(self) -> contextlib.AbstractContextManager[None]:
        """One sync at a time in this folder."""
        return locked(self.index.dir / "sync.lock")


def publish_local(
    source: Catalog,
    shared: SharedIndex,
    vectors: VectorStore | None,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Write a local index's papers to the server as records (and, with ``vectors``, the local
    Chroma store, their chunk vectors too; without it the server holds them already, e.g. it
    serves a copy of the local folder's ``chroma/``). Returns the papers written.

    Papers keep the local ingest order; a paper the server already has is overwritten.
    """
    target = shared.index.spec["fingerprint"]
    if source.get_meta("fingerprint") != target:
        raise IndexMismatchError(
            f"The local index was built with embedding model "
            f"{source.get_meta('embedding_model')!r} (chunks of "
            f"{source.get_meta('chunk_tokens')} tokens); the settings ask for "
            f"{shared.index.spec['embedding_model']!r} (chunks of "
            f"{shared.index.spec['chunk_tokens']}).",
            hint="Publish it with the settings it was built with.",
        )
    ids = [paper.paper_id for paper in source.iter_papers()]
    for start in range(0, len(ids), WINDOW // 2):
        part = ids[start : start + WINDOW // 2]
        papers, hashes = source.get_papers(part), source.hashes(part)
        chunks = source.chunks_of(part)
        entries = [(papers[pid], hashes[pid][0], chunks[pid]) for pid in part]
        if vectors is not None:
            _copy_vectors(entries, vectors, shared.index.store)
        with shared._folder_lock(), shared.records.lock():
            head = shared.records.head() or shared._new_head()
            shared._pull(head)
            shared._write(entries, head)
        if progress is not None:
            progress(min(start + WINDOW // 2, len(ids)), len(ids))
    return len(ids)


def _copy_vectors(entries: list[Entry], source: VectorStore, target: VectorStore) -> None:
    import numpy as np

    chunks = [chunk for _paper, _digest, paper_chunks in entries for chunk in paper_chunks]
    found = source.get_embeddings([c.chunk_id for c in chunks])
    chunks = [c for c in chunks if c.chunk_id in found]
    if not chunks:
        return
    from assistant.index.chroma_store import chunk_metadata

    of = {paper.paper_id: paper for paper, _digest, _chunks in entries}
    metadatas = [chunk_metadata(of[c.paper_id], c.ordinal) for c in chunks]
    vectors = np.asarray([found[c.chunk_id] for c in chunks], dtype=np.float32)
    target.upsert([c.chunk_id for c in chunks], vectors, [c.text for c in chunks], metadatas)


def _dense(index: SyncedIndex, on_server: bool) -> Any:
    """The dense mirror to add to: loaded, or empty when the folder holds no chunk (so that
    reading the server needs no embedding model); none when the vectors stay on the server."""
    from assistant.index.dense_cache import DenseCache
    from assistant.index.server_dense import ServerDense

    if "dense" not in index.__dict__ and on_server:
        index.__dict__["dense"] = ServerDense(index.store, index.catalog)
    if "dense" not in index.__dict__ and index.catalog.count_chunks() == 0:
        index.__dict__["dense"] = DenseCache(0)
    return index.dense


def _drop_local(index: SyncedIndex) -> None:
    """Empty the folder's cache of a server (whose index was rebuilt since)."""
    index.catalog.clear()
    for name in ("lexical.npz", "dense.npz"):
        (index.dir / name).unlink(missing_ok=True)
    for attr in ("lexical", "dense"):
        index.__dict__.pop(attr, None)
