"""The Chroma adapter: the one module that imports chromadb.

Chunks are stored with their embeddings (computed by :mod:`assistant.embeddings`, never by Chroma)
and the metadata search filters on. Local folders use ``PersistentClient``; a URL uses
``HttpClient`` against a Chroma server (with a token when one is set). On a server,
:class:`SharedRecords` keeps the papers' records beside the chunks, so that any client can
rebuild its local cache from the server alone (:mod:`assistant.index.server_sync`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import secrets
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from assistant.errors import AssistantError, UsageError
from assistant.records import Paper

logger = logging.getLogger(__name__)

TOKEN_HINT = (
    "Set ASSISTANT_CHROMA_TOKEN to the token the server was started with (ask whoever runs "
    "it), and ASSISTANT_CHROMA_TOKEN_HEADER if the server reads X-Chroma-Token."
)


def _is_auth_failure(exc: BaseException) -> bool:
    """True when the server refused the credentials (HTTP 401/403, Chroma's auth errors)."""
    seen: BaseException | None = exc
    while seen is not None:
        response = getattr(seen, "response", None)
        if getattr(response, "status_code", None) in (401, 403):
            return True
        name = type(seen).__name__
        text = str(seen)
        if name in ("ChromaAuthError", "AuthorizationError") or any(
            word in text for word in ("401", "403", "Unauthorized", "Forbidden")
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


_CONNECTION_FAILURES = (
    "ConnectError",
    "ConnectTimeout",
    "RemoteProtocolError",
    "ReadError",
    "ReadTimeout",
    "WriteError",
    "PoolTimeout",
    "ConnectionError",
    "ConnectionResetError",
    "ConnectionRefusedError",
)


def _is_connection_failure(exc: BaseException) -> bool:
    """True when the server went away or stopped answering (httpx's transport errors)."""
    seen: BaseException | None = exc
    while seen is not None:
        if type(seen).__name__ in _CONNECTION_FAILURES:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class _ServerCollection:
    """A server collection whose calls turn a lost connection into an error with a hint."""

    def __init__(self, collection: Any, url: str) -> None:
        self._collection = collection
        self._url = url

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._collection, name)
        if not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except Exception as exc:
                if not _is_connection_failure(exc):
                    raise
                raise AssistantError(
                    f"Lost the connection to the Chroma server at {self._url} "
                    f"({type(exc).__name__}).",
                    hint="Check that the server is running; then run the command again. An "
                    "ingest keeps every batch it committed: rerun it to finish the rest.",
                ) from None

        return call


def _scrub(text: str, token: str | None) -> str:
    return text.replace(token, "***") if token else text


def connect(
    index_dir: Path,
    chroma_url: str | None,
    token: str | None = None,
    token_header: str = "Authorization",
) -> Any:
    """A Chroma client: the local folder's, or the server's at ``chroma_url``."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    if not chroma_url:
        return chromadb.PersistentClient(
            path=str(index_dir / "chroma"),
            settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False),
        )
    parsed = urlparse(chroma_url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise UsageError(f"Invalid Chroma URL {chroma_url!r}.", hint="Use http://host:port.")
    auth: dict[str, Any] = {}
    if token:
        auth = {
            "chroma_client_auth_provider": "chromadb.auth.token_authn.TokenAuthClientProvider",
            "chroma_client_auth_credentials": token,
            "chroma_auth_token_transport_header": token_header,
        }
    try:
        client = chromadb.HttpClient(
            host=parsed.hostname,
            port=parsed.port or (443 if parsed.scheme == "https" else 8000),
            ssl=parsed.scheme == "https",
            settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False, **auth),
        )
        client.heartbeat()
        client.list_collections(limit=1)  # the heartbeat needs no credentials on some servers
    except Exception as exc:
        if _is_auth_failure(exc):
            given = "was refused" if token else "is required and none is set"
            raise AssistantError(
                f"The Chroma server at {chroma_url} refused the connection: its token {given}.",
                hint=TOKEN_HINT,
            ) from None
        if isinstance(exc, ValueError) and token and "token" in str(exc).lower():
            raise UsageError(
                "ASSISTANT_CHROMA_TOKEN is not a valid token (ASCII letters, digits and "
                "punctuation only).",
                hint=TOKEN_HINT,
            ) from None
        raise AssistantError(
            f"Could not reach the Chroma server at {chroma_url}: {_scrub(str(exc), token)}",
            hint="Start one with 'chroma run --path DIR --host 127.0.0.1 --port N', "
            "or unset ASSISTANT_CHROMA_URL to use the local index folder.",
        ) from None
    return client


def local_collection_prefix(index_dir: Path, fingerprint: str) -> str | None:
    """The collection-name prefix a local index folder's chunks were stored under (its
    ``collection`` setting then), found by the fingerprint; None if the folder has none."""
    client = connect(index_dir, None)
    try:
        names = [getattr(c, "name", c) for c in client.list_collections()]
    finally:
        close = getattr(client, "close", None)
        if close is not None:
            close()
    suffix = f"-{fingerprint}"
    found = sorted(str(n)[: -len(suffix)] for n in names if str(n).endswith(suffix))
    return found[0] if found else None


def chunk_metadata(paper: Paper, ordinal: int) -> dict[str, str | int | float]:
    """What a chunk carries for search filters (``where`` clauses): its paper, year, source."""
    meta: dict[str, str | int | float] = {"paper_id": paper.paper_id, "ordinal": ordinal}
    if paper.year is not None:
        meta["year"] = paper.year
    if paper.source:
        meta["source"] = paper.source
    return meta


class VectorStore:
    """One Chroma collection of chunk vectors (cosine space)."""

    def __init__(
        self,
        index_dir: Path,
        collection: str,
        chroma_url: str | None = None,
        *,
        token: str | None = None,
        token_header: str = "Authorization",
    ) -> None:
        self._client: Any = connect(index_dir, chroma_url, token, token_header)
        self.name = collection
        self._url = chroma_url
        self._collection = self._open(collection)

    def _open(self, name: str) -> Any:
        made = self._client.get_or_create_collection(
            name=name, metadata={"hnsw:space": "cosine"}, embedding_function=None
        )
        return _ServerCollection(made, self._url) if self._url else made

    @property
    def client(self) -> Any:
        return self._client

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

    def update_metadata(
        self, ids: Sequence[str], metadatas: Sequence[dict[str, str | int | float | None]]
    ) -> None:
        """Change stored chunks' metadata in place (a key set to None is removed)."""
        for start in range(0, len(ids), 4096):
            self._collection.update(
                ids=list(ids[start : start + 4096]),
                metadatas=list(metadatas[start : start + 4096]),
            )

    def delete(self, ids: Sequence[str]) -> None:
        for start in range(0, len(ids), 4096):
            self._collection.delete(ids=list(ids[start : start + 4096]))

    def reset(self) -> None:
        """Drop and recreate the collection (for --rebuild)."""
        self._client.delete_collection(self.name)
        self._collection = self._open(self.name)

    def drop_other(self, name: str) -> None:
        """Delete another collection of this client if it exists (a replaced fingerprint's)."""
        with contextlib.suppress(Exception):  # absent: nothing to drop
            self._client.delete_collection(name)

    def get_embeddings(self, ids: Sequence[str]) -> dict[str, Any]:
        """Stored vectors of the given chunk ids."""
        found: dict[str, Any] = {}
        for start in range(0, len(ids), 2000):
            reply = self._collection.get(
                ids=list(ids[start : start + 2000]), include=["embeddings"]
            )
            found.update(zip(reply["ids"], reply["embeddings"], strict=True))
        return found

    def nearest(
        self, vector: Any, n: int, where: dict[str, Any] | None = None
    ) -> list[tuple[str, float]]:
        """(paper id, cosine) of the ``n`` chunks nearest to ``vector`` (Chroma's HNSW
        index, approximate), nearest first; ``where``: a filter on chunk metadata."""
        reply = self._collection.query(
            query_embeddings=[list(map(float, vector))],
            n_results=max(1, n),
            where=where or None,
            include=["metadatas", "distances"],
        )
        metadatas, distances = reply["metadatas"][0], reply["distances"][0]
        return [
            (str(meta["paper_id"]), 1.0 - float(distance))
            for meta, distance in zip(metadatas, distances, strict=True)
        ]


def _placeholder(record_id: str) -> list[float]:
    """A record's stand-in vector (Chroma stores one per record): spread on a circle, so its
    HNSW graph has no pile of identical points."""
    angle = int.from_bytes(hashlib.sha256(record_id.encode()).digest()[:4], "big") / 2**32
    return [math.cos(angle * 2 * math.pi), math.sin(angle * 2 * math.pi)]


class SharedRecords:
    """The papers collection on a server: one record per paper, a head record and a write lock.

    A paper's record holds its text, metadata and chunks (the document, JSON) and in its
    metadata ``seq`` (the change counter: every write takes the next number, so a client that
    has read up to N fetches ``seq > N``), ``order`` (first ingest order), ``content_hash`` and
    ``n_chunks``. The head record holds the last ``seq`` and ``order``, an ``epoch`` (new on
    every rebuild, so clients know to start over) and the index fingerprint (embedding model,
    chunking). Writers take the lock record (Chroma keeps the first ``add`` of an id and ignores
    later ones, so whoever reads back its own owner holds it); a lock older than ``LEASE_S``
    seconds is from a writer that died and is taken over.
    """

    HEAD = "__head__"
    LOCK = "__lock__"
    LEASE_S = 120.0

    def __init__(self, client: Any, name: str, url: str) -> None:
        self.name = name
        self._client = client
        self._collection = _ServerCollection(
            client.get_or_create_collection(
                name=name, metadata={"role": "assistant-papers"}, embedding_function=None
            ),
            url,
        )

    def head(self) -> dict[str, Any] | None:
        reply = self._collection.get(ids=[self.HEAD], include=["metadatas"])
        return dict(reply["metadatas"][0]) if reply["ids"] else None

    def set_head(self, values: dict[str, Any]) -> None:
        self._collection.upsert(
            ids=[self.HEAD],
            embeddings=[_placeholder(self.HEAD)],
            metadatas=[{"kind": "head", **values}],
            documents=[""],
        )

    def fetch(self, after: int, upto: int) -> list[tuple[str, str, dict[str, Any]]]:
        """(paper id, document, metadata) of the records with ``after < seq <= upto``, by seq."""
        reply = self._collection.get(
            where={"$and": [{"kind": "paper"}, {"seq": {"$gt": after}}, {"seq": {"$lte": upto}}]},
            include=["documents", "metadatas"],
        )
        rows = list(zip(reply["ids"], reply["documents"], reply["metadatas"], strict=True))
        return sorted(rows, key=lambda row: int(row[2]["seq"]))

    def orders(self, paper_ids: Sequence[str]) -> dict[str, int]:
        """The ``order`` of those papers that have a record."""
        found: dict[str, int] = {}
        for start in range(0, len(paper_ids), 2000):
            reply = self._collection.get(
                ids=list(paper_ids[start : start + 2000]), include=["metadatas"]
            )
            for pid, meta in zip(reply["ids"], reply["metadatas"], strict=True):
                found[pid] = int(meta["order"])
        return found

    def write(self, records: Sequence[tuple[str, str, dict[str, str | int | float]]]) -> None:
        for start in range(0, len(records), 1000):
            part = records[start : start + 1000]
            self._collection.upsert(
                ids=[r[0] for r in part],
                embeddings=[_placeholder(r[0]) for r in part],
                documents=[r[1] for r in part],
                metadatas=[{"kind": "paper", **r[2]} for r in part],
            )

    def clear(self) -> None:
        """Delete every paper record (the head and lock stay)."""
        while True:
            reply = self._collection.get(where={"kind": "paper"}, limit=5000, include=[])
            if not reply["ids"]:
                return
            self._collection.delete(ids=reply["ids"])

    @contextlib.contextmanager
    def lock(self, wait_s: float = 300.0) -> Iterator[None]:
        """Hold the write lock (waiting up to ``wait_s`` seconds for another writer)."""
        me = secrets.token_hex(8)
        started = time.monotonic()
        deadline = started + wait_s
        pause = 0.02
        told = 0.0  # seconds waited when the wait was last reported
        while True:
            now = time.time()
            self._collection.add(
                ids=[self.LOCK],
                embeddings=[_placeholder(self.LOCK)],
                metadatas=[{"kind": "lock", "owner": me, "since": now}],
                documents=[""],
            )
            reply = self._collection.get(ids=[self.LOCK], include=["metadatas"])
            holder = reply["metadatas"][0] if reply["ids"] else None
            if holder is not None and holder.get("owner") == me:
                break
            if holder is not None and now - float(holder.get("since", now)) > self.LEASE_S:
                self._release(str(holder.get("owner")))  # its writer died
                continue
            waited = time.monotonic() - started
            if holder is not None and waited >= max(2.0, told + 15.0):
                told = waited
                held = now - float(holder.get("since", now))
                logger.warning(
                    "Waiting for the write lock of the shared index %s: another ingest has held "
                    "it for %.0f s (waited %.0f s; a crashed ingest's lock expires after %.0f s, "
                    "and this one gives up after %.0f s).",
                    self.name,
                    held,
                    waited,
                    self.LEASE_S,
                    wait_s,
                )
            if time.monotonic() > deadline:
                raise AssistantError(
                    f"Another member's ingest has held the write lock of the shared index "
                    f"{self.name} for over {wait_s:.0f} s.",
                    hint="Try again when it has finished; a lock left by a crashed ingest "
                    f"expires after {self.LEASE_S:.0f} s.",
                )
            time.sleep(pause + secrets.randbelow(20) / 1000)
            pause = min(pause * 2, 0.5)
        try:
            yield
        finally:
            self._release(me)

    def _release(self, owner: str) -> None:
        self._collection.delete(ids=[self.LOCK], where={"owner": owner})
