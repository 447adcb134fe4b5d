"""The answer commands: ``ask`` (a question), ``cite`` (papers supporting a claim) and
``related-work`` (a draft section).

Plain functions, registered on the app by :mod:`assistant.cli.root`. They share their options
(:class:`AnswerFlags`) and one body (:func:`_answer`): open the settings and the index, run the
library's answer (imported inside, streamed to the terminal), write the files asked for, log
the answer, print it (or its JSON) through :mod:`assistant.cli.render`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional, TypeVar

import typer

from assistant.cli import common, render
from assistant.cli.options import (
    NO_FILTERS,
    BaseUrlOpt,
    ChromaOpt,
    CslJsonOpt,
    ExtractiveOpt,
    FilterFlags,
    ForceOpt,
    IndexOpt,
    JsonOpt,
    ModelOpt,
    RisOpt,
    UsageOpt,
    with_filters,
)
from assistant.cli.render_stream import ShowReasoningOpt, StreamPrinter

if TYPE_CHECKING:
    from rich.console import Console

    from assistant.export.formats import ExportFormat
    from assistant.generation.answer import Answer
    from assistant.generation.cite import CiteResult
    from assistant.generation.related_work import RelatedWork
    from assistant.index.paper_index import PaperIndex
    from assistant.llm.base import TokenFn
    from assistant.retrieval.retriever import RetrievalOptions
    from assistant.settings import Settings

R = TypeVar("R")

BibOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option("--bib", help="Write the BibTeX entries of the cited papers to this file."),
]


@dataclass(frozen=True)
class AnswerFlags:
    """The options every answer command takes."""

    model: str | None
    base_url: str | None
    extractive: bool
    filters: FilterFlags
    index_dir: Path | None
    chroma_url: str | None
    as_json: bool
    usage: bool
    show_reasoning: bool = False


@dataclass
class Shown:
    """What printing an answer needs beside the answer."""

    printer: StreamPrinter
    err: Console
    as_json: bool
    usage: Callable[[], str | None]  # the -u line (None without -u), worked out when asked for


def _answer(
    command: str,
    flags: AnswerFlags,
    k: int,
    run: Callable[[PaperIndex, Settings, RetrievalOptions, TokenFn | None], R],
    show: Callable[[R, Shown], None],
    write: Callable[[R, PaperIndex, Console, bool], None] | None = None,
    outputs: tuple[Path | None, ...] = (),
    force: bool = False,
    streams: bool = True,
    **overrides: Any,
) -> None:
    """The body of an answer command: ``run`` the library's answer (streamed when ``streams``,
    else a spinner while the model works), ``write`` the ``outputs`` asked for, log the answer
    as ``command``, and ``show`` it."""
    with common.errors():
        from assistant.history.answer_log import log_result
        from assistant.retrieval.retriever import RetrievalOptions
        from assistant.usage import usage_of

        replace = common.approve_outputs(force, *outputs)
        search_filters = flags.filters.search_filters()  # before a first build
        settings, index = common.open_for_answers(
            flags.model,
            flags.base_url,
            flags.extractive,
            flags.index_dir,
            flags.chroma_url,
            **overrides,
        )
        options = RetrievalOptions(k=k, filters=search_filters)
        printer = (
            StreamPrinter(show_reasoning=flags.show_reasoning)
            if streams
            else StreamPrinter(label="Asking the model")
        )
        on_token = printer if streams and not flags.as_json else None
        with printer.waiting(spinner=settings.llm_configured and not flags.as_json):
            result = run(index, settings, options, on_token)
        err = render.console(stderr=True)
        if write is not None:
            write(result, index, err, replace)
        logged = log_result(settings, index.dir, command, result)

        def usage_line() -> str | None:
            if not flags.usage:
                return None
            return usage_of(result.usage, result.mode, settings).line()  # type: ignore[attr-defined]

        show(result, Shown(printer, err, flags.as_json, usage_line))
        render.print_notes(err, [logged] if logged else [])


def _print_result(
    result: CiteResult | RelatedWork, shown: Shown, print_text: Callable[[], None], instead: str
) -> None:
    """The JSON or the text, the notes, the model's failure and the usage line."""
    if shown.as_json:
        render.print_json(result.public_json())
    else:
        print_text()
        render.print_notes(shown.err, result.notes)
    if result.llm_error:
        render.say(shown.err, render.llm_failure_line(result.llm_error, instead), style="red")
    usage_line = shown.usage()
    if usage_line:
        render.print_usage(shown.err, usage_line)


# --- ask --------------------------------------------------------------------------------------


@with_filters()
def ask(
    question: Annotated[str, typer.Argument(help="Your question.")],
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    extractive: ExtractiveOpt = False,
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=30, help="Papers to draw on.")] = 6,
    filters: FilterFlags = NO_FILTERS,
    index_dir: IndexOpt = None,
    chroma_url: ChromaOpt = None,
    as_json: JsonOpt = False,
    usage: UsageOpt = False,
    show_reasoning: ShowReasoningOpt = False,
) -> None:
    """Answer a question from the indexed papers, citing them."""
    flags = AnswerFlags(
        model, base_url, extractive, filters, index_dir, chroma_url, as_json, usage, show_reasoning
    )

    def run(
        index: PaperIndex, settings: Settings, options: RetrievalOptions, on_token: TokenFn | None
    ) -> Answer:
        from assistant.api import ask as ask_question

        return ask_question(index, question, settings, options, on_token=on_token)

    def show(answer: Answer, shown: Shown) -> None:
        usage_line = shown.usage()
        if shown.as_json:
            render.print_json(answer.public_json())
            if usage_line:
                render.print_usage(shown.err, usage_line)
        else:
            render.print_ask(answer, shown.printer.streamed(), usage_line)

    _answer("ask", flags, max(k, 5), run, show, answer_papers=k)


# --- cite -------------------------------------------------------------------------------------


@with_filters()
def cite(
    claim: Annotated[str, typer.Argument(help="The claim to find support for.")],
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=30, help="Papers to consider.")] = 5,
    bib: BibOpt = None,
    ris: RisOpt = None,
    csl_json: CslJsonOpt = None,
    force: ForceOpt = False,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    extractive: ExtractiveOpt = False,
    filters: FilterFlags = NO_FILTERS,
    index_dir: IndexOpt = None,
    chroma_url: ChromaOpt = None,
    as_json: JsonOpt = False,
    usage: UsageOpt = False,
) -> None:
    """Find the indexed papers that support a claim, each with its best sentence and BibTeX."""
    flags = AnswerFlags(model, base_url, extractive, filters, index_dir, chroma_url, as_json, usage)
    references: dict[ExportFormat, Path | None] = {"bib": bib, "ris": ris, "csl-json": csl_json}

    def run(
        index: PaperIndex, settings: Settings, options: RetrievalOptions, _on: TokenFn | None
    ) -> CiteResult:
        from assistant.api import cite_claim

        return cite_claim(index, claim, settings, options)

    def write(result: CiteResult, index: PaperIndex, err: Console, replace: bool) -> None:
        cited = [(p.paper_id, p.bibkey) for p in result.papers]
        _write_references(index, cited, references, err, "no paper supports the claim", replace)

    def show(result: CiteResult, shown: Shown) -> None:
        print_text = lambda: render.print_cite(result, bib is not None)  # noqa: E731
        _print_result(result, shown, print_text, "the offline ranking")

    _answer("cite", flags, k, run, show, write, (bib, ris, csl_json), force, streams=False)


# --- related-work -----------------------------------------------------------------------------


@with_filters()
def related_work(
    topic: Annotated[str, typer.Argument(help="The topic of your paper.")],
    k: Annotated[int, typer.Option("--k", "-k", min=2, max=30, help="Papers to draw on.")] = 12,
    out: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--out", help="Write the Markdown draft (with references) to this file."),
    ] = None,
    bib: BibOpt = None,
    ris: RisOpt = None,
    csl_json: CslJsonOpt = None,
    force: ForceOpt = False,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    extractive: ExtractiveOpt = False,
    filters: FilterFlags = NO_FILTERS,
    index_dir: IndexOpt = None,
    chroma_url: ChromaOpt = None,
    as_json: JsonOpt = False,
    usage: UsageOpt = False,
    show_reasoning: ShowReasoningOpt = False,
) -> None:
    """Draft a related-work section on a topic: papers grouped into themes, each cited."""
    flags = AnswerFlags(
        model, base_url, extractive, filters, index_dir, chroma_url, as_json, usage, show_reasoning
    )
    references: dict[ExportFormat, Path | None] = {"bib": bib, "ris": ris, "csl-json": csl_json}

    def run(
        index: PaperIndex, settings: Settings, options: RetrievalOptions, on_token: TokenFn | None
    ) -> RelatedWork:
        from assistant.api import related_work as draft_related_work

        return draft_related_work(index, topic, settings, options, on_token=on_token)

    def write(draft: RelatedWork, index: PaperIndex, err: Console, replace: bool) -> None:
        for path in (out, *references.values()):
            if path is not None and not draft.covered:
                render.say(err, f"Nothing written to {path}: no section was drafted.")
        if out is not None and draft.covered:
            common.write_text_file(out, draft.document(), replace)
            render.say(err, f"Wrote the draft to {out}.")
        if draft.covered:
            cited = [(r.paper_id, r.bibkey) for r in draft.references]
            _write_references(index, cited, references, err, "the draft cites no paper", replace)

    def show(draft: RelatedWork, shown: Shown) -> None:
        print_text = lambda: render.print_draft(draft, shown.printer.streamed())  # noqa: E731
        _print_result(draft, shown, print_text, "the extractive draft")

    _answer("related-work", flags, k, run, show, write, (out, bib, ris, csl_json), force)


def _write_references(
    index: PaperIndex,
    cited: list[tuple[str, str]],
    targets: dict[ExportFormat, Path | None],
    err: Console,
    nothing: str,
    force: bool,
) -> None:
    """Write the cited papers (``(paper id, key)`` pairs) to each of ``--bib``, ``--ris`` and
    ``--csl-json`` given, with the keys the command showed; ``nothing`` says why none is.
    ``force``: existing files may be replaced (:func:`common.approve_outputs`)."""
    from assistant.export.formats import describe, export_text

    chosen = [(fmt, path) for fmt, path in targets.items() if path is not None]
    if chosen and not cited:
        for _fmt, path in chosen:
            render.say(err, f"Nothing written to {path}: {nothing}.")
        return
    found = index.catalog.get_papers(pid for pid, _key in cited) if chosen else {}
    papers = [found[pid] for pid, _key in cited if pid in found]  # in the order shown
    for fmt, path in chosen:
        common.write_text_file(path, export_text(fmt, papers, dict(cited)), force)
        render.say(err, f"Wrote {describe(fmt, len(papers))} to {path}.")
