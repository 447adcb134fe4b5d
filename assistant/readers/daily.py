"""The Daily Papers text dump: a few header lines, then title / abstract line pairs."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from ._base import Collector, Line, build_paper

# Lines of the page header seen in dumps of huggingface.co/papers.
_HEADER_LINE = re.compile(
    r"^(?:new|subscribe|daily papers|get trending papers.*|by ?ak\b.*|.*research community"
    r"|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? \d{1,2}(?:,? \d{4})?"
    r"|\d{4}-\d{2}-\d{2}|\d{1,2} (?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*"
    r"(?: \d{4})?)$",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")


def is_abstract_line(text: str) -> bool:
    """True for a line long enough to be an abstract (> 200 characters, or several sentences)."""
    if len(text) > 200:
        return True
    return len(text) >= 80 and len(_SENTENCE_END.findall(text)) >= 2


def is_header_line(text: str) -> bool:
    """True for a page-header line ("Subscribe", "Daily Papers", "Mar 14") or any 1-3 words."""
    return bool(_HEADER_LINE.match(text)) or len(text.split()) <= 3


def looks_like_daily(text: str) -> bool:
    """True when the start of a text file looks like a Daily Papers dump."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    head = lines[:12]
    if any(re.match(r"^(?:daily papers|get trending papers|by ?ak\b)", h, re.I) for h in head):
        return True
    # Otherwise: a short line directly followed by an abstract-like line, early in the file.
    pairs = zip(lines[:20], lines[1:21], strict=False)
    return any(not is_abstract_line(a) and is_abstract_line(b) for a, b in pairs)


def read_daily(path: Path, lines: Iterable[Line], out: Collector) -> None:
    """Read title/abstract pairs; header lines before the first pair are skipped."""
    pending: tuple[int, str] | None = None  # a title waiting for its abstract
    header: list[tuple[int, str]] = []  # short lines seen before the first pair
    seen_pair = False

    def no_abstract(lineno: int, detail: str = "") -> None:
        out.reject(f"line {lineno}", f"title with no abstract line after it{detail}")

    for lineno, raw, error in lines:
        text = raw.strip()
        if error is not None:
            out.reject(f"line {lineno}", error)
            if pending is not None:
                no_abstract(pending[0], f" (line {lineno} is unreadable)")
                pending = None
            continue
        if not text:
            continue
        if is_abstract_line(text):
            if pending is None:
                out.reject(f"line {lineno}", "abstract line with no title line before it")
                continue
            if not seen_pair:
                seen_pair = True
                for head_lineno, head_text in header:
                    if not is_header_line(head_text):
                        no_abstract(head_lineno)
            location = f"line {pending[0]}"
            out.add(location, build_paper(source=out.source, title=pending[1], abstract=text))
            pending = None
            continue
        if pending is not None:
            if seen_pair:
                no_abstract(pending[0])
            else:
                header.append(pending)
        pending = (lineno, text)

    if pending is not None:
        if seen_pair:
            no_abstract(pending[0])
        else:
            header.append(pending)
    if not seen_pair:
        out.reject(
            None,
            "no title/abstract pairs found (a Daily Papers dump has a title line, then a long "
            "abstract line); pass --format if this is another format",
        )
