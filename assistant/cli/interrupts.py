"""SIGTERM handled as Ctrl-C is, for the commands that write the index.

Python's default for SIGTERM ends the process on the spot, with nothing said. Raised as a
:class:`Terminated` (a ``KeyboardInterrupt``) in the main thread instead, it unwinds as an
interruption does: the batch being embedded in the worker thread is waited for (so native code
is not torn down under it), nothing uncommitted counts, and the command says what it did.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Terminated(KeyboardInterrupt):
    """The process was asked to stop with SIGTERM."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated`."""
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def stop_name(exc: KeyboardInterrupt) -> str:
    """How the command was stopped, for its last message."""
    return "Terminated (SIGTERM)" if isinstance(exc, Terminated) else "Interrupted"
