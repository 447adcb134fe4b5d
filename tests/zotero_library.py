"""A Zotero database for tests and benchmarks, with the tables and layout the reader uses.

``tests/data/zotero_schema.sql`` is the project's own test schema: the tables of Zotero's
schema (version 129) that ``assistant/ingest/zotero_db.py`` reads, with Zotero's names, keys and
cascading foreign keys (a real ``zotero.sqlite`` has more tables, which the reader ignores).
:class:`ZoteroLibrary` creates ``<folder>/zotero.sqlite`` from it and then writes items the way
Zotero stores them: a row in ``items`` (key, library, version, modification times), each field's
value once in ``itemDataValues`` and linked by ``itemData``, creators shared through
``creators``/``itemCreators``, tags through ``tags``/``itemTags``, collections (nested by
``parentCollectionID``) through ``collectionItems``, notes and attachments as child items, the
trash in ``deletedItems``, purged items gone from ``items`` (foreign keys cascade) with a
``syncDeleteLog`` row, group libraries as ``libraries`` + ``groups`` rows, feeds as a ``feed``
library. Better BibTeX's keys go into ``better-bibtex.sqlite`` (table ``citationkey``, its
layout since version 6). Edits bump ``version`` and the modification times as Zotero does. Times
come from a clock that ticks one second a write, so a library is the same on every run.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assistant.records import Paper

SCHEMA = Path(__file__).resolve().parent / "data" / "zotero_schema.sql"
ITEM_TYPES = (
    "annotation",
    "attachment",
    "book",
    "bookSection",
    "conferencePaper",
    "journalArticle",
    "note",
    "preprint",
    "report",
    "thesis",
)
FIELDS = (
    "title",
    "abstractNote",
    "date",
    "DOI",
    "url",
    "publicationTitle",
    "proceedingsTitle",
    "bookTitle",
    "publisher",
    "university",
    "archiveID",
    "extra",
    "citationKey",
    "language",
)
CREATOR_TYPES = ("author", "editor", "contributor")
#: Kinds of object in the sync delete log, numbered as Zotero does ("item" is 3).
SYNC_OBJECT_TYPES = ("collection", "creator", "item")
#: The field a venue goes in, by item type.
VENUE_FIELD = {
    "journalArticle": "publicationTitle",
    "conferencePaper": "proceedingsTitle",
    "bookSection": "bookTitle",
    "book": "publisher",
    "thesis": "university",
    "preprint": "publisher",
    "report": "publisher",
}
KEY_CHARACTERS = "23456789ABCDEFGHIJKLMNPQRSTUVWXYZ"  # Zotero's key alphabet
USER_LIBRARY = 1
BBT_SCHEMA = """
CREATE TABLE IF NOT EXISTS citationkey (
  itemID NOT NULL PRIMARY KEY, itemKey NOT NULL, libraryID NOT NULL,
  citationKey NOT NULL CHECK (citationKey <> ''), pinned CHECK (pinned in (0, 1)),
  UNIQUE (libraryID, itemKey)
);
"""


class ZoteroLibrary:
    """A Zotero data folder with ``zotero.sqlite`` (and, once a key is set, Better BibTeX's)."""

    def __init__(self, folder: Path, seed: int = 0) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.path = folder / "zotero.sqlite"
        self._random = random.Random(seed)
        self._clock = datetime(2024, 1, 1, 9, 0, 0)
        self.db = sqlite3.connect(self.path, isolation_level=None)
        self.db.execute("PRAGMA foreign_keys = ON")  # as Zotero runs it: deletions cascade
        if not self.db.execute("SELECT name FROM sqlite_master WHERE name='items'").fetchone():
            self._create()
        self.item_types = dict(self.db.execute("SELECT typeName, itemTypeID FROM itemTypes"))
        self.fields = dict(self.db.execute("SELECT fieldName, fieldID FROM fields"))
        self.creator_types = dict(
            self.db.execute("SELECT creatorType, creatorTypeID FROM creatorTypes")
        )
        self._bbt: sqlite3.Connection | None = None

    def _create(self) -> None:
        self.db.executescript(SCHEMA.read_text(encoding="utf-8"))
        # What Zotero fills from its global schema at first start (ids are its business).
        types = list(enumerate(ITEM_TYPES, start=1))
        self.db.executemany("INSERT INTO itemTypes VALUES (?, ?)", types)
        self.db.executemany("INSERT INTO itemTypesCombined VALUES (?, ?, 1, 0)", types)
        fields = list(enumerate(FIELDS, start=1))
        self.db.executemany("INSERT INTO fields VALUES (?, ?)", fields)
        self.db.executemany("INSERT INTO fieldsCombined VALUES (?, ?, 0)", fields)
        self.db.executemany(
            "INSERT INTO creatorTypes VALUES (?, ?)", list(enumerate(CREATOR_TYPES, start=1))
        )
        self.db.executemany(
            "INSERT INTO syncObjectTypes VALUES (?, ?)",
            list(enumerate(SYNC_OBJECT_TYPES, start=1)),
        )
        self.db.execute(
            "INSERT INTO libraries(libraryID, type, editable, filesEditable) "
            "VALUES (?, 'user', 1, 1)",
            (USER_LIBRARY,),
        )
        self.db.executemany(
            "INSERT INTO version VALUES (?, ?)", [("userdata", 129), ("system", 32)]
        )

    def close(self) -> None:
        self.db.close()
        if self._bbt is not None:
            self._bbt.close()

    # --- time and keys, as Zotero writes them
    def _now(self) -> str:
        self._clock += timedelta(seconds=1)
        return self._clock.strftime("%Y-%m-%d %H:%M:%S")

    def new_key(self) -> str:
        return "".join(self._random.choice(KEY_CHARACTERS) for _ in range(8))

    # --- libraries and collections
    def add_group(self, group_id: int, name: str) -> int:
        """A group library; returns its libraryID."""
        cursor = self.db.execute(
            "INSERT INTO libraries(type, editable, filesEditable) VALUES ('group', 1, 1)"
        )
        library_id = int(cursor.lastrowid or 0)
        self.db.execute("INSERT INTO groups VALUES (?, ?, ?, '', 0)", (group_id, library_id, name))
        return library_id

    def add_feed(self, name: str, url: str) -> int:
        """A feed (RSS) library: its items are not the user's."""
        cursor = self.db.execute(
            "INSERT INTO libraries(type, editable, filesEditable) VALUES ('feed', 0, 0)"
        )
        library_id = int(cursor.lastrowid or 0)
        self.db.execute(
            "INSERT INTO feeds(libraryID, name, url) VALUES (?, ?, ?)", (library_id, name, url)
        )
        return library_id

    def add_collection(
        self, name: str, parent: int | None = None, library: int = USER_LIBRARY
    ) -> int:
        cursor = self.db.execute(
            "INSERT INTO collections(collectionName, parentCollectionID, clientDateModified, "
            "libraryID, key) VALUES (?, ?, ?, ?, ?)",
            (name, parent, self._now(), library, self.new_key()),
        )
        return int(cursor.lastrowid or 0)

    def rename_collection(self, collection_id: int, name: str) -> None:
        self.db.execute(
            "UPDATE collections SET collectionName = ?, clientDateModified = ?, synced = 0 "
            "WHERE collectionID = ?",
            (name, self._now(), collection_id),
        )

    # --- items
    def add_item(
        self,
        title: str | None,
        abstract: str | None = None,
        *,
        item_type: str = "journalArticle",
        creators: Iterable[tuple[str, str]] = (("Ada", "Lovelace"),),
        date: str | None = "2021",
        venue: str | None = None,
        fields: dict[str, str] | None = None,
        tags: Iterable[str] = (),
        collections: Iterable[int] = (),
        library: int = USER_LIBRARY,
        key: str | None = None,
        parent: int | None = None,
    ) -> str:
        """Add an item; ``creators`` are (first, last) authors (first "" for a one-field
        name). Returns its key."""
        key = key or self.new_key()
        now = self._now()
        cursor = self.db.execute(
            "INSERT INTO items(itemTypeID, dateAdded, dateModified, clientDateModified, "
            "libraryID, key, version) VALUES (?, ?, ?, ?, ?, ?, 1)",
            (self.item_types[item_type], now, now, now, library, key),
        )
        item_id = int(cursor.lastrowid or 0)
        values = dict(fields or {})
        if title is not None:
            values["title"] = title
        if abstract is not None:
            values["abstractNote"] = abstract
        if date is not None:
            values["date"] = f"{date}-00-00 {date}" if len(date) == 4 else date
        if venue is not None:
            values[VENUE_FIELD.get(item_type, "publicationTitle")] = venue
        self._set_fields(item_id, values)
        for order, (first, last) in enumerate(creators):
            self._add_creator(item_id, first, last, "author", order)
        for tag in tags:
            self._add_tag(item_id, tag)
        for collection in collections:
            self.db.execute(
                "INSERT INTO collectionItems(collectionID, itemID) VALUES (?, ?)",
                (collection, item_id),
            )
        if parent is not None:
            table = "itemNotes" if item_type == "note" else "itemAttachments"
            self.db.execute(
                f"INSERT INTO {table}(itemID, parentItemID) VALUES (?, ?)", (item_id, parent)
            )
        return key

    def add_note(self, parent_key: str, text: str) -> str:
        key = self.add_item(
            None, item_type="note", creators=(), date=None, parent=self.item_id(parent_key)
        )
        self.db.execute("UPDATE itemNotes SET note = ? WHERE itemID = ?", (text, self.item_id(key)))
        return key

    def add_attachment(self, parent_key: str, title: str) -> str:
        return self.add_item(
            title, item_type="attachment", creators=(), date=None, parent=self.item_id(parent_key)
        )

    def item_id(self, key: str, library: int = USER_LIBRARY) -> int:
        row = self.db.execute(
            "SELECT itemID FROM items WHERE key = ? AND libraryID = ?", (key, library)
        ).fetchone()
        assert row is not None, key
        return int(row[0])

    def _value_id(self, value: str) -> int:
        self.db.execute("INSERT OR IGNORE INTO itemDataValues(value) VALUES (?)", (value,))
        row = self.db.execute(
            "SELECT valueID FROM itemDataValues WHERE value = ?", (value,)
        ).fetchone()
        return int(row[0])

    def _set_fields(self, item_id: int, values: dict[str, str]) -> None:
        for name, value in values.items():
            self.db.execute(
                "INSERT OR REPLACE INTO itemData VALUES (?, ?, ?)",
                (item_id, self.fields[name], self._value_id(value)),
            )

    def _add_creator(self, item_id: int, first: str, last: str, kind: str, order: int) -> None:
        mode = 1 if not first else 0
        self.db.execute(
            "INSERT OR IGNORE INTO creators(firstName, lastName, fieldMode) VALUES (?, ?, ?)",
            (first, last, mode),
        )
        creator = self.db.execute(
            "SELECT creatorID FROM creators WHERE firstName = ? AND lastName = ? AND fieldMode = ?",
            (first, last, mode),
        ).fetchone()[0]
        self.db.execute(
            "INSERT INTO itemCreators VALUES (?, ?, ?, ?)",
            (item_id, creator, self.creator_types[kind], order),
        )

    def _add_tag(self, item_id: int, name: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO tags(name) VALUES (?)", (name,))
        tag = self.db.execute("SELECT tagID FROM tags WHERE name = ?", (name,)).fetchone()[0]
        self.db.execute("INSERT INTO itemTags VALUES (?, ?, 0)", (item_id, tag))

    def _touch(self, item_id: int) -> None:
        """What Zotero does on saving an item: new modification times, next version."""
        now = self._now()
        self.db.execute(
            "UPDATE items SET dateModified = ?, clientDateModified = ?, version = version + 1, "
            "synced = 0 WHERE itemID = ?",
            (now, now, item_id),
        )

    def edit_item(self, key: str, library: int = USER_LIBRARY, **values: str) -> None:
        """Change fields (Zotero's names: title, abstractNote, DOI...) as an edit in Zotero."""
        item_id = self.item_id(key, library)
        self._set_fields(item_id, values)
        self._touch(item_id)

    def tag_item(self, key: str, tag: str, library: int = USER_LIBRARY) -> None:
        item_id = self.item_id(key, library)
        self._add_tag(item_id, tag)
        self._touch(item_id)

    def file_item(self, key: str, collection: int, library: int = USER_LIBRARY) -> None:
        """Add the item to a collection."""
        item_id = self.item_id(key, library)
        self.db.execute(
            "INSERT INTO collectionItems(collectionID, itemID) VALUES (?, ?)", (collection, item_id)
        )
        self._touch(item_id)

    def trash_item(self, key: str, library: int = USER_LIBRARY) -> None:
        """Move the item to the trash (it stays in ``items``, listed in ``deletedItems``)."""
        item_id = self.item_id(key, library)
        self.db.execute(
            "INSERT INTO deletedItems(itemID, dateDeleted) VALUES (?, ?)", (item_id, self._now())
        )
        self._touch(item_id)

    def delete_item(self, key: str, library: int = USER_LIBRARY) -> None:
        """Delete the item for good (the trash emptied): its rows go, a delete-log row stays."""
        item_id = self.item_id(key, library)
        self.db.execute("DELETE FROM items WHERE itemID = ?", (item_id,))
        object_type = self.db.execute(
            "SELECT syncObjectTypeID FROM syncObjectTypes WHERE name = 'item'"
        ).fetchone()[0]
        self.db.execute(
            "INSERT OR REPLACE INTO syncDeleteLog VALUES (?, ?, ?, ?)",
            (object_type, library, key, int(self._clock.timestamp())),
        )

    def begin(self) -> None:
        """Start one transaction on both databases (many writes at once, as an import)."""
        for db in (self.db, self._better_bibtex()):
            db.execute("BEGIN")

    def commit(self) -> None:
        for db in (self.db, self._better_bibtex()):
            db.execute("COMMIT")

    # --- Better BibTeX
    def _better_bibtex(self) -> sqlite3.Connection:
        if self._bbt is None:
            self._bbt = sqlite3.connect(self.folder / "better-bibtex.sqlite", isolation_level=None)
            self._bbt.executescript(BBT_SCHEMA)
        return self._bbt

    def set_citation_key(self, key: str, citation_key: str, library: int = USER_LIBRARY) -> None:
        """Better BibTeX's key for an item, in ``better-bibtex.sqlite``."""
        self._better_bibtex().execute(
            "INSERT OR REPLACE INTO citationkey VALUES (?, ?, ?, ?, 0)",
            (self.item_id(key, library), key, library, citation_key),
        )


def build_library(
    folder: Path, papers: Iterable[Paper], seed: int = 0, without_abstract_every: int = 7
) -> tuple[ZoteroLibrary, dict[str, str]]:
    """A library of these papers as Zotero would hold them, in a set mix: a collection tree
    (``Thesis`` > ``Chapter 1``/``Chapter 2``, ``Reading``), tags, a Better BibTeX key for every
    other item, a note and a PDF attachment on some, every ``without_abstract_every``-th item a
    book without an abstract. Returns the open library and ``{item key: paper id}``."""
    library = ZoteroLibrary(folder, seed=seed)
    thesis = library.add_collection("Thesis")
    chapters = [library.add_collection(f"Chapter {n}", parent=thesis) for n in (1, 2)]
    reading = library.add_collection("Reading")
    places = [[chapters[0]], [chapters[1]], [reading], [], [thesis, reading]]
    tag_sets = [["to-read"], ["method", "to-read"], [], ["survey"], ["method"]]
    keys: dict[str, str] = {}
    library.begin()  # one transaction, as Zotero imports a batch
    for n, paper in enumerate(papers):
        bare = without_abstract_every and n % without_abstract_every == without_abstract_every - 1
        creators = [tuple(_split_name(name)) for name in paper.authors[:6]] or [("", "Anonymous")]
        key = library.add_item(
            paper.title,
            None if bare else paper.abstract,
            item_type="book" if bare else "journalArticle",
            creators=creators,  # type: ignore[arg-type]
            date=str(paper.year) if paper.year else None,
            venue=paper.venue or ("Daily Papers" if not bare else "A Publisher"),
            fields={"DOI": paper.doi} if paper.doi else None,
            tags=tag_sets[n % len(tag_sets)],
            collections=places[n % len(places)],
        )
        keys[key] = f"zotero:{key}"
        if n % 2 == 0:
            library.set_citation_key(key, f"item{n}{key[:3].lower()}")
        if n % 5 == 0:
            library.add_note(key, f"<p>My notes on {paper.title}</p>")
            library.add_attachment(key, "Full Text PDF")
    library.commit()
    return library, keys


def _split_name(name: str) -> list[str]:
    """``"Ada Lovelace"`` as Zotero's (first, last)."""
    first, _, last = name.rpartition(" ")
    return [first, last or name]
