"""The printing primitives every renderer shares: consoles, markup escaping, JSON, clipping, and
making untrusted text safe for a terminal.

:mod:`~assistant.cli.render`, :mod:`~assistant.cli.render_index` and
:mod:`~assistant.cli.render_stream` build on these (and never on each other's primitives), so
the renderers import in one direction. rich is imported inside the functions.

Why :func:`terminal_safe` is here: titles, abstracts, authors, file names and the model's
output come from elsewhere and may hold escape sequences (``ESC[2J`` clears the screen,
``ESC]0;...`` retitles the window, ``ESC[8m`` hides text, OSC 8 makes hyperlinks) or
bidirectional overrides (U+202E reverses what follows). A terminal obeys them, and rich passes
them through (markup escaping leaves them alone). So every console made by :func:`console` is
a safe console: each string it is given is cleaned before layout (so widths stay right), and
the text of every segment it renders is checked once more, which catches a ``Text`` built
elsewhere; only rich's own styles and cursor controls reach the terminal. Text written past
rich (streamed tokens, plain lines) goes through :func:`terminal_safe` or
:class:`TerminalStream`. ``--json`` output is left as it is: JSON escapes control characters.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from assistant.ingest.text import ESCAPE_SEQUENCE
from assistant.ingest.text import clip as clip  # re-exported for the renderers

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderableType
    from rich.segment import Segment
    from rich.text import Text

#: What a terminal may act on: C0 controls but newline and tab, DEL, C1 controls, and the
#: bidirectional embeddings, overrides, isolates and marks.
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
#: From an ``ESC`` to the end: a sequence still arriving (the rest is in the next token).
_PARTIAL_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*|[\]PX^_][^\x07\x1b\x9c]*\x1b?|[ -/]*)\Z")
#: A control string (OSC...) that never ends is let through (as text) after this many characters.
_MAX_HELD = 512


def _visible(match: re.Match[str]) -> str:
    """A control character shown: its control picture (``␛``, ``␍``) or ``<U+202E>``."""
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)
    if code == 0x7F:
        return "\u2421"
    return f"<U+{code:04X}>"


def terminal_safe(text: str) -> str:
    """``text`` with escape sequences removed and other control characters shown visibly.

    Newlines and tabs stay (``\\r\\n`` becomes ``\\n``); a lone ``ESC`` or carriage return, other
    C0/C1 controls and bidirectional controls become visible placeholders (``␛``, ``␍``,
    ``<U+202E>``). Text with none of them (nearly all) is returned as it is, after one scan.
    """
    if _UNSAFE.search(text) is None:
        return text
    text = ESCAPE_SEQUENCE.sub("", text.replace("\r\n", "\n"))
    return _UNSAFE.sub(_visible, text)


def terminal_line(text: str) -> str:
    """:func:`terminal_safe` for a one-line field (a title, a name, an id): newlines, tabs and
    every run of whitespace are one space."""
    return terminal_safe(" ".join(text.split()))


class TerminalStream:
    """:func:`terminal_safe` over text that arrives in pieces (a streamed answer): an escape
    sequence split across pieces is held back until it is whole, then removed whole."""

    def __init__(self) -> None:
        self._held = ""

    def feed(self, piece: str) -> str:
        """The part of ``piece`` (after anything held) that is safe to write now."""
        text = self._held + piece if self._held else piece
        self._held = ""
        if "\x1b" in text:
            partial = _PARTIAL_ESCAPE.search(text)
            if partial is not None and len(text) - partial.start() <= _MAX_HELD:
                self._held = text[partial.start() :]
                text = text[: partial.start()]
        return terminal_safe(text)

    def flush(self) -> str:
        """What is held (an escape sequence that never ended), made safe."""
        held, self._held = self._held, ""
        return terminal_safe(held)


def _segments_made_safe(segments: Iterable[Segment]) -> Iterable[Segment]:
    from rich.segment import Segment

    for segment in segments:
        text = segment.text
        if segment.control is None and _UNSAFE.search(text) is not None:
            yield Segment(terminal_safe(text), segment.style)
        else:
            yield segment


@functools.cache
def _safe_console_class() -> type[Console]:
    """A rich Console whose output holds no escape sequence or control from the text it prints."""
    from rich.console import Console

    class SafeConsole(Console):
        def render_str(self, text: str, **options: Any) -> Text:
            return super().render_str(terminal_safe(text), **options)

        def render(
            self, renderable: RenderableType, options: ConsoleOptions | None = None
        ) -> Iterable[Segment]:
            return _segments_made_safe(super().render(renderable, options))

    return SafeConsole


def console(stderr: bool = False) -> Console:
    """A console on stdout (or stderr) that neither highlights nor wraps, and prints untrusted
    text safely (see the module's docstring)."""
    return _safe_console_class()(stderr=stderr, highlight=False, soft_wrap=True)


def escape(text: str) -> str:
    """``text`` made safe for a terminal (:func:`terminal_safe`), with rich markup escaped."""
    from rich.markup import escape

    return escape(terminal_safe(text))


def escape_line(text: str) -> str:
    """:func:`escape` for a one-line field (:func:`terminal_line`)."""
    from rich.markup import escape

    return escape(terminal_line(text))


def write_safe(text: str, out: Any = None) -> None:
    """Plain text on stdout (or ``out``) without rich, made safe (:func:`terminal_safe`)."""
    (sys.stdout if out is None else out).write(terminal_safe(text))


def print_json(data: Any) -> None:
    """One line of JSON on stdout."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
