"""BibTeX files: @article{key, title = {...}, abstract = {...}, ...} entries."""

from __future__ import annotations

import bisect
import re
from pathlib import Path

from assistant.ingest.readers._base import Collector, build_paper, iter_lines, parse_year
from assistant.ingest.text import clean_text, latex_to_text
from assistant.records import Paper

# "@article{" or "@inproceedings (" — the start of an entry.
ENTRY_START = re.compile(r"@[ \t]*([A-Za-z][\w-]*)[ \t\r\n]*([{(])")
_NEW_ENTRY_LINE = re.compile(r"\n[ \t]*@[ \t]*[A-Za-z][\w-]*[ \t]*[{(]")
_FIELD_NAME = re.compile(r"[A-Za-z_][\w\-:.+]*")
_MACRO_NAME = re.compile(r"[A-Za-z_][\w\-:.+]*")
_KEY = re.compile(r"[^,\s{}()\"=#]*")
_NUMBER = re.compile(r"\d+")
_AND = re.compile(r"\s+and\s+", re.IGNORECASE)
_ARXIV_NEW = re.compile(r"^\d{4}\.\d{4,5}(?:v\d+)?$")
_ARXIV_OLD = re.compile(r"^[a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7}(?:v\d+)?$")
_ARXIV_IN_TEXT = re.compile(
    r"(?:arxiv\.org/(?:abs|pdf)/|arxiv:\s*)(\d{4}\.\d{4,5}(?:v\d+)?|[a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7})",
    re.IGNORECASE,
)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DEFAULT_MACROS = {m: m.capitalize() for m in _MONTHS}
_SKIPPED_KINDS = frozenset({"comment", "preamble"})
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


class BibError(Exception):
    """A malformed entry; the message says what is wrong."""


def is_arxiv_id(text: str) -> bool:
    """True for 'YYMM.NNNNN' (optionally 'vN') or an old-style 'hep-th/9901001' id."""
    return bool(_ARXIV_NEW.match(text) or _ARXIV_OLD.match(text))


class _Parser:
    """Scans the whole text of a .bib file entry by entry."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.macros: dict[str, str] = dict(_DEFAULT_MACROS)

    def line_of(self, index: int) -> int:
        return bisect.bisect_right(self.line_starts, index)

    def _skip_ws(self, i: int) -> int:
        text, n = self.text, self.n
        while i < n and text[i] in " \t\r\n":
            i += 1
        return i

    def _value_end(self, i: int, field: str, *, quoted: bool) -> int:
        """Index just after the end of the ``{...}`` (or, ``quoted``, ``"..."``) value at ``i``.

        A backslash escapes the next character. A braced value ends at the '}' that closes its
        '{'; a quoted one at the next '"' outside braces. Either fails when a new entry starts
        on a line inside it, or the file ends first.
        """
        text, n = self.text, self.n
        depth = 0
        if quoted:
            i += 1
        while i < n:
            c = text[i]
            if c == "\\":
                i += 2
                continue
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0 and not quoted:
                    return i + 1
                if depth < 0:  # only a quoted value starts at depth 0
                    raise BibError(f"unbalanced braces in {field} (a '}}' with no '{{')")
            elif c == '"' and quoted and depth == 0:
                return i + 1
            elif c == "\n" and _NEW_ENTRY_LINE.match(text, i):
                problem = (
                    f"unterminated value of {field}" if quoted else f"unbalanced braces in {field}"
                )
                raise BibError(
                    f"{problem} (a new entry starts at line {self.line_of(i + 1)} before it "
                    f"{'ends' if quoted else 'closes'})"
                )
            i += 1
        if quoted:
            raise BibError(f"unterminated quoted value of {field}")
        raise BibError(f"unbalanced braces in {field} (never closed before the end of the file)")

    def value(self, i: int, field: str) -> tuple[str, int]:
        """Parse ``{...}``, ``"..."``, a number or a macro, joined by ``#``; return raw text."""
        parts: list[str] = []
        text = self.text
        while True:
            i = self._skip_ws(i)
            if i >= self.n:
                raise BibError(f"missing value for {field} (end of file)")
            c = text[i]
            if c == "{":
                end = self._value_end(i, field, quoted=False)
                parts.append(text[i + 1 : end - 1])
            elif c == '"':
                end = self._value_end(i, field, quoted=True)
                parts.append(text[i + 1 : end - 1])
            elif (m := _NUMBER.match(text, i)) is not None:
                end = m.end()
                parts.append(m.group())
            elif (m := _MACRO_NAME.match(text, i)) is not None:
                end = m.end()
                parts.append(self.macros.get(m.group().lower(), m.group()))
            else:
                raise BibError(f"expected a value for {field}, found {c!r}")
            i = self._skip_ws(end)
            if i < self.n and text[i] == "#":
                i += 1
                continue
            return "".join(parts), i

    def fields(self, i: int, close: str, key: str) -> tuple[dict[str, str], int]:
        """Parse ``name = value`` pairs up to the entry's closing delimiter."""
        text = self.text
        found: dict[str, str] = {}
        while True:
            i = self._skip_ws(i)
            if i >= self.n:
                raise BibError("unbalanced braces (the entry never closes)")
            c = text[i]
            if c == close:
                return found, i + 1
            if c == ",":
                i += 1
                continue
            if c == "%":  # a comment line between fields (biber allows them)
                newline = text.find("\n", i)
                i = self.n if newline < 0 else newline + 1
                continue
            m = _FIELD_NAME.match(text, i)
            if m is None:
                what = "a new entry starts" if c == "@" else f"found {c!r}"
                raise BibError(
                    f"unbalanced braces or missing comma: expected a field name at line "
                    f"{self.line_of(i)}, {what}"
                )
            name = m.group().lower()
            i = self._skip_ws(m.end())
            if i >= self.n or text[i] != "=":
                raise BibError(
                    f"expected '=' after field name {m.group()!r} (line {self.line_of(i)})"
                )
            value, i = self.value(i + 1, name)
            found.setdefault(name, value)
            if i < self.n and text[i] not in (",", close):
                what = "a new entry starts" if text[i] == "@" else f"found {text[i]!r}"
                raise BibError(
                    f"expected ',' or '{close}' after field {name} (line {self.line_of(i)}), {what}"
                )

    def skip_group(self, i: int, close: str) -> int:
        """Skip a balanced group (``@comment{...}``); on failure skip to the end of the line."""
        try:
            if close == "}":
                return self._value_end(i, "comment", quoted=False)
            end = self.text.find(")", i)
            if end >= 0:
                return end + 1
        except BibError:
            pass
        end = self.text.find("\n", i)
        return self.n if end < 0 else end + 1


def read_bibtex(path: Path, out: Collector) -> None:
    """Read every entry of a .bib file; a malformed entry is rejected and the next one read."""
    texts: list[str] = []
    bad_lines: dict[int, str] = {}
    for lineno, text, error in iter_lines(path):
        texts.append(text)
        if error is not None:
            bad_lines[lineno] = error
    parser = _Parser("".join(texts))
    text = parser.text
    claimed: set[int] = set()
    pos = 0
    while True:
        at = text.find("@", pos)
        if at < 0:
            break
        m = ENTRY_START.match(text, at)
        if m is None:
            pos = at + 1
            continue
        kind = m.group(1).lower()
        close = "}" if m.group(2) == "{" else ")"
        start_line = parser.line_of(at)
        if kind in _SKIPPED_KINDS:
            pos = parser.skip_group(m.end() - 1, close)
            continue
        key = ""
        try:
            if kind == "string":
                macros, end = parser.fields(m.end(), close, "@string")
                parser.macros.update(macros)
                pos = end
                continue
            km = _KEY.match(text, parser._skip_ws(m.end()))
            key = km.group() if km else ""
            i = parser._skip_ws(km.end() if km else m.end())
            if i < parser.n and text[i] == "=":  # no key: the first field starts right away
                key = ""
                i = m.end()
            entry_fields, end = parser.fields(i, close, key)
        except BibError as exc:
            location = f"entry {key} (line {start_line})" if key else f"entry (line {start_line})"
            out.reject(location, str(exc))
            pos = at + 1
            continue
        pos = end
        end_line = parser.line_of(end - 1)
        location = f"entry {key} (line {start_line})" if key else f"entry (line {start_line})"
        bad = [n for n in range(start_line, end_line + 1) if n in bad_lines]
        if bad:
            claimed.update(bad)
            out.reject(location, f"line {bad[0]}: {bad_lines[bad[0]]}")
            continue
        out.add(location, entry_to_paper(kind, key, entry_fields, out.source))
    for lineno in sorted(set(bad_lines) - claimed):
        out.reject(f"line {lineno}", bad_lines[lineno])


def _plain(value: str) -> str:
    """A DOI, URL or eprint value: braces dropped, TeX escapes of '_', '%', '&' undone."""
    value = re.sub(r"\\(?:url|href)\s*\{([^}]*)\}", r"\1", value)
    value = value.replace("{", "").replace("}", "")
    for escaped in ("_", "%", "&", "#", "~"):
        value = value.replace("\\" + escaped, escaped)
    return clean_text(value)


def _split_top_level(value: str, pattern: re.Pattern[str]) -> list[str]:
    """Split ``value`` where ``pattern`` matches outside braces."""
    depth_at: list[int] = []
    depth = 0
    for c in value:
        depth_at.append(depth)
        if c == "{":
            depth += 1
        elif c == "}":
            depth = max(0, depth - 1)
    parts: list[str] = []
    start = 0
    for m in pattern.finditer(value):
        if depth_at[m.start()] == 0:
            parts.append(value[start : m.start()])
            start = m.end()
    parts.append(value[start:])
    return parts


_COMMA = re.compile(r",")


def bib_authors(value: str) -> list[str]:
    """'Last, First and Other, Name' -> ['First Last', 'Name Other'] as plain text."""
    names: list[str] = []
    for part in _split_top_level(value, _AND):
        part = part.strip()
        if not part or part.lower() == "others":
            continue
        pieces = [p.strip() for p in _split_top_level(part, _COMMA)]
        if len(pieces) == 2:
            part = f"{pieces[1]} {pieces[0]}"
        elif len(pieces) >= 3:  # "von Last, Jr, First"
            part = f"{pieces[2]} {pieces[0]} {pieces[1]}"
        name = latex_to_text(part)
        if name:
            names.append(name)
    return names


def entry_to_paper(kind: str, key: str, fields: dict[str, str], source: str) -> Paper | str:
    """Turn one parsed entry (raw field values) into a Paper (or the reason it cannot be one)."""
    year = parse_year(latex_to_text(fields.get("year", "")))
    if year is None and fields.get("date"):
        year = parse_year(_plain(fields["date"])[:4])
    arxiv_id: str | None = None
    eprint = _plain(fields.get("eprint", ""))
    prefix = _plain(fields.get("archiveprefix", fields.get("eprinttype", ""))).lower()
    if eprint.lower().startswith("arxiv:"):
        eprint = eprint[6:].strip()
    if eprint and prefix in ("", "arxiv") and is_arxiv_id(eprint):
        arxiv_id = eprint
    if arxiv_id is None:
        for name in ("url", "journal", "note"):
            found = _ARXIV_IN_TEXT.search(_plain(fields.get(name, "")))
            if found:
                arxiv_id = found.group(1)
                break
    venue = next(
        (latex_to_text(fields[k]) for k in ("journal", "journaltitle", "booktitle") if k in fields),
        None,
    )
    extra = {"bibkey": key, "bibtype": kind} if key else {"bibtype": kind}
    for name, raw in fields.items():
        if name not in _USED_FIELDS and name not in extra:
            value = _plain(raw) if name in ("file", "pdf", "link") else latex_to_text(raw)
            if value:
                extra[name] = value
    return build_paper(
        source=source,
        title=latex_to_text(fields.get("title", "")),
        abstract=latex_to_text(fields.get("abstract", "")),
        year=year,
        authors=bib_authors(fields.get("author", "")),
        venue=venue or None,
        doi=_plain(fields.get("doi", "")) or None,
        arxiv_id=arxiv_id,
        url=_plain(fields.get("url", "")) or None,
        extra=extra,
    )
