"""A Zotero library kept in step with the index: each sync reads only the items that changed.

The index folder keeps ``zotero-sync.sqlite``: each synced item's identity (library and key),
the paper it is indexed as and a stamp of its modification times, version, tags, collections
and citation key. A sync compares the database's stamps with it (one query over the items
table), reads and ingests only the new and changed items (an unchanged text embeds nothing),
and removes from the index the papers of items that were deleted, trashed or left the
selection. A paper that an item was merged into (the same DOI as a paper from a file) is not
removed with the item. A renamed or moved collection has its items read again.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from assistant.ingest.zotero_db import (
    Selection,
    ZoteroDatabase,
    database_copy,
    database_stamp,
    locate_database,
)
from assistant.records import Paper, Reject

if TYPE_CHECKING:
    from assistant.index.paper_index import PaperIndex, ProgressFn

STATE_FILE = "zotero-sync.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (uid TEXT PRIMARY KEY, paper_id TEXT NOT NULL,
                                  own INTEGER NOT NULL, stamp TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class ZoteroSyncReport(BaseModel):
    """What one sync of a Zotero library did to the index."""

    database: str = Field(description="The zotero.sqlite read.")
    selection: str = Field(description="The part of the library synced.")
    items: int = Field(default=0, description="Items selected in the library.")
    read: int = Field(default=0, description="Items read this time (new, changed or missing).")
    added: int = 0
    updated: int = Field(default=0, description="Papers whose title or abstract changed.")
    unchanged: int = Field(default=0, description="Items read whose text had not changed.")
    deleted: int = Field(default=0, description="Papers removed: their items were deleted.")
    chunks_embedded: int = 0
    without_abstract: int = Field(default=0, description="Items read that have no abstract.")
    duplicates_merged: int = 0
    rejected: int = 0
    rejects: list[Reject] = Field(default_factory=list)
    truncated: list[Reject] = Field(default_factory=list)
    index_papers: int = Field(default=0, description="Papers in the index after the sync.")
    seconds: float = 0.0


class SyncState:
    """``zotero-sync.sqlite``: the items synced into this index and their stamps."""

    def __init__(self, index_dir: Path) -> None:
        self._db = sqlite3.connect(index_dir / STATE_FILE, timeout=30, isolation_level=None)
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def items(self) -> dict[str, tuple[str, bool, str]]:
        """``{uid: (paper id, indexed under its own id, stamp)}``."""
        return {
            uid: (paper_id, bool(own), stamp)
            for uid, paper_id, own, stamp in self._db.execute("SELECT * FROM items")
        }

    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def save(
        self,
        synced: dict[str, tuple[str, bool, str]],
        gone: list[str],
        meta: dict[str, str],
        clear: bool = False,
    ) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        if clear:
            self._db.execute("DELETE FROM items")
        self._db.executemany("DELETE FROM items WHERE uid = ?", [(uid,) for uid in gone])
        self._db.executemany(
            "INSERT OR REPLACE INTO items VALUES (?, ?, ?, ?)",
            [(uid, pid, int(own), stamp) for uid, (pid, own, stamp) in synced.items()],
        )
        self._db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta.items())
        self._db.execute("COMMIT")


def own_paper_id(uid: str) -> str:
    """The paper id an item is indexed under when it merges into no other paper."""
    place, _items, key = uid.rsplit("/", 2)
    return f"zotero:{key}" if place == "users" else f"zotero:g{place.split('/')[1]}:{key}"


def sync_zotero(
    index: PaperIndex,
    path: Path | None = None,
    selection: Selection | None = None,
    rebuild: bool = False,
    wait: bool = False,
    progress: ProgressFn | None = None,
) -> ZoteroSyncReport:
    """Bring the index in step with the Zotero library at ``path`` (its data folder or
    ``zotero.sqlite``; default: ``settings.zotero_dir``, else ``~/Zotero``)."""
    from assistant.index.paper_index import INGEST_WINDOW
    from assistant.index.removal import delete_papers
    from assistant.ingest.readers import FieldLimits

    started = time.perf_counter()
    selection = selection or Selection()
    database = locate_database(path if path is not None else index.settings.zotero_dir)
    report = ZoteroSyncReport(database=str(database), selection=selection.describe())
    with contextlib.ExitStack() as stack:
        copy, better_bibtex = stack.enter_context(database_copy(database))
        library = ZoteroDatabase(copy, better_bibtex, source=database.name)
        stack.callback(library.close)
        state = SyncState(index.dir)
        stack.callback(state.close)
        current = library.stamps(selection)
        report.items = len(current)
        origin = json.dumps([str(database.resolve()), selection.__dict__], sort_keys=True)
        known = {} if rebuild else state.items()
        gone = [uid for uid in known if uid not in current]
        collections = library.collections_digest()
        moved = not rebuild and state.meta("collections") not in (None, collections)
        indexed = index.catalog.hashes(pid for pid, _own, _stamp in known.values())
        # Papers of deleted items go; an item merged into one of them is read again.
        deleting = {known[uid][0] for uid in gone if known[uid][1] and known[uid][0]}
        indexed = {pid: found for pid, found in indexed.items() if pid not in deleting}
        to_read = [
            uid
            for uid, (_item_id, stamp) in current.items()
            if uid not in known
            or known[uid][2] != stamp
            or (known[uid][0] and known[uid][0] not in indexed)
            or moved
        ]
        papers, rejects, truncated = library.read_papers(
            [current[uid][0] for uid in to_read], FieldLimits.of(index.settings)
        )
        report.read = len(to_read)
        report.rejected, report.rejects, report.truncated = len(rejects), rejects, truncated
        report.without_abstract = sum(not p.has_abstract for p in papers)
        with index.ingesting(rebuild, wait, progress, total=len(papers)) as run:
            removed = delete_papers(index, deleting)
            run.changed = run.changed or bool(removed)
            for start in range(0, len(papers), INGEST_WINDOW):
                run.add(papers[start : start + INGEST_WINDOW])
            synced = _landed(index, papers, to_read, current)
            state.save(synced, gone, {"origin": origin, "collections": collections}, rebuild)
        ingest = run.report
        report.deleted = len(removed)
        report.added, report.updated, report.unchanged = (
            ingest.added,
            ingest.updated,
            ingest.unchanged,
        )
        report.chunks_embedded = ingest.chunks_embedded
        report.duplicates_merged = ingest.duplicates_merged
    report.index_papers = index.catalog.count_papers()
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _landed(
    index: PaperIndex,
    papers: list[Paper],
    read: list[str],
    current: dict[str, tuple[int, str]],
) -> dict[str, tuple[str, bool, str]]:
    """Each item read, with the paper it is indexed as (its own, or the one it merged into;
    "" for a rejected item, read again only when it changes) and its stamp."""
    from assistant.ingest.dedup import identity_keys

    by_id = {paper.paper_id: paper for paper in papers}
    present = index.catalog.hashes(by_id)
    missing = [p for pid, p in by_id.items() if pid not in present]
    owners = index.catalog.find_keys(k for p in missing for k in identity_keys(p))
    synced: dict[str, tuple[str, bool, str]] = {}
    for uid in read:
        own = own_paper_id(uid)
        paper = by_id.get(own)
        if paper is None:
            landed = ""
        elif own in present:
            landed = own
        else:
            landed = next((owners[k] for k in identity_keys(paper) if k in owners), "")
        synced[uid] = (landed, landed == own, current[uid][1])
    return synced


def watch_zotero(
    index: PaperIndex,
    on_sync: Callable[[ZoteroSyncReport], None],
    path: Path | None = None,
    selection: Selection | None = None,
    interval: float | None = None,
    polls: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Sync now, then each time the database changes, looking every ``interval`` seconds
    (``settings.zotero_poll_seconds``); ``polls``: stop after that many looks (None: until
    interrupted). A look costs a file stat. Returns the syncs run."""
    database = locate_database(path if path is not None else index.settings.zotero_dir)
    interval = interval if interval is not None else index.settings.zotero_poll_seconds
    seen: tuple[tuple[int, int], ...] | None = None
    syncs = 0
    for _look in _looks(polls):
        stamp = database_stamp(database)  # before the copy: a write during a sync is seen next
        if stamp != seen:
            on_sync(sync_zotero(index, database, selection))
            seen, syncs = stamp, syncs + 1
        if polls is None or _look + 1 < polls:
            sleep(interval)
    return syncs


def _looks(polls: int | None) -> Iterator[int]:
    look = 0
    while polls is None or look < polls:
        yield look
        look += 1
