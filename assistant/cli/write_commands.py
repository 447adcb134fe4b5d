"""The writing commands: ``cite`` (papers supporting a claim) and ``related-work`` (a draft).

Plain functions, registered on the app by :mod:`assistant.cli.root`. Like the rest of the CLI they
only parse, call :mod:`assistant.api` (imported inside them) and hand the results
to :mod:`assistant.cli.render`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

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
    from assistant.index.paper_index import PaperIndex

BibOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option("--bib", help="Write the BibTeX entries of the cited papers to this file."),
]


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
    from assistant.export.formats import describe, export_text, papers_by_id

    chosen = [(fmt, path) for fmt, path in targets.items() if path is not None]
    if chosen and not cited:
        for _fmt, path in chosen:
            render.say(err, f"Nothing written to {path}: {nothing}.")
        return
    papers = papers_by_id(index.catalog, [pid for pid, _key in cited]) if chosen else []
    for fmt, path in chosen:
        common.write_text_file(path, export_text(fmt, papers, dict(cited)), force)
        render.say(err, f"Wrote {describe(fmt, len(papers))} to {path}.")


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
    with common.errors():
        from assistant.api import cite_claim
        from assistant.chat.answer_log import log_result
        from assistant.retrieval.retriever import RetrievalOptions
        from assistant.usage import usage_of

        replace = common.approve_outputs(force, bib, ris, csl_json)
        settings, index = common.open_for_answers(
            model, base_url, extractive, index_dir, chroma_url
        )
        options = RetrievalOptions(k=k, filters=filters.search_filters())
        waiting = StreamPrinter(label="Asking the model")
        if settings.llm_configured and not as_json:
            waiting.start()  # a spinner while the model judges the sources
        try:
            result = cite_claim(index, claim, settings, options)
        finally:
            waiting.stop()
        err = render.console(stderr=True)
        _write_references(
            index,
            [(p.paper_id, p.bibkey) for p in result.papers],
            {"bib": bib, "ris": ris, "csl-json": csl_json},
            err,
            "no paper supports the claim",
            replace,
        )
        if as_json:
            render.print_json(result.public_json())
        else:
            render.print_cite(result, bib is not None)
            render.print_notes(err, result.notes)
        if result.llm_error:
            render.say(
                err, render.llm_failure_line(result.llm_error, "the offline ranking"), style="red"
            )
        if usage:
            render.print_usage(err, usage_of(result.usage, result.mode, settings).line())
        logged = log_result(settings, index.dir, "cite", result)
        render.print_notes(err, [logged] if logged else [])


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
    with common.errors():
        from assistant.api import related_work as draft_related_work
        from assistant.chat.answer_log import log_result
        from assistant.retrieval.retriever import RetrievalOptions
        from assistant.usage import usage_of

        replace = common.approve_outputs(force, out, bib, ris, csl_json)
        settings, index = common.open_for_answers(
            model, base_url, extractive, index_dir, chroma_url
        )
        options = RetrievalOptions(k=k, filters=filters.search_filters())
        printer = StreamPrinter(show_reasoning=show_reasoning)
        with printer.waiting(spinner=settings.llm_configured and not as_json):
            draft = draft_related_work(
                index, topic, settings, options, on_token=None if as_json else printer
            )
        err = render.console(stderr=True)
        references: dict[ExportFormat, Path | None] = {
            "bib": bib,
            "ris": ris,
            "csl-json": csl_json,
        }
        for path in (out, *references.values()):
            if path is not None and not draft.covered:
                render.say(err, f"Nothing written to {path}: no section was drafted.")
        if out is not None and draft.covered:
            common.write_text_file(out, draft.document(), replace)
            render.say(err, f"Wrote the draft to {out}.")
        if draft.covered:
            _write_references(
                index,
                [(r.paper_id, r.bibkey) for r in draft.references],
                references,
                err,
                "the draft cites no paper",
                replace,
            )
        if as_json:
            render.print_json(draft.public_json())
        else:
            render.print_draft(draft, printer.streamed())
            render.print_notes(err, draft.notes)
        if draft.llm_error:
            render.say(
                err, render.llm_failure_line(draft.llm_error, "the extractive draft"), style="red"
            )
        if usage:
            render.print_usage(err, usage_of(draft.usage, draft.mode, settings).line())
        logged = log_result(settings, index.dir, "related-work", draft)
        render.print_notes(err, [logged] if logged else [])
