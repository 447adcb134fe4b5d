"""Readers that turn paper files into :class:`~assistant.records.Paper` records.

Six formats are read, each declared by its own module (:mod:`.formats`): the Daily Papers text
dump (``daily``), JSON Lines (``jsonl``, also the arXiv metadata snapshot and SciFact's corpus),
CSV/TSV tables (``csv``), BibTeX (``bibtex``), and Zotero's other exports, CSL-JSON
(``csl-json``) and RIS (``ris``). Any file may also be gzip-compressed (``papers.jsonl.gz``).
A problem with one file or record never raises: it becomes a :class:`~assistant.records.Reject`
naming the file and line (or entry), and everything else is still read.
"""

from __future__ import annotations

import codecs
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.errors import UsageError
from assistant.ingest.readers._base import (
    BOM,
    CUT_FIELDS,
    Collector,
    FieldLimits,
    PaperSink,
    SinkError,
    open_binary,
    plain_suffix,
)
from assistant.ingest.readers.formats import (
    check_format,
    detect_format,
    extensions,
    format_hint,
    reader,
)

if TYPE_CHECKING:
    from assistant.records import ReadResult

__all__ = ["CUT_FIELDS", "FieldLimits", "detect_format", "read_file", "read_paths"]

_HEAD_BYTES = 64 * 1024
# A file that cannot be opened, or a .gz that is truncated or not gzip at all.
_READ_ERRORS = (OSError, EOFError, zlib.error)


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise UsageError(
            f"{path}: no such file or folder",
            hint=f"check the path; give files ({' '.join(extensions())}) or folders holding them",
        )


def _head_problem(head: bytes, complete: bool) -> str | None:
    """Why the file cannot be read at all (empty, binary, not UTF-8), judged from its start.

    A text file with a few bad lines passes: those lines are rejected one by one later.
    """
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "not UTF-8 text (UTF-16 byte-order mark at offset 0); save it as UTF-8"
    skip = 3 if head.startswith(BOM) else 0
    body = head[skip:]
    if not body.strip():
        return "file is empty" if complete else None
    lines = body.split(b"\n")
    last = len(lines) - 1
    bad = nonblank = 0
    for index, line in enumerate(lines):
        if line.strip():
            nonblank += 1
            # The head may cut the last line in the middle of a character.
            if b"\0" in line or _utf8_error(line, final=complete or index < last) is not None:
                bad += 1
    if 2 * bad <= nonblank:
        return None
    if b"\0" in body:
        return f"binary file (contains NUL bytes; the first at offset {skip + body.index(0)})"
    exc = _utf8_error(body, final=complete)
    if exc is not None:
        return (
            f"not UTF-8 text (byte 0x{body[exc.start]:02x} at offset {skip + exc.start}); "
            "convert it to UTF-8 (e.g. iconv -f latin1 -t utf-8)"
        )
    return None


def _utf8_error(data: bytes, *, final: bool) -> UnicodeDecodeError | None:
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data, final)
    except UnicodeDecodeError as exc:
        return exc
    return None


def read_file(
    path: Path,
    fmt: str | None = None,
    sink: PaperSink | None = None,
    window: int = 4096,
    max_abstract_chars: int | None = None,
    limits: FieldLimits | None = None,
) -> ReadResult:
    """Read one file in ``fmt`` (detected when None); problems become rejects, never exceptions.

    With a ``sink``, papers are passed to it in lists of ``window`` instead of being returned
    (``ReadResult.count`` counts them); what the sink raises is raised as it is. An abstract
    longer than ``max_abstract_chars`` is cut at a sentence end, and a title, author or venue
    over its limit (``limits``, by default :class:`FieldLimits`' own) at a space; each cut is
    listed in ``truncated``.
    Raises UsageError only for a path that does not exist or an unknown ``fmt``.
    """
    path = Path(path)
    fmt = check_format(fmt)
    _check_exists(path)
    out = Collector(path, sink, window, max_abstract_chars, limits)
    try:
        with open_binary(path) as handle:
            head = handle.read(_HEAD_BYTES)
            complete = len(head) < _HEAD_BYTES or not handle.read(1)
    except _READ_ERRORS as exc:
        out.reject(None, _cannot_read(exc))
        return _result(out)
    problem = _head_problem(head, complete)
    if problem is not None:
        out.reject(None, problem)
        return _result(out)
    if fmt is None:
        fmt = detect_format(path, head.decode("utf-8", errors="replace"))
        if fmt is None:
            out.reject(None, f"unknown format; {format_hint()}")
            return _result(out)
    try:
        reader(fmt)(path, out)
        out.flush()
    except SinkError as exc:
        raise exc.error from None
    except _READ_ERRORS as exc:
        out.reject(None, _cannot_read(exc))
        try:
            out.flush()  # the papers read before the problem are kept
        except SinkError as failed:
            raise failed.error from None
    return _result(out)


def _result(out: Collector) -> ReadResult:
    from assistant.records import ReadResult

    return ReadResult(
        papers=out.papers, rejects=out.rejects, count=out.count, truncated=out.truncated
    )


def _cannot_read(exc: Exception) -> str:
    return f"cannot read the file ({getattr(exc, 'strerror', None) or exc})"


def _folder_files(folder: Path) -> list[Path]:
    found = []
    for candidate in folder.rglob("*"):
        relative = candidate.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if plain_suffix(candidate) in extensions() and candidate.is_file():
            found.append(candidate)
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def read_paths(
    paths: list[Path],
    fmt: str | None = None,
    sink: PaperSink | None = None,
    window: int = 4096,
    max_abstract_chars: int | None = None,
    limits: FieldLimits | None = None,
) -> ReadResult:
    """Read files and folders (recursively: known extensions, sorted, hidden files skipped).

    ``sink``/``window``/``max_abstract_chars``/``limits``: as :func:`read_file` does.

    Raises UsageError for a path that does not exist or an unknown ``fmt``; every other problem
    is a reject in the result, and the other files and records are still read.
    """
    fmt = check_format(fmt)
    paths = [Path(p) for p in paths]
    for path in paths:
        _check_exists(path)
    from assistant.records import ReadResult, Reject

    result = ReadResult()
    for path in paths:
        if path.is_dir():
            files = _folder_files(path)
            if not files:
                result.rejects.append(
                    Reject(
                        path=str(path),
                        reason="no files to read in this folder (looked for "
                        + " ".join(extensions())
                        + ")",
                    )
                )
        else:
            files = [path]
        for file in files:
            one = read_file(file, fmt, sink, window, max_abstract_chars, limits)
            result.papers.extend(one.papers)
            result.rejects.extend(one.rejects)
            result.truncated.extend(one.truncated)
            result.count += one.count
    return result
