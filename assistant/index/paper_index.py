"""The paper index: catalog, Chroma vectors, the BM25 index and the dense cache, kept in step.

Ingest is incremental and crash-safe: papers are embedded and written in batches; a batch's
vectors go to Chroma first (idempotent upserts), then its catalog rows are committed. A paper
counts as indexed only once committed, so re-running an interrupted ingest redoes at most one
batch. The lexical index and dense cache are derived from the committed state and rebuilt when
they do not match it. On a Chroma server the papers' records are committed there too, and the
folder is a cache of the server's index (:mod:`assistant.index.server_sync`).
"""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.errors import AssistantError, IndexDamagedError, IndexMismatchError
from assistant.index.catalog import Catalog
from assistant.index.fingerprint import index_fingerprint  # noqa: F401 - re-exported
from assistant.index.ingest_run import IngestRun, ProgressFn
from assistant.records import IngestReport, Paper

if TYPE_CHECKING:
    from assistant.embeddings import Embedder
    from assistant.index.bm25 import LexicalIndex
    from assistant.index.chroma_store import VectorStore
    from assistant.index.dense_cache import DenseCache
    from assistant.index.server_dense import ServerDense
    from assistant.index.server_sync import SharedIndex
    from assistant.index.shipped_vectors import ShippedVectors
    from assistant.settings import Settings

# Papers held in memory at once by a streamed ingest (read, deduplicated, embedded, committed).
INGEST_WINDOW = 4096


@dataclass
class IndexStats:
    papers: int
    chunks: int
    embedding_model: str
    chunk_tokens: int
    index_dir: str
    size_bytes: int
    sources: list[tuple[str, int]]
    year_range: tuple[int | None, int | None]
    chroma_url: str | None


class PaperIndex:
    """Open (or create) the index that the settings describe."""

    def __init__(
        self, settings: Settings, rebuild: bool = False, *, embedder: Embedder | None = None
    ) -> None:
        """``rebuild``: the caller will rebuild the index, so other settings are no error.

        ``embedder``: the model to embed with; by default the one ``settings.embedding_model``
        names, made on first use. The index records the model's name, so an index built with one
        model refuses another.
        """
        self.settings = settings
        if embedder is not None:
            self.__dict__["embedder"] = embedder  # fills the cached property below
        self.dir = Path(settings.index_dir)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AssistantError(
                f"Cannot create the index folder {self.dir}: {exc.strerror}",
                hint="Choose another with --index DIR or ASSISTANT_INDEX_DIR.",
            ) from exc
        self.catalog = self._open_catalog(rebuild)
        self._holding_ingest_lock = False
        self.shipped_vectors: ShippedVectors | None = None  # the demo's (index/demo.py)
        self.demo_removed = 0  # papers of the demo the last ingest replaced
        self.spec = index_fingerprint(settings, embedder.name if embedder else None)
        if not rebuild:
            self._check_compatible()
        self.shared: SharedIndex | None = None  # the server's side, in server mode
        if settings.chroma_url:
            from assistant.index.server_sync import SharedIndex

            self.shared = SharedIndex(self)
            if not rebuild:
                self.shared.check()
                self.shared.sync()

    def _open_catalog(self, rebuild: bool) -> Catalog:
        """The catalog; a damaged one is set aside for a rebuild, and an error otherwise, as is
        a missing one beside the files of an index that held papers (never a new empty index)."""
        try:
            catalog = Catalog(self.dir)
        except IndexDamagedError:
            if not rebuild:
                raise
            for suffix in ("", "-wal", "-shm"):
                damaged = self.dir / (Catalog.FILENAME + suffix)
                if damaged.exists():
                    damaged.replace(damaged.with_name(damaged.name + ".damaged"))
            catalog = Catalog(self.dir)
        if rebuild or self.settings.chroma_url:  # on a server, the folder is only a cache
            return catalog
        if catalog.get_meta("fingerprint") is None and catalog.count_papers() == 0:
            left = [n for n in ("lexical.npz", "dense.npz", "chroma") if (self.dir / n).exists()]
            if left:
                catalog.close()
                raise IndexDamagedError(
                    f"The index in {self.dir} has lost its catalog ({Catalog.FILENAME} is "
                    f"missing or empty) but still holds {', '.join(left)}: the catalog is the "
                    "record of its papers, and the others cannot stand in for it (they keep "
                    "chunks and terms, not whole records).",
                    hint=(
                        f"Restore {Catalog.FILENAME} from a backup, or rebuild the index from "
                        f"your paper files: 'assistant ingest --rebuild FILES... --index "
                        f"{self.dir}'."
                    ),
                )
        return catalog

    def _check_compatible(self) -> None:
        recorded = self.catalog.get_meta("fingerprint")
        if recorded is None or recorded == self.spec["fingerprint"]:
            return
        if self.catalog.count_papers() == 0:
            return
        built = self.catalog.get_meta("embedding_model")
        built_chunks = self.catalog.get_meta("chunk_tokens")
        raise IndexMismatchError(
            f"The index in {self.dir} was built with embedding model {built!r} "
            f"(chunks of {built_chunks} tokens, overlap "
            f"{self.catalog.get_meta('chunk_overlap_sentences')}); the settings ask for "
            f"{self.spec['embedding_model']!r} (chunks of {self.settings.chunk_tokens}, overlap "
            f"{self.settings.chunk_overlap_sentences}).",
            hint=(
                "Rebuild it with 'assistant ingest --rebuild PATH...' under the new settings, "
                f"or keep the old ones (ASSISTANT_EMBEDDING_MODEL={built}, "
                f"ASSISTANT_CHUNK_TOKENS={built_chunks}), or use another --index folder."
            ),
        )

    def close(self) -> None:
        """Release the catalog and the Chroma client."""
        self._close_store()
        self.catalog.close()

    def _close_store(self) -> None:
        store = self.__dict__.pop("store", None)
        if store is not None:
            store.close()

    # --- components, created on first use
    @cached_property
    def embedder(self) -> Embedder:
        """The injected embedder, else the one the settings name (made on first use)."""
        from assistant.embeddings import make_embedder

        return make_embedder(self.settings)

    @cached_property
    def store(self) -> VectorStore:
        from assistant.index.chroma_store import VectorStore

        name, token = f"{self.settings.collection}-{self.spec['fingerprint']}", None
        if self.settings.chroma_token is not None:
            token = self.settings.chroma_token.get_secret_value()
        url, header = self.settings.chroma_url, self.settings.chroma_token_header
        return VectorStore(self.dir, name, url, token=token, token_header=header)

    @cached_property
    def lexical(self) -> LexicalIndex:
        """The BM25 index, at the catalog's state (caught up and saved when behind)."""
        from assistant.index.bm25 import LexicalIndex
        from assistant.index.derived import catch_up_lexical

        loaded = LexicalIndex.load(self.dir)
        if loaded is not None and self.ingest_running():
            return loaded  # the other process's ingest saves its own; read what it saved
        lexical = loaded or LexicalIndex()
        if loaded is not None and loaded.state == self.catalog.state:
            return loaded
        changed = catch_up_lexical(lexical, self.catalog)
        if (changed or loaded is None) and not self.ingest_running():
            self._save_quietly(lambda: lexical.save(self.dir))
        return lexical

    @cached_property
    def dense(self) -> DenseCache | ServerDense:
        """The local mirror of the vectors, at the catalog's state; on a large shared index,
        the server itself."""
        from assistant.index.dense_cache import DenseCache
        from assistant.index.derived import catch_up_dense

        if self.shared is not None and self.shared.dense_on_server():
            from assistant.index.server_dense import ServerDense

            return ServerDense(self.store, self.catalog)
        fingerprint = self.spec["fingerprint"]
        loaded = DenseCache.load(self.dir, fingerprint)
        if loaded is not None and self.ingest_running():
            return loaded  # don't read Chroma while another process writes it
        if loaded is not None and loaded.state == self.catalog.state:
            return loaded
        dense = loaded or DenseCache(0)
        # Another process may have written Chroma since this one opened it: read it afresh.
        self._close_store()
        changed = catch_up_dense(dense, self)
        if (changed or loaded is None) and not self.ingest_running():
            self._save_quietly(lambda: dense.save(self.dir, fingerprint))
        return dense

    def ingest_running(self) -> bool:
        """True while another process holds this index's ingest lock."""
        if self._holding_ingest_lock:
            return False
        path = self.dir / "ingest.lock"
        if not path.exists():
            return False
        with path.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
        return False

    def drop_behind_caches(self) -> None:
        """Forget derived indexes loaded at another state than the catalog's (they are loaded
        again, caught up, on next use): an ingest must build on exactly the committed state."""
        state = self.catalog.state
        for attr in ("lexical", "dense"):
            cached = self.__dict__.get(attr)
            if cached is not None and getattr(cached, "state", state) != state:
                del self.__dict__[attr]

    def _save_quietly(self, save: Callable[[], None]) -> None:
        # A read-only index folder still searches; it just rebuilds caches each time. A full
        # disk is said (a notice), as the caches then stay behind until there is space.
        try:
            save()
        except OSError as exc:
            from assistant.disk_space import disk_full_error, is_disk_full

            if is_disk_full(exc):
                import logging

                full = disk_full_error("the search caches (BM25, vectors)", self.dir)
                logging.getLogger(__name__).warning(
                    "%s Searches still work; the caches are rebuilt from the catalog once there "
                    "is space (free some, or move the index to another disk).",
                    full.message,
                )

    # --- ingest
    @contextlib.contextmanager
    def _ingest_lock(self, wait: bool) -> Iterator[None]:
        path = self.dir / "ingest.lock"
        with path.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError as exc:
                raise AssistantError(
                    f"Another ingest is running on the index in {self.dir}.",
                    hint="Wait for it to finish (searches keep working meanwhile), "
                    "or run this one with --wait to queue behind it.",
                ) from exc
            self._holding_ingest_lock = True
            try:
                yield
            finally:
                self._holding_ingest_lock = False
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def ingesting(
        self,
        rebuild: bool = False,
        wait: bool = False,
        progress: ProgressFn | None = None,
        total: int = 0,
        replace_demo: bool = False,
        demo: bool = False,
    ) -> Iterator[IngestRun]:
        """Hold the ingest lock while papers are fed in windows (``run.add``).

        ``total``: how many papers will be fed, for progress. The caches are saved when the
        block ends normally; after an error the committed windows stay, and the caches are
        rebuilt from them on the next open. ``replace_demo``: if the index holds only the
        bundled demo, empty it first (``demo_removed`` says how many papers went). ``demo``:
        the demo itself is fed (it tags itself); other papers added beside it untag it.
        """
        from assistant.index.shipped_vectors import DEMO_KEPT

        started = time.perf_counter()
        with self._ingest_lock(wait):
            self.demo_removed = 0
            if replace_demo and not rebuild and self.holds_only_demo():
                self.demo_removed = self.catalog.count_papers()
                rebuild = True
            if rebuild:
                self._reset()
            self.drop_behind_caches()
            self.catalog.set_meta({k: v for k, v in self.spec.items()})
            run = IngestRun(self, progress, total)
            yield run
            if not demo and (run.report.added or run.report.updated) and self.holds_only_demo():
                self.catalog.set_meta({"demo": DEMO_KEPT})
            if run.changed or rebuild:
                fingerprint = self.spec["fingerprint"]
                self._save_quietly(lambda: self.lexical.save(self.dir))
                self._save_quietly(lambda: self.dense.save(self.dir, fingerprint))
        run.report.seconds = round(time.perf_counter() - started, 3)

    def ingest(
        self,
        papers: list[Paper],
        rebuild: bool = False,
        wait: bool = False,
        progress: ProgressFn | None = None,
    ) -> IngestReport:
        """Add new papers, re-embed changed ones, skip unchanged ones."""
        with self.ingesting(rebuild, wait, progress, total=len(papers)) as run:
            for start in range(0, len(papers), INGEST_WINDOW):
                run.add(papers[start : start + INGEST_WINDOW])
        return run.report

    def _reset(self) -> None:
        self.catalog.clear()
        self.catalog.set_meta({"demo": ""})
        self.store.reset()
        if self.shared is not None:
            self.shared.reset()
        for name in ("lexical.npz", "dense.npz"):
            (self.dir / name).unlink(missing_ok=True)
        for attr in ("lexical", "dense"):
            self.__dict__.pop(attr, None)

    def holds_only_demo(self) -> bool:
        """True when the index holds the bundled demo corpus and nothing else."""
        from assistant.index.shipped_vectors import DEMO_META, ONLY_DEMO

        if self.shared is not None:  # a shared index is never replaced by a member's ingest
            return False
        return self.catalog.get_meta(DEMO_META) == ONLY_DEMO and self.catalog.count_papers() > 0

    # --- reading
    def stats(self) -> IndexStats:
        size = sum(p.stat().st_size for p in self.dir.rglob("*") if p.is_file())
        return IndexStats(
            papers=self.catalog.count_papers(),
            chunks=self.catalog.count_chunks(),
            embedding_model=self.catalog.get_meta("embedding_model")
            or self.spec["embedding_model"],
            chunk_tokens=int(self.catalog.get_meta("chunk_tokens") or self.settings.chunk_tokens),
            index_dir=str(self.dir),
            size_bytes=size,
            sources=self.catalog.sources(),
            year_range=self.catalog.year_range(),
            chroma_url=self.settings.chroma_url,
        )

    def describe(self) -> dict[str, Any]:
        stats = self.stats()
        return {
            "papers": stats.papers,
            "without_abstract": self.catalog.count_without_abstract(),
            "chunks": stats.chunks,
            "embedding_model": stats.embedding_model,
            "chunk_tokens": stats.chunk_tokens,
            "index_dir": stats.index_dir,
            "size_bytes": stats.size_bytes,
            "sources": dict(stats.sources),
            "year_range": list(stats.year_range),
            "chroma_url": stats.chroma_url,
        }
