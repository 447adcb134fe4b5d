"""CSL-JSON: the papers as a JSON array of CSL items (what Zotero, Pandoc and citeproc read).

Each item's ``id`` and ``citation-key`` are the paper's BibTeX key (:func:`assign_keys`), so a
document citing ``@key`` finds the same paper in the .bib, RIS and CSL-JSON files.
"""

from __future__ import annotations

import json
from typing import Any

from assistant.export.bibtex import assign_keys
from assistant.records import Paper


def name_parts(author: str) -> tuple[str, str, str]:
    """``(given, family, suffix)`` of a name ('Ludwig van Beethoven' -> given 'Ludwig', family
    'van Beethoven'; 'Smith, Jr, John' -> suffix 'Jr'), split as BibTeX splits names."""
    from bibtexparser.middlewares.names import parse_single_name_into_parts

    parts = parse_single_name_into_parts(" ".join(author.split()), strict=False)
    return " ".join(parts.first), " ".join([*parts.von, *parts.last]), " ".join(parts.jr)


def _person(author: str) -> dict[str, str]:
    given, family, suffix = name_parts(author)
    if not family:
        return {"literal": author}
    person = {"family": family}
    if given:
        person["given"] = given
    if suffix:
        person["suffix"] = suffix
    return person


def item(paper: Paper, key: str) -> dict[str, Any]:
    """One CSL item: ``article-journal`` with a venue, else ``article`` (a preprint)."""
    data: dict[str, Any] = {
        "id": key,
        "citation-key": key,
        "type": "article-journal" if paper.venue else "article",
        "title": paper.title,
    }
    if paper.authors:
        data["author"] = [_person(a) for a in paper.authors if a.strip()]
    if paper.year:
        data["issued"] = {"date-parts": [[paper.year]]}
    if paper.venue:
        data["container-title"] = paper.venue
    if paper.doi:
        data["DOI"] = paper.doi
    if paper.arxiv_id:
        if paper.venue:
            data["note"] = f"arXiv:{paper.arxiv_id}"
        else:
            data["number"] = f"arXiv:{paper.arxiv_id}"
            data["publisher"] = "arXiv"
    if paper.url:
        data["URL"] = paper.url
    if paper.extra.get("keywords"):
        data["keyword"] = paper.extra["keywords"]
    if paper.has_abstract:  # a title-only paper has none to write
        data["abstract"] = paper.abstract
    return data


def csl_items(papers: list[Paper], keys: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The papers' items, in the given order (keys from :func:`assign_keys` unless given)."""
    keys = keys if keys is not None else assign_keys(papers)
    return [item(p, keys[p.paper_id]) for p in papers]


def csl_json(papers: list[Paper], keys: dict[str, str] | None = None) -> str:
    """The papers as a CSL-JSON document (an indented array, UTF-8, ending in a newline)."""
    return json.dumps(csl_items(papers, keys), ensure_ascii=False, indent=2) + "\n"
