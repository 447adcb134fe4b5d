"""A made-up input format, declared in one module as a plugin would declare one.

A ``.notes`` file holds one paper per block: ``# Title``, then its abstract on the following
lines, blocks apart by a blank line. Registered by the tests that use it (and forgotten after).
"""

from __future__ import annotations

from pathlib import Path

from assistant.ingest.readers._base import Collector, build_paper, iter_lines
from assistant.ingest.readers.formats import InputFormat


def read_notes(path: Path, out: Collector) -> None:
    title: tuple[int, str] | None = None
    abstract: list[str] = []

    def close() -> None:
        if title is not None:
            out.add(
                f"line {title[0]}",
                build_paper(source=out.source, title=title[1], abstract=" ".join(abstract)),
            )

    for lineno, raw, error in iter_lines(path):
        if error is not None:
            out.reject(f"line {lineno}", error)
            continue
        text = raw.strip()
        if text.startswith("# "):
            close()
            title, abstract = (lineno, text[2:]), []
        elif text:
            abstract.append(text)
    close()


def _heading_first(first: str, text: str) -> bool:
    return first.startswith("# ")


FORMAT = InputFormat(
    "notes", read_notes, extensions={".notes": None}, recognise=_heading_first, rank=70
)
