"""The same paper from two sources: identity keys, merging, the sources a merged paper keeps.

A paper's id comes from its best identifier (:func:`~assistant.ingest.text.make_paper_id`), so
a record with its own id and the same paper from a .bib file (id ``doi:...``) get different
ids. Duplicates are therefore also found by identity keys: the DOI (case-insensitive, without
``https://doi.org/``), the arXiv id without its version (``2309.12307v2`` is ``2309.12307``),
and the normalised title with the first author's surname. The paper seen first keeps its id
(ids stored in indexes never change); the later one is merged into it and its file is added
to ``extra["sources"]``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from assistant.ingest.text import normalize_arxiv_id, normalize_doi, normalize_title
from assistant.records import Paper

SOURCES_SEP = "; "


def surname(author: str) -> str:
    """The family name, lower-cased ASCII: ``"Smith, John"`` and ``"John Smith"`` -> smith."""
    name = author.split(",", 1)[0] if "," in author else (author.split() or [""])[-1]
    name = unicodedata.normalize("NFKD", name.lower())
    return "".join(c for c in name if c.isalnum() and not unicodedata.combining(c))


def identity_keys(paper: Paper) -> list[str]:
    """The keys under which two records are the same paper."""
    keys = []
    if paper.doi and normalize_doi(paper.doi):
        keys.append("doi:" + normalize_doi(paper.doi))
    if paper.arxiv_id and normalize_arxiv_id(paper.arxiv_id):
        keys.append("arxiv:" + normalize_arxiv_id(paper.arxiv_id).lower())
    title = normalize_title(paper.title)
    first = surname(paper.authors[0]) if paper.authors else ""
    if title and first:
        keys.append(f"title:{title}|{first}")
    return keys


def sources_of(paper: Paper) -> list[str]:
    """The files a paper was read from: its ``source`` and those merged into it."""
    listed = paper.extra.get("sources", "")
    names = [s for s in listed.split(SOURCES_SEP) if s] if listed else []
    if paper.source and paper.source not in names:
        names.insert(0, paper.source)
    return names


def with_sources(merged: Paper, first: Paper, later: Paper) -> Paper:
    """``merged`` with ``extra["sources"]`` listing both papers' files (when they differ)."""
    names = list(dict.fromkeys([*sources_of(first), *sources_of(later)]))
    if len(names) < 2 or merged.extra.get("sources") == SOURCES_SEP.join(names):
        return merged
    return merged.model_copy(update={"extra": {**merged.extra, "sources": SOURCES_SEP.join(names)}})


def canonical_ids(papers: Iterable[Paper]) -> dict[int, str]:
    """For each paper (by position), the id of the first paper it duplicates, if another's."""
    owner: dict[str, str] = {}
    out: dict[int, str] = {}
    for position, paper in enumerate(papers):
        found = owner.get("id:" + paper.paper_id)
        keys = identity_keys(paper)
        if found is None:
            found = next((owner[k] for k in keys if k in owner), None)
        target = found or paper.paper_id
        if target != paper.paper_id:
            out[position] = target
        for key in ("id:" + paper.paper_id, *keys):
            owner.setdefault(key, target)
    return out


def merge_duplicates(papers: list[Paper]) -> tuple[list[Paper], int]:
    """Merge papers that are the same paper into the first one; return (unique, number merged).

    The same paper: the same paper_id, or the same DOI, arXiv id (any version) or normalised
    title and first author (:mod:`assistant.ingest.dedup`). The first occurrence keeps its
    place, id and values; metadata it lacks is filled from the later ones, the longest abstract
    is kept and the files they came from are listed in ``extra["sources"]``. Inputs are not
    modified.
    """
    targets = canonical_ids(papers)
    merged: dict[str, Paper] = {}
    count = 0
    for position, paper in enumerate(papers):
        key = targets.get(position, paper.paper_id)
        first = merged.get(key)
        if first is None:
            merged[key] = paper
            continue
        count += 1
        if first is paper:
            continue
        merged[key] = with_sources(merge_two(first, paper), first, paper)
    return list(merged.values()), count


def merge_two(first: Paper, later: Paper) -> Paper:
    """``first`` completed by ``later``: missing metadata filled, the longer abstract kept."""
    updates: dict[str, object] = {}
    if len(later.abstract) > len(first.abstract):
        updates["abstract"] = later.abstract
    for name in ("year", "venue", "doi", "arxiv_id", "url", "source"):
        if getattr(first, name) is None and getattr(later, name) is not None:
            updates[name] = getattr(later, name)
    if not first.authors and later.authors:
        updates["authors"] = list(later.authors)
    missing_extra = {k: v for k, v in later.extra.items() if k not in first.extra}
    if missing_extra:
        updates["extra"] = {**first.extra, **missing_extra}
    return first.model_copy(update=updates) if updates else first
