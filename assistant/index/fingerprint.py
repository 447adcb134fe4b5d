"""What determines an index's vectors: its fingerprint (embedding model, chunking)."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

from assistant.ingest.chunking import CHUNKER_VERSION

if TYPE_CHECKING:
    from assistant.settings import Settings


def index_fingerprint(settings: Settings, model_name: str | None = None) -> dict[str, str]:
    """What determines the vectors: a different value means a different index.

    ``model_name``: an injected embedder's name (else the one the settings name). A model from a
    folder counts by its folder's name, model.onnx's sha256, pooling, prefixes and longest input
    (so a moved folder still opens its index); its path is recorded for display.
    """
    from assistant.embeddings.base import is_model_folder

    name = model_name or settings.embedding_model
    spec = {
        "embedding_model": name,
        "chunk_tokens": str(settings.chunk_tokens),
        "chunk_overlap_sentences": str(settings.chunk_overlap_sentences),
        "chunker_version": str(CHUNKER_VERSION),
    }
    if is_model_folder(name):
        from assistant.embeddings.folder import folder_of, model_identity

        spec.update(model_identity(name, settings))
        digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
        return {**spec, "embedding_model": str(folder_of(name)), "fingerprint": digest}
    if name.startswith("hf:"):  # a hub model counts as a folder model does; shown as hf:REPO@COMMIT
        from assistant.embeddings.hub import model_identity as hub_identity

        identity, shown = hub_identity(name, settings)
        spec.update(identity)
        digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
        return {**spec, "embedding_model": shown, "fingerprint": digest}
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
    return {**spec, "fingerprint": digest}
