"""The test schema behaves as Zotero's on what the reader relies on: a purged item's rows go with
it (foreign keys cascade) while shared creators, tags and values stay, and an item's library and
key identify it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from zotero_library import ZoteroLibrary

#: Tables with a row per item that must not outlive it.
ITEM_TABLES = ("itemData", "itemCreators", "itemTags", "collectionItems", "deletedItems")


def test_purging_an_item_cascades_to_its_rows_and_logs_the_deletion(tmp_path: Path) -> None:
    library = ZoteroLibrary(tmp_path / "Zotero")
    reading = library.add_collection("Reading")
    gone, kept = (
        library.add_item(
            title, "Its abstract. Two sentences.", tags=["method"], collections=[reading]
        )
        for title in ("Purged", "Kept")
    )
    library.add_note(gone, "<p>A note</p>")
    gone_id, kept_id = library.item_id(gone), library.item_id(kept)
    library.trash_item(gone)
    library.delete_item(gone)
    db = library.db

    for table in ITEM_TABLES:
        left = db.execute(f"SELECT COUNT(*) FROM {table} WHERE itemID = ?", (gone_id,)).fetchone()
        assert left == (0,), table
    assert db.execute("SELECT COUNT(*) FROM items WHERE itemID = ?", (gone_id,)).fetchone() == (0,)
    assert db.execute(
        "SELECT COUNT(*) FROM itemNotes WHERE parentItemID = ?", (gone_id,)
    ).fetchone() == (0,)
    # What the other item shares stays: its creator, tag, collection and title value.
    for table in ("itemCreators", "itemTags", "collectionItems"):
        kept_rows = db.execute(f"SELECT COUNT(*) FROM {table} WHERE itemID = ?", (kept_id,))
        assert kept_rows.fetchone() == (1,), table
    assert db.execute(
        "SELECT s.name, l.key FROM syncDeleteLog l JOIN syncObjectTypes s "
        "ON s.syncObjectTypeID = l.syncObjectTypeID"
    ).fetchall() == [("item", gone)]
    library.close()


def test_an_item_is_identified_by_its_library_and_key(tmp_path: Path) -> None:
    library = ZoteroLibrary(tmp_path / "Zotero")
    group = library.add_group(4711, "Reading Group")
    key = library.add_item("Mine", "An abstract. Two sentences.")
    assert library.add_item("The group's", "An abstract. Two.", library=group, key=key) == key
    with pytest.raises(sqlite3.IntegrityError):
        library.add_item("Again", "An abstract. Two sentences.", key=key)
    library.close()
