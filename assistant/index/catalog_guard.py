"""The catalog's SQLite connection, whose corruption errors name the file and the fix.

SQLite reports a damaged file (not a database, a malformed page) as the base
``sqlite3.DatabaseError``, at whichever statement first reads the damage; the cursor below turns
each into an :class:`~assistant.errors.IndexDamagedError`, so no command ends in an unexpected
error. A busy database, a full disk or a constraint keep their own errors.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assistant.errors import IndexDamagedError


def catalog_damaged(path: Path, reason: str) -> IndexDamagedError:
    return IndexDamagedError(
        f"The index catalog {path} is damaged ({reason}); it is the record of which papers "
        "the index holds, so the index cannot be used as it is.",
        hint=(
            "Rebuild the index from your paper files: 'assistant ingest --rebuild FILES... "
            f"--index {path.parent}' (the damaged catalog is set aside as "
            f"{path.name}.damaged), or restore {path.name} from a backup."
        ),
    )


def _guarded(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` with corruption errors turned into :func:`catalog_damaged`."""

    @functools.wraps(method)
    def call(self: Any, *args: Any) -> Any:
        try:
            return method(self, *args)
        except sqlite3.DatabaseError as exc:
            if not _is_damage(exc):
                raise
            connection = getattr(self, "connection", self)
            path = getattr(connection, "path", Path("catalog.sqlite"))
            raise catalog_damaged(path, str(exc)) from exc

    return call


class _GuardedCursor(sqlite3.Cursor):
    """A cursor whose corruption errors name the catalog (never an 'unexpected' error)."""

    execute = _guarded(sqlite3.Cursor.execute)
    executemany = _guarded(sqlite3.Cursor.executemany)
    fetchone = _guarded(sqlite3.Cursor.fetchone)
    fetchall = _guarded(sqlite3.Cursor.fetchall)
    __next__ = _guarded(sqlite3.Cursor.__next__)


class GuardedConnection(sqlite3.Connection):
    """The catalog's connection: statements run on :class:`_GuardedCursor`."""

    path: Path

    def cursor(self, factory: Any = _GuardedCursor) -> Any:
        return super().cursor(factory)

    def execute(self, *args: Any) -> Any:
        return self.cursor().execute(*args)

    def executemany(self, *args: Any) -> Any:
        return self.cursor().executemany(*args)

    executescript = _guarded(sqlite3.Connection.executescript)


def _is_damage(exc: sqlite3.DatabaseError) -> bool:
    """Corruption (not a busy database, a full disk or a constraint): SQLite's NOTADB and
    CORRUPT reach Python as the base DatabaseError."""
    return type(exc) is sqlite3.DatabaseError
