"""Small file helpers: hashing, and where the bundled demo corpus and its vectors live."""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def bundled_corpus_dir() -> Path:
    """The Daily Papers dumps shipped inside the package."""
    return Path(str(resources.files("assistant") / "data" / "seeds"))


def demo_vectors_path() -> Path:
    """The demo corpus's chunk vectors shipped inside the package (see bench/demo_vectors.py)."""
    return Path(str(resources.files("assistant") / "data" / "demo-vectors.npz"))
