"""Embedding models behind one protocol: the bundled MiniLM (exact or int8), OpenAI's API, an
ONNX model of your own in a folder (folder.py), and one from the Hugging Face hub (hub.py).

``make_embedder(settings)`` picks the provider the ``embedding_model`` setting names.
"""

from assistant.embeddings.base import PROVIDERS, Embedder, embed_queries, make_embedder
from assistant.embeddings.minilm import (
    MINILM_DIM,
    MINILM_MAX_TOKENS,
    MINILM_NAME,
    MINILM_Q8_NAME,
    MiniLMEmbedder,
    minilm_files,
)

__all__ = [
    "MINILM_DIM",
    "MINILM_MAX_TOKENS",
    "MINILM_NAME",
    "MINILM_Q8_NAME",
    "PROVIDERS",
    "Embedder",
    "MiniLMEmbedder",
    "embed_queries",
    "make_embedder",
    "minilm_files",
]
