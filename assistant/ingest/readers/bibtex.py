"""BibTeX files (Zotero, Better BibTeX, any .bib): read with bibtexparser 2.x.

The library splits the file into blocks and its middlewares do the rest: enclosing braces and
quotes removed, co-authors separated and names split into their parts, LaTeX decoded to text
(pylatexenc, through ``LatexDecodingMiddleware``). This module adds what a paper index needs:
``#`` concatenation and ``@string`` macros, a location (``entry key (line N)``) for every entry,
the library's syntax errors as rejects worded for people, and the fields a Paper has. The
entry's key is kept as the paper's citation key (``extra["bibkey"]``).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.ingest.readers._base import Collector, build_paper, iter_lines, parse_year
from assistant.ingest.readers.formats import InputFormat
from assistant.ingest.text import clean_text

if TYPE_CHECKING:
    from bibtexparser.library import Library
    from bibtexparser.model import Entry

    from assistant.records import Paper

# "@article{" or "@inproceedings (" — the start of an entry.
ENTRY_START = re.compile(r"@[ \t]*([A-Za-z][\w-]*)[ \t\r\n]*([{(])")
_FAILED_KEY = re.compile(r"@\s*[A-Za-z][\w-]*\s*[{(]\s*([^,\s{}()\"=#]+)\s*,")
_ARXIV_NEW = re.compile(r"^\d{4}\.\d{4,5}(?:v\d+)?$")
_ARXIV_OLD = re.compile(r"^[a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7}(?:v\d+)?$")
ARXIV_IN_TEXT = re.compile(
    r"(?:arxiv\.org/(?:abs|pdf)/|arxiv:\s*|10\.48550/arxiv\.)"
    r"(\d{4}\.\d{4,5}(?:v\d+)?|[a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7})",
    re.IGNORECASE,
)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DEFAULT_MACROS = {m: m.capitalize() for m in _MONTHS}
# Values kept as they are (no LaTeX decoding: '%' in a URL is not a comment).
_RAW_FIELDS = frozenset({"doi", "url", "eprint", "file", "pdf", "link"})
_USED_FIELDS = frozenset(
    {
        "title",
        "abstract",
        "author",
        "year",
        "date",
        "doi",
        "eprint",
        "archiveprefix",
        "eprinttype",
        "journal",
        "journaltitle",
        "booktitle",
        "url",
    }
)
# Text that LaTeX decoding would not change (the common case, skipped for speed).
_NEEDS_DECODING = re.compile(r"[\\{}$~%`'&#_^]|--")
# Text commands the writer (assistant.export.bibtex) uses that pylatexenc does not know.
_TEXT_MACROS = {
    "LaTeX": "LaTeX",
    "TeX": "TeX",
    "textbraceleft": "{",
    "textbraceright": "}",
    "textasciicircum": "^",
    "textasciitilde": "~",
    "textless": "<",
    "textgreater": ">",
    "textbar": "|",
    "textbackslash": "\\",
    "url": "%s",
}


def is_arxiv_id(text: str) -> bool:
    """True for 'YYMM.NNNNN' (optionally 'vN') or an old-style 'hep-th/9901001' id."""
    return bool(_ARXIV_NEW.match(text) or _ARXIV_OLD.match(text))


@lru_cache(maxsize=1)
def _decoding() -> Any:
    """bibtexparser's LaTeX decoding middleware, with a decoder that knows the writer's macros.

    Math is decoded to text (``$O(n^2)$`` -> ``O(n^2)``), as the abstract is indexed as text.
    """
    from bibtexparser.middlewares import LatexDecodingMiddleware
    from pylatexenc import latex2text

    context = latex2text.get_default_latex_context_db()
    context.add_context_category(
        "assistant-bibtex",
        prepend=True,
        macros=[latex2text.MacroTextSpec(k, simplify_repl=v) for k, v in _TEXT_MACROS.items()],
        specials=[latex2text.SpecialsTextSpec(q, '"') for q in ("``", "''")],
    )
    decoder = latex2text.LatexNodes2Text(
        latex_context=context, math_mode="text", keep_braced_groups=False
    )

    class Decoding(LatexDecodingMiddleware):
        def _transform_python_value_string(self, python_string: str) -> tuple[str, str]:
            if _NEEDS_DECODING.search(python_string) is None:
                return python_string, ""
            return super()._transform_python_value_string(python_string)

        def decode(self, text: str) -> str:
            return self._transform_python_value_string(text)[0]

    return Decoding(decoder=decoder)


@contextmanager
def _quiet_parser() -> Iterator[None]:
    """bibtexparser logs each syntax error as a warning; here they become rejects instead."""
    logger = logging.getLogger("bibtexparser")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def read_bibtex(path: Path, out: Collector) -> None:
    """Read every entry of a .bib file; a malformed entry is rejected and the next one read."""
    import bibtexparser
    from bibtexparser import model

    texts: list[str] = []
    bad_lines: dict[int, str] = {}
    for lineno, text, error in iter_lines(path):
        texts.append(text)
        if error is not None:
            bad_lines[lineno] = error
    with _quiet_parser():
        library = bibtexparser.parse_string("".join(texts), parse_stack=[])
    macros = _macros(library)
    claimed: set[int] = set()
    for block in library.blocks:
        entry: Entry | None = None
        if isinstance(block, model.Entry):
            entry = block
        elif isinstance(block, model.DuplicateBlockKeyBlock | model.DuplicateFieldKeyBlock):
            # A key used twice (both papers are kept: the writer keeps keys unique), or a
            # field given twice (its first value is used, as BibTeX does).
            inner = block.ignore_error_block
            entry = inner if isinstance(inner, model.Entry) else None
        if entry is None:
            if isinstance(block, model.ParsingFailedBlock):
                out.reject(*_failure(block))
            continue
        first = (entry.start_line or 0) + 1
        last = first + (entry.raw or "").count("\n")
        key = entry.key.strip()
        location = f"entry {key} (line {first})" if key else f"entry (line {first})"
        bad = [n for n in range(first, last + 1) if n in bad_lines]
        if bad:
            claimed.update(bad)
            out.reject(location, f"line {bad[0]}: {bad_lines[bad[0]]}")
            continue
        out.add(location, entry_to_paper(entry, library, macros, out.source))
    for lineno in sorted(set(bad_lines) - claimed):
        out.reject(f"line {lineno}", bad_lines[lineno])


def _failure(block: Any) -> tuple[str, str]:
    """Where a block the library could not parse starts, and what is wrong, for people."""
    raw = block.raw or ""
    first = (block.start_line or 0) + 1
    found = _FAILED_KEY.match(raw)
    location = f"entry {found.group(1)} (line {first})" if found else f"entry (line {first})"
    reason = str(getattr(block.error, "abort_reason", None) or block.error).strip()
    next_line = first + raw.count("\n") + 1
    if "closing `}`" in reason:
        return location, (
            f"unbalanced braces (a new entry starts at line {next_line} before the value closes)"
        )
    if 'closing `"`' in reason:
        return location, (
            f"unterminated quoted value (a new entry starts at line {next_line} before it ends)"
        )
    if "end of file" in reason:
        return location, "unbalanced braces (the entry never closes before the end of the file)"
    if "Unexpected block start" in reason:
        return location, f"the entry is not closed before the next one (line {next_line})"
    return location, "malformed entry: " + reason.replace("`", "'")


def _macros(library: Library) -> dict[str, str]:
    """``@string`` macros (names in lower case) over the month abbreviations."""
    from bibtexparser.middlewares import RemoveEnclosingMiddleware

    macros = dict(_DEFAULT_MACROS)
    strip = RemoveEnclosingMiddleware()
    for string in library.strings:
        stripped = strip.transform_string(string, library)
        value = getattr(stripped, "value", "")
        if getattr(stripped, "enclosing", None) == "no-enclosing":
            value = _concatenate(str(value), macros)
        macros[string.key.strip().lower()] = str(value)
    return macros


def _concatenate(value: str, macros: dict[str, str]) -> str:
    """An unenclosed value: macros, numbers and ``{...}``/``"..."`` joined by ``#``."""
    parts: list[str] = []
    for piece in _split_top_level(value, "#"):
        piece = piece.strip()
        if len(piece) >= 2 and (
            (piece[0] == "{" and piece[-1] == "}") or (piece[0] == '"' and piece[-1] == '"')
        ):
            parts.append(piece[1:-1])
        else:
            parts.append(macros.get(piece.lower(), piece))
    return "".join(parts)


def _split_top_level(value: str, separator: str) -> list[str]:
    """``value`` split at ``separator`` outside braces and quotes."""
    parts: list[str] = []
    depth = 0
    quoted = False
    start = 0
    for i, char in enumerate(value):
        if char == "{":
            depth += 1
        elif char == "}":
            depth = max(0, depth - 1)
        elif char == '"' and depth == 0:
            quoted = not quoted
        elif char == separator and depth == 0 and not quoted:
            parts.append(value[start:i])
            start = i + 1
    parts.append(value[start:])
    return parts


def _plain(value: str) -> str:
    """A DOI, URL or eprint value: braces dropped, TeX escapes of '_', '%', '&' undone."""
    value = re.sub(r"\\(?:url|href)\s*\{([^}]*)\}", r"\1", value)
    value = value.replace("{", "").replace("}", "")
    for escaped in ("_", "%", "&", "#", "~"):
        value = value.replace("\\" + escaped, escaped)
    return clean_text(value)


def _fields(entry: Entry, library: Library, macros: dict[str, str]) -> tuple[Entry, dict[str, str]]:
    """The entry with lower-case field names (first value of each), enclosing removed and
    macros resolved; and those values before LaTeX decoding."""
    from bibtexparser.middlewares import RemoveEnclosingMiddleware
    from bibtexparser.model import Entry as BibEntry
    from bibtexparser.model import Field

    seen: dict[str, Field] = {}
    for field in entry.fields:
        name = field.key.strip().lower()
        if name not in seen:
            seen[name] = Field(name, field.value, start_line=field.start_line)
    clean = BibEntry(entry.entry_type.lower(), entry.key.strip(), list(seen.values()))
    stripped = RemoveEnclosingMiddleware().transform_entry(clean, library)
    assert isinstance(stripped, BibEntry)
    for field in stripped.fields:
        if field.enclosing == "no-enclosing":  # a macro, or pieces joined by '#'
            field.value = _concatenate(str(field.value), macros)
    return stripped, {f.key: str(f.value) for f in stripped.fields}


def _nfc(text: str) -> str:
    """Decoded text with whitespace collapsed and accents composed (e + ´ -> é)."""
    return unicodedata.normalize("NFC", clean_text(text))


def _names(raw: str) -> list[str]:
    """'Last, First and Other, Name' -> ['First Last', 'Name Other'], LaTeX decoded."""
    from bibtexparser.middlewares.names import (
        InvalidNameError,
        parse_single_name_into_parts,
        split_multiple_persons_names,
    )

    decode = _decoding().decode
    names: list[str] = []
    for one in split_multiple_persons_names(raw):
        if not one.strip() or one.strip().lower() == "others":
            continue
        try:
            parts = parse_single_name_into_parts(one)
        except InvalidNameError:
            parts = parse_single_name_into_parts(one, strict=False)
        words = [decode(w) for w in (*parts.first, *parts.von, *parts.last, *parts.jr)]
        name = _nfc(" ".join(words))
        if name:
            names.append(name)
    return names


def entry_to_paper(
    entry: Entry, library: Library, macros: dict[str, str], source: str
) -> Paper | str:
    """Turn one entry into a Paper (or the reason it cannot be one)."""
    from bibtexparser.model import Entry as BibEntry

    stripped, raw = _fields(entry, library, macros)
    decoded = _decoding().transform_entry(stripped, library)
    if not isinstance(decoded, BibEntry):  # a decoding error: the values decoded so far
        decoded = decoded.ignore_error_block
    text = {f.key: _nfc(str(f.value)) for f in decoded.fields}
    kind, key = stripped.entry_type, stripped.key

    year = parse_year(text.get("year", ""))
    if year is None and raw.get("date"):
        year = parse_year(_plain(raw["date"])[:4])
    arxiv_id: str | None = None
    eprint = _plain(raw.get("eprint", ""))
    prefix = _plain(raw.get("archiveprefix", raw.get("eprinttype", ""))).lower()
    if eprint.lower().startswith("arxiv:"):
        eprint = eprint[6:].strip()
    if eprint and prefix in ("", "arxiv") and is_arxiv_id(eprint):
        arxiv_id = eprint
    if arxiv_id is None:
        for name in ("url", "journal", "note", "doi"):
            found = ARXIV_IN_TEXT.search(_plain(raw.get(name, "")))
            if found:
                arxiv_id = found.group(1)
                break
    venue = next((text[k] for k in ("journal", "journaltitle", "booktitle") if k in text), None)
    extra = {"bibkey": key, "bibtype": kind} if key else {"bibtype": kind}
    for name in text:
        if name in _USED_FIELDS or name in extra:
            continue
        value = _plain(raw[name]) if name in _RAW_FIELDS else text[name]
        if value:
            extra[name] = value
    return build_paper(
        source=source,
        title=text.get("title", ""),
        abstract=text.get("abstract", ""),
        year=year,
        authors=_names(raw.get("author", "")),
        venue=venue or None,
        doi=_plain(raw.get("doi", "")) or None,
        arxiv_id=arxiv_id,
        url=_plain(raw.get("url", "")) or None,
        extra=extra,
    )


# A BibTeX entry at the start of a line, anywhere in the file's start.
_ENTRY_LINE = re.compile(r"^[ \t]*@[ \t]*[A-Za-z]+[ \t]*[{(]", re.MULTILINE)


def _has_entry(first: str, text: str) -> bool:
    return ENTRY_START.match(first) is not None or _ENTRY_LINE.search(text[:8192]) is not None


FORMAT = InputFormat(
    "bibtex", read_bibtex, extensions={".bib": None}, recognise=_has_entry, rank=40
)
