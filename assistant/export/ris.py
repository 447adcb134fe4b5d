"""RIS: the papers as ``TY  - JOUR`` ... ``ER  -`` records, written by rispy.

Each record's ``ID`` is the paper's BibTeX key (:func:`assign_keys`); authors are written
``Last, First`` as RIS expects.
"""

from __future__ import annotations

import re
from typing import Any

from assistant.export.bibtex import assign_keys
from assistant.export.csl_json import name_parts
from assistant.records import Paper

_KEYWORD_SEP = re.compile(r"\s*[;,]\s*")


def _ris_name(author: str) -> str:
    given, family, suffix = name_parts(author)
    if not family:
        return author
    return ", ".join(part for part in (family, given, suffix) if part)


def record(paper: Paper, key: str) -> dict[str, Any]:
    """One record in rispy's field names: ``JOUR`` with a venue, else ``GEN``."""
    data: dict[str, Any] = {"type_of_reference": "JOUR" if paper.venue else "GEN", "id": key}
    data["title"] = paper.title
    if paper.authors:
        data["authors"] = [_ris_name(a) for a in paper.authors if a.strip()]
    if paper.year:
        data["year"] = str(paper.year)
    if paper.venue:
        data["secondary_title"] = paper.venue
    if paper.doi:
        data["doi"] = paper.doi
    urls = [u for u in (paper.url, _arxiv_url(paper)) if u]
    if urls:
        data["urls"] = list(dict.fromkeys(urls))
    keywords = paper.extra.get("keywords")
    if keywords:
        data["keywords"] = [k for k in _KEYWORD_SEP.split(keywords) if k]
    if paper.has_abstract:  # a title-only paper has none to write
        data["abstract"] = paper.abstract
    return data


def _arxiv_url(paper: Paper) -> str | None:
    return f"https://arxiv.org/abs/{paper.arxiv_id}" if paper.arxiv_id else None


def ris_text(papers: list[Paper], keys: dict[str, str] | None = None) -> str:
    """The papers as a RIS file, in the given order (keys from :func:`assign_keys` unless
    given); records are separated by a blank line."""
    import rispy
    from rispy.writer import RisWriter

    class Writer(RisWriter):
        SEPARATOR = ""

        def set_header(self, count: int) -> str:
            return ""  # rispy numbers records ("1."); Zotero and EndNote do not

    keys = keys if keys is not None else assign_keys(papers)
    records = [record(p, keys[p.paper_id]) for p in papers]
    return rispy.dumps(records, implementation=Writer) if records else ""
