"""The paper catalog: one SQLite file in the index folder holding papers, chunks and index metadata.

It is the index's record of truth for what has been ingested: a paper is in the index once its
catalog row is committed. Vectors in Chroma without a committed catalog row (left by a crash) are
ignored by search and overwritten by the next ingest.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

from assistant.index.catalog_guard import GuardedConnection
from assistant.index.state import paper_token, xor_of
from assistant.ingest.chunking import Chunk, title_only_text
from assistant.records import Paper

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS papers (
    paper_id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    abstract TEXT NOT NULL,
    year INTEGER,
    authors TEXT NOT NULL DEFAULT '[]',
    venue TEXT,
    doi TEXT,
    arxiv_id TEXT,
    url TEXT,
    source TEXT,
    extra TEXT NOT NULL DEFAULT '{}',
    content_hash TEXT NOT NULL,
    n_chunks INTEGER NOT NULL,
    seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS papers_year ON papers(year);
CREATE INDEX IF NOT EXISTS papers_source ON papers(source);
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id TEXT PRIMARY KEY,
    paper_id TEXT NOT NULL,
    ordinal INTEGER NOT NULL,
    first_sentence INTEGER NOT NULL,
    last_sentence INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_paper ON chunks(paper_id);
CREATE TABLE IF NOT EXISTS paper_keys (key TEXT PRIMARY KEY, paper_id TEXT NOT NULL);
"""

STATE_META = "state"  # the XOR of the papers' tokens (assistant.index.state), as hex

_PAPER_COLUMNS = (
    "paper_id, title, abstract, year, authors, venue, doi, arxiv_id, url, source, extra"
)


def content_hash(paper: Paper, fingerprint: str) -> str:
    """Hash of what is embedded for a paper: a change means its chunks must be re-embedded.

    (A paper without an abstract is embedded from its venue, tags and keywords: those count.)
    """
    digest = hashlib.sha256()
    text = paper.abstract if paper.has_abstract else paper.abstract + title_only_text(paper)
    for part in (fingerprint, paper.title, text):
        digest.update(part.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()[:32]


def _row_to_paper(row: sqlite3.Row | tuple) -> Paper:
    return Paper(
        paper_id=row[0],
        title=row[1],
        abstract=row[2],
        year=row[3],
        authors=json.loads(row[4]),
        venue=row[5],
        doi=row[6],
        arxiv_id=row[7],
        url=row[8],
        source=row[9],
        extra=json.loads(row[10]),
    )


class Catalog:
    """Access to ``catalog.sqlite``; every write is one transaction."""

    FILENAME = "catalog.sqlite"

    def __init__(self, index_dir: Path) -> None:
        self.path = index_dir / self.FILENAME
        self._db = sqlite3.connect(
            self.path, timeout=30, isolation_level=None, factory=GuardedConnection
        )
        self._db.path = self.path
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    # --- metadata
    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, values: dict[str, str]) -> None:
        with self.transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", values.items()
            )

    @property
    def version(self) -> int:
        """Incremented by every committed change of papers."""
        return int(self.get_meta("version") or 0)

    @property
    def state(self) -> int:
        """The XOR of the papers' tokens: what a derived file must hold to be current."""
        recorded = self.get_meta(STATE_META)
        if recorded is not None:
            return int(recorded, 16)
        state = xor_of(self.paper_tokens().values())  # an index made before states were kept
        try:
            with self.transaction():
                self._db.execute(
                    "INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)",
                    (STATE_META, f"{state:x}"),
                )
        except sqlite3.OperationalError:  # a read-only index: computed again next time
            return state
        return int(self.get_meta(STATE_META) or "0", 16)

    def paper_tokens(self) -> dict[str, int]:
        """Every paper's token (its id and content hash), read in one statement."""
        return {
            pid: paper_token(pid, digest)
            for pid, digest in self._db.execute("SELECT paper_id, content_hash FROM papers")
        }

    def _change_state(self, delta: int) -> None:
        """XOR ``delta`` into the recorded state (inside a write transaction)."""
        if delta:
            self._db.execute(
                "UPDATE meta SET value = ? WHERE key = ?",
                (f"{self.state ^ delta:x}", STATE_META),
            )

    # --- papers
    def count_papers(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM papers").fetchone()[0])

    def count_chunks(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    def hashes(self, paper_ids: Iterable[str]) -> dict[str, tuple[str, int]]:
        """content_hash and chunk count of the given papers that are in the catalog."""
        ids = list(paper_ids)
        found: dict[str, tuple[str, int]] = {}
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ",".join("?" * len(part))
            for pid, digest, n in self._db.execute(
                f"SELECT paper_id, content_hash, n_chunks FROM papers WHERE paper_id IN ({marks})",
                part,
            ):
                found[pid] = (digest, n)
        return found

    def write_papers(
        self,
        entries: list[tuple[Paper, str, list[Chunk]]],
        replace_chunks: bool = True,
        orders: dict[str, int] | None = None,
    ) -> None:
        """Insert or replace papers with their hash and chunks, in one transaction.

        ``orders``: the ingest order of papers (a shared server's), instead of the next ones.
        """
        with self.transaction():
            self.state  # noqa: B018 - recorded before it changes (an index made before states)
            next_seq = int(
                self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM papers").fetchone()[0]
            )
            delta = 0
            for paper, digest, chunks in entries:
                existing = self._db.execute(
                    "SELECT seq, content_hash FROM papers WHERE paper_id=?", (paper.paper_id,)
                ).fetchone()
                if existing:
                    delta ^= paper_token(paper.paper_id, existing[1])
                delta ^= paper_token(paper.paper_id, digest)
                if orders is not None and paper.paper_id in orders:
                    seq = orders[paper.paper_id]
                elif existing:
                    seq = existing[0]
                else:
                    next_seq += 1
                    seq = next_seq
                self._db.execute(
                    f"INSERT OR REPLACE INTO papers({_PAPER_COLUMNS}, content_hash, n_chunks, seq) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        paper.paper_id,
                        paper.title,
                        paper.abstract,
                        paper.year,
                        json.dumps(paper.authors),
                        paper.venue,
                        paper.doi,
                        paper.arxiv_id,
                        paper.url,
                        paper.source,
                        json.dumps(paper.extra),
                        digest,
                        len(chunks),
                        seq,
                    ),
                )
                self._write_keys([paper])
                if replace_chunks:
                    self._db.execute("DELETE FROM chunks WHERE paper_id=?", (paper.paper_id,))
                    self._db.executemany(
                        "INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?)",
                        [
                            (
                                c.chunk_id,
                                c.paper_id,
                                c.ordinal,
                                c.first_sentence,
                                c.last_sentence,
                                c.text,
                            )
                            for c in chunks
                        ],
                    )
            self._change_state(delta)
            self._bump_version()

    def update_metadata(self, papers: list[Paper]) -> None:
        """Refresh metadata (not text) of papers whose embedded content did not change."""
        with self.transaction():
            self._db.executemany(
                "UPDATE papers SET year=?, authors=?, venue=?, doi=?, arxiv_id=?, url=?, "
                "source=COALESCE(source, ?), extra=? WHERE paper_id=?",
                [
                    (
                        p.year,
                        json.dumps(p.authors),
                        p.venue,
                        p.doi,
                        p.arxiv_id,
                        p.url,
                        p.source,
                        json.dumps(p.extra),
                        p.paper_id,
                    )
                    for p in papers
                ],
            )
            self._write_keys(papers)
            self._bump_version()

    def delete_papers(self, paper_ids: Iterable[str]) -> dict[str, int]:
        """Remove these papers, their chunks and identity keys in one transaction, their tokens
        XORed out of the state; returns each removed paper's chunk count (absent ids left out).
        """
        ids = list(dict.fromkeys(paper_ids))
        removed: dict[str, int] = {}
        with self.transaction():
            self.state  # noqa: B018 - recorded before it changes (an index made before states)
            delta = 0
            for paper_id in ids:
                row = self._db.execute(
                    "SELECT content_hash, n_chunks FROM papers WHERE paper_id=?", (paper_id,)
                ).fetchone()
                if row is None:
                    continue
                delta ^= paper_token(paper_id, row[0])
                removed[paper_id] = int(row[1])
                for table in ("papers", "chunks", "paper_keys"):
                    self._db.execute(f"DELETE FROM {table} WHERE paper_id=?", (paper_id,))
            self._change_state(delta)
            if removed:
                self._bump_version()
        return removed

    def count_without_abstract(self) -> int:
        """Papers kept with a title and no abstract (title-only papers)."""
        return int(
            self._db.execute("SELECT COUNT(*) FROM papers WHERE trim(abstract) = ''").fetchone()[0]
        )

    def clear(self) -> None:
        """Remove every paper and chunk (used by --rebuild)."""
        with self.transaction():
            self._db.execute("DELETE FROM papers")
            self._db.execute("DELETE FROM chunks")
            self._db.execute("DELETE FROM paper_keys")
            self._db.execute("DELETE FROM meta WHERE key = 'duplicates_merged'")
            self._db.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?, '0')", (STATE_META,)
            )
            self._bump_version()

    # --- duplicates: identity keys (DOI, arXiv id, title + first author) of the indexed papers
    def _write_keys(self, papers: Iterable[Paper]) -> None:
        from assistant.ingest.dedup import identity_keys

        self._db.executemany(  # a key stays with the first paper that had it
            "INSERT OR IGNORE INTO paper_keys(key, paper_id) VALUES (?, ?)",
            [(key, p.paper_id) for p in papers for key in identity_keys(p)],
        )

    def find_keys(self, keys: Iterable[str]) -> dict[str, str]:
        """The indexed paper each of these identity keys belongs to (keys of none left out)."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        if self.get_meta("paper_keys") is None:  # an index made before keys were kept
            with self.transaction():
                for start in range(0, self.count_papers() + 1, 2000):
                    rows = self._db.execute(
                        f"SELECT {_PAPER_COLUMNS} FROM papers ORDER BY seq LIMIT 2000 OFFSET ?",
                        (start,),
                    ).fetchall()
                    self._write_keys(_row_to_paper(row) for row in rows)
                self._db.execute(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES ('paper_keys', '1')"
                )
        found: dict[str, str] = {}
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            marks = ",".join("?" * len(part))
            found.update(
                self._db.execute(
                    f"SELECT key, paper_id FROM paper_keys WHERE key IN ({marks})", part
                ).fetchall()
            )
        return found

    def add_count(self, key: str, value: int) -> None:
        """Add ``value`` to the counter kept in meta under ``key`` (e.g. duplicates_merged)."""
        if value:
            with self.transaction():
                self._db.execute(
                    "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) "
                    "DO UPDATE SET value = CAST(value AS INTEGER) + excluded.value",
                    (key, str(value)),
                )

    def _bump_version(self) -> None:
        self._db.execute(
            "INSERT INTO meta(key, value) VALUES ('version', '1') ON CONFLICT(key) "
            "DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )

    def transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def get_paper(self, paper_id: str) -> Paper | None:
        row = self._db.execute(
            f"SELECT {_PAPER_COLUMNS} FROM papers WHERE paper_id=?", (paper_id,)
        ).fetchone()
        return _row_to_paper(row) if row else None

    def get_papers(self, paper_ids: Iterable[str]) -> dict[str, Paper]:
        ids = list(paper_ids)
        found: dict[str, Paper] = {}
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ",".join("?" * len(part))
            for row in self._db.execute(
                f"SELECT {_PAPER_COLUMNS} FROM papers WHERE paper_id IN ({marks})", part
            ):
                found[row[0]] = _row_to_paper(row)
        return found

    def iter_papers(
        self,
        year_from: int | None = None,
        year_to: int | None = None,
        source: str | None = None,
    ) -> Iterator[Paper]:
        """Papers in ingest order, optionally filtered by year range and source file."""
        where, args = _where(year_from, year_to, source)
        for row in self._db.execute(
            f"SELECT {_PAPER_COLUMNS} FROM papers {where} ORDER BY seq", args
        ):
            yield _row_to_paper(row)

    def paper_ids(
        self,
        year_from: int | None = None,
        year_to: int | None = None,
        source: str | None = None,
    ) -> set[str]:
        """Ids of the papers in a year range and source file, without reading their records
        (a tenth of the time of :meth:`iter_papers` at 59k papers)."""
        where, args = _where(year_from, year_to, source)
        return {row[0] for row in self._db.execute(f"SELECT paper_id FROM papers {where}", args)}

    def iter_lexical_rows(self) -> Iterator[tuple[str, str, str, int]]:
        """(paper_id, title, abstract, seq) of every paper, for the lexical index."""
        yield from self._db.execute(
            "SELECT paper_id, title, abstract, seq FROM papers ORDER BY seq"
        )

    def chunks_of(self, paper_ids: Iterable[str]) -> dict[str, list[Chunk]]:
        """The committed chunks of these papers, in order."""
        ids = list(paper_ids)
        found: dict[str, list[Chunk]] = {pid: [] for pid in ids}
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ",".join("?" * len(part))
            for pid, ordinal, first, last, text in self._db.execute(
                "SELECT paper_id, ordinal, first_sentence, last_sentence, text FROM chunks "
                f"WHERE paper_id IN ({marks}) ORDER BY paper_id, ordinal",
                part,
            ):
                found[pid].append(Chunk(pid, ordinal, first, last, text))
        return found

    def chunk_ids(self) -> list[tuple[str, str]]:
        """(chunk_id, paper_id) of every committed chunk, in paper ingest order."""
        return list(
            self._db.execute(
                "SELECT c.chunk_id, c.paper_id FROM chunks c JOIN papers p USING(paper_id) "
                "ORDER BY p.seq, c.ordinal"
            )
        )

    def sources(self) -> list[tuple[str, int]]:
        """Source files with their paper counts."""
        return [
            (row[0] or "", row[1])
            for row in self._db.execute(
                "SELECT source, COUNT(*) FROM papers GROUP BY source ORDER BY source"
            )
        ]

    def year_range(self) -> tuple[int | None, int | None]:
        row = self._db.execute("SELECT MIN(year), MAX(year) FROM papers").fetchone()
        return row[0], row[1]


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._depth = 0

    def __enter__(self) -> None:
        if not self._db.in_transaction:
            self._db.execute("BEGIN IMMEDIATE")
            self._depth = 1

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self._depth:
            self._db.execute("ROLLBACK" if exc_type else "COMMIT")


def _where(
    year_from: int | None, year_to: int | None, source: str | None
) -> tuple[str, list[str | int]]:
    """The WHERE clause (or "") and its arguments for a year range and a source file."""
    clauses: list[str] = []
    args: list[str | int] = []
    if year_from is not None:
        clauses.append("year >= ?")
        args.append(year_from)
    if year_to is not None:
        clauses.append("year <= ?")
        args.append(year_to)
    if source is not None:
        clauses.append("source = ?")
        args.append(source)
    return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), args
