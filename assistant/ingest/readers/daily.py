"""The Daily Papers text dump: a few header lines, then title / abstract line pairs."""

from __future__ import annotations

import re
from pathlib import Path

from assistant.ingest.readers._base import Collector, build_paper, iter_lines
from assistant.ingest.readers.formats import InputFormat

_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")


def is_abstract_line(text: str) -> bool:
    """True for a line long enough to be an abstract (> 200 characters, or several sentences)."""
    if len(text) > 200:
        return True
    return len(text) >= 80 and len(_SENTENCE_END.findall(text)) >= 2


def looks_like_daily(text: str) -> bool:
    """True when the start of a text file looks like a Daily Papers dump."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    head = lines[:12]
    if any(re.match(r"^(?:daily papers|get trending papers|by ?ak\b)", h, re.I) for h in head):
        return True
    # Otherwise: a short line directly followed by an abstract-like line, early in the file.
    pairs = zip(lines[:20], lines[1:21], strict=False)
    return any(not is_abstract_line(a) and is_abstract_line(b) for a, b in pairs)


def read_daily(path: Path, out: Collector) -> None:
    """Read title/abstract pairs.

    The short lines before the first pair are the page header ("Subscribe", "Daily Papers",
    "Mar 14", ...) and are skipped. After that, a title line with no abstract line after it and
    an abstract line with no title before it are rejected with their line numbers.
    """
    pending: tuple[int, str] | None = None  # a title waiting for its abstract
    seen_pair = False

    def no_abstract(lineno: int, detail: str = "") -> None:
        out.reject(f"line {lineno}", f"title with no abstract line after it{detail}")

    for lineno, raw, error in iter_lines(path):
        text = raw.strip()
        if error is not None:
            out.reject(f"line {lineno}", error)
            if pending is not None and seen_pair:
                no_abstract(pending[0], f" (line {lineno} is unreadable)")
            pending = None
            continue
        if not text:
            continue
        if is_abstract_line(text):
            if pending is None:
                out.reject(f"line {lineno}", "abstract line with no title line before it")
                continue
            seen_pair = True
            location = f"line {pending[0]}"
            out.add(location, build_paper(source=out.source, title=pending[1], abstract=text))
            pending = None
            continue
        if pending is not None and seen_pair:
            no_abstract(pending[0])
        pending = (lineno, text)  # before the first pair, the previous one was a header line

    if pending is not None and seen_pair:
        no_abstract(pending[0])
    if not seen_pair:
        out.reject(
            None,
            "no title/abstract pairs found (a Daily Papers dump has a title line, then a long "
            "abstract line); pass --format if this is another format",
        )


def _daily_text(first: str, text: str) -> bool:
    return looks_like_daily(text)


# Daily Papers dumps are .txt files: recognised by their text (formats.TEXT_EXTENSIONS).
FORMAT = InputFormat("daily", read_daily, extensions={}, recognise=_daily_text, rank=60)
