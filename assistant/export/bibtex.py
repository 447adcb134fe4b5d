"""BibTeX entries with stable, readable keys (first author or title word + year)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from assistant.records import Paper

_TITLE_SKIP = {"a", "an", "the", "on", "of", "in", "for", "to", "and", "with", "towards", "toward"}


def _ascii_word(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _last_name(author: str) -> str:
    author = author.strip()
    if "," in author:
        return author.split(",", 1)[0]
    parts = author.split()
    return parts[-1] if parts else ""


def base_key(paper: Paper) -> str:
    """``lastname2023word``, or ``titleword2023`` when the paper has no authors."""
    year = str(paper.year) if paper.year else ""
    title_words = [w for w in (_ascii_word(t) for t in paper.title.split()) if w]
    first_title_word = next((w for w in title_words if w not in _TITLE_SKIP), "paper")
    if paper.authors:
        name = _ascii_word(_last_name(paper.authors[0])) or "anon"
        return f"{name}{year}{first_title_word}"
    second = next((w for w in title_words if w not in _TITLE_SKIP and w != first_title_word), "")
    return f"{first_title_word}{second}{year}" if not year else f"{first_title_word}{year}"


def assign_keys(papers: Iterable[Paper]) -> dict[str, str]:
    """A key per paper id; clashes get a, b, c... suffixes in paper-id order (stable)."""
    by_key: dict[str, list[str]] = {}
    for paper in papers:
        by_key.setdefault(base_key(paper), []).append(paper.paper_id)
    keys: dict[str, str] = {}
    for key, ids in by_key.items():
        ordered = sorted(set(ids))
        if len(ordered) == 1:
            keys[ordered[0]] = key
        else:
            for i, pid in enumerate(ordered):
                keys[pid] = f"{key}{chr(ord('a') + i)}"
    return keys


def _escape(value: str) -> str:
    """Plain text as a BibTeX value: LaTeX specials escaped, braces balanced."""
    value = " ".join(value.split())
    out = []
    for char in value:
        if char == "\\":
            out.append("\\textbackslash{}")
        elif char in "&%$#_{}":
            out.append("\\" + char)
        elif char == "~":
            out.append("\\textasciitilde{}")
        else:
            out.append(char)
    return "".join(out)


def entry(paper: Paper, key: str) -> str:
    """One BibTeX entry (``@article`` with a venue, else ``@misc``)."""
    kind = "article" if paper.venue else "misc"
    fields: list[tuple[str, str]] = [("title", "{" + _escape(paper.title) + "}")]
    if paper.authors:
        fields.append(("author", _escape(" and ".join(paper.authors))))
    if paper.year:
        fields.append(("year", str(paper.year)))
    if paper.venue:
        fields.append(("journal", _escape(paper.venue)))
    if paper.doi:
        fields.append(("doi", paper.doi))
    if paper.arxiv_id:
        fields.extend([("eprint", paper.arxiv_id), ("archiveprefix", "arXiv")])
    if paper.url:
        fields.append(("url", paper.url))
    fields.append(("abstract", _escape(paper.abstract)))
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
    return f"@{kind}{{{key},\n{body}\n}}\n"


def bibliography(papers: list[Paper]) -> str:
    """Entries for the given papers, in the given order."""
    keys = assign_keys(papers)
    return "\n".join(entry(p, keys[p.paper_id]) for p in papers)
