"""A matrix of chunk vectors, cached on disk beside the Chroma index.

Chroma holds the vectors; this cache lets a search score every chunk exactly with one matrix
product and start without importing chromadb. It holds each paper's state token
(:mod:`assistant.index.state`), so it knows which version of which papers it reflects: a cache
behind the catalog catches up (the missing papers' vectors read from Chroma), a damaged one is
rebuilt.

On disk it is two files: ``dense.npz`` (the header, chunk and paper ids, the per-paper row
layout and the papers' tokens) and ``dense-<token>.npy`` (the vectors), which a search
memory-maps instead of reading. The header names its vectors file and that file's sha256, and
is replaced atomically after that file is complete, so a reader always sees a matching pair; the
vectors are checked against the sha256 when their size or modification time changes.
"""

from __future__ import annotations

import hashlib
import io
import json
import secrets
import zipfile
from pathlib import Path

import numpy as np

from assistant.checked_files import is_intact, locked, record_verified
from assistant.index.state import tokens_array, xor_of


def _grouped(owners: list[str]) -> bool:
    """True when each paper's rows are consecutive."""
    seen: set[str] = set()
    previous = None
    for pid in owners:
        if pid != previous:
            if pid in seen:
                return False
            seen.add(pid)
            previous = pid
    return True


class DenseCache:
    """Chunk vectors (float32, unit length) with their chunk and paper ids.

    Each paper's chunks occupy consecutive rows (``layout``), so per-paper maxima are one
    ``np.maximum.reduceat`` over the paper start rows.
    """

    FILENAME = "dense.npz"

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.chunk_ids: list[str] = []
        self.paper_of_chunk: list[str] = []
        self.vectors: np.ndarray = np.zeros((0, dim), dtype=np.float32)
        self._pending_ids: list[str] = []
        self._pending_papers: list[str] = []
        self._pending_vecs: list[np.ndarray] = []
        self._removed: set[str] = set()
        self._papers: set[str] | None = None
        self._layout: tuple[list[str], np.ndarray] | None = None
        self._positions: tuple[object, dict[str, int]] | None = None
        self.tokens: dict[str, int] = {}  # paper id -> state token, chunkless papers too

    @property
    def state(self) -> int:
        """The XOR of the held papers' tokens (compared with the catalog's)."""
        return xor_of(self.tokens.values())

    # --- changes
    def put(
        self,
        chunk_ids: list[str],
        paper_ids: list[str],
        vectors: np.ndarray,
        tokens: dict[str, int],
    ) -> None:
        """Add or replace papers: their chunks (a paper's chunks in one call, so its rows stay
        together) and their state ``tokens`` (every paper put, with chunks or not)."""
        self.tokens.update(tokens)
        if not chunk_ids:
            return
        self._removed.update(chunk_ids)  # an older copy of the same id is dropped on merge
        self._pending_ids.extend(chunk_ids)
        self._pending_papers.extend(paper_ids)
        self._pending_vecs.append(np.asarray(vectors, dtype=np.float32))
        if self._papers is not None:
            self._papers.update(paper_ids)
        self._layout = None

    def remove_papers(self, paper_ids: set[str]) -> None:
        """Drop every chunk of these papers (before their new chunks are put)."""
        for pid in paper_ids:
            self.tokens.pop(pid, None)
        if not paper_ids & self._present_papers():
            return  # the common case while ingesting new papers: no copy of the matrix
        self._merge()
        keep = [i for i, pid in enumerate(self.paper_of_chunk) if pid not in paper_ids]
        self.chunk_ids = [self.chunk_ids[i] for i in keep]
        self.paper_of_chunk = [self.paper_of_chunk[i] for i in keep]
        self.vectors = np.asarray(self.vectors)[keep]
        self._papers = None
        self._layout = None

    def _present_papers(self) -> set[str]:
        if self._papers is None:
            self._papers = set(self.paper_of_chunk) | set(self._pending_papers)
        return self._papers

    def _kept_rows(self) -> list[int] | None:
        """Rows of the merged part that a pending put replaces; None when none does."""
        if not self._removed:
            return None
        keep = [i for i, cid in enumerate(self.chunk_ids) if cid not in self._removed]
        return None if len(keep) == len(self.chunk_ids) else keep

    def _merge(self) -> None:
        if not self._pending_ids:
            return
        keep = self._kept_rows()
        if keep is not None:
            self.chunk_ids = [self.chunk_ids[i] for i in keep]
            self.paper_of_chunk = [self.paper_of_chunk[i] for i in keep]
            self.vectors = np.asarray(self.vectors)[keep]
        if not self.chunk_ids:  # the dimension may only be known from the first vectors
            self.dim = self._pending_vecs[0].shape[1]
            self.vectors = np.zeros((0, self.dim), dtype=np.float32)
        self.chunk_ids += self._pending_ids
        self.paper_of_chunk += self._pending_papers
        self.vectors = np.concatenate([self.vectors, *self._pending_vecs]).astype(
            np.float32, copy=False
        )
        self._pending_ids, self._pending_papers, self._pending_vecs = [], [], []
        self._removed = set()

    def group_by_paper(self) -> None:
        """Make each paper's rows contiguous (they are, unless added out of order)."""
        self._merge()
        owners = self.paper_of_chunk
        if _grouped(owners):
            return
        first: dict[str, int] = {}
        for i, pid in enumerate(owners):
            first.setdefault(pid, i)
        order = sorted(range(len(owners)), key=lambda i: (first[owners[i]], i))
        self.chunk_ids = [self.chunk_ids[i] for i in order]
        self.paper_of_chunk = [owners[i] for i in order]
        self.vectors = np.asarray(self.vectors)[order]
        self._layout = None

    # --- reading
    def matrix(self) -> np.ndarray:
        self._merge()
        return self.vectors

    def layout(self) -> tuple[list[str], np.ndarray]:
        """The papers in row order and the first row of each."""
        if self._layout is None:
            self.group_by_paper()
            owners = self.paper_of_chunk
            starts = [i for i in range(len(owners)) if i == 0 or owners[i] != owners[i - 1]]
            self._layout = ([owners[i] for i in starts], np.asarray(starts, dtype=np.int64))
        return self._layout

    def positions(self) -> dict[str, int]:
        """Each paper's number in :meth:`layout` order."""
        layout = self.layout()
        if self._positions is None or self._positions[0] is not layout:
            self._positions = (layout, {pid: i for i, pid in enumerate(layout[0])})
        return self._positions[1]

    def paper_means(self, paper_ids: list[str]) -> dict[str, np.ndarray]:
        """The mean chunk vector (unit length) of each of these papers that the cache holds."""
        _papers, starts = self.layout()
        positions = self.positions()
        matrix = self.matrix()
        ends = np.append(starts[1:], len(matrix))
        means: dict[str, np.ndarray] = {}
        for pid in paper_ids:
            number = positions.get(pid)
            if number is not None:
                mean = np.asarray(matrix[starts[number] : ends[number]]).mean(axis=0)
                means[pid] = mean / max(float(np.linalg.norm(mean)), 1e-12)
        return means

    def __len__(self) -> int:
        if not self._pending_ids:
            return len(self.chunk_ids)
        keep = self._kept_rows()
        return (len(self.chunk_ids) if keep is None else len(keep)) + len(self._pending_ids)

    # --- persistence
    def _rows_to_save(self) -> tuple[list[str], list[str], list[np.ndarray]]:
        """Chunk ids, their papers and the vector blocks in row order, without merging.

        Merging would copy the whole matrix; a large ingest saves its pending blocks as they are.
        """
        if self._pending_ids:
            keep = self._kept_rows()
            if keep is None:
                ids, owners, base = self.chunk_ids, self.paper_of_chunk, self.vectors
            else:
                ids = [self.chunk_ids[i] for i in keep]
                owners = [self.paper_of_chunk[i] for i in keep]
                base = np.asarray(self.vectors)[keep]
            ids = ids + self._pending_ids
            owners = owners + self._pending_papers
            if _grouped(owners):
                return ids, owners, [base, *self._pending_vecs]
        self.group_by_paper()
        return self.chunk_ids, self.paper_of_chunk, [self.vectors]

    def save(self, index_dir: Path, fingerprint: str) -> None:
        """Write the vectors file, then atomically the header naming it; drop older files.

        One save at a time per folder: two processes saving at once would otherwise each drop
        the vectors file the other's header names."""
        with locked(index_dir / "dense.lock"):
            self._save(index_dir, fingerprint)

    def _save(self, index_dir: Path, fingerprint: str) -> None:
        ids, owners, blocks = self._rows_to_save()
        dim = next((b.shape[1] for b in blocks if b.shape[0]), self.dim)
        starts = [i for i in range(len(owners)) if i == 0 or owners[i] != owners[i - 1]]
        vectors_name = f"dense-{secrets.token_hex(6)}.npy"
        tmp_vectors = index_dir / (vectors_name + ".tmp")
        tmp = index_dir / (self.FILENAME + ".tmp.npz")
        digest = hashlib.sha256()
        try:
            head = io.BytesIO()
            np.lib.format.write_array_header_1_0(
                head, {"descr": "<f4", "fortran_order": False, "shape": (len(ids), dim)}
            )
            with tmp_vectors.open("wb") as handle:
                handle.write(head.getvalue())
                digest.update(head.getvalue())
                step = 65536  # slices: a memory-mapped matrix is never copied whole
                for block in blocks:
                    for lo in range(0, block.shape[0], step):
                        piece = np.ascontiguousarray(block[lo : lo + step], dtype=np.float32)
                        data = piece.tobytes()
                        digest.update(data)
                        handle.write(data)
            tmp_vectors.replace(index_dir / vectors_name)
            record_verified(index_dir / vectors_name, digest.hexdigest())
            header = {
                "fingerprint": fingerprint,
                "dim": dim,
                "vectors_sha256": digest.hexdigest(),
            }
            token_ids = list(self.tokens)
            np.savez(
                tmp,
                header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8),
                vectors_file=np.frombuffer(vectors_name.encode(), dtype=np.uint8),
                chunk_ids=np.frombuffer("\n".join(ids).encode(), dtype=np.uint8),
                papers=np.frombuffer("\n".join(owners[i] for i in starts).encode(), dtype=np.uint8),
                starts=np.asarray(starts, dtype=np.int64),
                token_papers=np.frombuffer("\n".join(token_ids).encode(), dtype=np.uint8),
                tokens=tokens_array(self.tokens[pid] for pid in token_ids),
            )
            tmp.replace(index_dir / self.FILENAME)
        finally:
            tmp.unlink(missing_ok=True)
            tmp_vectors.unlink(missing_ok=True)
        for old in index_dir.glob("dense-*.npy*"):
            if not old.name.startswith(vectors_name):
                old.unlink(missing_ok=True)

    @classmethod
    def load(cls, index_dir: Path, fingerprint: str) -> DenseCache | None:
        """The saved cache when it is whole and of this fingerprint, else None (missing,
        damaged, or of other settings)."""
        path = index_dir / cls.FILENAME
        if not path.is_file():
            return None
        try:
            with np.load(path) as data:
                header = json.loads(bytes(data["header"]).decode())
                if header.get("fingerprint") != fingerprint:
                    return None
                cache = cls(int(header["dim"]))
                vectors_name = bytes(data["vectors_file"]).decode()
                ids = bytes(data["chunk_ids"]).decode()
                papers_text = bytes(data["papers"]).decode()
                starts = np.asarray(data["starts"], dtype=np.int64)
                token_text = bytes(data["token_papers"]).decode()
                tokens = data["tokens"]
            vectors_path = index_dir / Path(vectors_name).name
            if not is_intact(vectors_path, str(header["vectors_sha256"])):
                return None
            vectors = np.load(vectors_path, mmap_mode="r")
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, UnicodeError):
            return None
        cache.chunk_ids = ids.split("\n") if ids else []
        papers = papers_text.split("\n") if papers_text else []
        token_papers = token_text.split("\n") if token_text else []
        if (
            vectors.shape != (len(cache.chunk_ids), cache.dim)
            or len(papers) != len(starts)
            or len(token_papers) != len(tokens)
            or not set(papers) <= set(token_papers)
        ):
            return None
        cache.vectors = vectors
        ends = np.append(starts[1:], len(cache.chunk_ids)).astype(np.int64)
        cache.paper_of_chunk = np.repeat(np.asarray(papers, dtype=object), ends - starts).tolist()
        cache._layout = (papers, starts)
        cache.tokens = dict(zip(token_papers, (int(t) for t in tokens), strict=True))
        return cache
