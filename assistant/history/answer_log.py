"""The answer log: every ``ask``, ``cite``, ``related-work`` and chat answer, in SQLite.

Each answer is one row of ``answer_log`` in the index folder's ``sessions.sqlite``, opened
through :class:`~assistant.history.store.SessionStore` (its connection, WAL journal and
transactions): the time, the command, the question, the mode and model, the answer's text, the
cited papers and the token usage. Text search uses SQLite FTS5 (``LIKE`` where SQLite was built
without it). ``assistant logs`` lists, shows and searches it; the ``log_answers`` setting turns
it off. Listing never creates the file.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from assistant.errors import AssistantError, UsageError
from assistant.history.store import SessionStore, now

if TYPE_CHECKING:
    from assistant.settings import Settings

__all__ = ["AnswerLog", "LogEntry", "log_result"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS answer_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    command TEXT NOT NULL,
    question TEXT NOT NULL,
    mode TEXT NOT NULL,
    model TEXT,
    answer TEXT NOT NULL,
    citations TEXT NOT NULL DEFAULT '[]',
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    total_tokens INTEGER,
    cost_usd REAL,
    session_id TEXT
);
CREATE INDEX IF NOT EXISTS answer_log_created ON answer_log(created_at);
"""
FTS_SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS answer_log_fts
USING fts5(question, answer, content='answer_log', content_rowid='id');
"""
_COLUMNS = (
    "id, created_at, command, question, mode, model, answer, citations, prompt_tokens, "
    "completion_tokens, total_tokens, cost_usd, session_id"
)


class LogEntry(BaseModel):
    """One logged answer."""

    id: int
    created_at: str
    command: str = Field(description="ask, cite, related-work or chat.")
    question: str = Field(description="The question, claim or topic.")
    mode: str = Field(description="llm or extractive.")
    model: str | None = None
    answer: str
    citations: list[dict[str, str]] = Field(
        default_factory=list, description="The cited papers: paper_id and title."
    )
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    cost_usd: float | None = None
    session_id: str | None = Field(default=None, description="The chat session, for chat.")

    @property
    def paper_ids(self) -> list[str]:
        return [c["paper_id"] for c in self.citations]

    def public_json(self) -> dict[str, object]:
        """The ``logs --json`` shape."""
        return {**self.model_dump(), "paper_ids": self.paper_ids}


class AnswerLog:
    """Reads and writes the answer log of an index folder."""

    def __init__(self, index_dir: Path) -> None:
        self._store = SessionStore(index_dir)
        self.path = self._store.path
        self._ready = False
        self._fts = False

    def _conn(self) -> sqlite3.Connection:
        db = self._store._conn()
        if not self._ready:
            try:
                db.executescript(SCHEMA)
            except sqlite3.Error as exc:
                raise AssistantError(
                    f"Cannot open the answer log in {self.path}: {exc}",
                    hint="Check that the index folder is writable, or set log_answers = false.",
                ) from exc
            try:
                db.executescript(FTS_SCHEMA)
                self._fts = True
            except sqlite3.OperationalError:  # SQLite built without FTS5: LIKE instead
                self._fts = False
            self._ready = True
        return db

    def close(self) -> None:
        self._store.close()
        self._ready = False

    def __enter__(self) -> AnswerLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- writing
    def record(
        self,
        command: str,
        question: str,
        answer: str,
        mode: str,
        citations: list[tuple[str, str]],
        usage: dict[str, Any],
        model: str | None = None,
        session_id: str | None = None,
    ) -> int:
        """Log one answer; returns its id. ``citations`` are (paper id, title) pairs."""
        self._conn()
        cited = [{"paper_id": pid, "title": title} for pid, title in citations]
        with self._store._transaction() as db:
            cursor = db.execute(
                f"INSERT INTO answer_log({_COLUMNS.removeprefix('id, ')}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    now(),
                    command,
                    question,
                    mode,
                    usage.get("model") or model,
                    answer,
                    json.dumps(cited, ensure_ascii=False),
                    _int(usage.get("prompt_tokens")),
                    _int(usage.get("completion_tokens")),
                    _int(usage.get("total_tokens")),
                    _float(usage.get("cost_usd")),
                    session_id,
                ),
            )
            row_id = int(cursor.lastrowid or 0)
            if self._fts:
                db.execute(
                    "INSERT INTO answer_log_fts(rowid, question, answer) VALUES (?, ?, ?)",
                    (row_id, question, answer),
                )
        return row_id

    # --- reading
    def recent(self, limit: int = 20) -> list[LogEntry]:
        """The latest answers, newest first (``limit`` 0: all)."""
        if not self._store.exists():
            return []
        rows = self._conn().execute(
            f"SELECT {_COLUMNS} FROM answer_log ORDER BY id DESC LIMIT ?", (limit or -1,)
        )
        return [_entry(row) for row in rows]

    def get(self, entry_id: int) -> LogEntry:
        """The answer with this id; UsageError when there is none."""
        row = None
        if self._store.exists():
            row = (
                self._conn()
                .execute(f"SELECT {_COLUMNS} FROM answer_log WHERE id=?", (entry_id,))
                .fetchone()
            )
        if row is None:
            raise UsageError(
                f"No logged answer {entry_id} in {self.path.parent}.",
                hint="'assistant logs' lists the logged answers with their ids.",
            )
        return _entry(row)

    def citing(self, paper_id: str, limit: int = 20) -> list[LogEntry]:
        """The answers that cited this paper, newest first."""
        if not self._store.exists():
            return []
        # The citations column is JSON; its paper_id strings are matched whole, as JSON wrote
        # them, then checked on the parsed list (a LIKE alone could match inside a title).
        needle = json.dumps({"paper_id": paper_id}, ensure_ascii=False)[1:-1]
        pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self._conn().execute(
            f"SELECT {_COLUMNS} FROM answer_log WHERE citations LIKE ? ESCAPE '\\' "
            "ORDER BY id DESC",
            (pattern,),
        )
        found = [e for e in map(_entry, rows) if paper_id in e.paper_ids]
        return found[:limit] if limit else found

    def search(self, text: str, limit: int = 20) -> list[LogEntry]:
        """Answers whose question or answer has every word of ``text``, newest first."""
        words = text.split()
        if not words:
            raise UsageError("The search text is empty.", hint='assistant logs search "LoRA"')
        if not self._store.exists():
            return []
        db = self._conn()
        if self._fts:
            query = " ".join('"' + w.replace('"', '""') + '"' for w in words)
            rows = db.execute(
                f"SELECT {', '.join('l.' + c.strip() for c in _COLUMNS.split(','))} "
                "FROM answer_log_fts f JOIN answer_log l ON l.id = f.rowid "
                "WHERE answer_log_fts MATCH ? ORDER BY l.id DESC LIMIT ?",
                (query, limit or -1),
            )
        else:
            clauses = " AND ".join(["(question LIKE ? OR answer LIKE ?)"] * len(words))
            params: list[object] = []
            for word in words:
                params += [f"%{word}%", f"%{word}%"]
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM answer_log WHERE {clauses} ORDER BY id DESC LIMIT ?",
                (*params, limit or -1),
            )
        return [_entry(row) for row in rows]


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _entry(row: tuple[Any, ...]) -> LogEntry:
    names = [c.strip() for c in _COLUMNS.split(",")]
    data = dict(zip(names, row, strict=True))
    try:
        data["citations"] = json.loads(data["citations"] or "[]")
    except ValueError:
        data["citations"] = []
    return LogEntry(**data)


def log_result(
    settings: Settings,
    index_dir: Path,
    command: str,
    result: Any,
    question: str | None = None,
    session_id: str | None = None,
) -> str | None:
    """Log an ``ask``/chat :class:`Answer`, a ``cite`` result or a related-work draft.

    Does nothing when ``settings.log_answers`` is false. A failure to log never fails the
    command: its reason is returned (to be shown as a note), else None.
    """
    if not settings.log_answers:
        return None
    if command == "cite":
        text = "\n".join(
            [result.summary, *(f"[{p.bibkey}] {p.title}: {p.sentence}" for p in result.papers)]
        )
        cited = [(p.paper_id, p.title) for p in result.papers]
        asked = result.claim
    elif command == "related-work":
        text = result.markdown
        cited = [(r.paper_id, r.title) for r in result.references]
        asked = result.topic
    else:
        text = result.answer
        cited = [(c.paper_id, c.title) for c in result.citations]
        asked = result.question
    try:
        with AnswerLog(index_dir) as log:
            log.record(
                command,
                question or asked,
                text,
                result.mode,
                cited,
                result.usage,
                model=settings.llm_model if result.mode == "llm" else None,
                session_id=session_id,
            )
    except (AssistantError, sqlite3.Error, OSError) as exc:
        return f"This answer was not logged: {exc}"
    return None
