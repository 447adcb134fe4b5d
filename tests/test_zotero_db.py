"""A Zotero library read from its database, kept in sync, with its items without abstracts.

The libraries are Zotero databases: the tables of Zotero's schema that the reader uses
(tests/data/zotero_schema.sql) filled the way Zotero stores items (tests/zotero_library.py); the
reader under test is the assistant's, with no mock. Indexes use the real model and Chroma.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import SEEDS, CliResult
from zotero_library import ZoteroLibrary, build_library

from assistant.api import ingest_zotero, open_index, search
from assistant.errors import UsageError
from assistant.index.zotero_sync import ZoteroSyncReport
from assistant.ingest.dedup import merge_duplicates
from assistant.ingest.readers import FieldLimits, read_paths
from assistant.ingest.zotero_db import Selection, ZoteroDatabase, database_copy
from assistant.records import Paper
from assistant.retrieval.retriever import RetrievalOptions
from assistant.settings import Settings


def seed_papers(n: int) -> list[Paper]:
    papers, _ = merge_duplicates(read_paths([SEEDS]).papers)
    return papers[:n]


def small_library(folder: Path) -> dict[str, Any]:
    """One item of each kind Zotero holds, and the keys of the interesting ones."""
    lib = ZoteroLibrary(folder)
    thesis = lib.add_collection("Thesis")
    chapter = lib.add_collection("Chapter 2", parent=thesis)
    drafts = lib.add_collection("Drafts", parent=chapter)
    group = lib.add_group(4711, "Reading Group")
    feed = lib.add_feed("arXiv cs.CL", "https://example.org/rss")
    keys = {
        "article": lib.add_item(
            "Attention Is All You Need",
            "The dominant sequence transduction models are based on recurrent networks. "
            "We propose the Transformer, based solely on attention mechanisms.",
            creators=[("Ashish", "Vaswani"), ("Noam", "Shazeer")],
            date="2017-06-12 June 12, 2017",
            venue="Advances in Neural Information Processing Systems",
            fields={"DOI": "10.48550/arXiv.1706.03762", "url": "https://arxiv.org/abs/1706.03762"},
            tags=["transformers", "attention"],
            collections=[drafts],
        ),
        "book": lib.add_item(
            "Speech and Language Processing",
            None,
            item_type="book",
            creators=[("Daniel", "Jurafsky"), ("James H.", "Martin")],
            date="2009",
            venue="Prentice Hall",
            tags=["textbook"],
            collections=[thesis],
        ),
        "extra_key": lib.add_item(
            "Quokka Gradient Folding for Recurrent Networks",
            "We fold gradients of recurrent networks like a quokka folds its tail. "
            "Memory halves on long sequences.",
            item_type="conferencePaper",
            creators=[("", "The Quokka Consortium")],
            venue="Proceedings of the Marsupial Learning Workshop",
            fields={"extra": "tex.note: x\nCitation Key: quokka2021folding"},
        ),
        "untitled": lib.add_item(None, "An abstract with no title at all. It is rejected."),
        "trashed": lib.add_item("A Trashed Paper", "Its abstract. Another sentence here."),
        "group": lib.add_item(
            "Narwhal Tusks Sense Salinity",
            "Narwhal tusks are sensory organs. We measure their response to salt water.",
            library=group,
        ),
        "feed": lib.add_item("A Feed Item", "Not the user's. Only a feed's.", library=feed),
    }
    lib.add_note(keys["article"], "<p>My notes</p>")
    lib.add_attachment(keys["article"], "Full Text PDF")
    lib.trash_item(keys["trashed"])
    lib.set_citation_key(keys["article"], "vaswani2017attention")
    lib.close()
    return {"keys": keys, "group_library": group, "collections": (thesis, chapter, drafts)}


def read_all(folder: Path, selection: Selection | None = None, limits: Any = None) -> Any:
    with database_copy(folder / "zotero.sqlite") as (copy, bbt):
        db = ZoteroDatabase(copy, bbt)
        try:
            stamps = db.stamps(selection or Selection())
            papers, rejects, _cut = db.read_papers([s[0] for s in stamps.values()], limits)
        finally:
            db.close()
    return stamps, {p.paper_id: p for p in papers}, [r.describe() for r in rejects]


def test_items_are_read_as_zotero_stores_them(tmp_path: Path) -> None:
    made = small_library(tmp_path / "Zotero")
    keys = made["keys"]
    stamps, papers, rejects = read_all(tmp_path / "Zotero")

    article = papers[f"zotero:{keys['article']}"]
    assert article.title == "Attention Is All You Need"
    assert article.abstract.startswith("The dominant sequence transduction models")
    assert article.authors == ["Ashish Vaswani", "Noam Shazeer"]
    assert (article.year, article.arxiv_id) == (2017, "1706.03762")
    assert article.doi == "10.48550/arXiv.1706.03762"
    assert article.venue == "Advances in Neural Information Processing Systems"
    assert article.citation_key == "vaswani2017attention"  # Better BibTeX's
    assert article.extra["zotero_link"] == f"zotero://select/library/items/{keys['article']}"
    assert article.extra["tags"] == "attention; transformers"
    assert article.extra["zotero_collections"] == "Thesis/Chapter 2/Drafts"
    assert article.extra["item_type"] == "journalArticle" and article.source == "zotero.sqlite"

    book = papers[f"zotero:{keys['book']}"]
    assert book.abstract == "" and not book.has_abstract  # kept, title only
    assert book.authors == ["Daniel Jurafsky", "James H. Martin"] and book.venue == "Prentice Hall"
    quokka = papers[f"zotero:{keys['extra_key']}"]
    assert quokka.citation_key == "quokka2021folding"  # a "Citation Key:" line in Extra
    assert quokka.authors == ["The Quokka Consortium"]  # a one-field name
    narwhal = papers[f"zotero:g4711:{keys['group']}"]
    assert narwhal.extra["zotero_link"] == f"zotero://select/groups/4711/items/{keys['group']}"
    assert narwhal.extra["zotero_library"] == "Reading Group"
    # Notes, attachments, the trash and feeds are not papers; an untitled item is a reject.
    assert len(stamps) == 5 and len(papers) == 4
    assert rejects == [f"zotero.sqlite:item {keys['untitled']}: record has no title"]
    # With the setting that drops them, an item without an abstract is rejected as before.
    _s, kept, dropped = read_all(
        tmp_path / "Zotero", limits=FieldLimits(keep_without_abstract=False)
    )
    assert f"zotero:{keys['book']}" not in kept
    assert f"zotero.sqlite:item {keys['book']}: record has no abstract" in dropped


def test_collections_tags_and_libraries_select_part_of_it(tmp_path: Path) -> None:
    keys = small_library(tmp_path / "Zotero")["keys"]

    def selected(**kwargs: list[str]) -> set[str]:
        stamps, _papers, _rejects = read_all(tmp_path / "Zotero", Selection(**kwargs))
        return {uid.rsplit("/", 1)[1] for uid in stamps}

    # A collection holds its sub-collections' items; by name or path, any case.
    assert selected(collections=["Thesis"]) == {keys["article"], keys["book"]}
    assert selected(collections=["thesis/chapter 2"]) == {keys["article"]}
    assert selected(tags=["TEXTBOOK"]) == {keys["book"]}
    assert selected(collections=["Thesis"], tags=["attention"]) == {keys["article"]}
    assert selected(libraries=["Reading Group"]) == {keys["group"]}
    with pytest.raises(UsageError) as unknown:
        selected(collections=["Chapter 9"])
    assert "Thesis/Chapter 2/Drafts" in (unknown.value.hint or "")
    with pytest.raises(UsageError, match="tag 'nope'"):
        selected(tags=["nope"])


def test_the_database_is_read_while_zotero_holds_it_locked_and_never_written(
    tmp_path: Path,
) -> None:
    small_library(tmp_path / "Zotero")
    database = tmp_path / "Zotero" / "zotero.sqlite"
    zotero = sqlite3.connect(database, isolation_level=None)  # Zotero, running
    zotero.execute("PRAGMA locking_mode = EXCLUSIVE")
    zotero.execute("BEGIN EXCLUSIVE")
    zotero.execute("UPDATE settings SET value = value")  # holds the write lock
    with pytest.raises(sqlite3.OperationalError):  # others cannot even read it
        sqlite3.connect(database, timeout=0.1).execute("SELECT COUNT(*) FROM items").fetchone()
    before = database.read_bytes()
    index = open_index(Settings(index_dir=tmp_path / "idx"))
    try:
        report = ingest_zotero(index, tmp_path / "Zotero")
    finally:
        index.close()
        zotero.execute("COMMIT")
        zotero.close()
    assert (report.items, report.added, report.rejected) == (5, 4, 1)
    assert database.read_bytes() == before
    assert sorted(p.name for p in database.parent.iterdir()) == [
        "better-bibtex.sqlite",
        "zotero.sqlite",
    ]


def index_state(index_dir: Path) -> dict[str, Any]:
    """Every part of the index, read afresh from disk."""
    index = open_index(Settings(index_dir=index_dir))
    try:
        ids = set(index.catalog.paper_ids())
        chunk_ids = [cid for cid, _pid in index.catalog.chunk_ids()]
        stored = index.store._collection.get(include=[])["ids"]
        return {
            "ids": ids,
            "papers": index.catalog.get_papers(ids),
            "chunks": set(chunk_ids),
            "chroma": set(stored),
            "bm25": set(index.lexical.doc_pos),
            "dense": set(index.dense.tokens),
            "states": (index.catalog.state, index.lexical.state, index.dense.state),
        }
    finally:
        index.close()


def test_a_sync_reads_only_what_changed_and_removes_deleted_items(tmp_path: Path) -> None:
    papers = seed_papers(42)
    library, keys = build_library(tmp_path / "Zotero", papers)
    library.close()
    index_dir = tmp_path / "idx"
    index = open_index(Settings(index_dir=index_dir))
    first = ingest_zotero(index, tmp_path / "Zotero")
    assert (first.items, first.read, first.added, first.deleted) == (42, 42, 42, 0)
    assert first.without_abstract == 6  # every 7th item is a book without an abstract
    again = ingest_zotero(index, tmp_path / "Zotero")
    assert (again.read, again.added, again.chunks_embedded) == (0, 0, 0)

    library = ZoteroLibrary(tmp_path / "Zotero", seed=1)
    items = list(keys)
    edited = items[:10]
    for n, key in enumerate(edited):
        library.edit_item(key, abstractNote=f"Quokka-{n} tensors fold sparse gradients. Twice.")
    gone = items[20:23]
    library.delete_item(gone[0])  # emptied from the trash
    library.trash_item(gone[1])  # in the trash
    library.delete_item(gone[2])
    library.close()
    index.close()
    index = open_index(Settings(index_dir=index_dir))
    chunks_before = index.catalog.count_chunks()
    sync = ingest_zotero(index, tmp_path / "Zotero")
    index.close()

    assert (sync.items, sync.read, sync.deleted) == (39, 10, 3)
    assert (sync.updated, sync.added, sync.unchanged) == (10, 0, 0)
    assert sync.chunks_embedded == 10  # each edited abstract is one chunk: only those embedded
    state = index_state(index_dir)
    expected = {f"zotero:{k}" for k in items if k not in gone}
    assert state["ids"] == expected == state["bm25"] == state["dense"]
    assert state["chunks"] == state["chroma"]  # Chroma holds exactly the catalog's chunks
    assert len(state["chunks"]) < chunks_before
    assert not any(cid.split("#")[0] in {f"zotero:{k}" for k in gone} for cid in state["chroma"])
    assert len(set(state["states"])) == 1  # BM25 and the vectors at the catalog's state
    assert state["papers"][f"zotero:{edited[3]}"].abstract.startswith("Quokka-3 tensors")

    index = open_index(Settings(index_dir=index_dir))
    try:
        found = search(index, "Quokka-7 tensors fold sparse gradients", RetrievalOptions(k=3))
        assert found.results[0].paper_id == f"zotero:{edited[7]}"
        for key in gone:
            title = papers[items.index(key)].title
            hits = search(index, title, RetrievalOptions(k=5)).results
            assert all(hit.paper_id != f"zotero:{key}" for hit in hits)
        quiet = ingest_zotero(index, tmp_path / "Zotero")
        assert (quiet.read, quiet.deleted, quiet.chunks_embedded) == (0, 0, 0)
    finally:
        index.close()


# --- the command line: title-only papers, filters, usage errors, --watch ---------------------

RunCli = Callable[..., CliResult]


def test_items_without_abstract_are_searchable_marked_and_counted(
    run_cli: RunCli, tmp_path: Path
) -> None:
    keys = small_library(tmp_path / "Zotero")["keys"]
    book = f"zotero:{keys['book']}"
    index = ["--index", str(tmp_path / "idx")]
    synced = run_cli(["ingest", "--zotero", str(tmp_path / "Zotero"), *index])
    assert synced.exit_code == 0, synced.stderr
    assert "read 5 (1 without abstract, indexed by title): added 4" in " ".join(
        synced.stdout.split()
    )
    assert f"rejected zotero.sqlite:item {keys['untitled']}: record has no title" in (
        " ".join(synced.stderr.split())
    )

    found = json.loads(run_cli(["search", "speech language processing", "--json", *index]).stdout)
    top = found["results"][0]
    assert (top["paper_id"], top.get("title_only")) == (book, True)
    assert "title_only" not in found["results"][1]
    table = run_cli(["search", "speech language processing", *index])
    assert "(no abstract: found by its title, venue and tags)" in " ".join(table.stdout.split())

    stats = json.loads(run_cli(["stats", "--json", *index]).stdout)
    assert (stats["papers"], stats["without_abstract"]) == (4, 1)
    assert "no abstract:   1 (indexed by title)" in run_cli(["stats", *index]).stdout

    answer = json.loads(run_cli(["ask", "What is speech and language processing?", "--json",
                                 *index]).stdout)  # fmt: skip
    cited = {c["paper_id"]: c for c in answer["citations"]}
    assert book in cited
    lines = answer["answer"].splitlines()
    assert any(
        line.startswith("Title only, no abstract indexed: “Speech and Language") for line in lines
    )
    # Nothing is quoted from an abstract the book does not have: every quote is an abstract's.
    assert all(s["paper_id"] != book for s in answer["support"])
    text = run_cli(["ask", "What is speech and language processing?", *index]).stdout
    assert f"(no abstract) zotero://select/library/items/{keys['book']}" in text

    shown = run_cli(["papers", "show", book, *index]).stdout
    assert "(no abstract: indexed by its title, venue and tags)" in shown
    assert f"in Zotero: zotero://select/library/items/{keys['book']}" in shown
    exported = run_cli(["papers", "--tag", "textbook", "--bib", "t.bib", "--ris", "t.ris", *index])
    assert exported.exit_code == 0, exported.stderr
    assert "abstract" not in (tmp_path / "t.bib").read_text().lower()
    assert "AB  -" not in (tmp_path / "t.ris").read_text()

    dropped = run_cli(
        ["ingest", "--zotero", str(tmp_path / "Zotero"), "--index", str(tmp_path / "idx2")],
        env={"ASSISTANT_KEEP_PAPERS_WITHOUT_ABSTRACT": "false"},
    )
    assert f"rejected zotero.sqlite:item {keys['book']}: record has no abstract" in " ".join(
        dropped.stderr.split()
    )


def test_collection_and_tag_filters_at_query_time(run_cli: RunCli, tmp_path: Path) -> None:
    library, keys = build_library(tmp_path / "Zotero", seed_papers(20))
    library.close()
    index = ["--index", str(tmp_path / "idx")]
    assert run_cli(["ingest", "--zotero", str(tmp_path / "Zotero"), *index]).exit_code == 0
    catalog = open_index(Settings(index_dir=tmp_path / "idx"))
    papers = list(catalog.catalog.iter_papers())
    catalog.close()

    def found(*flags: str) -> set[str]:
        done = run_cli(["search", "language models", "--k", "50", "--json", *flags, *index])
        assert done.exit_code == 0, done.stderr
        return {hit["paper_id"] for hit in json.loads(done.stdout)["results"]}

    def collections(p: Paper) -> list[str]:
        return p.extra.get("zotero_collections", "").split("; ")

    thesis = {p.paper_id for p in papers if any(c.startswith("Thesis") for c in collections(p))}
    chapter2 = {p.paper_id for p in papers if "Thesis/Chapter 2" in collections(p)}
    to_read = {p.paper_id for p in papers if "to-read" in p.extra.get("tags", "").split("; ")}
    assert found("--collection", "Thesis") == thesis and chapter2 < thesis
    assert found("--collection", "chapter 2") == chapter2
    assert found("--tag", "to-read") == to_read
    assert found("--collection", "Thesis", "--tag", "to-read") == thesis & to_read
    listed = json.loads(run_cli(["papers", "--collection", "Reading", "--json", *index]).stdout)
    assert {p["paper_id"] for p in listed["papers"]} == {
        p.paper_id for p in papers if "Reading" in collections(p)
    }
    none = run_cli(["search", "language models", "--tag", "no-such-tag", *index])
    assert "no indexed paper has the tag 'no-such-tag'" in " ".join(none.stdout.split())


def test_zotero_usage_errors(run_cli: RunCli, tmp_path: Path) -> None:
    small_library(tmp_path / "Zotero")
    cases = [
        (["ingest", "--collection", "Thesis", "x.bib"], "--collection only goes with --zotero"),
        (["ingest", "--zotero", "--bundled"], "Give --zotero or --bundled, not both."),
        (["ingest", "--zotero", str(tmp_path / "nowhere")], "No Zotero database at"),
        (["ingest", "--zotero", str(tmp_path / "Zotero"), "--collection", "Chapter 9"],
         "No collection named 'Chapter 9'"),
        (["ingest", "--zotero", str(tmp_path / "Zotero"), "--watch", "--rebuild"],
         "--rebuild and --watch do not go together"),
    ]  # fmt: skip
    for args, message in cases:
        done = run_cli([*args, "--index", str(tmp_path / "idx")])
        assert done.exit_code == 2, (args, done.stderr)
        assert message in " ".join(done.stderr.split()), done.stderr
        assert "Traceback" not in done.stderr


def test_watch_syncs_each_change_and_only_then(tmp_path: Path) -> None:
    keys = small_library(tmp_path / "Zotero")["keys"]
    reports: list[ZoteroSyncReport] = []
    looks = []

    def between_looks(seconds: float) -> None:  # Zotero edits an item after the first look
        looks.append(seconds)
        if len(looks) == 1:
            library = ZoteroLibrary(tmp_path / "Zotero", seed=5)
            library.edit_item(keys["book"], abstractNote="Now it has an abstract. A second line.")
            library.close()

    index = open_index(Settings(index_dir=tmp_path / "idx", zotero_poll_seconds=2.5))
    try:
        from assistant.index.zotero_sync import watch_zotero as watch

        syncs = watch(index, reports.append, tmp_path / "Zotero", polls=4, sleep=between_looks)
    finally:
        index.close()
    assert syncs == 2 and looks == [2.5, 2.5, 2.5]  # four looks, a sync on two of them
    assert (reports[0].added, reports[1].read, reports[1].updated) == (4, 1, 1)
    assert reports[1].without_abstract == 0


def wait_for(path: Path, text: str, process: subprocess.Popen[str], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while text not in path.read_text():
        assert process.poll() is None, path.read_text()
        assert time.monotonic() < deadline, path.read_text()
        time.sleep(0.2)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_watch_keeps_in_step_until_stopped_by_a_signal(
    tmp_path: Path, signum: int, code: int
) -> None:
    keys = small_library(tmp_path / "Zotero")["keys"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSISTANT_", "OPENAI_"))}
    env["ASSISTANT_MODEL_CACHE_DIR"] = os.environ["ASSISTANT_MODEL_CACHE_DIR"]
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "assistant", "ingest", "--zotero", str(tmp_path / "Zotero"),
             "--watch", "--interval", "1", "--index", str(tmp_path / "idx")],
            stdout=stdout, stderr=stderr, env=env, cwd=tmp_path, text=True,
        )  # fmt: skip
        try:
            wait_for(out, "added 4", process, 120)
            library = ZoteroLibrary(tmp_path / "Zotero", seed=9)
            library.delete_item(keys["article"])
            library.close()
            wait_for(out, "deleted 1", process, 60)
            process.send_signal(signum)
            assert process.wait(timeout=60) == code
        finally:
            if process.poll() is None:
                process.kill()
    assert "Watching" in err.read_text() and "Traceback" not in err.read_text()
    assert "The index holds 3 papers" in " ".join(err.read_text().split())
    index = open_index(Settings(index_dir=tmp_path / "idx"))
    try:
        assert f"zotero:{keys['article']}" not in index.catalog.paper_ids()
    finally:
        index.close()


# --- Better BibTeX before version 6, and the MCP face -------------------------------------------


def test_better_bibtex_keys_of_its_older_layout(tmp_path: Path) -> None:
    keys = small_library(tmp_path / "Zotero")["keys"]
    bbt = tmp_path / "Zotero" / "better-bibtex.sqlite"
    bbt.unlink()
    with sqlite3.connect(bbt) as old:  # LokiJS collections as JSON rows (Better BibTeX 5)
        old.execute('CREATE TABLE "better-bibtex" (name TEXT PRIMARY KEY NOT NULL, data TEXT)')
        entry = {"itemID": 1, "itemKey": keys["article"], "libraryID": 1, "citekey": "vaswaniOld"}
        old.execute(
            'INSERT INTO "better-bibtex" VALUES (?, ?)',
            ("better-bibtex.citekey", json.dumps({"name": "citekey", "data": [entry]})),
        )
    _stamps, papers, _rejects = read_all(tmp_path / "Zotero")
    assert papers[f"zotero:{keys['article']}"].citation_key == "vaswaniOld"


def test_mcp_results_carry_zotero_links_and_title_only_marks(tmp_path: Path) -> None:
    pytest.importorskip("mcp")
    from test_mcp import payload, run_session

    keys = small_library(tmp_path / "Zotero")["keys"]
    index = open_index(Settings(index_dir=tmp_path / "idx"))
    ingest_zotero(index, tmp_path / "Zotero")
    index.close()
    seen: dict[str, Any] = {}

    async def body(session: Any) -> None:
        seen["search"] = payload(
            await session.call_tool(
                "search_papers", {"query": "speech language processing", "tag": "textbook"}
            )
        )
        seen["paper"] = payload(
            await session.call_tool("get_paper", {"paper_id": f"zotero:{keys['article']}"})
        )
        seen["ask"] = payload(
            await session.call_tool("ask", {"question": "What is speech and language processing?"})
        )

    run_session(tmp_path / "idx", tmp_path, body)
    (hit,) = seen["search"]["papers"]  # the tag filter leaves the book alone
    assert hit["title_only"] is True
    assert hit["zotero_link"] == f"zotero://select/library/items/{keys['book']}"
    paper = seen["paper"]
    assert paper["zotero_link"] == f"zotero://select/library/items/{keys['article']}"
    assert paper["collections"] == "Thesis/Chapter 2/Drafts" and "title_only" not in paper
    cited = {c["paper_id"]: c for c in seen["ask"]["citations"]}
    assert cited[f"zotero:{keys['book']}"]["title_only"] is True


def test_an_item_merged_into_a_paper_from_a_file_leaves_it_when_deleted(tmp_path: Path) -> None:
    from assistant.api import ingest_paths

    doi = "10.1234/narwhal.2020"
    (tmp_path / "mine.jsonl").write_text(
        json.dumps(
            {"id": "narwhal-file", "title": "Narwhal Tusks Sense Salinity", "doi": doi,
             "abstract": "Narwhal tusks are sensory organs. We measure their response to salt."}
        ) + "\n", encoding="utf-8",
    )  # fmt: skip
    library = ZoteroLibrary(tmp_path / "Zotero")
    key = library.add_item(
        "Narwhal tusks sense salinity", "Narwhal tusks are sensory organs.", fields={"DOI": doi}
    )
    other = library.add_item(
        "Wombat Burrows Stay Cool", "Wombats dig deep burrows. They stay cool."
    )
    library.close()
    index = open_index(Settings(index_dir=tmp_path / "idx"))
    try:
        ingest_paths(index, [tmp_path / "mine.jsonl"])
        first = ingest_zotero(index, tmp_path / "Zotero")
        assert (first.added, first.duplicates_merged) == (1, 1)
        assert index.catalog.paper_ids() == {"narwhal-file", f"zotero:{other}"}
        library = ZoteroLibrary(tmp_path / "Zotero", seed=3)
        library.delete_item(key)
        library.delete_item(other)
        library.close()
        sync = ingest_zotero(index, tmp_path / "Zotero")
        assert (sync.items, sync.deleted) == (0, 1)  # the item's own paper only
        assert index.catalog.paper_ids() == {"narwhal-file"}
    finally:
        index.close()
