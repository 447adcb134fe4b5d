"""The ONNX sentence-encoder runtime shared by the bundled MiniLM and models from a folder.

One tokenizer (``tokenizers``), one onnxruntime session, texts embedded in length-sorted batches
under an attention-memory budget, pooled (mean over the attention mask, or the first token) and
L2-normalised. Subclasses say where the model file is and what it is called.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

# Outputs holding one vector per token (pooled here) or one per text (used as they are).
TOKEN_OUTPUTS = ("last_hidden_state", "token_embeddings")
SENTENCE_OUTPUTS = ("sentence_embedding", "sentence_embeddings", "pooler_output")
POOLINGS = ("mean", "cls")


class OnnxSentenceEncoder:
    """A transformer encoder in onnxruntime: pooled, unit-length float32 vectors.

    Texts are sorted by length and padded only to the longest text of their batch, so short
    chunks do not pay for the full window of padding. ``query_prefix`` / ``passage_prefix`` are
    put before queries (:meth:`embed_queries`) and passages (:meth:`embed`).
    """

    name: str
    dim: int
    max_tokens: int
    pooling = "mean"
    query_prefix = ""
    passage_prefix = ""

    def __init__(
        self,
        tokenizer_path: Path,
        batch_size: int = 32,
        threads: int = 0,
        runtime_dir: Path | None = None,
    ) -> None:
        self.tokenizer_path = tokenizer_path
        self.batch_size = batch_size
        self.threads = threads or (os.cpu_count() or 1)
        self.runtime_dir = runtime_dir

    def _model_path(self) -> Path:
        """The .onnx file to run."""
        raise NotImplementedError

    @cached_property
    def _tokenizer(self) -> Any:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self.tokenizer_path))
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

    @cached_property
    def _inputs(self) -> set[str]:
        return {i.name for i in self._session.get_inputs()}

    @cached_property
    def _output(self) -> tuple[str, bool]:
        """The output to read, and whether it holds token vectors (to pool) or text vectors."""
        names = [o.name for o in self._session.get_outputs()]
        for name in TOKEN_OUTPUTS:
            if name in names:
                return name, True
        for name in SENTENCE_OUTPUTS:
            if name in names:
                return name, False
        return names[0], True

    @cached_property
    def _counting_tokenizer(self) -> Any:
        """A second tokenizer, without truncation: counting never reconfigures the one that
        embeds, so chunking may run while another thread embeds."""
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self.tokenizer_path))
        tokenizer.no_padding()
        tokenizer.no_truncation()
        return tokenizer

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces per text (special tokens included), without truncation or prefix."""
        return [len(e.ids) for e in self._counting_tokenizer.encode_batch(list(texts))]

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
        """Embed passages in length-sorted batches; ``progress(n)`` after each batch of n texts."""
        return self._encode(_prefixed(self.passage_prefix, texts), progress)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed search queries (with the model's query prefix, if it has one)."""
        return self._encode(_prefixed(self.query_prefix, texts), None)

    def _encode(self, texts: Sequence[str], progress: Callable[[int], None] | None) -> np.ndarray:
        import numpy as np

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        output, per_token = self._output
        with_types = "token_type_ids" in self._inputs
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
            feed = {"input_ids": ids, "attention_mask": mask}
            if with_types:
                feed["token_type_ids"] = np.zeros_like(ids)
            hidden = self._session.run([output], feed)[0]
            if not per_token:
                pooled = hidden
            elif self.pooling == "cls":
                pooled = hidden[:, 0]
            else:
                weights = mask[:, :, None].astype(np.float32)
                pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[batch] = pooled / np.clip(norms, 1e-12, None)
            if progress is not None:
                progress(len(batch))
        return out


def _prefixed(prefix: str, texts: Sequence[str]) -> Sequence[str]:
    return [prefix + t for t in texts] if prefix else texts
