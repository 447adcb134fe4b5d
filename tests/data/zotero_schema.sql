-- The project's own test schema for a Zotero database (tests only).
--
-- It mirrors the tables of Zotero's schema version 129 (userdata; system 32) that the reader
-- (assistant/ingest/zotero_db.py, assistant/index/zotero_sync.py) uses and that
-- tests/zotero_library.py fills: their names, key columns, the unique constraints the reader
-- and the fixture rely on, and the foreign keys that cascade when an item, a collection or a
-- library is purged. A real Zotero database (zotero.sqlite of Zotero 7) has more tables and
-- columns (searches, relations, full-text words, storage and sync state...); the reader
-- ignores them. Written for this project; the assistant never runs it.

-- Libraries: the user's own (type 'user'), groups' and feeds'.
CREATE TABLE libraries (
    libraryID INTEGER PRIMARY KEY,
    type TEXT NOT NULL,
    editable INT NOT NULL,
    filesEditable INT NOT NULL
);

CREATE TABLE groups (
    groupID INTEGER PRIMARY KEY,
    libraryID INT NOT NULL UNIQUE REFERENCES libraries (libraryID) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    version INT NOT NULL
);

CREATE TABLE feeds (
    libraryID INTEGER PRIMARY KEY REFERENCES libraries (libraryID) ON DELETE CASCADE,
    name TEXT NOT NULL,
    url TEXT NOT NULL UNIQUE
);

-- Names of item types, fields and creator types. Zotero keeps the built-in ones in the first
-- table and built-in plus custom ones in the "Combined" one; the reader reads both.
CREATE TABLE itemTypes (
    itemTypeID INTEGER PRIMARY KEY,
    typeName TEXT
);

CREATE TABLE itemTypesCombined (
    itemTypeID INT NOT NULL PRIMARY KEY,
    typeName TEXT NOT NULL,
    display INT NOT NULL DEFAULT 1,
    custom INT NOT NULL
);

CREATE TABLE fields (
    fieldID INTEGER PRIMARY KEY,
    fieldName TEXT
);

CREATE TABLE fieldsCombined (
    fieldID INT NOT NULL PRIMARY KEY,
    fieldName TEXT NOT NULL,
    custom INT NOT NULL
);

CREATE TABLE creatorTypes (
    creatorTypeID INTEGER PRIMARY KEY,
    creatorType TEXT
);

-- Items: one row each, identified across syncs by (libraryID, key).
CREATE TABLE items (
    itemID INTEGER PRIMARY KEY,
    itemTypeID INT NOT NULL,
    dateAdded TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    dateModified TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    clientDateModified TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    libraryID INT NOT NULL REFERENCES libraries (libraryID) ON DELETE CASCADE,
    key TEXT NOT NULL,
    version INT NOT NULL DEFAULT 0,
    synced INT NOT NULL DEFAULT 0,
    UNIQUE (libraryID, key)
);

-- Field values: each distinct value stored once, linked to items by itemData.
CREATE TABLE itemDataValues (
    valueID INTEGER PRIMARY KEY,
    value UNIQUE
);

CREATE TABLE itemData (
    itemID INT REFERENCES items (itemID) ON DELETE CASCADE,
    fieldID INT REFERENCES fieldsCombined (fieldID),
    valueID REFERENCES itemDataValues (valueID),
    PRIMARY KEY (itemID, fieldID)
);

-- Creators are shared between items; fieldMode 1 is a one-field name (lastName only).
CREATE TABLE creators (
    creatorID INTEGER PRIMARY KEY,
    firstName TEXT,
    lastName TEXT,
    fieldMode INT,
    UNIQUE (lastName, firstName, fieldMode)
);

CREATE TABLE itemCreators (
    itemID INT NOT NULL REFERENCES items (itemID) ON DELETE CASCADE,
    creatorID INT NOT NULL REFERENCES creators (creatorID) ON DELETE CASCADE,
    creatorTypeID INT NOT NULL DEFAULT 1 REFERENCES creatorTypes (creatorTypeID),
    orderIndex INT NOT NULL DEFAULT 0,
    PRIMARY KEY (itemID, creatorID, creatorTypeID, orderIndex),
    UNIQUE (itemID, orderIndex)
);

CREATE TABLE tags (
    tagID INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE itemTags (
    itemID INT NOT NULL REFERENCES items (itemID) ON DELETE CASCADE,
    tagID INT NOT NULL REFERENCES tags (tagID) ON DELETE CASCADE,
    type INT NOT NULL,
    PRIMARY KEY (itemID, tagID)
);

-- Notes and attachments are items of their own, children of a regular item.
CREATE TABLE itemNotes (
    itemID INTEGER PRIMARY KEY REFERENCES items (itemID) ON DELETE CASCADE,
    parentItemID INT REFERENCES items (itemID) ON DELETE CASCADE,
    note TEXT
);

CREATE TABLE itemAttachments (
    itemID INTEGER PRIMARY KEY REFERENCES items (itemID) ON DELETE CASCADE,
    parentItemID INT REFERENCES items (itemID) ON DELETE CASCADE
);

-- Collections nest through parentCollectionID; an item is in any number of them.
CREATE TABLE collections (
    collectionID INTEGER PRIMARY KEY,
    collectionName TEXT NOT NULL,
    parentCollectionID INT DEFAULT NULL
        REFERENCES collections (collectionID) ON DELETE CASCADE,
    clientDateModified TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    libraryID INT NOT NULL REFERENCES libraries (libraryID) ON DELETE CASCADE,
    key TEXT NOT NULL,
    version INT NOT NULL DEFAULT 0,
    synced INT NOT NULL DEFAULT 0,
    UNIQUE (libraryID, key)
);

CREATE TABLE collectionItems (
    collectionID INT NOT NULL REFERENCES collections (collectionID) ON DELETE CASCADE,
    itemID INT NOT NULL REFERENCES items (itemID) ON DELETE CASCADE,
    orderIndex INT NOT NULL DEFAULT 0,
    PRIMARY KEY (collectionID, itemID)
);

-- The trash: trashed items and collections keep their rows, listed here.
CREATE TABLE deletedItems (
    itemID INTEGER PRIMARY KEY REFERENCES items (itemID) ON DELETE CASCADE,
    dateDeleted DEFAULT CURRENT_TIMESTAMP NOT NULL
);

CREATE TABLE deletedCollections (
    collectionID INTEGER PRIMARY KEY REFERENCES collections (collectionID) ON DELETE CASCADE,
    dateDeleted DEFAULT CURRENT_TIMESTAMP NOT NULL
);

-- What was purged for good, by kind of object, for the next sync with zotero.org.
CREATE TABLE syncObjectTypes (
    syncObjectTypeID INTEGER PRIMARY KEY,
    name TEXT
);

CREATE TABLE syncDeleteLog (
    syncObjectTypeID INT NOT NULL REFERENCES syncObjectTypes (syncObjectTypeID),
    libraryID INT NOT NULL REFERENCES libraries (libraryID) ON DELETE CASCADE,
    key TEXT NOT NULL,
    dateDeleted TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (syncObjectTypeID, libraryID, key)
);

-- The schema versions, and Zotero's settings (the tests write to it to hold Zotero's lock).
CREATE TABLE version (
    schema TEXT PRIMARY KEY,
    version INT NOT NULL
);

CREATE TABLE settings (
    setting TEXT,
    key TEXT,
    value,
    PRIMARY KEY (setting, key)
);
