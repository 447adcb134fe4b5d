"""The embedding seam: what the index needs from a model, and a registry of providers.

A provider is one module with a ``make_embedder(name, settings)`` function, registered here by the
prefix of the ``embedding_model`` setting (``openai:text-embedding-3-small``) or by exact name
(the bundled models); a path to a folder (or ``onnx:<path>``) is a model of your own
(folder.py), and ``hf:REPO[@REVISION]`` one downloaded from the Hugging Face hub (hub.py).
Provider modules are imported only when their model is asked for.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from assistant.errors import UsageError

if TYPE_CHECKING:
    import numpy as np

    from assistant.settings import Settings


class Embedder(Protocol):
    """What the index needs from an embedding model.

    ``embed`` embeds passages; an embedder may also have ``embed_queries(texts)`` for queries
    (a model trained with query prefixes); :func:`embed_queries` falls back to ``embed``.
    """

    name: str
    dim: int
    max_tokens: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces per text, special tokens included."""
        ...


def embed_queries(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    """Query vectors: the embedder's ``embed_queries(texts)`` when it has one, else ``embed``.

    Models trained with prefixes (e5's "query: ", bge's instruction) embed a query differently
    from a passage; ``embed`` is for passages. The method is optional, so that any object with
    ``embed``/``count_tokens`` still serves.
    """
    method = getattr(embedder, "embed_queries", None)
    vectors: np.ndarray = method(texts) if callable(method) else embedder.embed(texts)
    return vectors


# Exact model names and "prefix:" names -> the module that makes them.
PROVIDERS: dict[str, str] = {
    "all-MiniLM-L6-v2": "assistant.embeddings.minilm",
    "all-MiniLM-L6-v2-q8": "assistant.embeddings.minilm",
    "openai:": "assistant.embeddings.openai",
    "onnx:": "assistant.embeddings.folder",
    "hf:": "assistant.embeddings.hub",
}
FOLDER_PROVIDER = "assistant.embeddings.folder"


def is_model_folder(name: str) -> bool:
    """True when ``name`` designates a model folder: ``onnx:<path>``, or a path (not a bundled
    name or another provider's ``prefix:``) that exists as a folder or contains a slash."""
    if name.startswith("onnx:"):
        return True
    if name in PROVIDERS or (":" in name and name.split(":", 1)[0] + ":" in PROVIDERS):
        return False
    return "/" in name or Path(name).expanduser().is_dir()


def make_embedder(settings: Settings) -> Embedder:
    """The embedding model the settings name."""
    name = settings.embedding_model
    module = PROVIDERS.get(name)
    if module is None and ":" in name and name.split(":", 1)[1]:
        module = PROVIDERS.get(name.split(":", 1)[0] + ":")
    if module is None and is_model_folder(name):
        module = FOLDER_PROVIDER
    if module is None:
        raise UsageError(
            f"Unknown embedding model {name!r}.",
            hint="Use 'all-MiniLM-L6-v2-q8' or 'all-MiniLM-L6-v2' (bundled, offline), "
            "'openai:<model>', 'hf:<owner>/<name>' (a sentence encoder with ONNX weights on the "
            "Hugging Face hub), or the path of a folder with model.onnx and tokenizer.json.",
        )
    embedder: Embedder = importlib.import_module(module).make_embedder(name, settings)
    return embedder
