"""An OpenAI (or compatible) embeddings endpoint: ``openai:<model>``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from assistant.errors import UsageError

if TYPE_CHECKING:
    import numpy as np

    from assistant.settings import Settings


class OpenAIEmbedder:
    """An OpenAI (or compatible) embeddings endpoint, e.g. ``openai:text-embedding-3-small``."""

    max_tokens = 8191

    def __init__(self, model: str, settings: Settings) -> None:
        from openai import OpenAI

        self.model = model
        self.name = f"openai:{model}"
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        if not key and not settings.llm_base_url:
            raise UsageError(
                f"Embedding model {self.name} needs an API key.",
                hint="Set OPENAI_API_KEY, or use the bundled model "
                "(ASSISTANT_EMBEDDING_MODEL=all-MiniLM-L6-v2).",
            )
        self._client = OpenAI(
            api_key=key or "not-needed",
            base_url=settings.llm_base_url,
            timeout=settings.llm_timeout,
        )
        self.dim = 0  # known after the first call

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """An estimate (4 characters a token); chunking only needs an upper bound."""
        return [len(t) // 4 + 2 for t in texts]

    def embed(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Embed through the API in batches of 256."""
        import numpy as np

        rows: list[list[float]] = []
        for start in range(0, len(texts), 256):
            batch = list(texts[start : start + 256])
            reply = self._client.embeddings.create(model=self.model, input=batch)
            rows.extend(item.embedding for item in reply.data)
            if progress is not None:
                progress(len(batch))
        matrix = np.asarray(rows, dtype=np.float32).reshape(len(rows), -1)
        self.dim = matrix.shape[1] if len(rows) else self.dim
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return matrix / np.clip(norms, 1e-12, None)


def make_embedder(name: str, settings: Settings) -> OpenAIEmbedder:
    """The registry's entry for ``openai:<model>``."""
    return OpenAIEmbedder(name.split(":", 1)[1], settings)
