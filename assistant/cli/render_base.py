"""The printing primitives every renderer shares: consoles, markup escaping, JSON, clipping.

:mod:`~assistant.cli.render`, :mod:`~assistant.cli.render_index` and
:mod:`~assistant.cli.render_stream` build on these (and never on each other's primitives), so
the renderers import in one direction. rich is imported inside the functions.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from assistant.ingest.text import clip as clip  # re-exported for the renderers

if TYPE_CHECKING:
    from rich.console import Console


def console(stderr: bool = False) -> Console:
    """A console on stdout (or stderr) that neither highlights nor wraps."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def escape(text: str) -> str:
    """``text`` with rich markup escaped."""
    from rich.markup import escape

    return escape(text)


def print_json(data: Any) -> None:
    """One line of JSON on stdout."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
