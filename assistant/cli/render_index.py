"""What the index commands print: ingest reports, search hits, paper lists, a paper, stats;
also the answer log (``logs``) and chat's ``--json`` lines for slash commands.

Split from :mod:`assistant.cli.render` (same rules: results on stdout, messages on stderr,
rich imported inside the functions).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assistant.cli.render_base import clip, console, escape, escape_line, print_json

if TYPE_CHECKING:
    from assistant.chat.session import CommandResult
    from assistant.records import IngestReport, Paper, Reject, SearchResult


#: Rejected records (and cut fields) listed one by one after an ingest or a sync.
SHOWN_REJECTS = 50


def print_ingest(report: IngestReport, papers_in_index: int) -> None:
    """Rejects (the first 50) on stderr, then the counts."""
    print_rejects(report.rejects, report.truncated)
    console().print(
        f"added {report.added}, updated {report.updated}, unchanged {report.unchanged}, "
        f"rejected {report.rejected}"
        + (f" ({report.duplicates_merged} duplicates merged)" if report.duplicates_merged else "")
        + _cuts(report)
        + f" in {report.seconds:.1f} s; index: {papers_in_index} papers"
    )


def print_rejects(rejects: list[Reject], truncated: list[Reject]) -> None:
    """The rejected records and the cut fields (the first 50 of each, file and line) on stderr."""
    err = console(stderr=True)
    for reject in rejects[:SHOWN_REJECTS]:
        err.print(f"[yellow]rejected[/] {escape(reject.describe())}", markup=True)
    if len(rejects) > SHOWN_REJECTS:
        err.print(f"... and {len(rejects) - SHOWN_REJECTS} more rejects")
    for note in truncated[:SHOWN_REJECTS]:
        err.print(f"[yellow]cut[/] {escape(note.describe())}", markup=True)
    if len(truncated) > SHOWN_REJECTS:
        err.print(f"... and {len(truncated) - SHOWN_REJECTS} more cuts")


def _cuts(report: IngestReport) -> str:
    """`` (1 abstracts cut, 2 titles cut)``: the fields cut to their limits, by field."""
    from assistant.ingest.readers import CUT_FIELDS

    counts = [
        (field, sum(note.reason.startswith(f"{field} of ") for note in report.truncated))
        for field in CUT_FIELDS
    ]
    parts = [f"{count} {field}s cut" for field, count in counts if count]
    return f" ({', '.join(parts)})" if parts else ""


SNIPPET_CHARS = 400  # the max_snippet_chars setting's default


def result_json(result: SearchResult, max_chars: int = SNIPPET_CHARS) -> dict[str, Any]:
    """The ``search --json`` shape: the result, with the hits' main fields only."""
    data = result.model_dump(mode="json")
    data["results"] = [
        {k: hit[k] for k in ("rank", "paper_id", "title", "year", "score", "snippet")}
        for hit in data["results"]
    ]
    for hit, found in zip(data["results"], result.results, strict=True):
        hit["snippet"] = clip(hit["snippet"], max_chars)
        hit["title"] = clip(hit["title"], max_chars)
        if found.paper is not None and not found.paper.has_abstract:
            hit["title_only"] = True  # no abstract: found by its title, venue and tags
    return data


#: Shown in place of the snippet of a paper without an abstract.
TITLE_ONLY_SNIPPET = "(no abstract: found by its title, venue and tags)"


def print_search(result: SearchResult, max_chars: int = SNIPPET_CHARS) -> None:
    """The hits as a table; titles and snippets at most ``max_chars`` characters each."""
    from rich.table import Table

    out = console()
    for note in result.notes:
        out.print(f"[dim]{escape(note)}[/]", markup=True)
    if not result.results:
        out.print("No paper matches.")
        return
    table = Table(show_lines=False, box=None, pad_edge=False, header_style="bold")
    table.add_column("#", justify="right")
    table.add_column("score", justify="right")
    table.add_column("paper", overflow="fold", ratio=3)
    table.add_column("year", justify="right")
    table.add_column("id", overflow="fold", ratio=1)
    for hit in result.results:
        title_only = hit.paper is not None and not hit.paper.has_abstract
        snippet = TITLE_ONLY_SNIPPET if title_only else escape(clip(hit.snippet, max_chars))
        table.add_row(
            str(hit.rank),
            f"{hit.score:.3f}",
            f"[bold]{escape_line(clip(hit.title, max_chars))}[/]\n[dim]{snippet}[/]",
            str(hit.year or ""),
            escape_line(hit.paper_id),
        )
    out.print(table)
    if not result.covered:
        out.print(
            f"[yellow]Low confidence ({result.confidence:.2f}) that the indexed papers "
            "cover this query.[/]",
            markup=True,
        )


def print_papers(shown: list[Paper], count: int) -> None:
    """The papers listed, and how many were selected in all."""
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("id", overflow="fold")
    table.add_column("year", justify="right")
    table.add_column("title", overflow="fold")
    table.add_column("source", overflow="fold")
    for p in shown:
        table.add_row(
            escape_line(p.paper_id),
            str(p.year or ""),
            escape_line(p.title),
            escape_line(p.source or ""),
        )
    out = console()
    out.print(table)
    more = f" (showing {len(shown)}; --limit 0 for all)" if len(shown) < count else ""
    out.print(f"{count} papers{more}")


def print_paper(paper: Paper, max_chars: int = 20_000, contribution: str | None = None) -> None:
    """One paper: title, metadata, its contribution sentence and abstract (at most
    ``max_chars`` of it; --json has all)."""
    out = console()
    out.print(f"[bold]{escape_line(clip(paper.title, max_chars))}[/]", markup=True)
    fields = [
        ("id", paper.paper_id),
        ("citation key", paper.citation_key),
        ("year", paper.year),
        ("authors", ", ".join(paper.authors)),
        ("venue", paper.venue),
        ("doi", paper.doi),
        ("arXiv", paper.arxiv_id),
        ("url", paper.url),
        ("source", paper.source),
    ]
    for name, value in fields:
        if value:
            out.print(f"[dim]{name}:[/] {escape_line(str(value))}", markup=True)
    sources = paper.extra.get("sources")
    if sources:
        out.print(f"[dim]merged from:[/] {escape_line(sources)}", markup=True)
    for name, key in (("tags", "tags"), ("collections", "zotero_collections")):
        if paper.extra.get(key):
            out.print(f"[dim]{name}:[/] {escape_line(paper.extra[key])}", markup=True)
    if paper.extra.get("zotero_link"):
        out.print(f"[dim]in Zotero:[/] {escape_line(paper.extra['zotero_link'])}", markup=True)
    if contribution:
        out.print(f"[dim]contribution:[/] “{escape(clip(contribution, max_chars))}”", markup=True)
    out.print()
    if not paper.has_abstract:
        out.print("[dim](no abstract: indexed by its title, venue and tags)[/]", markup=True)
    out.print(escape(clip(paper.abstract, max_chars)))
    if len(paper.abstract) > max_chars:
        out.print(f"[dim](abstract of {len(paper.abstract):,} characters cut; --json has it)[/]")


def print_stats(info: dict[str, Any]) -> None:
    """``PaperIndex.describe()``, one fact a line."""
    out = console()
    out.print(
        f"index:           {escape(str(info['index_dir']))}"
        + (f" (Chroma server {escape(str(info['chroma_url']))})" if info["chroma_url"] else "")
    )
    out.print(f"papers:          {info['papers']}")
    if info.get("without_abstract"):
        out.print(f"  no abstract:   {info['without_abstract']} (indexed by title)")
    out.print(f"chunks:          {info['chunks']}")
    out.print(
        f"embedding model: {escape(str(info['embedding_model']))} "
        f"(chunks of {info['chunk_tokens']} word pieces)"
    )
    out.print(f"size on disk:    {info['size_bytes'] / 1e6:.1f} MB")
    low, high = info["year_range"]
    if low:
        out.print(f"years:           {low}-{high}")
    merges = info.get("duplicates_merged", 0)
    out.print(f"duplicates:      {merges} merged (same id, DOI, arXiv id or title and author)")
    if info["sources"]:
        out.print("sources:         papers  file")
    for name, count in info["sources"].items():
        out.print(f"  {count:6d}  {escape_line(name or '(unknown source)')}")


# --- the answer log (assistant logs) -------------------------------------------------------------


def print_log_entries(entries: list[Any], folder: Any, what: str) -> None:
    """Logged answers as a table (id, time, command, model, tokens, question)."""
    out = console()
    if not entries:
        out.print(f"No {escape(what)} in {escape(str(folder))}.")
        return
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("id", justify="right")
    table.add_column("time")
    table.add_column("command")
    table.add_column("model")
    table.add_column("tokens", justify="right")
    table.add_column("question", overflow="fold")
    for entry in entries:
        table.add_row(
            str(entry.id),
            entry.created_at[:19].replace("T", " "),
            entry.command,
            escape_line(entry.model or entry.mode),
            "" if entry.total_tokens is None else f"{entry.total_tokens:,}",
            escape_line(clip(entry.question, 120)),
        )
    out.print(table)


def print_log_entry(entry: Any) -> None:
    """One logged answer in full."""
    out = console()
    out.print(f"[bold]{escape(entry.question)}[/]", markup=True)
    facts = [
        ("id", entry.id),
        ("time", entry.created_at),
        ("command", entry.command),
        ("mode", entry.mode),
        ("model", entry.model),
        ("session", entry.session_id),
    ]
    if entry.total_tokens is not None:
        facts.append(
            ("tokens", f"{entry.prompt_tokens} prompt + {entry.completion_tokens} completion")
        )
    if entry.cost_usd is not None:
        facts.append(("cost", f"${entry.cost_usd:.6f}"))
    for name, value in facts:
        if value:
            out.print(f"[dim]{name}:[/] {escape(str(value))}", markup=True)
    out.print()
    out.print(escape(entry.answer))
    if entry.citations:
        out.print("\n[bold]Cited papers[/]", markup=True)
        for cited in entry.citations:
            out.print(f"- {escape_line(cited['title'])} ({escape_line(cited['paper_id'])})")


def print_command_json(line: str, result: CommandResult) -> None:
    """A chat slash command's outcome as one line of JSON (``chat --json``)."""
    print_json(
        {
            "command": line,
            "kind": result.kind,
            "message": result.message,
            "lines": result.lines,
            "path": str(result.path) if result.path is not None else None,
        }
    )
