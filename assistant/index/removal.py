"""Papers taken out of a local index: the catalog, Chroma, the BM25 index and the dense mirror.

The catalog goes first (its state loses the papers' tokens), then Chroma's vectors, then the
derived indexes. A stop in between leaves vectors without a catalog row, which search ignores
(as it ignores those of a crashed ingest), and derived files behind the catalog, which the next
open catches up; nothing of a deleted paper is ever found again.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from assistant.errors import UsageError

if TYPE_CHECKING:
    from assistant.index.paper_index import PaperIndex


def delete_papers(index: PaperIndex, paper_ids: Iterable[str]) -> list[str]:
    """Remove these papers from every part of ``index``; returns the ids that were there.

    Call it inside ``index.ingesting()`` (the ingest lock held); the caches are saved when that
    block ends. A shared index (a Chroma server) keeps its papers: members do not delete them.
    """
    if index.shared is not None:
        raise UsageError(
            "Papers cannot be deleted from a shared index (a Chroma server) by a member.",
            hint="Sync a Zotero library into a local index (no --chroma-url), then publish it.",
        )
    wanted = list(dict.fromkeys(paper_ids))
    if not wanted:
        return []
    _ = (index.dense, index.lexical)  # loaded at the committed state, before it changes
    removed = index.catalog.delete_papers(wanted)
    chunk_ids = [f"{pid}#{n}" for pid, count in removed.items() for n in range(count)]
    if chunk_ids:
        index.store.delete(chunk_ids)
    index.dense.remove_papers(set(removed))
    for paper_id in removed:
        index.lexical.remove(paper_id)
    return list(removed)
