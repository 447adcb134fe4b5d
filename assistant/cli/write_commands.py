"""The ``cite`` and ``related-work`` commands, registered on :data:`assistant.cli.root.app`.

Like the rest of the CLI they only parse, call :mod:`assistant.generation.writing` and print; heavy
modules are imported inside the commands.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from assistant.cli.root import (
    AuthorOpt,
    BaseUrlOpt,
    ChromaOpt,
    ExtractiveOpt,
    IndexOpt,
    JsonOpt,
    ModelOpt,
    SourceOpt,
    VenueOpt,
    WhereOpt,
    YearFromOpt,
    YearToOpt,
    _console,
    _ensure_corpus,
    _errors,
    _filters,
    _open,
    _print_json,
    _settings,
    app,
)

if TYPE_CHECKING:
    from rich.console import Console

    from assistant.generation.writing import CitedPaper, CiteResult, RelatedWork
    from assistant.settings import Settings

BibOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option("--bib", help="Write the BibTeX entries of the cited papers to this file."),
]


def _writing_settings(
    index_dir: Path | None,
    chroma_url: str | None,
    model: str | None,
    base_url: str | None,
    extractive: bool,
) -> Settings:
    settings = _settings(
        index_dir=index_dir, chroma_url=chroma_url, llm_model=model, llm_base_url=base_url
    )
    if extractive:
        settings = settings.model_copy(
            update={"llm_model": None, "llm_base_url": None, "llm_api_key": None}
        )
    return settings


def _write(path: Path, text: str) -> None:
    from assistant.errors import UsageError

    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(
            f"Cannot write {path}: {exc.strerror or exc}.", hint="Choose another file name."
        ) from exc


def _say(err: Console, text: str, style: str = "dim") -> None:
    """One message on stderr, never wrapped (so an error stays one line)."""
    from rich.markup import escape

    err.print(f"[{style}]{escape(text)}[/]", markup=True, highlight=False, soft_wrap=True)


def _print_notes(err: Console, notes: list[str]) -> None:
    """Notes on stderr."""
    for note in notes:
        _say(err, note)


def _entries(n: int) -> str:
    return f"{n} BibTeX entry" if n == 1 else f"{n} BibTeX entries"


@app.command()
def cite(
    claim: Annotated[str, typer.Argument(help="The claim to find support for.")],
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=30, help="Papers to consider.")] = 5,
    bib: BibOpt = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    extractive: ExtractiveOpt = False,
    since: YearFromOpt = None,
    until: YearToOpt = None,
    venue: VenueOpt = None,
    author: AuthorOpt = None,
    source: SourceOpt = None,
    where: WhereOpt = None,
    index_dir: IndexOpt = None,
    chroma_url: ChromaOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Find the indexed papers that support a claim, each with its best sentence and BibTeX."""
    with _errors():
        from assistant.cli.render import llm_failure_line
        from assistant.generation.writing import cite_claim
        from assistant.retrieval.retriever import RetrievalOptions

        settings = _writing_settings(index_dir, chroma_url, model, base_url, extractive)
        index = _open(settings)
        _ensure_corpus(index)
        options = RetrievalOptions(
            k=k, filters=_filters(since, until, venue, author, source, where)
        )
        result = cite_claim(index, claim, settings, options)
        err = _console(stderr=True)
        if bib is not None:
            if result.papers:
                _write(bib, result.bibtex)
                _say(err, f"Wrote {_entries(len(result.papers))} to {bib}.")
            else:
                _say(err, f"Nothing written to {bib}: no paper supports the claim.")
        if as_json:
            _print_json(result.public_json())
        else:
            _print_cite(result, bib is not None)
            _print_notes(err, result.notes)
        if result.llm_error:
            _say(err, llm_failure_line(result.llm_error, "the offline ranking"), style="red")


def _print_cite(result: CiteResult, wrote_bib: bool) -> None:
    out = sys.stdout
    out.write(result.summary + "\n")
    if result.papers:
        out.write("\n")
        for paper in result.papers:
            _print_cited(paper)
        if not wrote_bib:
            keys = ", ".join(p.bibkey for p in result.papers)
            out.write(f"BibTeX keys: {keys} (--bib FILE writes the entries; --json has them).\n")
    elif result.nearest:
        out.write("\nNearest papers (not supporting):\n")
        for paper in result.nearest:
            out.write(f"- {paper.title} ({paper.paper_id})\n")


def _print_cited(paper: CitedPaper) -> None:
    year = f" ({paper.year})" if paper.year else ""
    lines = [
        f"{paper.rank}. {paper.title}{year} [{paper.bibkey}]",
        f"   “{paper.sentence}” (similarity {paper.score:.2f})",
    ]
    if paper.justification:
        lines.append(f"   Why: {paper.justification}")
    lines.append(f"   {paper.link or paper.paper_id}")
    sys.stdout.write("\n".join(lines) + "\n\n")


@app.command("related-work")
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
    since: YearFromOpt = None,
    until: YearToOpt = None,
    venue: VenueOpt = None,
    author: AuthorOpt = None,
    source: SourceOpt = None,
    where: WhereOpt = None,
    index_dir: IndexOpt = None,
    chroma_url: ChromaOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Draft a related-work section on a topic: papers grouped into themes, each cited."""
    with _errors():
        from assistant.cli.render import llm_failure_line, token_printer
        from assistant.generation.writing import related_work as draft_related_work
        from assistant.retrieval.retriever import RetrievalOptions

        settings = _writing_settings(index_dir, chroma_url, model, base_url, extractive)
        index = _open(settings)
        _ensure_corpus(index)
        options = RetrievalOptions(
            k=k, filters=_filters(since, until, venue, author, source, where)
        )
        on_token, streamed = token_printer()
        draft = draft_related_work(
            index, topic, settings, options, on_token=None if as_json else on_token
        )
        err = _console(stderr=True)
        for path in (out, bib):
            if path is not None and not draft.covered:
                _say(err, f"Nothing written to {path}: no section was drafted.")
        if out is not None and draft.covered:
            _write(out, draft.document())
            _say(err, f"Wrote the draft to {out}.")
        if bib is not None and draft.covered:
            if draft.references:
                _write(bib, draft.bibtex)
                _say(err, f"Wrote {_entries(len(draft.references))} to {bib}.")
            else:
                _say(err, f"Nothing written to {bib}: the draft cites no paper.")
        if as_json:
            _print_json(draft.public_json())
        else:
            _print_draft(draft, streamed())
            _print_notes(err, draft.notes)
        if draft.llm_error:
            _say(err, llm_failure_line(draft.llm_error, "the extractive draft"), style="red")


def _print_draft(draft: RelatedWork, streamed: bool) -> None:
    out = sys.stdout
    if streamed:
        out.write("\n")
    if streamed and draft.mode == "llm":
        if draft.removed_citations or draft.uncited_sentences:
            out.write("\nChecked draft:\n\n" + draft.markdown.rstrip() + "\n")
    else:
        out.write(draft.markdown.rstrip() + "\n")
    if draft.references:
        out.write("\nReferences\n")
        for reference in draft.references:
            out.write(f"{reference.line()}\n")
    out.flush()
