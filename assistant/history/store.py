"""Chat sessions saved in ``sessions.sqlite`` beside the index.

Every turn is written in its own transaction as soon as it is answered (with the conversation's
citation numbers and filters), so a failure in one turn never loses or corrupts earlier ones.
The file is created on the first saved turn; listing sessions never creates it.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ValidationError

from assistant.errors import AssistantError, UsageError
from assistant.generation.answer import Answer
from assistant.retrieval.filters import SearchFilters

SESSIONS_FILE = "sessions.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    title TEXT NOT NULL,
    filters TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS turns (
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    turn INTEGER NOT NULL,
    question TEXT NOT NULL,
    standalone_question TEXT,
    answer TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (session_id, turn)
);
CREATE TABLE IF NOT EXISTS citation_numbers (
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    paper_id TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (session_id, paper_id)
);
CREATE INDEX IF NOT EXISTS sessions_updated ON sessions(updated_at);
"""


def now() -> str:
    """The current UTC time, ISO 8601 with microseconds (sorts as text)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def new_session_id() -> str:
    """A short random id (8 hex digits)."""
    return secrets.token_hex(4)


class SessionInfo(BaseModel):
    """One saved session, as listed."""

    id: str
    created_at: str
    updated_at: str
    title: str
    turns: int = 0
    filters: SearchFilters = SearchFilters()

    def public_json(self) -> dict[str, object]:
        """The ``sessions --json`` shape."""
        return {
            "id": self.id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "turns": self.turns,
            "title": self.title,
            "filters": self.filters.model_dump(exclude_defaults=True),
        }


class StoredTurn(BaseModel):
    """One saved question and its answer."""

    turn: int
    question: str
    standalone_question: str | None = None
    answer: Answer
    created_at: str


class SessionStore:
    """Reads and writes ``sessions.sqlite`` in an index folder."""

    def __init__(self, index_dir: Path) -> None:
        self.path = Path(index_dir) / SESSIONS_FILE
        self._db: sqlite3.Connection | None = None

    # --- connection
    def exists(self) -> bool:
        """True once a session was saved here."""
        return self.path.is_file()

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA foreign_keys=ON")
                db.executescript(SCHEMA)
            except (sqlite3.Error, OSError) as exc:
                raise AssistantError(
                    f"Cannot open the chat sessions file {self.path}: {exc}",
                    hint="Check that the index folder is writable, or use another --index.",
                ) from exc
            self._db = db
        return self._db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        """Close the database (it reopens on next use)."""
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- writing
    def save_turn(
        self,
        session_id: str,
        question: str,
        standalone_question: str | None,
        answer: Answer,
        numbers: dict[str, int],
        filters: SearchFilters,
    ) -> int:
        """Save one answered turn (creating the session on its first); returns its number."""
        stamp = now()
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO sessions(id, created_at, updated_at, title, filters) "
                "VALUES (?, ?, ?, ?, ?)",
                (session_id, stamp, stamp, _title(question), filters.model_dump_json()),
            )
            db.execute(
                "UPDATE sessions SET updated_at=?, filters=? WHERE id=?",
                (stamp, filters.model_dump_json(), session_id),
            )
            row = db.execute(
                "SELECT COALESCE(MAX(turn), 0) + 1 FROM turns WHERE session_id=?", (session_id,)
            ).fetchone()
            turn = int(row[0])
            db.execute(
                "INSERT INTO turns(session_id, turn, question, standalone_question, answer, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (session_id, turn, question, standalone_question, answer.model_dump_json(), stamp),
            )
            db.executemany(
                "INSERT OR REPLACE INTO citation_numbers(session_id, paper_id, n) VALUES (?, ?, ?)",
                [(session_id, pid, n) for pid, n in numbers.items()],
            )
        return turn

    def set_filters(self, session_id: str, filters: SearchFilters) -> None:
        """Record a session's current filters (no-op for a session not saved yet)."""
        if not self.exists():
            return
        with self._transaction() as db:
            db.execute(
                "UPDATE sessions SET filters=? WHERE id=?", (filters.model_dump_json(), session_id)
            )

    # --- reading
    def list_sessions(self) -> list[SessionInfo]:
        """All sessions, most recently updated first."""
        if not self.exists():
            return []
        rows = self._conn().execute(
            "SELECT s.id, s.created_at, s.updated_at, s.title, s.filters, "
            "(SELECT COUNT(*) FROM turns t WHERE t.session_id = s.id) "
            "FROM sessions s ORDER BY s.updated_at DESC, s.rowid DESC"
        )
        return [_info(row) for row in rows]

    def latest(self) -> SessionInfo | None:
        """The most recently updated session."""
        sessions = self.list_sessions()
        return sessions[0] if sessions else None

    def get(self, session_id: str) -> SessionInfo:
        """The session with this id (or unique id prefix); UsageError when there is none."""
        wanted = session_id.strip()
        matches = [s for s in self.list_sessions() if s.id == wanted]
        if not matches and wanted:
            matches = [s for s in self.list_sessions() if s.id.startswith(wanted)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise UsageError(
                f"Session id {wanted!r} is ambiguous ({len(matches)} sessions start with it).",
                hint="Give more of the id; 'assistant sessions' lists them.",
            )
        raise UsageError(
            f"No chat session {wanted!r} in {self.path.parent}.",
            hint="'assistant sessions' lists the saved sessions (with --index DIR for another).",
        )

    def turns(self, session_id: str) -> list[StoredTurn]:
        """A session's turns, in order."""
        if not self.exists():
            return []
        rows = self._conn().execute(
            "SELECT turn, question, standalone_question, answer, created_at FROM turns "
            "WHERE session_id=? ORDER BY turn",
            (session_id,),
        )
        turns = []
        for turn, question, standalone, answer_json, created_at in rows:
            try:
                answer = Answer.model_validate_json(answer_json)
            except ValidationError:
                answer = Answer(
                    question=question, answer="(this answer could not be read)", mode="extractive"
                )
            turns.append(
                StoredTurn(
                    turn=turn,
                    question=question,
                    standalone_question=standalone,
                    answer=answer,
                    created_at=created_at,
                )
            )
        return turns

    def numbers(self, session_id: str) -> dict[str, int]:
        """The session's citation number of each paper."""
        if not self.exists():
            return {}
        rows = self._conn().execute(
            "SELECT paper_id, n FROM citation_numbers WHERE session_id=? ORDER BY n", (session_id,)
        )
        return {pid: int(n) for pid, n in rows}


def _title(question: str, limit: int = 120) -> str:
    text = " ".join(question.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _info(row: tuple[str, str, str, str, str, int]) -> SessionInfo:
    session_id, created_at, updated_at, title, filters_json, turns = row
    try:
        filters = SearchFilters(**json.loads(filters_json or "{}"))
    except (ValueError, TypeError, ValidationError):
        filters = SearchFilters()
    return SessionInfo(
        id=session_id,
        created_at=created_at,
        updated_at=updated_at,
        title=title,
        turns=int(turns),
        filters=filters,
    )
