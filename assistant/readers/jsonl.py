"""JSON Lines: one paper object per line (also the arXiv metadata snapshot and SciFact corpus)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from assistant.ids import latex_to_text, normalize_arxiv_id
from assistant.models import Paper

from ._base import (
    BOM,
    Collector,
    Line,
    as_text,
    build_paper,
    not_utf8_reason,
    optional_text,
    parse_year,
    split_authors,
    year_in_text,
)

# Keys that hold the record's own id, in order of preference (SciFact: doc_id, BEIR: _id).
ID_KEYS = ("id", "paper_id", "doc_id", "_id")
_USED_KEYS = frozenset(
    {"title", "abstract", "arxiv_id", "doi", "year", "authors", "venue", "url"}
)
_loads = json.loads


def read_jsonl(path: Path, lines: Iterable[Line], out: Collector) -> None:
    """Read JSON Lines records; a ``.json`` file holding one JSON document is read whole."""
    first = True
    for lineno, text, error in lines:
        if error is not None:
            out.reject(f"line {lineno}", error)
            continue
        stripped = text.strip()
        if not stripped:
            continue
        if first:
            first = False
            if stripped.startswith("[") or (
                path.suffix.lower() == ".json" and not _parses(stripped)
            ):
                _read_json_document(path, out)
                return
        location = f"line {lineno}"
        try:
            obj = _loads(stripped)
        except ValueError as exc:
            out.reject(location, f"malformed JSON ({_json_error(exc)})")
            continue
        if not isinstance(obj, dict):
            out.reject(location, f"not a JSON object (a {type(obj).__name__})")
            continue
        out.add(location, record_to_paper(obj, out.source))


def _parses(text: str) -> bool:
    try:
        _loads(text)
    except ValueError:
        return False
    return True


def _json_error(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at column {exc.colno}"
    return str(exc)


def _read_json_document(path: Path, out: Collector) -> None:
    """A whole-file JSON array of paper objects (or one pretty-printed object)."""
    data = path.read_bytes()
    skip = 3 if data.startswith(BOM) else 0
    data = data[skip:]
    if b"\0" in data:
        out.reject(None, f"contains NUL bytes (binary data at offset {skip + data.index(0)})")
        return
    try:
        doc = _loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        out.reject(None, not_utf8_reason(data, exc, skip))
        return
    except json.JSONDecodeError as exc:
        out.reject(f"line {exc.lineno}", f"malformed JSON ({exc.msg} at column {exc.colno})")
        return
    items = doc if isinstance(doc, list) else [doc]
    for number, obj in enumerate(items, start=1):
        location = f"item {number}" if isinstance(doc, list) else None
        if not isinstance(obj, dict):
            out.reject(location, f"not a JSON object (a {type(obj).__name__})")
            continue
        out.add(location, record_to_paper(obj, out.source))


def is_arxiv_snapshot(obj: dict[str, Any]) -> bool:
    """True for a line of the arXiv metadata snapshot (its ``id`` is an arXiv id)."""
    return "update_date" in obj or ("categories" in obj and "submitter" in obj)


def record_to_paper(obj: dict[str, Any], source: str) -> Paper | str:
    """Turn one JSON object into a Paper (or the reason it cannot be one)."""
    get = obj.get
    snapshot = "update_date" in obj or ("categories" in obj and "submitter" in obj)
    id_key: str | None = None
    record_id: str | None = None
    arxiv_id = optional_text(get("arxiv_id"))
    url = optional_text(get("url"))
    if snapshot and optional_text(get("id")):
        id_key = "id"
        arxiv_id = optional_text(get("id")) or ""
        record_id = f"arxiv:{normalize_arxiv_id(arxiv_id)}"
        url = url or f"https://arxiv.org/abs/{arxiv_id}"
    else:
        for key in ID_KEYS:
            value = optional_text(get(key))
            if value:
                record_id, id_key = value, key
                break

    abstract_key = "abstract"
    abstract = as_text(get("abstract"))
    if not abstract and "abstract" not in obj and isinstance(get("text"), str | list):
        abstract_key = "text"  # BEIR corpus files call the abstract "text"
        abstract = as_text(get("text"))

    year = parse_year(get("year"))
    if year is None:
        versions = get("versions")
        if isinstance(versions, list) and versions and isinstance(versions[0], dict):
            year = year_in_text(versions[0].get("created"))
        if year is None:
            year = year_in_text(get("update_date"))

    venue_key = "venue"
    venue = optional_text(get("venue"))
    if venue is None and snapshot:
        venue = optional_text(get("journal-ref"))
        venue_key = "journal-ref"

    authors_value = get("authors")
    if snapshot and isinstance(authors_value, str):
        authors_value = latex_to_text(authors_value)  # arXiv writes accents in TeX: Bal\'azs
    authors = split_authors(authors_value)

    extra: dict[str, str] = {}
    for key, value in obj.items():
        if key in _USED_KEYS or key == id_key or key == abstract_key or key == venue_key:
            continue
        kind = type(value)
        if kind is str:
            value = value.strip()
            if value:
                extra[key] = value
        elif kind is int or kind is float:
            extra[key] = str(value)

    return build_paper(
        source=source,
        title=as_text(get("title")),
        abstract=abstract,
        record_id=record_id,
        year=year,
        authors=authors,
        venue=venue,
        doi=optional_text(get("doi")),
        arxiv_id=arxiv_id,
        url=url,
        extra=extra,
    )
