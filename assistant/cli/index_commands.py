"""The index commands: ``ingest``, ``search``, ``eval``, ``papers`` (and ``papers show``),
``stats``, ``publish`` and ``config``.

Plain functions, registered on the app by :mod:`assistant.cli.root`; ``papers_app`` is the
``papers`` sub-command group. They parse, call the library (imported inside them) and hand the
results to :mod:`assistant.cli.render`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from assistant.cli import common, render, render_index
from assistant.cli.interrupts import Terminated, sigterm_interrupts, stop_name
from assistant.cli.options import (
    NO_FILTERS,
    ChromaOpt,
    CslJsonOpt,
    FilterFlags,
    ForceOpt,
    IndexOpt,
    JsonOpt,
    MethodOpt,
    RisOpt,
    check_method,
    with_filters,
)
from assistant.ingest.readers.formats import format_names

if TYPE_CHECKING:
    from assistant.index.paper_index import PaperIndex

papers_app = typer.Typer(help="List the indexed papers, or show one.", invoke_without_command=True)


def _replace_demo(index: PaperIndex, keep_demo: bool) -> bool:
    """Whether this ingest empties an index that holds only the demo: asked on a terminal."""
    import sys

    if keep_demo or not index.holds_only_demo():
        return False
    if not sys.stdin.isatty():
        return True  # said after the ingest
    papers = index.catalog.count_papers()
    return typer.confirm(
        f"The index in {index.dir} holds only the bundled demo corpus ({papers} papers). "
        "Replace it with your papers? (No keeps it beside them)",
        default=True,
        err=True,
    )


def ingest(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Files or folders of papers.", show_default=False)
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option("--format", help=f"Force a format: {', '.join(format_names())}."),
    ] = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Empty the index first.")] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Fail (and ingest nothing) if any record is rejected.")
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="If another ingest is running, wait for it.")
    ] = False,
    bundled: Annotated[
        bool, typer.Option("--bundled", help="Add the bundled demo corpus (425 papers).")
    ] = False,
    keep_demo: Annotated[
        bool,
        typer.Option(
            "--keep-demo", help="Keep the demo corpus if the index holds only it (else replaced)."
        ),
    ] = False,
    zotero: Annotated[
        bool,
        typer.Option(
            "--zotero",
            help="Sync a Zotero library from its database (PATH: its data folder or "
            "zotero.sqlite; default ~/Zotero): again, only what changed is read.",
        ),
    ] = False,
    collections: Annotated[
        list[str] | None,
        typer.Option(
            "--collection",
            help="With --zotero: only this collection and its sub-collections (repeatable).",
        ),
    ] = None,
    tags: Annotated[
        list[str] | None,
        typer.Option("--tag", help="With --zotero: only items with this tag (repeatable)."),
    ] = None,
    libraries: Annotated[
        list[str] | None,
        typer.Option(
            "--library",
            help="With --zotero: only this library ('My Library' or a group's name; repeatable).",
        ),
    ] = None,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch", help="With --zotero: keep syncing while Zotero runs (Ctrl-C stops)."
        ),
    ] = False,
    interval: Annotated[
        float | None,
        typer.Option(
            "--interval",
            min=1.0,
            help="With --watch: seconds between looks. Env: ASSISTANT_ZOTERO_POLL_SECONDS.",
            show_default=False,
        ),
    ] = None,
    index_dir: IndexOpt = None,
    chroma_url: ChromaOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add papers (Daily Papers dumps, JSONL, CSV, BibTeX, CSL-JSON or RIS) to the index, or
    sync a Zotero library (--zotero).

    The first ingest into an index that holds only the demo corpus replaces it (on a terminal,
    after asking); --keep-demo keeps it.
    """
    with common.errors():
        from assistant.api import ingest_bundled, ingest_paths
        from assistant.errors import UsageError

        zotero_flags = (collections, tags, libraries, watch, interval is not None)
        if zotero or any(zotero_flags):
            from assistant.cli.zotero_command import ingest_zotero

            ingest_zotero(
                zotero,
                bundled,
                paths or [],
                collections or [],
                tags or [],
                libraries or [],
                watch,
                interval,
                rebuild,
                wait,
                index_dir,
                chroma_url,
                as_json,
            )
            return
        if bool(paths) == bundled:
            raise UsageError(
                "Give FILES to ingest, or --bundled for the demo corpus (not both).",
                hint="assistant ingest my-papers.bib; assistant ingest --bundled (then "
                "'assistant ingest --keep-demo FILES' to add yours beside the demo).",
            )
        settings = common.settings(index_dir=index_dir, chroma_url=chroma_url)
        index = common.open_index(settings, rebuild=rebuild)
        replace = not bundled and _replace_demo(index, keep_demo)
        held_before = index.catalog.count_papers()
        update, close = common.progress_bar("Embedding")
        try:
            with sigterm_interrupts():
                if bundled:
                    report = ingest_bundled(index, wait=wait, progress=update, rebuild=rebuild)
                else:
                    report = ingest_paths(
                        index,
                        paths or [],
                        fmt=fmt,
                        rebuild=rebuild,
                        strict=strict,
                        wait=wait,
                        progress=update,
                        replace_demo=replace,
                    )
        except KeyboardInterrupt as stopped:
            close()
            held = index.catalog.count_papers()
            render.message(
                f"{stop_name(stopped)}. The papers committed before it stopped are in the "
                f"index and searchable ({held} papers now, {held - held_before:+d}); run the "
                "same command again to finish (what is committed is not embedded again)."
            )
            raise typer.Exit(143 if isinstance(stopped, Terminated) else 130) from None
        finally:
            close()
        if index.demo_removed:
            render.message(
                f"Replaced the bundled demo corpus ({index.demo_removed} papers) with your "
                "papers (--keep-demo keeps it; 'assistant ingest --bundled' adds it back)."
            )
        if as_json:
            render.print_json(
                {**report.model_dump(mode="json"), "demo_removed": index.demo_removed}
            )
        else:
            render_index.print_ingest(report, index.catalog.count_papers())
        if strict and report.rejected:
            render.message("Strict mode: nothing was ingested because records were rejected.")
            raise typer.Exit(1)
        if report.rejected and not (report.added or report.updated or report.unchanged):
            raise typer.Exit(1)


def _read_queries(path: Path) -> list[str]:
    from assistant.errors import UsageError

    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"Cannot read {path}: {exc}", hint="Give a UTF-8 text or JSONL file."
        ) from exc
    queries = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            continue
        if text.startswith("{"):
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                raise UsageError(
                    f"{path}:{number}: malformed JSON "
                    f"({exc.msg.removesuffix(' at')} at column {exc.colno}).",
                    hint="One query per line, or JSONL with a 'question' field.",
                ) from exc
            question = record.get("question") or record.get("query")
            if not isinstance(question, str) or not question.strip():
                raise UsageError(
                    f"{path}:{number}: no 'question' field.",
                    hint="Each JSON line needs a 'question' string.",
                )
            queries.append(question.strip())
        else:
            queries.append(text)
    return queries


@with_filters()
def search(
    query: Annotated[str | None, typer.Argument(help="What to look for.")] = None,
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=200, help="Papers to show.")] = 10,
    queries_file: Annotated[
        Path | None,
        typer.Option("--queries-file", help="Run many queries (one a line, or JSONL 'question')."),
    ] = None,
    method: MethodOpt = "hybrid",
    filters: FilterFlags = NO_FILTERS,
    index_dir: IndexOpt = None,
    chroma_url: ChromaOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Find the papers that match a query, best first."""
    with common.errors():
        from assistant.api import search_many
        from assistant.errors import UsageError
        from assistant.retrieval.retriever import RetrievalOptions

        if (query is None) == (queries_file is None):
            raise UsageError(
                "Give either a QUERY or --queries-file.",
                hint='assistant search "memory-efficient fine-tuning"',
            )
        check_method(method)
        queries = [query] if query is not None else _read_queries(queries_file)  # type: ignore[arg-type]
        if not queries or not all(q.strip() for q in queries):
            raise UsageError("The query is empty.", hint="Give a question or keywords.")
        # Bad flags are reported before a first run spends a minute building the corpus.
        search_filters = filters.search_filters()
        settings = common.settings(index_dir=index_dir, chroma_url=chroma_url)
        index = common.open_index(settings)
        common.ensure_corpus(index)
        options = RetrievalOptions(k=k, method=method, filters=search_filters)  # type: ignore[arg-type]
        if queries_file is not None:
            search_many(
                index,
                queries,
                options,
                each=lambda r: render.print_json(
                    render_index.result_json(r, settings.max_snippet_chars)
                ),
            )
            return
        (result,) = search_many(index, queries, options)
        if as_json:
            render.print_json(render_index.result_json(result, settings.max_snippet_chars))
            return
        render_index.print_search(result, settings.max_snippet_chars)


def eval_command(
    questions: Annotated[
        Path | None,
        typer.Argument(help="JSONL questions with 'question' and 'gold' (titles or ids)."),
    ] = None,
    beir: Annotated[
        Path | None,
        typer.Option("--beir", help="A BEIR-layout folder (corpus, queries, qrels), e.g. SciFact."),
    ] = None,
    split: Annotated[
        str | None,
        typer.Option("--split", help="BEIR qrels split (train, dev, test)."),
    ] = None,
    method: MethodOpt = "hybrid",
    index_dir: IndexOpt = None,
    chroma_url: ChromaOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Measure retrieval: Recall@1/5/10, MRR@10, nDCG@10 and abstention on unanswerable ones."""
    with common.errors():
        from assistant.api import evaluate_questions
        from assistant.retrieval.retriever import RetrievalOptions

        check_method(method)
        settings = common.settings(index_dir=index_dir, chroma_url=chroma_url)
        index = common.open_index(settings)
        if questions is not None and beir is None:
            common.ensure_corpus(index)
        ingest_update, ingest_close = common.progress_bar("Embedding corpus")
        try:
            report, warnings = evaluate_questions(
                index,
                questions_file=questions,
                beir_dir=beir,
                split=split,
                options=RetrievalOptions(k=10, method=method),  # type: ignore[arg-type]
                ingest_progress=ingest_update,
            )
        finally:
            ingest_close()
        render.warnings(render.console(stderr=True), warnings[:20])
        if as_json:
            data = report.model_dump(mode="json")
            data["summary"] = report.summary()
            data["method"] = method
            render.print_json(data)
            return
        render.print_eval(report, method)


@papers_app.callback()
@with_filters("since", "until", "source", "collection", "tag")
def papers(
    ctx: typer.Context,
    filters: FilterFlags = NO_FILTERS,
    limit: Annotated[int, typer.Option("--limit", min=0, help="Show at most N (0: all).")] = 50,
    bib: Annotated[
        Path | None,
        typer.Option("--bib", help="Also write the listed papers' BibTeX entries to this file."),
    ] = None,
    ris: RisOpt = None,
    csl_json: CslJsonOpt = None,
    force: ForceOpt = False,
    index_dir: IndexOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the indexed papers (filter by year, source file, Zotero collection or tag)."""
    if ctx.invoked_subcommand is not None:
        return
    with common.errors():
        replace = common.approve_outputs(force, bib, ris, csl_json)
        settings = common.settings(index_dir=index_dir)
        index = common.open_index(settings)
        wanted = filters.search_filters()
        selected = [
            paper
            for paper in index.catalog.iter_papers(
                year_from=filters.since, year_to=filters.until, source=filters.source
            )
            if wanted.matches(paper)
        ]
        shown = selected if limit == 0 else selected[:limit]
        for fmt, path in (("bib", bib), ("ris", ris), ("csl-json", csl_json)):
            if path is not None:
                from assistant.export.formats import describe, export_text

                common.write_text_file(path, export_text(fmt, shown), replace)  # type: ignore[arg-type]
                described = describe(fmt, len(shown))  # type: ignore[arg-type]
                render.message(f"Wrote {described} to {render.escape(str(path))}.")
        if as_json:
            render.print_json(
                {
                    "count": len(selected),
                    "papers": [
                        {
                            "paper_id": p.paper_id,
                            "title": p.title,
                            "year": p.year,
                            "source": p.source,
                        }
                        for p in shown
                    ],
                }
            )
            return
        render_index.print_papers(shown, len(selected))


@papers_app.command("show")
def papers_show(
    paper_id: Annotated[str, typer.Argument(help="The paper's id (as search shows it).")],
    index_dir: IndexOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print one paper: metadata, the sentence stating its contribution, and its abstract."""
    with common.errors():
        from assistant.errors import UsageError

        settings = common.settings(index_dir=index_dir)
        index = common.open_index(settings)
        paper = index.catalog.get_paper(paper_id)
        if paper is None:
            raise UsageError(
                f"No paper with id {paper_id!r} in {index.dir}.",
                hint="'assistant papers' lists the ids; 'assistant search' finds them.",
            )
        from assistant.text.contribution import contribution_sentence

        # The sentence that stands for the paper wherever one does (drafts, similar, MCP).
        contribution = (
            contribution_sentence(paper.title, paper.abstract).sentence
            if paper.abstract.strip()
            else None
        )
        if as_json:
            render.print_json(paper.model_dump(mode="json") | {"contribution": contribution})
            return
        render_index.print_paper(paper, settings.max_abstract_chars, contribution)


def stats(
    index_dir: IndexOpt = None, chroma_url: ChromaOpt = None, as_json: JsonOpt = False
) -> None:
    """Counts, embedding model and size of the index."""
    with common.errors():
        settings = common.settings(index_dir=index_dir, chroma_url=chroma_url)
        index = common.open_index(settings)
        info = index.describe()
        info["duplicates_merged"] = int(index.catalog.get_meta("duplicates_merged") or 0)
        if as_json:
            render.print_json(info)
            return
        render_index.print_stats(info)


def publish(
    local_index: Annotated[
        Path, typer.Argument(help="The folder of a local index to put on the server.")
    ],
    index_dir: IndexOpt = None,
    chroma_url: ChromaOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Put a local index onto the Chroma server (ASSISTANT_CHROMA_URL), so that the lab shares
    it: its papers and their vectors, nothing embedded again."""
    with common.errors():
        from assistant.api import publish_index

        settings = common.settings(index_dir=index_dir, chroma_url=chroma_url)
        index = common.open_index(settings)
        update, close = common.progress_bar("Publishing")
        try:
            published = publish_index(index, local_index, progress=update)
        finally:
            close()
        total = index.catalog.count_papers()
        if as_json:
            render.print_json({"published": published, "papers": total})
            return
        render.message(
            f"Published {published} papers from {local_index} to {settings.chroma_url}; "
            f"the shared index holds {total} papers."
        )


def config(as_json: JsonOpt = False) -> None:
    """Print the effective settings (secrets masked) and where they come from."""
    with common.errors():
        from assistant.settings import Settings, config_file_path

        data = common.settings().public_dict()
        if as_json:
            render.print_json(data)
            return
        descriptions = {name: Settings.model_fields[name].description or "" for name in data}
        render.print_config(data, descriptions, config_file_path())
