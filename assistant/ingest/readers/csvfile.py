"""CSV / TSV tables with a header row naming a title and an abstract column."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.ingest.readers._base import (
    Collector,
    Line,
    build_paper,
    iter_lines,
    optional_text,
    parse_year,
    split_authors,
)
from assistant.ingest.readers.formats import InputFormat
from assistant.ingest.readers.jsonl import ID_KEYS

if TYPE_CHECKING:
    from assistant.records import Paper

_DELIMITERS = ("\t", ",", ";", "|")
_COLUMN_SEP = re.compile(r"[\s\-]+")
_USED = frozenset({"title", "abstract", "arxiv_id", "doi", "year", "authors", "venue", "url"})


def column_key(name: str) -> str:
    """A header cell as a lookup key: 'arXiv ID' -> 'arxiv_id', ' Title ' -> 'title'."""
    return _COLUMN_SEP.sub("_", name.strip().lstrip("\ufeff").strip().lower())


def sniff_delimiter(header_line: str, suffix: str = "") -> str:
    """The delimiter that splits the header into title and abstract columns (else the most used)."""
    candidates = ("\t",) + _DELIMITERS[1:] if suffix == ".tsv" else _DELIMITERS[1:] + ("\t",)
    best, best_count = candidates[0], 1
    for delimiter in candidates:
        cells = next(csv.reader([header_line], delimiter=delimiter), [])
        keys = {column_key(cell) for cell in cells}
        if "title" in keys and "abstract" in keys:
            return delimiter
        if len(cells) > best_count:
            best, best_count = delimiter, len(cells)
    return best


def has_table_header(line: str) -> bool:
    """True when ``line`` looks like a header row with title and abstract columns."""
    delimiter = sniff_delimiter(line)
    keys = {column_key(c) for c in next(csv.reader([line], delimiter=delimiter), [])}
    return "title" in keys and "abstract" in keys


def read_csv(path: Path, out: Collector) -> None:
    """Read a CSV/TSV file row by row; each row with a title and an abstract is a paper."""
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 26))
    errors: dict[int, str] = {}
    line_iter = iter_lines(path)
    pending: list[Line] = []
    for item in line_iter:  # find the header line to choose the delimiter
        pending.append(item)
        if item[1].strip():
            break
    if not pending or not pending[-1][1].strip():
        out.reject(None, "file is empty")
        return
    delimiter = sniff_delimiter(pending[-1][1], path.suffix.lower())

    def texts() -> Iterator[str]:
        for chunk in (pending, line_iter):
            for lineno, text, error in chunk:
                if error is not None:
                    errors[lineno] = error
                yield text

    reader = csv.reader(texts(), delimiter=delimiter)
    header: list[str] | None = None
    columns: dict[str, int] = {}
    previous_end = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            out.reject(f"line {previous_end + 1}", f"malformed CSV ({exc})")
            previous_end = reader.line_num
            continue
        start, end = previous_end + 1, reader.line_num
        previous_end = end
        if not row or not any(cell.strip() for cell in row):
            continue
        location = f"line {start}"
        bad = next((errors[n] for n in range(start, end + 1) if n in errors), None)
        if header is None:
            if bad is not None:
                out.reject(location, bad)
                return
            header = row
            for index, name in enumerate(row):
                columns.setdefault(column_key(name), index)
            missing = [name for name in ("title", "abstract") if name not in columns]
            if missing:
                found = ", ".join(repr(name.strip()) for name in row) or "none"
                out.reject(
                    location,
                    f"no {' or '.join(repr(m) for m in missing)} column in the header row "
                    f"(columns found: {found}); name the columns 'title' and 'abstract', or "
                    "pass --format if this is not a table",
                )
                return
            continue
        if bad is not None:
            out.reject(location, bad)
            continue
        if len(row) > len(header):
            out.reject(
                location,
                f"{len(row)} fields but the header has {len(header)} (an unquoted "
                f"{'tab' if delimiter == chr(9) else repr(delimiter)} in a value?)",
            )
            continue
        out.add(location, _row_to_paper(row, header, columns, out.source))


def _row_to_paper(
    row: list[str], header: list[str], columns: dict[str, int], source: str
) -> Paper | str:
    def cell(key: str) -> str:
        index = columns.get(key)
        return row[index] if index is not None and index < len(row) else ""

    record_id = next((cell(k).strip() for k in ID_KEYS if cell(k).strip()), None)
    id_key = next((k for k in ID_KEYS if cell(k).strip()), None)
    authors_key = "authors" if "authors" in columns else "author"
    used_indexes = {columns[k] for k in (*_USED, authors_key) if k in columns}
    if id_key is not None:
        used_indexes.add(columns[id_key])
    extra: dict[str, str] = {}
    for index, value in enumerate(row[: len(header)]):
        name = header[index].strip().lstrip("\ufeff").strip()
        if index in used_indexes or not value.strip() or not name or name in extra:
            continue
        extra[name] = value.strip()
    return build_paper(
        source=source,
        title=cell("title"),
        abstract=cell("abstract"),
        record_id=record_id,
        year=parse_year(cell("year")),
        authors=split_authors(cell(authors_key), commas=False),
        venue=optional_text(cell("venue")),
        doi=optional_text(cell("doi")),
        arxiv_id=optional_text(cell("arxiv_id")),
        url=optional_text(cell("url")),
        extra=extra,
    )


def _header_first(first: str, text: str) -> bool:
    return has_table_header(first)


FORMAT = InputFormat(
    "csv", read_csv, extensions={".csv": None, ".tsv": None}, recognise=_header_first, rank=50
)
