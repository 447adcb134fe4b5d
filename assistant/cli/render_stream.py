"""Printing a streamed answer: a spinner until the first token, the text once, marks at the end.

:class:`StreamPrinter` is the ``on_token`` of ``ask``, ``chat`` and ``related-work``: while the
model has sent nothing it shows a spinner with the seconds waited on stderr (on a terminal);
then it writes the answer's text to stdout as it comes, made safe for a terminal
(:class:`~assistant.cli.render_base.TerminalStream`). The model's reasoning (``<think>``
blocks, ``reasoning_content``) goes to its :meth:`~StreamPrinter.reasoning`: shown dimmed on
stderr with ``--show-reasoning``, else only counted by the spinner. After the stream,
:func:`print_marks` appends the marks of uncited sentences (each with its first words) instead
of printing the answer again, and those of citations the cited abstract does not support.
rich is imported inside the functions.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live

    from assistant.generation.attribution import CitationSupport

__all__ = ["ShowReasoningOpt", "StreamPrinter", "print_marks"]

ShowReasoningOpt = Annotated[
    bool,
    typer.Option(
        "--show-reasoning",
        help="Show a reasoning model's thinking (dimmed, on stderr); it is never the answer.",
    ),
]

_MARK_WORDS = 8  # of an uncited sentence, quoted in its mark


class _Waiting:
    """The spinner's renderable: a label and the seconds waited, recomputed at each refresh."""

    def __init__(self, label: str) -> None:
        from rich.spinner import Spinner

        self.label = label
        self.started = time.monotonic()
        self.spinner = Spinner("dots", text=label)

    def __rich__(self) -> Any:
        self.spinner.text = f"{self.label}… {time.monotonic() - self.started:.0f} s"
        return self.spinner


class StreamPrinter:
    """Streamed answer text to stdout, once; a spinner on stderr until the first token."""

    def __init__(
        self,
        show_reasoning: bool = False,
        err: Console | None = None,
        out: TextIO | None = None,
        label: str = "Waiting for the model",
    ) -> None:
        from assistant.cli.render_base import TerminalStream, console

        self.show_reasoning = show_reasoning
        self.err = err if err is not None else console(stderr=True)
        self.out = out if out is not None else sys.stdout
        self.label = label
        self.seen = False
        self.safe = TerminalStream()
        self.reasoning_pieces = 0
        self._reasoning_open = False
        self._live: Live | None = None
        self._waiting: _Waiting | None = None

    # --- lifecycle

    def start(self) -> StreamPrinter:
        """Show the spinner (on a terminal only) until the first token or :meth:`stop`."""
        if self.err.is_terminal and self._live is None and not self.seen:
            from rich.live import Live

            self._waiting = _Waiting(self.label)
            self._live = Live(self._waiting, console=self.err, transient=True, refresh_per_second=8)
            self._live.start()
        return self

    def stop(self) -> None:
        """Remove the spinner; end a reasoning block shown on stderr; write what the answer's
        stream held back (an escape sequence that never ended)."""
        if self._live is not None:
            self._live.stop()
            self._live = None
        held = self.safe.flush()
        if held:
            self.out.write(held)
            self.out.flush()
        if self._reasoning_open:
            self.err.print()
            self._reasoning_open = False

    @contextlib.contextmanager
    def waiting(self, spinner: bool) -> Iterator[StreamPrinter]:
        """The block runs with the spinner shown if ``spinner``; stopped however it ends."""
        if spinner:
            self.start()
        try:
            yield self
        finally:
            self.stop()

    def __enter__(self) -> StreamPrinter:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def spinning(self) -> bool:
        return self._live is not None

    def streamed(self) -> bool:
        """True once any answer text was written."""
        return self.seen

    # --- the callbacks

    def __call__(self, token: str) -> None:
        if not self.seen:
            self.stop()
            self.seen = True
        self.out.write(self.safe.feed(token))
        self.out.flush()

    def reasoning(self, text: str) -> None:
        """A piece of the model's reasoning: dimmed on stderr if asked for, else counted."""
        self.reasoning_pieces += 1
        if self.show_reasoning and not self.seen:
            if self._live is not None:
                self._live.stop()
                self._live = None
            if not self._reasoning_open:
                self.err.print("[dim]Reasoning:[/]", markup=True)
                self._reasoning_open = True
            self.err.print(text, style="dim", end="", markup=False, highlight=False)
        elif self._waiting is not None:
            self._waiting.label = f"The model is reasoning ({self.reasoning_pieces} tokens)"


def print_marks(
    console: Console, uncited: list[str], support: Sequence[CitationSupport] = ()
) -> None:
    """After a streamed answer: a mark for each sentence that cites no paper, with its first
    words, and for each citation its abstract does not support, with the words before it
    (the answer is not printed again)."""
    from assistant.cli.render_base import escape
    from assistant.generation.attribution import UNSUPPORTED_MARK
    from assistant.generation.citations import UNCITED_MARK

    unsupported = [s for s in support if not s.supported]
    if not uncited and not unsupported:
        return
    console.print()
    for sentence in uncited:
        words = sentence.split()
        short = " ".join(words[:_MARK_WORDS]) + ("…" if len(words) > _MARK_WORDS else "")
        console.print(f"{escape(UNCITED_MARK)} “{escape(short)}”", markup=True)
    for citation in unsupported:  # the words before the citation: where the mark belongs
        words = citation.sentence.rstrip(".!?;:").split()
        short = ("…" if len(words) > _MARK_WORDS else "") + " ".join(words[-_MARK_WORDS:])
        console.print(
            f"{escape(f'[{citation.n}]{UNSUPPORTED_MARK}')} “{escape(short)}”", markup=True
        )
