"""Ingest windows deduplicated against each other and against the papers already indexed."""

from __future__ import annotations

from assistant.index.catalog import Catalog
from assistant.ingest.dedup import identity_keys, merge_duplicates, merge_two, with_sources
from assistant.records import Paper


def merge_known(papers: list[Paper], catalog: Catalog) -> tuple[list[Paper], set[str], int]:
    """Papers new to the index merged into the indexed paper they duplicate (by identity key).

    Returns the papers (a merged one carries the indexed paper's id), the ids merged into and
    how many papers were merged.
    """
    known = catalog.hashes(p.paper_id for p in papers)
    new = [p for p in papers if p.paper_id not in known]
    if not new:
        return papers, set(), 0
    owners = catalog.find_keys(k for p in new for k in identity_keys(p))
    target_of: dict[str, str] = {}
    for paper in new:
        target = next((owners[k] for k in identity_keys(paper) if k in owners), None)
        if target is not None and target != paper.paper_id:
            target_of[paper.paper_id] = target
    if not target_of:
        return papers, set(), 0
    indexed = catalog.get_papers(set(target_of.values()))
    out: list[Paper] = []
    position: dict[str, int] = {}
    merged_into: set[str] = set()
    count = 0
    for paper in papers:
        target = target_of.get(paper.paper_id)
        if target is None or target not in indexed:
            if paper.paper_id in position:  # a paper of this window already merged into it
                at = position[paper.paper_id]
                out[at] = with_sources(merge_two(out[at], paper), out[at], paper)
                continue
            position[paper.paper_id] = len(out)
            out.append(paper)
            continue
        base = out[position[target]] if target in position else indexed[target]
        merged = with_sources(merge_two(base, paper), base, paper)
        merged_into.add(target)
        count += 1
        if target in position:
            out[position[target]] = merged
        else:
            position[target] = len(out)
            out.append(merged)
    return out, merged_into, count


def merge_window(
    papers: list[Paper], catalog: Catalog, seen: set[str]
) -> tuple[list[Paper], set[str], int]:
    """One ingest window deduplicated: within it, and against the indexed papers.

    ``seen``: the ids of this run's earlier windows. Returns the unique papers, the ids already
    counted (a repeat of an earlier window, or merged into an indexed paper) and how many papers
    were merged; the count is also added to the catalog's ``duplicates_merged`` counter.
    """
    unique, merged = merge_duplicates(papers)
    unique, resolved, merged_known = merge_known(unique, catalog)
    again = {p.paper_id for p in unique if p.paper_id in seen}
    if again:
        earlier = catalog.get_papers(again)
        unique = [
            with_sources(merge_two(earlier[p.paper_id], p), earlier[p.paper_id], p)
            if p.paper_id in earlier
            else p
            for p in unique
        ]
    merged += merged_known + len(again - resolved)
    catalog.add_count("duplicates_merged", merged)
    return unique, again | resolved, merged
