"""JSON Lines: one paper object per line (also the arXiv metadata snapshot and SciFact corpus)."""

from __future__ import annotations

import json
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
    optional_text,
    parse_year,
    split_authors,
    year_in_text,
)
from assistant.ingest.readers.formats import InputFormat
from assistant.ingest.text import latex_to_text, normalize_arxiv_id

if TYPE_CHECKING:
    from assistant.records import Paper

# Keys that hold the record's own id, in order of preference (SciFact: doc_id, BEIR: _id).
ID_KEYS = ("id", "paper_id", "doc_id", "_id")
_USED_KEYS = frozenset({"title", "abstract", "arxiv_id", "doi", "year", "authors", "venue", "url"})
_loads = json.loads


def read_jsonl(path: Path, out: Collector) -> None:
    """Read JSON Lines records; a ``.json`` file holding one JSON document is read whole.

    This is the hot path for large files (the arXiv snapshot): lines are parsed as bytes and
    only a line that fails is looked at again to say why.
    """
    loads = _loads
    add = out.add
    source = out.source
    first = True
    with open_binary(path) as handle:
        offset = 3 if handle.read(3) == BOM else 0
        handle.seek(offset)
        lineno = 0
        for lineno, raw in enumerate(handle, start=1):  # noqa: B007 - used after the loop
            start = offset
            offset += len(raw)
            if not raw.endswith(b"\n") and damage(handle) is not None:
                break  # the line the damaged .gz broke off in: reported below
            if first:
                stripped = raw.strip()
                if not stripped:
                    continue
                first = False
                array = stripped.startswith(b"[")
                if (array or (path.suffix.lower() == ".json" and not _parses(stripped))) and (
                    _read_json_document(path, out, must=array)
                ):
                    return
            if b"\0" in raw:
                at = start + raw.index(0)
                out.reject(f"line {lineno}", f"contains NUL bytes (binary data at offset {at})")
                continue
            try:
                obj = loads(raw)
            except UnicodeDecodeError as exc:
                out.reject(f"line {lineno}", not_utf8_reason(raw, exc, start))
                continue
            except ValueError as exc:
                if raw.strip():
                    out.reject(f"line {lineno}", f"malformed JSON ({_json_error(exc)})")
                continue
            if type(obj) is not dict:
                out.reject(f"line {lineno}", f"not a JSON object (a {type(obj).__name__})")
                continue
            add(f"line {lineno}", record_to_paper(obj, source))
        else:
            lineno += 1  # the data broke off after a whole line
        broken = damage(handle)
        if broken is not None:
            out.reject(f"line {lineno}", broken)


def _parses(text: bytes) -> bool:
    try:
        _loads(text)
    except ValueError:
        return False
    return True


def _message(exc: json.JSONDecodeError) -> str:
    """The decoder's message without a trailing "at" ("Invalid control character at")."""
    return exc.msg.removesuffix(" at")


def _json_error(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{_message(exc)} at column {exc.colno}"
    return str(exc)


def _read_json_document(path: Path, out: Collector, *, must: bool) -> bool:
    """Read a whole-file JSON array of paper objects (or one pretty-printed object).

    Returns False, having read nothing, when the file is not one JSON document and ``must`` is
    False: it is then read as JSON Lines (whose broken first line gets rejected).
    """
    with open_binary(path) as handle:
        data = handle.read()
    skip = 3 if data.startswith(BOM) else 0
    data = data[skip:]
    if b"\0" in data:
        if must:
            out.reject(None, f"contains NUL bytes (binary data at offset {skip + data.index(0)})")
        return must
    try:
        doc = _loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        if must:
            out.reject(None, not_utf8_reason(data, exc, skip))
        return must
    except json.JSONDecodeError as exc:
        if must:
            out.reject(f"line {exc.lineno}", f"malformed JSON ({_json_error(exc)})")
        return must
    items = doc if isinstance(doc, list) else [doc]
    for number, obj in enumerate(items, start=1):
        location = f"item {number}" if isinstance(doc, list) else None
        if not isinstance(obj, dict):
            out.reject(location, f"not a JSON object (a {type(obj).__name__})")
            continue
        out.add(location, record_to_paper(obj, out.source))
    return True


def _text(value: object) -> str | None:
    """A string field cleaned (None when absent or empty); other types via ``optional_text``."""
    if type(value) is str:
        text = " ".join(value.split())
        return text or None
    return None if value is None else optional_text(value)


def record_to_paper(obj: dict[str, Any], source: str) -> Paper | str:
    """Turn one JSON object into a Paper (or the reason it cannot be one)."""
    get = obj.get
    snapshot = "update_date" in obj or ("categories" in obj and "submitter" in obj)
    id_key: str | None = None
    record_id: str | None = None
    arxiv_id = _text(get("arxiv_id"))
    url = _text(get("url"))
    snapshot_id = _text(get("id")) if snapshot else None
    if snapshot_id:
        id_key = "id"
        arxiv_id = snapshot_id
        record_id = "arxiv:" + normalize_arxiv_id(snapshot_id)
        url = url or "https://arxiv.org/abs/" + snapshot_id
    else:
        for key in ID_KEYS:
            value = _text(get(key))
            if value:
                record_id, id_key = value, key
                break

    abstract_key = "abstract"
    abstract = get("abstract")
    if abstract is None and isinstance(get("text"), str | list):
        abstract_key = "text"  # BEIR corpus files call the abstract "text"
        abstract = get("text")

    year = parse_year(get("year"))
    if year is None:
        versions = get("versions")
        if isinstance(versions, list) and versions and isinstance(versions[0], dict):
            year = year_in_text(versions[0].get("created"))
        if year is None:
            year = year_in_text(get("update_date"))

    venue_key = "venue"
    venue = _text(get("venue"))
    if venue is None and snapshot:
        venue = _text(get("journal-ref"))
        venue_key = "journal-ref"

    authors_value = get("authors")
    if snapshot and type(authors_value) is str and "\\" in authors_value:
        authors_value = latex_to_text(authors_value)  # arXiv writes accents in TeX: Bal\\'azs
    authors = split_authors(authors_value)

    extra: dict[str, str] = {}
    skip = (id_key, abstract_key, venue_key)
    for key, value in obj.items():
        if key in _USED_KEYS or key in skip:
            continue
        kind = type(value)
        if kind is str:
            value = value.strip()
            if value:
                extra[key] = value
        elif kind is int or kind is float:
            extra[key] = str(value)

    title = get("title")
    return build_paper(
        source=source,
        title=title if type(title) is str else as_text(title),
        abstract=abstract if type(abstract) is str else as_text(abstract),
        record_id=record_id,
        year=year,
        authors=authors,
        venue=venue,
        doi=_text(get("doi")),
        arxiv_id=arxiv_id,
        url=url,
        extra=extra,
    )


def _json_object_first(first: str, text: str) -> bool:
    return first.startswith("{")


def _json_first(first: str, text: str) -> bool:
    return first.startswith(("{", "["))


FORMAT = InputFormat(
    "jsonl",
    read_jsonl,
    extensions={".jsonl": None, ".json": _json_first, ".ndjson": None},
    recognise=_json_object_first,
    rank=20,
)
