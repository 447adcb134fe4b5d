"""Where the demo data shipped inside the package lives: the bundled Daily Papers dumps and
their chunk vectors."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def bundled_corpus_dir() -> Path:
    """The Daily Papers dumps shipped inside the package."""
    return Path(str(resources.files("assistant") / "data" / "seeds"))


def demo_vectors_path() -> Path:
    """The demo corpus's chunk vectors shipped inside the package (see bench/demo_vectors.py)."""
    return Path(str(resources.files("assistant") / "data" / "demo-vectors.npz"))
