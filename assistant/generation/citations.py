"""Citations in answers: the formats models write, normalised to ``[n]``, checked, marked, quoted.

Models cite in many ways: ``[1]``, ``[1, 2]``, ``[1][2]``, ``[1-3]``, ``(1)``, ``[^1]``,
``【1】``, ``[Source 1]``, ``[S1]``, ``[Paper 1]``, and, when the sources carry authors,
``(Smith et al., 2023)``. Each is recognised and rewritten as ``[n]`` groups (``[1][2]``).
:func:`check_citations` also drops numbers that match no retrieved paper and marks sentences
that cite nothing; :class:`CitationStreamFilter` does the same rewriting on streamed text;
quoted source text cannot pass for the answer's own citations
(:func:`~assistant.text.quoting.quote_text`).

A bare ``(n)`` counts as a citation only where a citation goes (before punctuation, a line end
or another citation, outside quotation marks, n at most 100), so enumerations such as
"(1) speed and (2) memory" and years in parentheses stay text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, Field

from assistant.ingest.chunking import split_sentences
from assistant.llm.base import TokenFn
from assistant.text.quoting import NUMBERED_CITATION

__all__ = [
    "UNCITED_MARK",
    "UNSUPPORTED_MARK",
    "AuthorIndex",
    "CitationSupport",
    "CitationCheck",
    "CitationStreamFilter",
    "check_citations",
    "normalise_citations",
]

UNCITED_MARK = "[citation needed]"
#: After a citation whose abstract says nothing close to the sentence (generation/attribution.py).
UNSUPPORTED_MARK = "[unsupported]"

_LETTER = re.compile(r"[^\W\d_]")
#: Any bracketed group that may be a citation: [..], 【..】 or (..), on one line.
_GROUP = re.compile(r"\[[^\[\]\n]{1,60}\]|【[^【】\n]{1,60}】|\([^()\n]{1,120}\)")
_PREFIX = re.compile(r"^(?:\^|#|sources?|papers?|refs?\.?|references?|s)\s*", re.IGNORECASE)
_NUMBER_OR_RANGE = re.compile(r"^(\d+)(?:\s*[-–]\s*(?:\^|#|sources?|papers?|s)?\s*(\d+))?$", re.I)
_PAREN_CITES_BEFORE = re.compile(r"\s*(?:[.,;:!?)\]\[(【]|$)", re.MULTILINE)
_AUTHOR_YEAR = re.compile(
    r"^(?:e\.g\.,?\s*|see\s+(?:also\s+)?)?"
    r"(?P<name>[^\W\d_][\w'’\-]*(?:\s+[^\W\d_][\w'’\-]*)?)"
    r"(?:\s+(?:and|&)\s+[^\W\d_][\w'’\-]*)?(?:\s+et\s+al\.?)?,?\s+(?P<year>(?:19|20)\d{2})[a-z]?$"
)
_MAX_PAREN_NUMBER = 100


class CitationSupport(BaseModel):
    """One citation occurrence and the abstract sentence it rests on."""

    n: int
    paper_id: str
    sentence: str  # the answer's sentence, citation marks removed
    evidence: str  # the best-matching sentence of the cited abstract
    score: float
    supported: bool


def _fold(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower().strip()


def surname(author: str) -> str:
    """``"Chen, Yukang"`` and ``"Yukang Chen"`` -> ``"chen"``."""
    author = author.strip()
    if "," in author:
        return _fold(author.split(",", 1)[0])
    parts = author.split()
    return _fold(parts[-1]) if parts else ""


class AuthorIndex:
    """Source numbers by their first author's surname and year, for ``(Smith et al., 2023)``."""

    def __init__(self, sources: Iterable[tuple[int, Sequence[str], int | None]]) -> None:
        self.entries = [(n, surname(authors[0]), year) for n, authors, year in sources if authors]

    def __bool__(self) -> bool:
        return bool(self.entries)

    def numbers(self, name: str, year: int) -> list[int]:
        wanted = _fold(name.split()[-1]) if name.split() else ""
        exact = [n for n, last, y in self.entries if last == wanted and y == year]
        if exact:
            return exact
        undated = [n for n, last, y in self.entries if last == wanted and y is None]
        return undated if len(undated) == 1 else []


def _parse_numbers(inner: str) -> list[int] | None:
    """Numbers of a citation group's inside (``1, 2``, ``S1-S3``, ``Source 1``), else None."""
    parts = [p.strip() for p in re.split(r"\s*(?:[,;]|\band\b|&)\s*", inner.strip())]
    numbers: list[int] = []
    for part in parts:
        if not part:
            return None
        part = _PREFIX.sub("", part, count=1)
        match = _NUMBER_OR_RANGE.match(part)
        if match is None:
            return None
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) else low
        if not 0 < high - low <= 20:
            high = low
        numbers.extend(n for n in range(low, high + 1) if n not in numbers)
    return numbers or None


def _group_numbers(
    group: str, authors: AuthorIndex | None, cites_follow: bool, unmatched: list[str]
) -> list[int] | None:
    """The numbers a bracketed ``group`` cites, or None when it is no citation."""
    opener, inner = group[0], group[1:-1]
    if opener in "[【":
        return _parse_numbers(inner)
    numbers = _parse_numbers(inner)
    if numbers is not None:  # (1), (Source 2): only where a citation goes
        prefixed = bool(_PREFIX.match(inner.strip())) and not inner.strip()[0].isdigit()
        if prefixed or (cites_follow and max(numbers) <= _MAX_PAREN_NUMBER):
            return numbers
        return None
    if not authors:
        return None
    cited: list[int] = []
    for part in re.split(r"\s*;\s*", inner.strip()):
        match = _AUTHOR_YEAR.match(part)
        if match is None:
            return None
        found = authors.numbers(match.group("name"), int(match.group("year")))
        if not found and part not in unmatched:
            unmatched.append(part)
        cited.extend(n for n in found if n not in cited)
    return cited


def _quoted_spans(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(r"“[^”]*”", text)]


def normalise_citations(
    text: str,
    valid: set[int] | None = None,
    authors: AuthorIndex | None = None,
    removed: list[int] | None = None,
    unmatched: list[str] | None = None,
) -> str:
    """``text`` with every citation format rewritten as ``[n]`` groups.

    With ``valid``, numbers outside it are dropped (and appended to ``removed``); author-year
    citations that match no source are dropped (and appended to ``unmatched``).
    """
    removed = [] if removed is None else removed
    unmatched = [] if unmatched is None else unmatched
    quoted = _quoted_spans(text)

    def rewrite(match: re.Match[str]) -> str:
        group = match.group(0)
        if group[0] == "(" and any(a <= match.start() < b for a, b in quoted):
            return group
        follows = bool(_PAREN_CITES_BEFORE.match(text, match.end()))
        numbers = _group_numbers(group, authors, follows, unmatched)
        if numbers is None:
            return group
        return _kept(numbers, valid, removed)

    return _GROUP.sub(rewrite, text)


def _kept(numbers: list[int], valid: set[int] | None, removed: list[int]) -> str:
    kept = []
    for n in numbers:
        if valid is None or n in valid:
            if n not in kept:
                kept.append(n)
        elif n not in removed:
            removed.append(n)
    return "".join(f"[{n}]" for n in kept)


def _numbers_in(group: str) -> list[int]:
    return _parse_numbers(group) or []


class CitationCheck(BaseModel):
    text: str
    used: list[int]
    removed: list[int]
    uncited_sentences: int
    uncited: list[str] = Field(default_factory=list, description="The sentences citing nothing.")
    unmatched: list[str] = Field(
        default_factory=list, description="Author-year citations that match no source."
    )


def check_citations(
    text: str, valid: set[int], mark_uncited: bool = True, authors: AuthorIndex | None = None
) -> CitationCheck:
    """Normalise citations to ``[n]``, drop numbers outside ``valid``, mark uncited sentences."""
    removed: list[int] = []
    unmatched: list[str] = []
    cleaned = normalise_citations(text, valid, authors, removed, unmatched)
    cleaned = re.sub(r"[ \t]+([.,;:])", r"\1", cleaned)
    used: list[int] = []
    for match in NUMBERED_CITATION.finditer(cleaned):
        for n in _numbers_in(match.group(1)):
            if n not in used:
                used.append(n)
    uncited: list[str] = []
    out_lines = []
    for line in cleaned.split("\n"):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or _is_abstention(stripped):
            out_lines.append(line)
            continue
        marked = []
        for sentence in split_sentences(stripped):
            # Every statement cites, a one-word one too; a bare list marker ("1.") is none.
            if NUMBERED_CITATION.search(sentence) or not _LETTER.search(sentence):
                marked.append(sentence)
            else:
                uncited.append(sentence)
                marked.append(f"{sentence} {UNCITED_MARK}" if mark_uncited else sentence)
        prefix = line[: len(line) - len(line.lstrip())]
        out_lines.append(prefix + " ".join(marked))
    return CitationCheck(
        text="\n".join(out_lines),
        used=used,
        removed=removed,
        uncited_sentences=len(uncited),
        uncited=uncited,
        unmatched=unmatched,
    )


def _is_abstention(sentence: str) -> bool:
    lowered = sentence.lower()
    return "sources do not" in lowered or "do not answer" in lowered or "not covered" in lowered


_CLOSER = {"[": "]", "【": "】", "(": ")"}
_LIMIT = {"[": 62, "【": 62, "(": 122}


class CitationStreamFilter:
    """Passes streamed text through, rewriting citations as ``[n]`` once it can check them.

    A ``[``, ``【`` or ``(`` group is held back until it closes (a bare ``(n)`` also until the
    next character shows whether a citation goes there); a group that is no citation is let
    through as it was.
    """

    def __init__(self, valid: set[int], emit: TokenFn, authors: AuthorIndex | None = None) -> None:
        self.valid = valid
        self.emit = emit
        self.authors = authors
        self.removed: list[int] = []
        self.unmatched: list[str] = []
        self._held = ""
        self._waiting = False  # a closed "(n)" waits for the character after it
        self._in_quote = False

    def feed(self, token: str) -> None:
        for char in token:
            self._char(char)

    def _char(self, char: str) -> None:
        if self._waiting:
            if char in " \t":
                self._held += char
                return
            group = self._held.rstrip(" \t")
            space = self._held[len(group) :]
            self._held, self._waiting = "", False
            follows = bool(_PAREN_CITES_BEFORE.match(char))
            self._resolve(group, follows, space + char)
            return
        if not self._held:
            if char in _CLOSER and not (char == "(" and self._in_quote):
                self._held = char
                return
            if char in "“”":
                self._in_quote = char == "“"
            self.emit(char)
            return
        self._held += char
        opener = self._held[0]
        if char == "\n" or char == opener or len(self._held) > _LIMIT[opener]:
            self._let_through()
        elif char == _CLOSER[opener]:
            if opener == "(" and _parse_numbers(self._held[1:-1]) is not None:
                self._waiting = True
                return
            group, self._held = self._held, ""
            self._resolve(group, False, "")

    def _resolve(self, group: str, follows: bool, after: str) -> None:
        numbers = _group_numbers(group, self.authors, follows, self.unmatched)
        if numbers is None:
            held, self._held = group + after, ""
            self.emit(held[0])
            self.feed(held[1:])
            return
        self.emit(_kept(numbers, self.valid, self.removed))
        self.feed(after)

    def _let_through(self) -> None:
        """The held text is no citation: emit its first character, re-read the rest."""
        held, self._held = self._held, ""
        self.emit(held[0])
        self.feed(held[1:])

    def close(self) -> None:
        if self._waiting:
            group = self._held.rstrip(" \t")
            space = self._held[len(group) :]
            self._held, self._waiting = "", False
            self._resolve(group, True, space)
        while self._held:
            self._let_through()
