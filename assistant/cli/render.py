"""Terminal rendering of answers, shared by ``ask`` and ``chat``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from assistant.generation.answer import Answer, Citation


def token_printer() -> tuple[Callable[[str], None], Callable[[], bool]]:
    """A callback writing streamed tokens to stdout, and a function telling if any came."""
    seen = False

    def on_token(token: str) -> None:
        nonlocal seen
        seen = True
        sys.stdout.write(token)
        sys.stdout.flush()

    return on_token, lambda: seen


def references(citations: list[Citation]) -> list[str]:
    """``[n] Title (year). id or link`` lines."""
    lines = []
    for c in sorted(citations, key=lambda c: c.n):
        year = f" ({c.year})" if c.year else ""
        where = c.link or c.paper_id
        title = c.title if c.title.endswith((".", "?", "!")) or year else f"{c.title}."
        lines.append(f"[{c.n}] {title}{year}{'.' if year else ''} {where}")
    return lines


def llm_failure_line(llm_error: str, instead: str) -> str:
    """The one stderr line for a model that failed, and what is shown instead."""
    return f"Error: the language model failed: {llm_error} Showing {instead}."


def print_answer(console: Console, err: Console, answer: Answer, streamed: bool) -> None:
    """The answer (unless already streamed), its notes and its references."""
    from rich.markup import escape

    if streamed and answer.mode == "extractive":  # the model failed mid-stream: fallback
        sys.stdout.write("\n\n")
        console.print(escape(answer.answer))
    elif streamed:
        sys.stdout.write("\n")
        if answer.removed_citations or answer.uncited_sentences:
            console.print("\n[dim]Checked answer:[/]", markup=True)
            console.print(escape(answer.answer))
    else:
        console.print(escape(answer.answer))
    for note in answer.notes:
        err.print(f"[dim]{escape(note)}[/]", markup=True)
    if answer.citations:
        console.print("\n[bold]References[/]", markup=True)
        for line in references(answer.citations):
            console.print(escape(line))
    usage = answer.usage
    if usage and usage.get("total_tokens") is not None:
        cost = usage.get("cost_usd")
        cost_text = f", ${cost:.4f}" if isinstance(cost, float) else ""
        err.print(
            f"[dim]{usage.get('prompt_tokens')} prompt + {usage.get('completion_tokens')} "
            f"completion tokens ({usage.get('model')}{cost_text})[/]",
            markup=True,
        )
