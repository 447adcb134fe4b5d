"""A 5,000-item Zotero library synced: the first ingest, then a sync after 10 edits and 3
deletions, then a sync with nothing changed.

    python bench/zotero_sync.py                 # 5,000 items, writes under a temp folder
    python bench/zotero_sync.py --items 1000 --keep /tmp/zotero-bench

The library is made by a procedure, the same on every run: a Zotero database (the tables of
Zotero's schema that the reader uses, tests/data/zotero_schema.sql, filled by
tests/zotero_library.py as Zotero stores items: collections, tags, Better BibTeX keys, notes and
attachments, every 7th item a book without an abstract) holding the 425 bundled papers and
SciFact-like synthetic items: each a title made of a bundled title's words and an abstract of
4-7 sentences drawn from the bundled abstracts (seeded). Then 10 items get a new abstract and 3
are deleted (one emptied from the trash, one in the trash, one purged) in the database, and the
index is synced. Checked after the sync: the index holds exactly the library's items (catalog,
Chroma, BM25 and the vectors), each edited text is found by its own words, no deleted item is
found, and only the 10 edited items were embedded. Prints one JSON object (timings in seconds).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from zotero_library import ZoteroLibrary, build_library  # noqa: E402

from assistant.api import ingest_zotero, open_index, search  # noqa: E402
from assistant.ingest.chunking import split_sentences  # noqa: E402
from assistant.ingest.dedup import merge_duplicates  # noqa: E402
from assistant.ingest.readers import read_paths  # noqa: E402
from assistant.records import Paper  # noqa: E402
from assistant.retrieval.retriever import RetrievalOptions  # noqa: E402
from assistant.settings import Settings  # noqa: E402

#: A word of each edited abstract that no other item has.
ANIMALS = ("wombat", "quokka", "numbat", "bilby", "dingo", "platypus", "echidna", "wallaby",
           "cassowary", "kookaburra")  # fmt: skip


def library_papers(n: int, seed: int = 0) -> list[Paper]:
    """The bundled papers, then synthetic ones up to ``n``."""
    bundled, _ = merge_duplicates(read_paths([REPO / "assistant" / "data" / "seeds"]).papers)
    rng = random.Random(seed)
    sentences = [s for p in bundled for s in split_sentences(p.abstract) if len(s.split()) > 5]
    words = [w for p in bundled for w in p.title.split() if len(w) > 3]
    papers = list(bundled[:n])
    for i in range(len(papers), n):
        title = " ".join(rng.sample(words, rng.randint(4, 9))).strip(":,.")
        abstract = " ".join(rng.sample(sentences, rng.randint(4, 7)))
        papers.append(
            Paper(
                paper_id=f"s{i}",
                title=f"{title} ({i})",
                abstract=abstract,
                year=rng.randint(2015, 2025),
                authors=[f"Author{rng.randint(1, 900)} Name{rng.randint(1, 900)}"],
            )
        )
    return papers


def index_parts(index_dir: Path) -> dict[str, set[str]]:
    index = open_index(Settings(index_dir=index_dir))
    try:
        return {
            "catalog": set(index.catalog.paper_ids()),
            "chroma_chunks": set(index.store._collection.get(include=[])["ids"]),
            "catalog_chunks": {cid for cid, _pid in index.catalog.chunk_ids()},
            "bm25": set(index.lexical.doc_pos),
            "vectors": set(index.dense.tokens),
        }
    finally:
        index.close()


def run(items: int, folder: Path) -> dict[str, Any]:
    started = time.perf_counter()
    papers = library_papers(items)
    library, keys = build_library(folder / "Zotero", papers)
    library.close()
    made = time.perf_counter() - started
    index_dir = folder / "index"
    index = open_index(Settings(index_dir=index_dir))
    first = ingest_zotero(index, folder / "Zotero")
    index.close()

    library = ZoteroLibrary(folder / "Zotero", seed=1)
    rng = random.Random(1)
    order = list(keys)
    edited = rng.sample(order, 10)
    gone = rng.sample([k for k in order if k not in edited], 3)
    for animal, key in zip(ANIMALS, edited, strict=True):
        library.edit_item(
            key,
            abstractNote=f"{animal.title()} adapters halve the memory of fine-tuning. "
            "They keep accuracy on every benchmark tried.",
        )
    library.delete_item(gone[0])
    library.trash_item(gone[1])
    library.delete_item(gone[2])
    library.close()

    index = open_index(Settings(index_dir=index_dir))
    sync = ingest_zotero(index, folder / "Zotero")
    found = [
        search(index, f"{animal} adapters", RetrievalOptions(k=1)).results[0].paper_id
        == f"zotero:{key}"
        for animal, key in zip(ANIMALS, edited, strict=True)
    ]
    titles = {f"zotero:{k}": papers[order.index(k)].title for k in gone}
    deleted_found = [
        hit.paper_id
        for title in titles.values()
        for hit in search(index, title, RetrievalOptions(k=10)).results
        if hit.paper_id in titles
    ]
    quiet = ingest_zotero(index, folder / "Zotero")
    index.close()

    parts = index_parts(index_dir)
    expected = {f"zotero:{k}" for k in order if k not in gone}
    return {
        "items": items,
        "library_seconds": round(made, 1),
        "first_ingest": first.model_dump(include=_SHOWN),
        "sync_after_10_edits_3_deletions": sync.model_dump(include=_SHOWN),
        "sync_with_nothing_changed": quiet.model_dump(include=_SHOWN),
        "index_matches_library": all(parts[p] == expected for p in ("catalog", "bm25", "vectors"))
        and parts["chroma_chunks"] == parts["catalog_chunks"],
        "edited_found_by_their_new_text": sum(found),
        "deleted_found": len(deleted_found),
    }


_SHOWN = {
    "items",
    "read",
    "added",
    "updated",
    "unchanged",
    "deleted",
    "chunks_embedded",
    "without_abstract",
    "rejected",
    "index_papers",
    "seconds",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--keep", type=Path, help="Build in this folder and keep it.")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        result = run(args.items, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="zotero-bench-") as folder:
            result = run(args.items, Path(folder))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
