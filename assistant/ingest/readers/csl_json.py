"""CSL-JSON (Zotero's "CSL JSON" export, Better CSL JSON, citeproc): a JSON array of items.

Each item becomes a paper, located as ``item N (line L)``. The item's citation key
(``citation-key``, else an ``id`` that is a key rather than a URI) is kept as the paper's
``extra["bibkey"]``. A malformed item is rejected and reading goes on at the next item that
starts at the same indentation (Zotero writes one item per block).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.ingest.readers._base import (
    BOM,
    Collector,
    as_text,
    build_paper,
    damage,
    not_utf8_reason,
    open_binary,
    parse_year,
    year_in_text,
)
from assistant.ingest.readers.bibtex import ARXIV_IN_TEXT
from assistant.ingest.readers.formats import InputFormat
from assistant.ingest.text import clean_text, is_citation_key

# A .json document is CSL-JSON when it is an array whose items use CSL's variable names.
_CSL_MARKERS = re.compile(
    r'"(?:issued|container-title|citation-key|family|given|DOI|URL|date-parts)"\s*:'
    r'|"type"\s*:\s*"(?:article-journal|paper-conference|article|chapter|book|report|thesis|'
    r'manuscript|webpage|post-weblog|dataset|speech|entry-encyclopedia)"'
)

if TYPE_CHECKING:
    from assistant.records import Paper
_USED = frozenset(
    {
        "id",
        "citation-key",
        "title",
        "abstract",
        "author",
        "issued",
        "DOI",
        "URL",
        "container-title",
    }
)
_WHITESPACE = " \t\r\n"


def looks_like_csl_json(head: str) -> bool:
    """True for the start of a CSL-JSON document: an array whose items carry CSL variables."""
    text = head.lstrip("\ufeff" + _WHITESPACE)
    return text.startswith("[") and _CSL_MARKERS.search(text[:16384]) is not None


def citation_key(item: dict[str, Any]) -> str | None:
    """The item's citation key: ``citation-key``, else its ``id`` unless that is a URI."""
    for name in ("citation-key", "id"):
        value = item.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            continue
        value = value.strip()
        if value and is_citation_key(value):
            return value
    return None


def read_csl_json(path: Path, out: Collector) -> None:
    """Read a CSL-JSON array; each malformed or unusable item is a reject, the rest are kept."""
    with open_binary(path) as handle:
        data = handle.read()
        broken = damage(handle)
    skip = 3 if data.startswith(BOM) else 0
    bad = _bad_lines(data, skip)
    text = data[skip:].decode("utf-8", errors="replace")
    claimed = _read_items(text, out, bad)
    for line in sorted(set(bad) - claimed):
        out.reject(f"line {line}", bad[line])
    if broken is not None:
        out.reject(f"line {text.count(chr(10)) + 1}", broken)


def _bad_lines(data: bytes, skip: int) -> dict[int, str]:
    """Lines holding bytes that are not UTF-8 (or NUL bytes), with the reason."""
    bad: dict[int, str] = {}
    if b"\0" in data:
        at = data.index(0)
        bad[data.count(b"\n", 0, at) + 1] = f"contains NUL bytes (binary data at offset {at})"
    start = skip
    while True:
        try:
            data[start:].decode("utf-8")
            return bad
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, start + exc.start) + 1
            bad.setdefault(line, not_utf8_reason(data[start:], exc, start))
            start += exc.end


def _read_items(text: str, out: Collector, bad: dict[int, str]) -> set[int]:
    """Read the array's items; returns the bad lines that fell in an item (reported with it)."""
    claimed: set[int] = set()
    _line = _Lines(text)
    decoder = json.JSONDecoder()
    i = _skip(text, 0)
    if i >= len(text) or text[i] != "[":
        out.reject(f"line {_line(text, i)}", "not a CSL-JSON array (it must start with '[')")
        return claimed
    i = _skip(text, i + 1)
    number = 0
    indent: str | None = None
    while i < len(text) and text[i] != "]":
        number += 1
        line = _line(text, i)
        location = f"item {number} (line {line})"
        if indent is None:
            indent = text[text.rfind("\n", 0, i) + 1 : i]
        try:
            item, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError as exc:
            out.reject(
                location,
                f"malformed JSON ({exc.msg.removesuffix(' at')} at line {exc.lineno}, "
                f"column {exc.colno})",
            )
            resume = re.compile(r"\n" + re.escape(indent) + r"[{\[]").search(text, exc.pos)
            if resume is None or indent.strip(_WHITESPACE):
                return claimed
            i = resume.start() + 1 + len(indent)
            continue
        in_item = [n for n in bad if line <= n <= line + text.count("\n", i, end)]
        if in_item:
            claimed.update(in_item)
            out.reject(location, f"line {in_item[0]}: {bad[in_item[0]]}")
        elif isinstance(item, dict):
            out.add(location, item_to_paper(item, out.source))
        else:
            out.reject(location, f"not a JSON object (a {type(item).__name__})")
        i = _skip(text, end)
        if i < len(text) and text[i] == ",":
            i = _skip(text, i + 1)
        elif i < len(text) and text[i] != "]":
            out.reject(f"line {_line(text, i)}", f"expected ',' or ']' after item {number}")
            return claimed
    if i >= len(text):
        out.reject(
            f"line {_line(text, i)}", "the array is not closed (']' missing): the file may be cut"
        )
    return claimed


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WHITESPACE:
        i += 1
    return i


class _Lines:
    """Line numbers of positions met in increasing order (counting each newline once)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1

    def __call__(self, text: str, i: int) -> int:
        if i < self.pos:
            return self.text.count("\n", 0, i) + 1
        self.line += self.text.count("\n", self.pos, i)
        self.pos = i
        return self.line


def _name(person: object) -> str:
    """A CSL name object as 'Given particle Family Suffix' (or its literal)."""
    if isinstance(person, str):
        return clean_text(person)
    if not isinstance(person, dict):
        return ""
    if person.get("literal"):
        return clean_text(as_text(person["literal"]))
    parts = [
        person.get(k)
        for k in ("given", "dropping-particle", "non-dropping-particle", "family", "suffix")
    ]
    return clean_text(" ".join(as_text(p) for p in parts if p))


def _year(issued: object) -> int | None:
    """The year of a CSL date: ``{"date-parts": [[2020, 5]]}``, ``raw`` or ``literal``."""
    if isinstance(issued, dict):
        parts = issued.get("date-parts")
        if isinstance(parts, list) and parts and isinstance(parts[0], list) and parts[0]:
            year = parse_year(parts[0][0])
            if year is not None:
                return year
        for name in ("raw", "literal"):
            year = year_in_text(issued.get(name))
            if year is not None:
                return year
        return None
    return parse_year(issued) or year_in_text(issued)


def _text(value: object) -> str | None:
    text = clean_text(as_text(value)) if value is not None else ""
    return text or None


def item_to_paper(item: dict[str, Any], source: str) -> Paper | str:
    """Turn one CSL item into a Paper (or the reason it cannot be one)."""
    authors = item.get("author")
    names = [_name(p) for p in authors] if isinstance(authors, list) else []
    doi = _text(item.get("DOI"))
    url = _text(item.get("URL"))
    arxiv_id = None
    for value in (item.get("number"), url, doi, item.get("note")):
        found = ARXIV_IN_TEXT.search(as_text(value)) if value else None
        if found:
            arxiv_id = found.group(1)
            break
    key = citation_key(item)
    extra: dict[str, str] = {"bibkey": key} if key else {}
    if item.get("id") is not None and as_text(item.get("id")) != key:
        extra["csl_id"] = as_text(item.get("id"))
    for name, value in item.items():
        if name in _USED or name in extra:
            continue
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            text = _text(value)
            if text:
                extra[name] = text
    return build_paper(
        source=source,
        title=as_text(item.get("title")),
        abstract=as_text(item.get("abstract")),
        year=_year(item.get("issued")),
        authors=[n for n in names if n],
        venue=_text(item.get("container-title")),
        doi=doi,
        arxiv_id=arxiv_id,
        url=url,
        extra=extra,
    )


def _is_csl_json(first: str, text: str) -> bool:
    return looks_like_csl_json(text)


FORMAT = InputFormat(
    "csl-json",
    read_csl_json,
    extensions={".json": _is_csl_json},
    recognise=_is_csl_json,
    rank=10,
)
