"""The writing commands: ``cite`` (papers supporting a claim) and ``related-work`` (a draft).

Plain functions, registered on the app by :mod:`assistant.cli.root`. Like the rest of the CLI they
only parse, call :mod:`assistant.api` (imported inside them) and hand the results
to :mod:`assistant.cli.render`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from assistant.cli import common, render
from assistant.cli.options import (
    NO_FILTERS,
    BaseUrlOpt,
    ChromaOpt,
    ExtractiveOpt,
    FilterFlags,
    IndexOpt,
    JsonOpt,
    ModelOpt,
    with_filters,
)

BibOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option("--bib", help="Write the BibTeX entries of the cited papers to this file."),
]


def _entries(n: int) -> str:
    return f"{n} BibTeX entry" if n == 1 else f"{n} BibTeX entries"


@with_filters()
def cite(
    claim: Annotated[str, typer.Argument(help="The claim to find support for.")],
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=30, help="Papers to consider.")] = 5,
    bib: BibOpt = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    extractive: ExtractiveOpt = False,
    filters: FilterFlags = NO_FILTERS,
    index_dir: IndexOpt = None,
    chroma_url: ChromaOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Find the indexed papers that support a claim, each with its best sentence and BibTeX."""
    with common.errors():
        from assistant.api import cite_claim
        from assistant.retrieval.retriever import RetrievalOptions

        settings, index = common.open_for_answers(
            model, base_url, extractive, index_dir, chroma_url
        )
        options = RetrievalOptions(k=k, filters=filters.search_filters())
        result = cite_claim(index, claim, settings, options)
        err = render.console(stderr=True)
        if bib is not None:
            if result.papers:
                common.write_text_file(bib, result.bibtex)
                render.say(err, f"Wrote {_entries(len(result.papers))} to {bib}.")
            else:
                render.say(err, f"Nothing written to {bib}: no paper supports the claim.")
        if as_json:
            render.print_json(result.public_json())
        else:
            render.print_cite(result, bib is not None)
            render.print_notes(err, result.notes)
        if result.llm_error:
            render.say(
                err, render.llm_failure_line(result.llm_error, "the offline ranking"), style="red"
            )


@with_filters()
def related_work(
    topic: Annotated[str, typer.Argument(help="The topic of your paper.")],
    k: Annotated[int, typer.Option("--k", "-k", min=2, max=30, help="Papers to draw on.")] = 12,
    out: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--out", help="Write the Markdown draft (with references) to this file."),
    ] = None,
    bib: BibOpt = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    extractive: ExtractiveOpt = False,
    filters: FilterFlags = NO_FILTERS,
    index_dir: IndexOpt = None,
    chroma_url: ChromaOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Draft a related-work section on a topic: papers grouped into themes, each cited."""
    with common.errors():
        from assistant.api import related_work as draft_related_work
        from assistant.retrieval.retriever import RetrievalOptions

        settings, index = common.open_for_answers(
            model, base_url, extractive, index_dir, chroma_url
        )
        options = RetrievalOptions(k=k, filters=filters.search_filters())
        on_token, streamed = render.token_printer()
        draft = draft_related_work(
            index, topic, settings, options, on_token=None if as_json else on_token
        )
        err = render.console(stderr=True)
        for path in (out, bib):
            if path is not None and not draft.covered:
                render.say(err, f"Nothing written to {path}: no section was drafted.")
        if out is not None and draft.covered:
            common.write_text_file(out, draft.document())
            render.say(err, f"Wrote the draft to {out}.")
        if bib is not None and draft.covered:
            if draft.references:
                common.write_text_file(bib, draft.bibtex)
                render.say(err, f"Wrote {_entries(len(draft.references))} to {bib}.")
            else:
                render.say(err, f"Nothing written to {bib}: the draft cites no paper.")
        if as_json:
            render.print_json(draft.public_json())
        else:
            render.print_draft(draft, streamed())
            render.print_notes(err, draft.notes)
        if draft.llm_error:
            render.say(
                err, render.llm_failure_line(draft.llm_error, "the extractive draft"), style="red"
            )
