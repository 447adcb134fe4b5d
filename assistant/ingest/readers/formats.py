"""The input formats: a format is one module that declares an :class:`InputFormat`.

A format says its name (what ``--format`` takes), the file extensions it is read from (files
taken from folders), for each of them whether any file so named is of it or only one that passes
a test (a ``.json`` file is CSL-JSON or JSON records), and how it is recognised by its text alone
(a ``.txt`` file, or one of an extension no format names). Formats are tried in ``rank`` order:
the surest sign first (a CSL-JSON array, a JSON object, a RIS tag, a BibTeX entry), a guess from
the text's shape (a header row, a title line then an abstract) last.

A module of :mod:`assistant.ingest.readers` declares its format as ``FORMAT``; those modules are
imported when the formats are first asked for. A format from elsewhere (a plugin, a test) calls
:func:`register`. The format modules load without pydantic (the records are made
in :mod:`~assistant.ingest.readers._base`), so the CLI's help can list them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.errors import UsageError
from assistant.ingest.readers._base import plain_suffix
from assistant.registry import Registry

if TYPE_CHECKING:
    from assistant.ingest.readers._base import Collector

__all__ = [
    "TEXT_EXTENSIONS",
    "InputFormat",
    "TextTest",
    "check_format",
    "detect_format",
    "extensions",
    "format_hint",
    "format_names",
    "formats",
    "reader",
    "register",
    "unregister",
]

#: ``(the first line that is not blank, stripped; the text of the file's start)``: is it this
#: format?
TextTest = Callable[[str, str], bool]
#: Extensions of files of any format, which is recognised by their text (Daily Papers dumps).
TEXT_EXTENSIONS = (".txt",)


@dataclass(frozen=True)
class InputFormat:
    """One input format: its name, how a file of it is read and how one is recognised."""

    name: str
    #: Reads one file, handing its papers and rejects to the collector (never raising for a
    #: bad record).
    read: Callable[[Path, Collector], None]
    #: Extension (lower case, with its dot) -> None: every file so named is of this format;
    #: or the test that one must pass.
    extensions: dict[str, TextTest | None]
    #: Recognises the format by its text, for a file of an extension no format names.
    recognise: TextTest | None = None
    #: Where the format is tried and listed: lower first.
    rank: int = 100


_FORMATS: Registry[InputFormat] = Registry(
    "assistant.ingest.readers", "FORMAT", lambda module: module[0] != "_" and module != "formats"
)


def register(fmt: InputFormat) -> None:
    """Make ``fmt`` known (replacing a format of the same name)."""
    _FORMATS.register(fmt)


def unregister(name: str) -> None:
    """Forget the format called ``name`` (if any)."""
    _FORMATS.unregister(name)


def formats() -> list[InputFormat]:
    """The known formats in rank order (formats of one rank in the order they registered)."""
    return _FORMATS.all()


def format_names() -> tuple[str, ...]:
    """The names ``--format`` takes."""
    return tuple(fmt.name for fmt in formats())


def extensions() -> tuple[str, ...]:
    """The extensions of the files taken from folders (any of them also gzip-compressed)."""
    named = (suffix for fmt in formats() for suffix in fmt.extensions)
    return tuple(dict.fromkeys((*TEXT_EXTENSIONS, *named)))


def format_hint() -> str:
    """How to name a format, for a message."""
    return "pass --format with one of: " + ", ".join(format_names())


def check_format(fmt: str | None) -> str | None:
    """The format called ``fmt`` (any case); None for none or ``auto``. UsageError if unknown."""
    if fmt is None:
        return None
    name = fmt.strip().lower()
    if name in ("", "auto"):
        return None
    if name not in format_names():
        raise UsageError(f"unknown format {fmt!r}", hint=format_hint() + " (or leave it out)")
    return name


def reader(name: str) -> Callable[[Path, Collector], None]:
    """How a file of the format ``name`` (a known one) is read."""
    return next(fmt.read for fmt in formats() if fmt.name == name)


def detect_format(path: Path, head: str) -> str | None:
    """The format of a file from its extension and the start of its text, or None if unknown.

    A file of an extension some formats name is of the first of them whose test it passes (or
    that needs none); none: unknown. Another file (``.txt``) is of the first format that
    recognises its text.
    """
    suffix = plain_suffix(path)
    text = head.lstrip("\ufeff")
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    known = formats()
    named = [fmt for fmt in known if suffix in fmt.extensions]
    if named:
        for fmt in named:
            test = fmt.extensions[suffix]
            if test is None or test(first, text):
                return fmt.name
        return None
    if not first:
        return None
    for fmt in known:
        if fmt.recognise is not None and fmt.recognise(first, text):
            return fmt.name
    return None


def __getattr__(name: str) -> tuple[str, ...]:
    """``FORMATS`` and ``EXTENSIONS``: :func:`format_names` and :func:`extensions` as they are
    when read."""
    if name == "FORMATS":
        return format_names()
    if name == "EXTENSIONS":
        return extensions()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
