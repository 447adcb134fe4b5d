"""Citation numbers in answers: parsing, checking, marking uncited sentences, quoting.

An answer's citations are ``[n]`` groups (``[1]``, ``[1, 3]``, ``[2-4]``). :func:`check_citations`
drops numbers that match no retrieved paper and marks sentences that cite nothing;
:class:`CitationStreamFilter` does the dropping on streamed text; :func:`quote_text` makes quoted
source text unable to pass for the answer's own citations.
"""

from __future__ import annotations

import re

from pydantic import BaseModel

from assistant.generation.llm.base import TokenFn
from assistant.ingest.chunking import split_sentences

__all__ = [
    "UNCITED_MARK",
    "CitationCheck",
    "CitationStreamFilter",
    "check_citations",
    "quote_text",
]

UNCITED_MARK = "[citation needed]"

_CITATION = re.compile(r"\[(\s*\d+(?:\s*(?:[,;]|–|-)\s*\d+)*\s*)\]")
_LETTER = re.compile(r"[^\W\d_]")


def quote_text(text: str) -> str:
    """``text`` to quote in an answer, its bracketed numbers shown as ``(n)``.

    A source's own references ("as shown in [7]") would otherwise read, to the reader and to
    :func:`check_citations`, as the answer's citations.
    """
    return _CITATION.sub(lambda m: f"({m.group(1).strip()})", text)


def _numbers_in(group: str) -> list[int]:
    numbers: list[int] = []
    for part in re.split(r"[,;]", group):
        part = part.strip()
        if not part:
            continue
        bounds = re.split(r"\s*(?:–|-)\s*", part)
        if len(bounds) == 2 and bounds[0].isdigit() and bounds[1].isdigit():
            low, high = int(bounds[0]), int(bounds[1])
            if 0 < high - low <= 20:
                numbers.extend(range(low, high + 1))
                continue
        if part.isdigit():
            numbers.append(int(part))
    return numbers


def _rewrite_citation(group: str, valid: set[int], removed: list[int]) -> str:
    kept = []
    for n in _numbers_in(group):
        if n in valid:
            if n not in kept:
                kept.append(n)
        elif n not in removed:
            removed.append(n)
    return "".join(f"[{n}]" for n in kept)


class CitationCheck(BaseModel):
    text: str
    used: list[int]
    removed: list[int]
    uncited_sentences: int


def check_citations(text: str, valid: set[int], mark_uncited: bool = True) -> CitationCheck:
    """Drop citation numbers outside ``valid`` and mark sentences that cite nothing."""
    removed: list[int] = []
    cleaned = _CITATION.sub(lambda m: _rewrite_citation(m.group(1), valid, removed), text)
    cleaned = re.sub(r"[ \t]+([.,;:])", r"\1", cleaned)
    used: list[int] = []
    for match in _CITATION.finditer(cleaned):
        for n in _numbers_in(match.group(1)):
            if n not in used:
                used.append(n)
    uncited = 0
    out_lines = []
    for line in cleaned.split("\n"):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or _is_abstention(stripped):
            out_lines.append(line)
            continue
        sentences = split_sentences(stripped)
        marked = []
        for sentence in sentences:
            # Every statement cites, a one-word one too; a bare list marker ("1.") is none.
            if _CITATION.search(sentence) or not _LETTER.search(sentence):
                marked.append(sentence)
            else:
                uncited += 1
                marked.append(f"{sentence} {UNCITED_MARK}" if mark_uncited else sentence)
        prefix = line[: len(line) - len(line.lstrip())]
        out_lines.append(prefix + " ".join(marked))
    return CitationCheck(
        text="\n".join(out_lines), used=used, removed=removed, uncited_sentences=uncited
    )


def _is_abstention(sentence: str) -> bool:
    lowered = sentence.lower()
    return "sources do not" in lowered or "do not answer" in lowered or "not covered" in lowered


class CitationStreamFilter:
    """Passes streamed text through, holding back ``[...]`` until it can check the numbers."""

    def __init__(self, valid: set[int], emit: TokenFn) -> None:
        self.valid = valid
        self.emit = emit
        self.removed: list[int] = []
        self._held = ""

    def feed(self, token: str) -> None:
        for char in token:
            if self._held:
                self._held += char
                if char == "]":
                    match = _CITATION.fullmatch(self._held)
                    self.emit(
                        _rewrite_citation(match.group(1), self.valid, self.removed)
                        if match
                        else self._held
                    )
                    self._held = ""
                elif len(self._held) > 40 or char == "\n":
                    self.emit(self._held)
                    self._held = ""
            elif char == "[":
                self._held = char
            else:
                self.emit(char)

    def close(self) -> None:
        if self._held:
            self.emit(self._held)
            self._held = ""
