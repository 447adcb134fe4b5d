"""The embedding seam: what the index needs from a model, and a registry of providers.

A provider is one module with a ``make_embedder(name, settings)`` function, registered here by the
prefix of the ``embedding_model`` setting (``openai:text-embedding-3-small``) or by exact name
(the bundled models). Provider modules are imported only when their model is asked for.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from assistant.errors import UsageError

if TYPE_CHECKING:
    import numpy as np

    from assistant.settings import Settings


class Embedder(Protocol):
    """What the index needs from an embedding model."""

    name: str
    dim: int
    max_tokens: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces per text, special tokens included."""
        ...



# Exact model names and "prefix:" names -> the module that makes them.
PROVIDERS: dict[str, str] = {
    "all-MiniLM-L6-v2": "assistant.embeddings.minilm",
    "all-MiniLM-L6-v2-q8": "assistant.embeddings.minilm",
    "openai:": "assistant.embeddings.openai",
}


def make_embedder(settings: Settings) -> Embedder:
    """The embedding model the settings name."""
    name = settings.embedding_model
    module = PROVIDERS.get(name)
    if module is None and ":" in name and name.split(":", 1)[1]:
        module = PROVIDERS.get(name.split(":", 1)[0] + ":")
    if module is None:
        raise UsageError(
            f"Unknown embedding model {name!r}.",
            hint="Use 'all-MiniLM-L6-v2-q8' or 'all-MiniLM-L6-v2' (bundled, offline) "
            "or 'openai:<model>'.",
        )
    embedder: Embedder = importlib.import_module(module).make_embedder(name, settings)
    return embedder
