"""An in-memory matrix of chunk vectors, cached on disk beside the Chroma index.

Chroma holds the vectors; this cache lets a search score every chunk exactly with one matrix
product and start without importing chromadb. It carries the catalog version it reflects; a
stale or missing cache is rebuilt from Chroma.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


class DenseCache:
    """Chunk vectors (float32, unit length) with their chunk and paper ids."""

    FILENAME = "dense.npz"

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.chunk_ids: list[str] = []
        self.paper_of_chunk: list[str] = []
        self.vectors = np.zeros((0, dim), dtype=np.float32)
        self._pending_ids: list[str] = []
        self._pending_papers: list[str] = []
        self._pending_vecs: list[np.ndarray] = []
        self._removed: set[str] = set()
        self.version = -1

    def put(self, chunk_ids: list[str], paper_ids: list[str], vectors: np.ndarray) -> None:
        """Add or replace chunks."""
        self._removed.update(chunk_ids)  # an older copy of the same id is dropped on merge
        self._pending_ids.extend(chunk_ids)
        self._pending_papers.extend(paper_ids)
        self._pending_vecs.append(np.asarray(vectors, dtype=np.float32))

    def remove_papers(self, paper_ids: set[str]) -> None:
        """Drop every chunk of these papers (before their new chunks are put)."""
        self._merge()
        keep = [i for i, pid in enumerate(self.paper_of_chunk) if pid not in paper_ids]
        if len(keep) != len(self.chunk_ids):
            self.chunk_ids = [self.chunk_ids[i] for i in keep]
            self.paper_of_chunk = [self.paper_of_chunk[i] for i in keep]
            self.vectors = self.vectors[keep]

    def _merge(self) -> None:
        if not self._pending_ids:
            return
        if self._removed:
            keep = [i for i, cid in enumerate(self.chunk_ids) if cid not in self._removed]
            self.chunk_ids = [self.chunk_ids[i] for i in keep]
            self.paper_of_chunk = [self.paper_of_chunk[i] for i in keep]
            self.vectors = self.vectors[keep]
        if not self.chunk_ids:  # the dimension may only be known from the first vectors
            self.vectors = np.zeros((0, self._pending_vecs[0].shape[1]), dtype=np.float32)
            self.dim = self.vectors.shape[1]
        self.chunk_ids += self._pending_ids
        self.paper_of_chunk += self._pending_papers
        self.vectors = np.concatenate([self.vectors, *self._pending_vecs]).astype(np.float32)
        self._pending_ids, self._pending_papers, self._pending_vecs = [], [], []
        self._removed = set()

    def group_by_paper(self) -> None:
        """Make each paper's rows contiguous (they are, unless added out of order)."""
        self._merge()
        owners = self.paper_of_chunk
        first: dict[str, int] = {}
        for i, pid in enumerate(owners):
            first.setdefault(pid, i)
        contiguous = all(
            i == 0 or owners[i] == owners[i - 1] or first[owners[i]] == i
            for i in range(len(owners))
        )
        if contiguous:
            return
        order = sorted(range(len(owners)), key=lambda i: (first[owners[i]], i))
        self.chunk_ids = [self.chunk_ids[i] for i in order]
        self.paper_of_chunk = [owners[i] for i in order]
        self.vectors = self.vectors[order]

    def matrix(self) -> np.ndarray:
        self._merge()
        return self.vectors

    def __len__(self) -> int:
        self._merge()
        return len(self.chunk_ids)

    def save(self, index_dir: Path, version: int, fingerprint: str) -> None:
        """Write atomically, stamped with the catalog version and index fingerprint."""
        self._merge()
        header = {"version": version, "fingerprint": fingerprint, "dim": self.dim}
        tmp = index_dir / (self.FILENAME + ".tmp.npz")
        np.savez(
            tmp,
            header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8),
            chunk_ids=np.frombuffer("\n".join(self.chunk_ids).encode(), dtype=np.uint8),
            papers=np.frombuffer("\n".join(self.paper_of_chunk).encode(), dtype=np.uint8),
            vectors=self.vectors,
        )
        tmp.replace(index_dir / self.FILENAME)
        self.version = version

    @classmethod
    def load(cls, index_dir: Path, version: int | None, fingerprint: str) -> DenseCache | None:
        """The saved cache when it matches (``version`` None: any version), else None."""
        path = index_dir / cls.FILENAME
        if not path.is_file():
            return None
        try:
            with np.load(path) as data:
                header = json.loads(bytes(data["header"]).decode())
                if header.get("fingerprint") != fingerprint or (
                    version is not None and header.get("version") != version
                ):
                    return None
                cache = cls(int(header["dim"]))
                ids = bytes(data["chunk_ids"]).decode()
                cache.chunk_ids = ids.split("\n") if ids else []
                papers = bytes(data["papers"]).decode()
                cache.paper_of_chunk = papers.split("\n") if papers else []
                cache.vectors = np.ascontiguousarray(data["vectors"], dtype=np.float32)
        except (OSError, ValueError, KeyError):
            return None
        cache.version = int(header["version"])
        return cache
