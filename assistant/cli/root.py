"""The ``assistant`` command: parses arguments, calls the library, prints results.

Heavy modules (chromadb, onnxruntime, openai, pydantic-settings) are imported inside the
commands that need them, so ``assistant --help`` starts instantly.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from assistant.index.paper_index import PaperIndex
    from assistant.records import SearchResult
    from assistant.retrieval.filters import SearchFilters
    from assistant.settings import Settings

app = typer.Typer(
    name="assistant",
    help="Ask questions of paper abstracts and get answers that cite their papers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)
papers_app = typer.Typer(help="List the indexed papers, or show one.", invoke_without_command=True)
app.add_typer(papers_app, name="papers")

_state: dict[str, Any] = {"debug": False}

IndexOpt = Annotated[
    Path | None,
    typer.Option(
        "--index",
        help="Index folder (default: ./index). Env: ASSISTANT_INDEX_DIR.",
        show_default=False,
    ),
]
ChromaOpt = Annotated[
    str | None,
    typer.Option(
        "--chroma-url",
        help="Use a Chroma server (http://host:port). Env: ASSISTANT_CHROMA_URL.",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ModelOpt = Annotated[
    str | None, typer.Option("-m", "--model", help="LLM model. Env: ASSISTANT_LLM_MODEL.")
]
BaseUrlOpt = Annotated[
    str | None,
    typer.Option("--base-url", help="OpenAI-compatible endpoint. Env: OPENAI_BASE_URL."),
]
ExtractiveOpt = Annotated[
    bool, typer.Option("--extractive", help="Work offline, without the LLM, even if configured.")
]
YearFromOpt = Annotated[int | None, typer.Option("--since", help="Only papers from this year on.")]
YearToOpt = Annotated[int | None, typer.Option("--until", help="Only papers up to this year.")]
VenueOpt = Annotated[
    str | None, typer.Option("--venue", help="Only papers whose venue contains this.")
]
AuthorOpt = Annotated[
    str | None, typer.Option("--author", help="Only papers with a matching author.")
]
SourceOpt = Annotated[
    str | None, typer.Option("--source", help="Only papers read from this file name.")
]
WhereOpt = Annotated[
    list[str] | None,
    typer.Option("--where", help="Other metadata, KEY=VALUE (repeatable)."),
]


# --- plumbing -----------------------------------------------------------------------------


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _settings(**overrides: Any) -> Settings:
    from assistant.settings import load_settings

    return load_settings(**overrides)


@contextmanager
def _errors() -> Iterator[None]:
    """Print library errors as one message plus a hint on stderr, with a non-zero exit."""
    from assistant.errors import AssistantError

    try:
        yield
    except AssistantError as exc:
        if _state["debug"]:
            raise
        err = _console(stderr=True)
        err.print(f"[bold red]Error:[/] {_escape(exc.message)}", markup=True, highlight=False)
        if exc.hint:
            err.print(f"[yellow]Hint:[/] {_escape(exc.hint)}", markup=True, highlight=False)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        _console(stderr=True).print("Interrupted.")
        raise typer.Exit(130) from None


def _open(settings: Settings, rebuild: bool = False) -> PaperIndex:
    from assistant.api import open_index

    return open_index(settings, rebuild=rebuild)


def _progress_bar(description: str) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """A rich progress bar (on stderr) with rate and time left; returns (update, close)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        console=_console(stderr=True),
        transient=True,
    )
    task = progress.add_task(description, total=None, rate="")
    started = False

    def update(done: int, total: int) -> None:
        nonlocal started
        if not started:
            progress.start()
            started = True
        elapsed = progress.tasks[0].elapsed or 0.0
        rate = f"{done / elapsed:.1f} papers/s" if elapsed > 0 and done else ""
        progress.update(task, completed=done, total=total, rate=rate)

    def close() -> None:
        if started:
            progress.stop()

    return update, close


def _ensure_corpus(index: PaperIndex) -> None:
    """First run: build the index from the bundled corpus, with a progress bar."""
    from assistant.api import ensure_corpus

    if index.catalog.count_papers() > 0:
        return
    err = _console(stderr=True)
    err.print(
        f"The index in {_escape(str(index.dir))} is empty: building it from the bundled corpus "
        "(425 papers)."
    )
    update, close = _progress_bar("Embedding")
    try:
        report = ensure_corpus(index, progress=update)
    finally:
        close()
    if report is not None:
        err.print(f"Indexed {report.added} papers in {report.seconds:.1f} s.")


def _filters(
    since: int | None,
    until: int | None,
    venue: str | None,
    author: str | None,
    source: str | None,
    where: list[str] | None,
) -> SearchFilters:
    from assistant.errors import UsageError
    from assistant.retrieval.filters import SearchFilters

    metadata = {}
    for item in where or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--where {item!r} is not KEY=VALUE.", hint="E.g. --where venue=ACL")
        metadata[key.strip()] = value.strip()
    return SearchFilters(
        year_from=since, year_to=until, venue=venue, author=author, source=source, metadata=metadata
    )


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")


def _result_json(result: SearchResult) -> dict[str, Any]:
    data = result.model_dump(mode="json")
    data["results"] = [
        {k: hit[k] for k in ("rank", "paper_id", "title", "year", "score", "snippet")}
        for hit in data["results"]
    ]
    return data


# --- commands -----------------------------------------------------------------------------


@app.callback()
def _main(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks.", envvar="ASSISTANT_DEBUG")
    ] = False,
) -> None:
    _state["debug"] = debug


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders of papers.")],
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="Force a format: daily, jsonl, csv, bibtex."),
    ] = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Empty the index first.")] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Fail (and ingest nothing) if any record is rejected.")
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="If another ingest is running, wait for it.")
    ] = False,
    index_dir: IndexOpt = None,
    chroma_url: ChromaOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add papers (Daily Papers dumps, JSONL, CSV or BibTeX) to the index."""
    with _errors():
        from assistant.api import ingest_paths

        settings = _settings(index_dir=index_dir, chroma_url=chroma_url)
        index = _open(settings, rebuild=rebuild)
        update, close = _progress_bar("Embedding")
        try:
            report = ingest_paths(
                index, paths, fmt=fmt, rebuild=rebuild, strict=strict, wait=wait, progress=update
            )
        finally:
            close()
        if as_json:
            _print_json(report.model_dump(mode="json"))
        else:
            err = _console(stderr=True)
            for reject in report.rejects[:50]:
                err.print(f"[yellow]rejected[/] {_escape(reject.describe())}", markup=True)
            if len(report.rejects) > 50:
                err.print(f"... and {len(report.rejects) - 50} more rejects")
            _console().print(
                f"added {report.added}, updated {report.updated}, unchanged {report.unchanged}, "
                f"rejected {report.rejected}"
                + (
                    f" ({report.duplicates_merged} duplicates merged)"
                    if report.duplicates_merged
                    else ""
                )
                + f" in {report.seconds:.1f} s; index: {index.catalog.count_papers()} papers"
            )
        if strict and report.rejected:
            _console(stderr=True).print(
                "Strict mode: nothing was ingested because records were rejected."
            )
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
                    f"{path}:{number}: malformed JSON ({exc.msg}).",
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


@app.command()
def search(
    query: Annotated[str | None, typer.Argument(help="What to look for.")] = None,
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=200, help="Papers to show.")] = 10,
    queries_file: Annotated[
        Path | None,
        typer.Option("--queries-file", help="Run many queries (one a line, or JSONL 'question')."),
    ] = None,
    method: Annotated[str, typer.Option("--method", help="hybrid, dense or bm25.")] = "hybrid",
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
    """Find the papers that match a query, best first."""
    with _errors():
        from assistant.api import search_many
        from assistant.errors import UsageError
        from assistant.retrieval.retriever import RetrievalOptions

        if (query is None) == (queries_file is None):
            raise UsageError(
                "Give either a QUERY or --queries-file.",
                hint='assistant search "memory-efficient fine-tuning"',
            )
        if method not in ("hybrid", "dense", "bm25"):
            raise UsageError(f"Unknown --method {method!r}.", hint="Use hybrid, dense or bm25.")
        queries = [query] if query is not None else _read_queries(queries_file)  # type: ignore[arg-type]
        if not queries or not all(q.strip() for q in queries):
            raise UsageError("The query is empty.", hint="Give a question or keywords.")
        # Bad flags are reported before a first run spends a minute building the corpus.
        filters = _filters(since, until, venue, author, source, where)
        settings = _settings(index_dir=index_dir, chroma_url=chroma_url)
        index = _open(settings)
        _ensure_corpus(index)
        options = RetrievalOptions(k=k, method=method, filters=filters)  # type: ignore[arg-type]
        if queries_file is not None:
            search_many(index, queries, options, each=lambda r: _print_json(_result_json(r)))
            return
        (result,) = search_many(index, queries, options)
        if as_json:
            _print_json(_result_json(result))
            return
        _print_search(result)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="Your question.")],
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    extractive: ExtractiveOpt = False,
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=30, help="Papers to draw on.")] = 6,
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
    """Answer a question from the indexed papers, citing them."""
    with _errors():
        from assistant.api import ask as ask_question
        from assistant.cli.render import llm_failure_line, print_answer, token_printer
        from assistant.retrieval.retriever import RetrievalOptions

        settings = _settings(
            index_dir=index_dir,
            chroma_url=chroma_url,
            llm_model=model,
            llm_base_url=base_url,
            answer_papers=k,
        )
        if extractive:
            settings = settings.model_copy(
                update={"llm_model": None, "llm_base_url": None, "llm_api_key": None}
            )
        filters = _filters(since, until, venue, author, source, where)  # before a first build
        index = _open(settings)
        _ensure_corpus(index)
        options = RetrievalOptions(k=max(k, 5), filters=filters)
        on_token, streamed = token_printer()
        answer = ask_question(
            index, question, settings, options, on_token=None if as_json else on_token
        )
        if as_json:
            _print_json(answer.public_json())
            return
        print_answer(_console(), _console(stderr=True), answer, streamed())
        if answer.llm_error:
            _console(stderr=True).print(
                llm_failure_line(answer.llm_error, "the extractive answer"), highlight=False
            )


@app.command("eval")
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
    method: Annotated[str, typer.Option("--method", help="hybrid, dense or bm25.")] = "hybrid",
    index_dir: IndexOpt = None,
    chroma_url: ChromaOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Measure retrieval: Recall@1/5/10, MRR@10, nDCG@10 and abstention on unanswerable ones."""
    with _errors():
        from assistant.api import evaluate_questions
        from assistant.errors import UsageError
        from assistant.retrieval.retriever import RetrievalOptions

        if method not in ("hybrid", "dense", "bm25"):
            raise UsageError(f"Unknown --method {method!r}.", hint="Use hybrid, dense or bm25.")
        settings = _settings(index_dir=index_dir, chroma_url=chroma_url)
        index = _open(settings)
        if questions is not None and beir is None:
            _ensure_corpus(index)
        ingest_update, ingest_close = _progress_bar("Embedding corpus")
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
        err = _console(stderr=True)
        for warning in warnings[:20]:
            err.print(f"[yellow]warning:[/] {_escape(warning)}", markup=True)
        if as_json:
            data = report.model_dump(mode="json")
            data["summary"] = report.summary()
            data["method"] = method
            _print_json(data)
            return
        _print_eval(report, method)


def _print_eval(report: Any, method: str) -> None:
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
    console = _console()
    console.print(table)
    latency = report.latency
    console.print(
        f"search latency: mean {latency.mean_ms:.1f} ms, p50 {latency.p50_ms:.1f} ms, "
        f"p95 {latency.p95_ms:.1f} ms"
    )


def _print_search(result: SearchResult) -> None:
    from rich.table import Table

    console = _console()
    for note in result.notes:
        console.print(f"[dim]{note}[/]", markup=True)
    if not result.results:
        console.print("No paper matches.")
        return
    table = Table(show_lines=False, box=None, pad_edge=False, header_style="bold")
    table.add_column("#", justify="right")
    table.add_column("score", justify="right")
    table.add_column("paper", overflow="fold", ratio=3)
    table.add_column("year", justify="right")
    table.add_column("id", overflow="fold", ratio=1)
    for hit in result.results:
        table.add_row(
            str(hit.rank),
            f"{hit.score:.3f}",
            f"[bold]{_escape(hit.title)}[/]\n[dim]{_escape(hit.snippet)}[/]",
            str(hit.year or ""),
            hit.paper_id,
        )
    console.print(table)
    if not result.covered:
        console.print(
            f"[yellow]Low confidence ({result.confidence:.2f}) that the indexed papers "
            "cover this query.[/]",
            markup=True,
        )


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


@papers_app.callback()
def papers(
    ctx: typer.Context,
    since: YearFromOpt = None,
    until: YearToOpt = None,
    source: SourceOpt = None,
    limit: Annotated[int, typer.Option("--limit", min=0, help="Show at most N (0: all).")] = 50,
    index_dir: IndexOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the indexed papers (filter by year or source file)."""
    if ctx.invoked_subcommand is not None:
        return
    with _errors():
        settings = _settings(index_dir=index_dir)
        index = _open(settings)
        selected = list(index.catalog.iter_papers(year_from=since, year_to=until, source=source))
        shown = selected if limit == 0 else selected[:limit]
        if as_json:
            _print_json(
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
        from rich.table import Table

        table = Table(box=None, header_style="bold", pad_edge=False)
        table.add_column("id", overflow="fold")
        table.add_column("year", justify="right")
        table.add_column("title", overflow="fold")
        table.add_column("source", overflow="fold")
        for p in shown:
            table.add_row(p.paper_id, str(p.year or ""), _escape(p.title), _escape(p.source or ""))
        console = _console()
        console.print(table)
        more = f" (showing {len(shown)}; --limit 0 for all)" if len(shown) < len(selected) else ""
        console.print(f"{len(selected)} papers{more}")


@papers_app.command("show")
def papers_show(
    paper_id: Annotated[str, typer.Argument(help="The paper's id (as search shows it).")],
    index_dir: IndexOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print one paper: metadata and abstract."""
    with _errors():
        from assistant.errors import UsageError

        settings = _settings(index_dir=index_dir)
        index = _open(settings)
        paper = index.catalog.get_paper(paper_id)
        if paper is None:
            raise UsageError(
                f"No paper with id {paper_id!r} in {index.dir}.",
                hint="'assistant papers' lists the ids; 'assistant search' finds them.",
            )
        if as_json:
            _print_json(paper.model_dump(mode="json"))
            return
        console = _console()
        console.print(f"[bold]{_escape(paper.title)}[/]", markup=True)
        fields = [
            ("id", paper.paper_id),
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
                console.print(f"[dim]{name}:[/] {_escape(str(value))}", markup=True)
        console.print()
        console.print(_escape(paper.abstract))


@app.command()
def stats(
    index_dir: IndexOpt = None, chroma_url: ChromaOpt = None, as_json: JsonOpt = False
) -> None:
    """Counts, embedding model and size of the index."""
    with _errors():
        settings = _settings(index_dir=index_dir, chroma_url=chroma_url)
        info = _open(settings).describe()
        if as_json:
            _print_json(info)
            return
        console = _console()
        console.print(
            f"index:           {info['index_dir']}"
            + (f" (Chroma server {info['chroma_url']})" if info["chroma_url"] else "")
        )
        console.print(f"papers:          {info['papers']}")
        console.print(f"chunks:          {info['chunks']}")
        console.print(
            f"embedding model: {info['embedding_model']} "
            f"(chunks of {info['chunk_tokens']} word pieces)"
        )
        console.print(f"size on disk:    {info['size_bytes'] / 1e6:.1f} MB")
        low, high = info["year_range"]
        if low:
            console.print(f"years:           {low}-{high}")
        for name, count in info["sources"].items():
            console.print(f"  {count:6d}  {name or '(unknown source)'}")


@app.command()
def config(as_json: JsonOpt = False) -> None:
    """Print the effective settings (secrets masked) and where they come from."""
    with _errors():
        from assistant.settings import Settings, config_file_path

        settings = _settings()
        data = settings.public_dict()
        if as_json:
            _print_json(data)
            return
        console = _console()
        path = config_file_path()
        console.print(
            "Precedence: flags > environment (ASSISTANT_*) > config file > defaults. "
            "Config file: "
            + (str(path) if path else "none (set ASSISTANT_CONFIG_FILE or create ./assistant.toml)")
        )
        for name, value in data.items():
            description = Settings.model_fields[name].description or ""
            console.print(
                f"[bold]{name}[/] = {_escape(json.dumps(value))}  [dim]{_escape(description)}[/]",
                markup=True,
            )


def main() -> None:
    """Console-script entry point."""
    try:
        app(prog_name="assistant")
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - last line of defence: never a bare traceback
        if _state["debug"] or os.environ.get("ASSISTANT_DEBUG"):
            raise
        print(
            f"Error: unexpected {type(exc).__name__}: {exc}\n"
            "Hint: run again with --debug for the traceback, and report it.",
            file=sys.stderr,
        )
        sys.exit(1)


from assistant.cli import chat_commands  # noqa: E402,F401 - registers the chat and sessions commands

from assistant.cli import write_commands  # noqa: E402,F401 isort: skip
