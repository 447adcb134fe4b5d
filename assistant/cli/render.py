"""Everything the ``assistant`` command prints: consoles, JSON, progress, tables, answers, notes.

The command modules parse flags and call the library; what it returns is handed to these
functions. Results go to stdout, messages (notes, warnings, errors, progress) to stderr. rich is
imported inside the functions, so importing this module keeps ``assistant --help`` fast. Every
console comes from :func:`~assistant.cli.render_base.console` and plain text is written with
:func:`~assistant.cli.render_base.write_safe`: untrusted text never reaches the terminal raw.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.cli.render_base import (
    clip,
    console,
    escape,
    escape_line,
    terminal_line,
    terminal_safe,
    write_safe,
)
from assistant.cli.render_base import print_json as print_json  # re-exported for the commands

if TYPE_CHECKING:
    from rich.console import Console

    from assistant.chat.session import CommandResult
    from assistant.errors import AssistantError
    from assistant.generation.answer import Answer, Citation
    from assistant.generation.cite import CitedPaper, CiteResult
    from assistant.generation.related_work import RelatedWork
    from assistant.history.store import SessionInfo
    from assistant.retrieval.similar import SimilarResult


# --- basics --------------------------------------------------------------------------------------


def print_text(text: str) -> None:
    """Text on stdout (no markup, no wrapping), made safe for a terminal."""
    write_safe(text)


def message(text: str, err: Console | None = None) -> None:
    """One message on stderr (rich markup in ``text`` is rendered)."""
    (console(stderr=True) if err is None else err).print(text)


def print_error(exc: AssistantError, err: Console | None = None) -> None:
    """An error and its hint on stderr (the error contract of every command)."""
    if err is None:
        err = console(stderr=True)
    err.print(f"[bold red]Error:[/] {escape(exc.message)}", markup=True, highlight=False)
    if exc.hint:
        err.print(f"[yellow]Hint:[/] {escape(exc.hint)}", markup=True, highlight=False)


def unexpected_error(exc: Exception) -> None:
    """The last line of defence: a bug, reported without a traceback."""
    print(
        f"Error: unexpected {type(exc).__name__}: {terminal_safe(str(exc))}\n"
        "Hint: run again with --debug for the traceback, and report it.",
        file=sys.stderr,
    )


def say(err: Console, text: str, style: str = "dim") -> None:
    """One message on stderr, never wrapped (so an error stays one line)."""
    err.print(f"[{style}]{escape(text)}[/]", markup=True, highlight=False, soft_wrap=True)


def print_notes(err: Console, notes: list[str]) -> None:
    """Notes on stderr."""
    for note in notes:
        say(err, note)


def warnings(err: Console, items: list[str]) -> None:
    """Warnings on stderr."""
    for warning in items:
        err.print(f"[yellow]warning:[/] {escape(warning)}", markup=True)


# --- index: ingest, search, eval, papers, stats, config ------------------------------------------


def folder_name(path: Path) -> str:
    """A folder as a message names it: ``./index`` rather than ``index`` ("the index in index")."""
    text = str(path)
    if path.is_absolute() or text.startswith((".", "~")):
        return text
    return f"./{text}"


def building_corpus(err: Console, index_dir: Path) -> None:
    err.print(
        f"The index folder {escape(folder_name(index_dir))} is empty: building it from the "
        "bundled corpus (425 papers)."
    )


class ProgressBar:
    """A rich progress bar on stderr: papers done of the total, papers/s and the time left.

    Call it with ``(done, total)``. Papers that needed no embedding (unchanged, or committed
    before a resume) are announced with :meth:`skipped`: the rate counts only the papers
    embedded in this run, over this run's time. On a stderr that is not a terminal nothing is
    drawn (rich would leave a blank line behind).
    """

    def __init__(self, description: str) -> None:
        from rich import progress as bar

        err = console(stderr=True)
        self._progress = bar.Progress(
            bar.TextColumn("{task.description}"),
            bar.BarColumn(),
            bar.MofNCompleteColumn(),
            bar.TextColumn("{task.fields[rate]}"),
            bar.TimeElapsedColumn(),
            bar.TextColumn("left"),
            bar.TimeRemainingColumn(),
            console=err,
            transient=True,
            disable=not err.is_terminal,
        )
        self._task = self._progress.add_task(description, total=None, rate="")
        self._started = False
        self._skipped = 0
        self.rate = ""

    def skipped(self, papers: int) -> None:
        self._skipped += papers

    def __call__(self, done: int, total: int) -> None:
        if not self._started:
            self._progress.start()
            self._started = True
        elapsed = self._progress.tasks[0].elapsed or 0.0
        self.rate = rate_text(done - self._skipped, elapsed)
        self._progress.update(self._task, completed=done, total=total, rate=self.rate)

    def close(self) -> None:
        if self._started:
            self._progress.stop()


def rate_text(embedded: int, seconds: float) -> str:
    """``12.3 papers/s`` (empty before the first paper is embedded)."""
    return f"{embedded / seconds:.1f} papers/s" if seconds > 0 and embedded > 0 else ""


def print_eval(report: Any, method: str) -> None:
    from rich.table import Table

    table = Table(title=f"Retrieval ({method}), {report.questions} questions", header_style="bold")
    columns = ["questions", "recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10"]
    headers = ["n", "R@1", "R@5", "R@10", "MRR@10", "nDCG@10", "flag unans", "flag ans"]
    table.add_column("group")
    for name in headers:
        table.add_column(name, justify="right")

    def row(name: str, group: Any) -> None:
        m = group.metrics

        def fmt(value: float | None) -> str:
            return "" if value is None else f"{value:.3f}"

        table.add_row(
            name,
            str(group.questions),
            *(fmt(m.get(key)) for key in columns[1:]),
            fmt(group.abstain_unanswerable),
            fmt(group.false_abstain),
        )

    row("all", report.overall)
    for name, group in sorted(report.by_type.items()):
        row(name, group)
    out = console()
    out.print(table)
    latency = report.latency
    out.print(
        f"search latency: mean {latency.mean_ms:.1f} ms, p50 {latency.p50_ms:.1f} ms, "
        f"p95 {latency.p95_ms:.1f} ms"
    )


def print_config(data: dict[str, Any], descriptions: dict[str, str], path: Path | None) -> None:
    """The settings with their descriptions, after where they come from."""
    out = console()
    out.print(
        "Precedence: flags > environment (ASSISTANT_*) > config file > defaults. "
        "Config file: "
        + (str(path) if path else "none (set ASSISTANT_CONFIG_FILE or create ./assistant.toml)")
    )
    for name, value in data.items():
        description = descriptions.get(name, "")
        out.print(
            f"[bold]{name}[/] = {escape(json.dumps(value))}  [dim]{escape(description)}[/]",
            markup=True,
        )


# --- answers: ask and chat -----------------------------------------------------------------------


def references(citations: list[Citation]) -> list[str]:
    """``[n] Title (year). id or link`` lines."""
    from assistant.export.references import reference_line

    return [reference_line(c) for c in sorted(citations, key=lambda c: c.n)]


def llm_failure_line(llm_error: str, instead: str) -> str:
    """The one stderr line for a model that failed, and what is shown instead."""
    return f"Error: the language model failed: {llm_error} Showing {instead}."


def print_usage(err: Console, line: str) -> None:
    """The ``-u/--usage`` line (tokens and cost) on stderr."""
    say(err, line)


def print_answer(
    console: Console, err: Console, answer: Answer, streamed: bool, usage: str | None = None
) -> None:
    """The answer (unless already streamed), its notes and its references; then ``usage``
    (the ``-u`` line) if given, else the tokens the model reported, if any."""
    if streamed and answer.mode == "extractive":  # the model failed mid-stream: fallback
        sys.stdout.write("\n\n")
        console.print(escape(answer.answer))
    elif streamed:  # shown once: only the marks of uncited sentences are appended
        from assistant.cli.render_stream import print_marks

        sys.stdout.write("\n")
        print_marks(console, answer.uncited, answer.support)
    else:
        console.print(escape(answer.answer))
    for note in answer.notes:
        err.print(f"[dim]{escape(note)}[/]", markup=True)
    if answer.citations:
        console.print("\n[bold]References[/]", markup=True)
        for line in references(answer.citations):
            console.print(escape(line))
    if usage is not None:
        print_usage(err, usage)
        return
    reported = answer.usage
    if reported and reported.get("total_tokens") is not None:
        cost = reported.get("cost_usd")
        cost_text = f", ${cost:.4f}" if isinstance(cost, float) else ""
        thinking = reported.get("reasoning_tokens")
        of_which = f", {thinking} of them reasoning" if thinking else ""
        err.print(
            f"[dim]{reported.get('prompt_tokens')} prompt + {reported.get('completion_tokens')} "
            f"completion tokens{of_which} ({reported.get('model')}{cost_text})[/]",
            markup=True,
        )


def print_ask(answer: Answer, streamed: bool, usage: str | None = None) -> None:
    """``ask``'s output: the answer, then a line on stderr if the model failed."""
    print_answer(console(), console(stderr=True), answer, streamed, usage)
    if answer.llm_error:
        console(stderr=True).print(
            llm_failure_line(answer.llm_error, "the extractive answer"), highlight=False
        )


def chat_banner(err: Console, papers: int, index_dir: Path, uses_llm: bool) -> None:
    mode = "a language model" if uses_llm else "extractive answers (no LLM)"
    err.print(
        f"[dim]Chatting with the {papers} papers in "
        f"{escape(str(index_dir))}, using {mode}. /help lists the commands; Ctrl-D leaves.[/]",
        markup=True,
    )


def chat_ctrl_c(err: Console) -> None:
    err.print("\n[dim](Ctrl-D or /quit to leave)[/]", markup=True)


def print_command(result: CommandResult, console: Console, err: Console) -> None:
    """The outcome of a slash command."""
    if result.kind == "error":
        err.print(f"[bold red]Error:[/] {escape(result.message)}", markup=True)
    elif result.kind == "unknown":
        err.print(f"[yellow]{escape(result.message)}[/]", markup=True)
    elif result.kind != "quit":
        console.print(escape(result.message))
    for line in result.lines:
        console.print(escape(line))


def print_rewrite(err: Console, standalone: str | None, note: str | None) -> None:
    """What a follow-up question was rewritten to, and why not if it was not."""
    if standalone is not None:
        err.print(f"[dim]Searching for: {escape(standalone)}[/]", markup=True)
    if note:
        err.print(f"[dim]{escape(note)}[/]", markup=True)


def print_turn(
    console: Console, err: Console, answer: Answer, streamed: bool, usage: str | None = None
) -> None:
    """One chat answer, after its streamed tokens if any."""
    # A model that failed mid-stream leaves partial text; the extractive answer follows in full.
    fell_back = answer.llm_error is not None
    if streamed and fell_back:
        sys.stdout.write("\n")
    print_answer(console, err, answer, streamed and not fell_back, usage)
    if answer.llm_error:
        err.print(
            llm_failure_line(answer.llm_error, "the extractive answer"),
            highlight=False,
            markup=False,
        )
    console.print()


def turn_interrupted(err: Console, streamed: bool, saved: bool) -> None:
    if streamed:
        sys.stdout.write("\n")
    err.print(
        "[yellow]Interrupted"
        + (" (the answer was saved)." if saved else ": this answer was not saved.")
        + "[/]",
        markup=True,
    )


def turn_error(err: Console, exc: AssistantError, streamed: bool) -> None:
    if streamed:
        sys.stdout.write("\n")
    print_error(exc, err)


def turn_crashed(err: Console, exc: Exception) -> None:
    err.print(
        f"[bold red]Error:[/] unexpected {type(exc).__name__}: {escape(str(exc))} "
        "(this turn was not saved; run with --debug for the traceback)",
        markup=True,
    )


def session_saved(err: Console, session_id: str, turns: int) -> None:
    err.print(
        f"[dim]Session {escape(session_id)} saved ({turns} turn{'s' * (turns != 1)}). "
        f"Resume it with 'assistant chat -c' or 'assistant chat --session "
        f"{escape(session_id)}'.[/]",
        markup=True,
    )


def print_sessions(listed: list[SessionInfo], folder: Path) -> None:
    """The saved sessions, most recent first."""
    out = console()
    if not listed:
        out.print(f"No saved chat sessions in {escape(str(folder))}.")
        return
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("id")
    table.add_column("updated")
    table.add_column("turns", justify="right")
    table.add_column("title", overflow="fold")
    for info in listed:
        table.add_row(
            info.id,
            info.updated_at[:16].replace("T", " "),
            str(info.turns),
            escape_line(info.title),
        )
    out.print(table)


# --- writing: cite and related-work --------------------------------------------------------------


def print_cite(result: CiteResult, wrote_bib: bool) -> None:
    write_safe(result.summary + "\n")
    if result.papers:
        write_safe("\n")
        for paper in result.papers:
            _print_cited(paper)
        if not wrote_bib:
            keys = ", ".join(terminal_line(p.bibkey) for p in result.papers)
            write_safe(f"BibTeX keys: {keys} (--bib FILE writes the entries; --json has them).\n")
    elif result.nearest:
        write_safe("\nNearest papers (not supporting):\n")
        for paper in result.nearest:
            write_safe(f"- {terminal_line(paper.title)} ({terminal_line(paper.paper_id)})\n")


def _print_cited(paper: CitedPaper) -> None:
    year = f" ({paper.year})" if paper.year else ""
    lines = [
        f"{paper.rank}. {terminal_line(paper.title)}{year} [{terminal_line(paper.bibkey)}]",
        f"   “{terminal_line(paper.sentence)}” (similarity {paper.score:.2f})",
    ]
    if paper.justification:
        lines.append(f"   Why: {terminal_line(paper.justification)}")
    lines.append(f"   {terminal_line(paper.link or paper.paper_id)}")
    write_safe("\n".join(lines) + "\n\n")


def print_draft(draft: RelatedWork, streamed: bool) -> None:
    out = sys.stdout
    if streamed:
        out.write("\n")
    if streamed and draft.mode == "llm":  # shown once: the marks of uncited sentences follow
        from assistant.cli.render_stream import print_marks

        print_marks(console(), draft.uncited, draft.support)
    else:
        write_safe(draft.markdown.rstrip() + "\n")
    if draft.references:
        out.write("\nReferences\n")
        for reference in draft.references:
            write_safe(f"{reference.line()}\n")
    out.flush()


# --- similar --------------------------------------------------------------------------------------


def similar_json(result: SimilarResult, max_chars: int = 400) -> dict[str, Any]:
    """The ``similar --json`` shape: the result, snippets at most ``max_chars`` characters."""

    data = result.model_dump(mode="json")
    data["summary"] = result.summary()
    for hit in data["results"]:
        hit["snippet"] = clip(hit["snippet"], max_chars)
    return data


def print_similar(result: SimilarResult, max_chars: int = 400) -> None:
    """The verdict, then the papers as a table (the nearest, marked, when none is close)."""
    from rich.table import Table

    out = console()
    for note in result.notes:
        out.print(f"[dim]{escape(note)}[/]", markup=True)
    style = "" if result.close or not result.results else "yellow"
    out.print(f"[{style}]{escape(result.summary())}[/]" if style else escape(result.summary()))
    if not result.results:
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name, justify in (("#", "right"), ("similarity", "right"), ("paper", "left")):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    table.add_column("year", justify="right")
    table.add_column("id", overflow="fold")
    for hit in result.results:
        terms = ", ".join(hit.shared_terms)
        shared = f"\n[dim]shares: {escape(terms)}[/]" if terms else ""
        table.add_row(
            str(hit.rank),
            f"{hit.similarity:.2f}" + ("" if hit.close else "\n[yellow]not close[/]"),
            f"[bold]{escape_line(clip(hit.title, max_chars))}[/]{shared}\n"
            f"[dim]{escape(clip(hit.snippet, max_chars))}[/]",
            str(hit.year or ""),
            escape_line(hit.paper_id),
        )
    out.print(table)
