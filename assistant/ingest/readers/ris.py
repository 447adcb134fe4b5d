"""RIS files (Zotero, EndNote, Mendeley, publishers): ``TY  - JOUR`` ... ``ER  -`` records.

The file is cut into records here, so that each has its line (``record (line N)``) and a broken
one (no ``ER`` before the next ``TY`` or the end of the file, text outside any record) is
rejected while the others are read; each record's tags are parsed by rispy. The ``ID`` tag,
when present, is kept as the paper's citation key (``extra["bibkey"]``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.ingest.readers._base import (
    Collector,
    as_text,
    build_paper,
    iter_lines,
    year_in_text,
)
from assistant.ingest.readers.bibtex import ARXIV_IN_TEXT
from assistant.ingest.readers.formats import InputFormat
from assistant.ingest.text import clean_text, is_citation_key

if TYPE_CHECKING:
    from assistant.records import Paper

# "TY  - JOUR": a tag of two capital letters or digits, two spaces, a hyphen.
_TAG = re.compile(r"^([A-Z][A-Z0-9])  -(?: |$)")
_START = "TY"
_END = "ER"
_AUTHOR_TAGS = ("authors", "first_authors")
_TITLE_TAGS = ("title", "primary_title")
_VENUE_TAGS = ("secondary_title", "journal_name", "alternate_title3", "alternate_title1")
_YEAR_TAGS = ("year", "publication_year", "date")
_USED = frozenset(
    {
        "type_of_reference",
        "id",
        *_AUTHOR_TAGS,
        *_TITLE_TAGS,
        *_VENUE_TAGS,
        *_YEAR_TAGS,
        "abstract",
        "notes_abstract",
        "doi",
        "urls",
        "unknown_tag",
    }
)
# rispy's names of the tags kept in ``extra`` under a short name.
_EXTRA_NAMES = {"keywords": "keywords", "file_attachments1": "file", "notes": "note"}


def looks_like_ris(first_line: str) -> bool:
    """True for the first line of a RIS file (``TY  - ...``)."""
    return first_line.lstrip("\ufeff").startswith("TY  -")


def read_ris(path: Path, out: Collector) -> None:
    """Read every record; a broken record is rejected and the next one read."""
    record: list[str] = []
    start = 0
    problem: str | None = None
    stray: int | None = None  # the first line of a run of text outside records
    for lineno, text, error in iter_lines(path):
        line = text.rstrip("\r\n")
        tag = _TAG.match(line)
        if tag is not None and tag.group(1) == _START:
            if record:
                out.reject(
                    _where(record, start),
                    f"no end line ('ER  -') before the next record at line {lineno}",
                )
            record, start, problem, stray = [line], lineno, None, None
            if error is not None:
                problem = f"line {lineno}: {error}"
            continue
        if not record:
            if error is not None:
                out.reject(f"line {lineno}", error)
            elif line.strip() and stray is None:
                stray = lineno
                out.reject(
                    f"line {lineno}",
                    "text outside a record (a record starts with 'TY  - ' and ends with 'ER  - ')",
                )
            continue
        if error is not None and problem is None:
            problem = f"line {lineno}: {error}"
        if tag is not None and tag.group(1) == _END:
            location = _where(record, start)
            if problem is not None:
                out.reject(location, problem)
            else:
                out.add(location, _record(record, out.source))
            record = []
            continue
        record.append(line)
    if record:
        out.reject(
            _where(record, start),
            "no end line ('ER  -') before the end of the file (the file may be cut short)",
        )


def _where(lines: list[str], start: int) -> str:
    """``record KEY (line N)`` (with the record's ``ID`` when it has one) or ``record (line N)``."""
    key = next((line[6:].strip() for line in lines if line.startswith("ID  - ")), "")
    return f"record {key} (line {start})" if key else f"record (line {start})"


def _record(lines: list[str], source: str) -> Paper | str:
    import rispy

    parsed = rispy.loads("\n".join([*lines, "ER  - "]))
    if not parsed:
        return "not a RIS record"
    return record_to_paper(parsed[0], source)


def _first(record: dict[str, Any], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = record.get(name)
        if isinstance(value, list):
            value = value[0] if value else None
        text = clean_text(as_text(value)) if value is not None else ""
        if text:
            return text
    return None


def ris_name(name: str) -> str:
    """'Last, First' (or 'Last, First, Suffix') as 'First Last (Suffix)'; other names as is."""
    parts = [p.strip() for p in name.split(",")]
    parts = [p for p in parts if p]
    if len(parts) == 2:
        return f"{parts[1]} {parts[0]}"
    if len(parts) >= 3:
        return f"{parts[1]} {parts[0]} {' '.join(parts[2:])}"
    return clean_text(name)


def record_to_paper(record: dict[str, Any], source: str) -> Paper | str:
    """Turn one parsed RIS record (rispy's field names) into a Paper, or the reason it can't."""
    authors: list[str] = []
    for name in _AUTHOR_TAGS:
        value = record.get(name)
        if isinstance(value, list) and value:
            authors = [ris_name(a) for a in value if isinstance(a, str) and a.strip()]
            break
    year = None
    for name in _YEAR_TAGS:
        year = year_in_text(as_text(record.get(name))[:10])
        if year is not None:
            break
    urls = record.get("urls") or []
    url = next((u for u in urls if isinstance(u, str) and u.strip()), None)
    doi = _first(record, ("doi",))
    arxiv_id = None
    for value in (doi, *urls):
        found = ARXIV_IN_TEXT.search(value) if isinstance(value, str) else None
        if found:
            arxiv_id = found.group(1)
            break
    key = _first(record, ("id",))
    extra: dict[str, str] = {}
    if key and is_citation_key(key):
        extra["bibkey"] = key
    ris_type = _first(record, ("type_of_reference",))
    if ris_type:
        extra["ristype"] = ris_type
    for name, value in record.items():
        if name in _USED:
            continue
        text = "; ".join(as_text(v) for v in value) if isinstance(value, list) else as_text(value)
        text = clean_text(text)
        if text:
            extra[_EXTRA_NAMES.get(name, name)] = text
    return build_paper(
        source=source,
        title=_first(record, _TITLE_TAGS) or "",
        abstract=_first(record, ("abstract", "notes_abstract")) or "",
        year=year,
        authors=authors,
        venue=_first(record, _VENUE_TAGS),
        doi=doi,
        arxiv_id=arxiv_id,
        url=url.strip() if url else None,
        extra=extra,
    )


def _ris_first(first: str, text: str) -> bool:
    return looks_like_ris(first)


FORMAT = InputFormat("ris", read_ris, extensions={".ris": None}, recognise=_ris_first, rank=30)
