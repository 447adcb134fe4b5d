"""A Zotero library read straight from its database (``zotero.sqlite``), never written.

Zotero holds its database open (and locked) while it runs, so the file is copied with its
``-wal``/``-journal`` companions into a temporary folder, the copy checked (a copy taken while
Zotero wrote is taken again), and only the copy is opened. Better BibTeX's citation keys come
from ``better-bibtex.sqlite`` beside it: the table ``citationkey`` (itemID, itemKey, libraryID,
citationKey, pinned) of current versions, or the JSON ``better-bibtex.citekey`` blob of the
``better-bibtex`` table that versions before 6 kept; else a ``citationKey`` field or a
``Citation Key:`` line in the item's Extra field.

Items are the regular items of the user's library and its group libraries (not notes,
attachments, annotations, feed items or items in the trash). Each becomes a paper with the id
``zotero:KEY`` (``zotero:g<groupID>:KEY`` in a group library), its Zotero link, item type,
tags and collections (as paths, ``Thesis/Chapter 2``) in ``extra``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from assistant.errors import UsageError
from assistant.ingest.readers._base import Collector, FieldLimits, build_paper, year_in_text
from assistant.ingest.readers.bibtex import ARXIV_IN_TEXT
from assistant.records import Paper, Reject

DATABASE = "zotero.sqlite"
BETTER_BIBTEX = "better-bibtex.sqlite"
#: Item types that are parts of other items, not works of their own.
CHILD_TYPES = ("note", "attachment", "annotation")
TITLE_FIELDS = ("title", "caseName", "nameOfAct", "subject")
VENUE_FIELDS = (
    "publicationTitle",
    "proceedingsTitle",
    "bookTitle",
    "conferenceName",
    "websiteTitle",
    "blogTitle",
    "forumTitle",
    "programTitle",
    "encyclopediaTitle",
    "dictionaryTitle",
    "university",
    "institution",
    "publisher",
)
_CITATION_KEY_LINE = re.compile(r"^\s*citation key:\s*(\S+)\s*$", re.IGNORECASE | re.MULTILINE)
_COPY_TRIES = 5


def default_data_dir() -> Path:
    """Zotero's data folder when none is given: ``~/Zotero`` (its default on every platform)."""
    return Path.home() / "Zotero"


def locate_database(path: Path | None) -> Path:
    """The ``zotero.sqlite`` that ``path`` (a data folder or the file itself) names."""
    given = Path(path).expanduser() if path is not None else default_data_dir()
    database = given / DATABASE if given.is_dir() else given
    if not database.is_file():
        raise UsageError(
            f"No Zotero database at {database}.",
            hint="Give Zotero's data folder (Zotero: Settings > Advanced > Files and Folders > "
            "Data Directory Location) or its zotero.sqlite: 'assistant ingest --zotero PATH', "
            "or set ASSISTANT_ZOTERO_DIR.",
        )
    return database


def database_stamp(database: Path) -> tuple[tuple[int, int], ...]:
    """(modification time, size) of the database and its journal files: changes on each write."""
    stamps = []
    for suffix in ("", "-wal", "-journal"):
        try:
            info = Path(f"{database}{suffix}").stat()
        except FileNotFoundError:
            stamps.append((0, 0))
            continue
        stamps.append((info.st_mtime_ns, info.st_size))
    return tuple(stamps)


@contextlib.contextmanager
def database_copy(database: Path) -> Iterator[tuple[Path, Path | None]]:
    """A consistent copy of the Zotero database (and Better BibTeX's, if there) in a temporary
    folder, removed afterwards: ``(zotero copy, better-bibtex copy or None)``."""
    with tempfile.TemporaryDirectory(prefix="assistant-zotero-") as folder:
        target = Path(folder)
        copy = _copy_consistent(database, target)
        bbt = database.with_name(BETTER_BIBTEX)
        bbt_copy = _copy_consistent(bbt, target) if bbt.is_file() else None
        yield copy, bbt_copy


def _copy_consistent(database: Path, folder: Path) -> Path:
    """Copy ``database`` with its journal files until a copy is taken with no write during it
    and passes SQLite's quick check."""
    copy = folder / database.name
    problem = "it kept changing while it was copied"
    for attempt in range(_COPY_TRIES):
        before = database_stamp(database)
        for suffix in ("", "-wal", "-journal"):
            source, target = Path(f"{database}{suffix}"), Path(f"{copy}{suffix}")
            target.unlink(missing_ok=True)
            with contextlib.suppress(FileNotFoundError):
                shutil.copyfile(source, target)
        if database_stamp(database) == before:  # no write during the copy: it is whole
            try:
                with contextlib.closing(sqlite3.connect(copy)) as db:
                    if db.execute("PRAGMA quick_check").fetchone()[0] == "ok":
                        return copy
                    problem = "its copy failed SQLite's check"
            except sqlite3.DatabaseError as exc:
                raise UsageError(
                    f"{database} cannot be read as a database ({exc}).",
                    hint="Give Zotero's data folder or its zotero.sqlite.",
                ) from exc
        time.sleep(0.2 * (attempt + 1))
    raise UsageError(
        f"Could not read a consistent copy of {database}: {problem}.",
        hint="Try again in a moment (Zotero may be busy syncing), or close Zotero first.",
    )


@dataclass(frozen=True)
class Library:
    """One of the database's libraries: the user's own or a group's."""

    library_id: int
    group_id: int | None
    name: str

    def paper_id(self, key: str) -> str:
        return f"zotero:{key}" if self.group_id is None else f"zotero:g{self.group_id}:{key}"

    def link(self, key: str) -> str:
        """The link that opens the item in Zotero."""
        if self.group_id is None:
            return f"zotero://select/library/items/{key}"
        return f"zotero://select/groups/{self.group_id}/items/{key}"


@dataclass
class Selection:
    """Which items to read: any of ``collections`` (with their sub-collections), any of
    ``tags``, any of ``libraries`` (names; none given: all of each)."""

    collections: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    libraries: list[str] = field(default_factory=list)

    def describe(self) -> str:
        parts = [f"collection {c}" for c in self.collections] + [f"tag {t}" for t in self.tags]
        parts += [f"library {name}" for name in self.libraries]
        return ", ".join(parts) or "the whole library"


class ZoteroDatabase:
    """Read access to a copy of ``zotero.sqlite`` (and of ``better-bibtex.sqlite``)."""

    def __init__(self, copy: Path, better_bibtex: Path | None = None, source: str = DATABASE):
        self._db = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
        self.source = source
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master")}
        if not {"items", "itemData", "libraries", "collections"} <= tables:
            self._db.close()
            raise UsageError(
                f"{source} is not a Zotero database (it has no items and libraries tables).",
                hint="Give Zotero's data folder or its zotero.sqlite.",
            )
        self.libraries = self._libraries()
        self.collection_paths = self._collection_paths()
        self._citation_keys = _better_bibtex_keys(better_bibtex) if better_bibtex else {}

    def close(self) -> None:
        self._db.close()

    def _names(self, table: str, id_column: str, name_column: str) -> dict[int, str]:
        """``table`` and its ``...Combined`` copy (Zotero fills both), by id."""
        names: dict[int, str] = {}
        for name in (table, f"{table}Combined"):
            with contextlib.suppress(sqlite3.OperationalError):
                names.update(self._db.execute(f"SELECT {id_column}, {name_column} FROM {name}"))
        return names

    def _libraries(self) -> dict[int, Library]:
        groups = {
            library_id: (group_id, name)
            for group_id, library_id, name in self._db.execute(
                "SELECT groupID, libraryID, name FROM groups"
            )
        }
        found = {}
        for library_id, kind in self._db.execute("SELECT libraryID, type FROM libraries"):
            if kind == "user":
                found[library_id] = Library(library_id, None, "My Library")
            elif kind == "group" and library_id in groups:
                group_id, name = groups[library_id]
                found[library_id] = Library(library_id, group_id, name)
        return found  # feeds are left out

    def _collection_paths(self) -> dict[int, str]:
        rows = {
            cid: (name, parent)
            for cid, name, parent in self._db.execute(
                "SELECT c.collectionID, c.collectionName, c.parentCollectionID FROM collections c "
                "WHERE c.collectionID NOT IN (SELECT collectionID FROM deletedCollections)"
            )
        }
        paths: dict[int, str] = {}
        for cid in rows:
            parts, seen, current = [], set(), cid
            while current in rows and current not in seen:  # a cycle would be a damaged file
                seen.add(current)
                name, parent = rows[current]
                parts.append(name)
                current = parent
            paths[cid] = "/".join(reversed(parts))
        return paths

    def collections_digest(self) -> str:
        """Changes when a collection is renamed, moved, added or removed."""
        return _digest(sorted(self.collection_paths.items()))

    # --- which items, and whether each changed
    def stamps(self, selection: Selection) -> dict[str, tuple[int, str]]:
        """``{item uid: (itemID, stamp)}`` of the selected items; the stamp changes with the
        item's modification times, version, tags, collections and citation key."""
        libraries = self._selected_libraries(selection)
        members = self._selected_collections(selection.collections)
        wanted_tags = self._selected_tags(selection.tags)
        types = self._names("itemTypes", "itemTypeID", "typeName")
        children = [tid for tid, name in types.items() if name in CHILD_TYPES]
        marks = ",".join("?" * len(children)) or "NULL"
        rows = self._db.execute(
            "SELECT i.itemID, i.libraryID, i.key, i.version, i.clientDateModified, "
            "i.dateModified, "
            "(SELECT group_concat(collectionID) FROM collectionItems c WHERE c.itemID = i.itemID), "
            "(SELECT group_concat(t.name, char(10)) FROM itemTags it JOIN tags t "
            " ON t.tagID = it.tagID WHERE it.itemID = i.itemID) "
            f"FROM items i WHERE i.itemTypeID NOT IN ({marks}) "
            "AND i.itemID NOT IN (SELECT itemID FROM deletedItems)",
            children,
        )
        found: dict[str, tuple[int, str]] = {}
        for item_id, library_id, key, version, client, modified, cols, tag_names in rows:
            library = libraries.get(library_id)
            if library is None:
                continue
            in_collections = {int(c) for c in cols.split(",")} if cols else set()
            tags = set(tag_names.split("\n")) if tag_names else set()
            if members is not None and not in_collections & members:
                continue
            if wanted_tags is not None and not {t.lower() for t in tags} & wanted_tags:
                continue
            citation = self._citation_keys.get((library_id, key), "")
            stamp = _digest([version, client, modified, sorted(in_collections), sorted(tags)])
            found[item_uid(library, key)] = (item_id, f"{stamp}:{citation}")
        return found

    def _selected_libraries(self, selection: Selection) -> dict[int, Library]:
        if not selection.libraries:
            return self.libraries
        by_name = {lib.name.lower(): lib for lib in self.libraries.values()}
        chosen = {}
        for name in selection.libraries:
            library = by_name.get(name.lower())
            if library is None:
                raise UsageError(
                    f"No library named {name!r} in {self.source}.",
                    hint="The libraries are: "
                    + ", ".join(sorted(by_name[n].name for n in by_name)),
                )
            chosen[library.library_id] = library
        return chosen

    def _selected_collections(self, names: list[str]) -> set[int] | None:
        """The ids of the named collections and of all their sub-collections (None: all)."""
        if not names:
            return None
        chosen: set[int] = set()
        for name in names:
            wanted = name.strip().strip("/").lower()
            roots = [
                path
                for path in self.collection_paths.values()
                if path.lower() == wanted or path.rsplit("/", 1)[-1].lower() == wanted
            ]
            if not roots:
                shown = sorted(self.collection_paths.values())
                raise UsageError(
                    f"No collection named {name!r} in {self.source}.",
                    hint="Its collections: "
                    + (", ".join(shown[:20]) + (" ..." if len(shown) > 20 else "") or "none"),
                )
            for cid, path in self.collection_paths.items():
                if any(path == root or path.startswith(root + "/") for root in roots):
                    chosen.add(cid)
        return chosen

    def _selected_tags(self, names: list[str]) -> set[str] | None:
        if not names:
            return None
        have = {row[0].lower() for row in self._db.execute("SELECT name FROM tags")}
        for name in names:
            if name.lower() not in have:
                raise UsageError(
                    f"No item in {self.source} has the tag {name!r}.",
                    hint="Check the tag's spelling in Zotero's tag selector.",
                )
        return {name.lower() for name in names}

    # --- items as papers
    def read_papers(
        self, item_ids: Iterable[int], limits: FieldLimits | None = None
    ) -> tuple[list[Paper], list[Reject], list[Reject]]:
        """The items as papers, with the items rejected and the fields cut (each located as
        ``zotero.sqlite:item KEY``)."""
        ids = list(item_ids)
        out = Collector(Path(self.source), limits=limits)
        fields = self._names("fields", "fieldID", "fieldName")
        types = self._names("itemTypes", "itemTypeID", "typeName")
        creator_types = self._names("creatorTypes", "creatorTypeID", "creatorType")
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ",".join("?" * len(part))
            values: dict[int, dict[str, str]] = {i: {} for i in part}
            for item_id, field_id, value in self._db.execute(
                "SELECT d.itemID, d.fieldID, v.value FROM itemData d JOIN itemDataValues v "
                f"ON v.valueID = d.valueID WHERE d.itemID IN ({marks})",
                part,
            ):
                values[item_id][fields.get(field_id, "")] = str(value)
            creators: dict[int, list[tuple[str, str]]] = {i: [] for i in part}
            for item_id, first, last, mode, type_id in self._db.execute(
                "SELECT ic.itemID, c.firstName, c.lastName, c.fieldMode, ic.creatorTypeID "
                "FROM itemCreators ic JOIN creators c ON c.creatorID = ic.creatorID "
                f"WHERE ic.itemID IN ({marks}) ORDER BY ic.itemID, ic.orderIndex",
                part,
            ):
                name = (last or "") if mode == 1 else f"{first or ''} {last or ''}".strip()
                creators[item_id].append((creator_types.get(type_id, ""), name))
            tags = self._grouped(
                "SELECT it.itemID, t.name FROM itemTags it JOIN tags t ON t.tagID = it.tagID "
                f"WHERE it.itemID IN ({marks}) ORDER BY t.name",
                part,
            )
            collections = self._grouped(
                f"SELECT itemID, collectionID FROM collectionItems WHERE itemID IN ({marks})",
                part,
            )
            for item_id, library_id, key, type_id in self._db.execute(
                f"SELECT itemID, libraryID, key, itemTypeID FROM items WHERE itemID IN ({marks})",
                part,
            ):
                paths = sorted(
                    {
                        self.collection_paths[int(str(c))]
                        for c in collections[item_id]
                        if int(str(c)) in self.collection_paths
                    }
                )
                out.add(
                    f"item {key}",
                    self._paper(
                        self.libraries[library_id],
                        key,
                        types.get(type_id, ""),
                        values[item_id],
                        creators[item_id],
                        [str(t) for t in tags[item_id]],
                        paths,
                    ),
                )
        return out.papers, out.rejects, out.truncated

    def _grouped(self, sql: str, ids: list[int]) -> dict[int, list[object]]:
        grouped: dict[int, list[object]] = {i: [] for i in ids}
        for item_id, value in self._db.execute(sql, ids):
            grouped[item_id].append(value)
        return grouped

    def _paper(
        self,
        library: Library,
        key: str,
        item_type: str,
        values: dict[str, str],
        creators: list[tuple[str, str]],
        tags: list[str],
        collections: list[str],
    ) -> Paper | str:
        title = next((values[f] for f in TITLE_FIELDS if values.get(f)), "")
        authors = [name for kind, name in creators if kind == "author" and name]
        if not authors:
            authors = [name for _kind, name in creators if name]
        found = ARXIV_IN_TEXT.search(" ".join(values.get(f, "") for f in ("archiveID", "url")))
        extra = {"item_type": item_type, "zotero_key": key, "zotero_link": library.link(key)}
        extra["zotero_library"] = library.name
        if tags:
            extra["tags"] = "; ".join(tags)
        if collections:
            extra["zotero_collections"] = "; ".join(collections)
        citation = self._citation_keys.get((library.library_id, key)) or values.get("citationKey")
        if not citation:
            line = _CITATION_KEY_LINE.search(values.get("extra", ""))
            citation = line.group(1) if line else None
        if citation:
            extra["bibkey"] = citation
        return build_paper(
            source=self.source,
            title=title,
            abstract=values.get("abstractNote", ""),
            record_id=library.paper_id(key),
            year=year_in_text(values.get("date", "")),
            authors=authors,
            venue=next((values[f] for f in VENUE_FIELDS if values.get(f)), None),
            doi=values.get("DOI") or None,
            arxiv_id=found.group(1) if found else None,
            url=values.get("url") or None,
            extra=extra,
        )


def item_uid(library: Library, key: str) -> str:
    """An item's identity across syncs: its library and key, as in Zotero's own URIs."""
    place = "users" if library.group_id is None else f"groups/{library.group_id}"
    return f"{place}/items/{key}"


def _digest(value: object) -> str:
    return hashlib.sha1(json.dumps(value, default=str).encode()).hexdigest()[:16]


def _better_bibtex_keys(path: Path) -> dict[tuple[int, str], str]:
    """``{(libraryID, itemKey): citation key}`` from Better BibTeX's database (either layout)."""
    keys: dict[tuple[int, str], str] = {}
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
            if "citationkey" in tables:
                for library_id, item_key, key in db.execute(
                    "SELECT libraryID, itemKey, citationKey FROM citationkey"
                ):
                    keys[(int(library_id), str(item_key))] = str(key)
            elif "better-bibtex" in tables:  # before Better BibTeX 6: LokiJS collections
                row = db.execute(
                    "SELECT data FROM \"better-bibtex\" WHERE name = 'better-bibtex.citekey'"
                ).fetchone()
                for entry in json.loads(row[0]).get("data", []) if row else []:
                    keys[(int(entry["libraryID"]), str(entry["itemKey"]))] = str(entry["citekey"])
    except (sqlite3.DatabaseError, ValueError, KeyError, TypeError):
        return {}  # an unreadable Better BibTeX file: the other sources of keys still count
    return keys
