"""The Chroma adapter: the one module that imports chromadb.

Chunks are stored with their embeddings (computed by :mod:`assistant.embeddings`, never by Chroma)
and the metadata search filters on. Local folders use ``PersistentClient``; a URL uses
``HttpClient`` against a Chroma server.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from assistant.errors import AssistantError, UsageError


class VectorStore:
    """One Chroma collection of chunk vectors (cosine space)."""

    def __init__(self, index_dir: Path, collection: str, chroma_url: str | None = None) -> None:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        if chroma_url:
            parsed = urlparse(chroma_url)
            if parsed.scheme not in ("http", "https") or not parsed.hostname:
                raise UsageError(
                    f"Invalid Chroma URL {chroma_url!r}.", hint="Use http://host:port."
                )
            try:
                self._client: Any = chromadb.HttpClient(
                    host=parsed.hostname,
                    port=parsed.port or (443 if parsed.scheme == "https" else 8000),
                    ssl=parsed.scheme == "https",
                    settings=chroma_settings,
                )
                self._client.heartbeat()
            except Exception as exc:
                raise AssistantError(
                    f"Could not reach the Chroma server at {chroma_url}: {exc}",
                    hint="Start one with 'chroma run --path DIR --host 127.0.0.1 --port N', "
                    "or unset ASSISTANT_CHROMA_URL to use the local index folder.",
                ) from exc
        else:
            self._client = chromadb.PersistentClient(
                path=str(index_dir / "chroma"), settings=chroma_settings
            )
        self.name = collection
        self._collection = self._client.get_or_create_collection(
            name=collection, metadata={"hnsw:space": "cosine"}, embedding_function=None
        )

    def count(self) -> int:
        return int(self._collection.count())

    def close(self) -> None:
        """Release the client; chromadb otherwise keeps a per-folder system alive in the
        process, whose in-memory state goes stale when another process writes the folder."""
        close = getattr(self._client, "close", None)
        if close is not None:
            close()

    def upsert(
        self,
        ids: Sequence[str],
        embeddings: Any,
        documents: Sequence[str],
        metadatas: Sequence[dict[str, str | int | float]],
    ) -> None:
        """Insert or overwrite chunks (idempotent, so a resumed ingest may repeat it)."""
        step = 4096
        for start in range(0, len(ids), step):
            self._collection.upsert(
                ids=list(ids[start : start + step]),
                embeddings=embeddings[start : start + step],
                documents=list(documents[start : start + step]),
                metadatas=list(metadatas[start : start + step]),
            )

    def delete(self, ids: Sequence[str]) -> None:
        for start in range(0, len(ids), 4096):
            self._collection.delete(ids=list(ids[start : start + 4096]))

    def reset(self) -> None:
        """Drop and recreate the collection (for --rebuild)."""
        self._client.delete_collection(self.name)
        self._collection = self._client.get_or_create_collection(
            name=self.name, metadata={"hnsw:space": "cosine"}, embedding_function=None
        )

    def get_embeddings(self, ids: Sequence[str]) -> dict[str, Any]:
        """Stored vectors of the given chunk ids."""
        found: dict[str, Any] = {}
        for start in range(0, len(ids), 2000):
            reply = self._collection.get(
                ids=list(ids[start : start + 2000]), include=["embeddings"]
            )
            found.update(zip(reply["ids"], reply["embeddings"], strict=True))
        return found
