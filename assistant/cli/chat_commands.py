"""The ``chat`` and ``sessions`` commands: terminal I/O around :mod:`assistant.chat.session`.

Registered on the root app by ``assistant.cli.root`` (at its end).
Heavy modules are imported inside the commands, so ``assistant --help`` stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
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
    _escape,
    _filters,
    _open,
    _print_json,
    _settings,
    app,
)

if TYPE_CHECKING:
    from rich.console import Console

    from assistant.chat.session import ChatSession, CommandResult
    from assistant.chat.store import SessionStore

sessions_app = typer.Typer(
    help="List saved chat sessions, or show one.", invoke_without_command=True
)
app.add_typer(sessions_app, name="sessions")


@app.command()
def chat(
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    resume_latest: Annotated[
        bool,
        typer.Option("--continue", "-c", help="Resume the most recently updated session."),
    ] = False,
    session_id: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--session", help="Resume this session ('assistant sessions' lists them)."),
    ] = None,
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
) -> None:
    """Ask follow-up questions in a conversation; citation numbers stay stable (/help inside)."""
    with _errors():
        from assistant.chat.session import ChatSession
        from assistant.chat.store import SessionStore
        from assistant.errors import UsageError

        if resume_latest and session_id:
            raise UsageError(
                "Give either --continue or --session, not both.",
                hint="--continue resumes the latest session; --session ID a given one.",
            )
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
        flags = _filters(since, until, venue, author, source, where)
        index = _open(settings)
        store = SessionStore(index.dir)
        err = _console(stderr=True)
        if session_id is not None:
            session = ChatSession.resume(index, settings, store, session_id, filters=flags)
        elif resume_latest and store.latest() is not None:
            session = ChatSession.resume(index, settings, store, filters=flags)
        else:
            if resume_latest:
                err.print("No earlier chat session to continue: starting a new one.")
            session = ChatSession(index, settings, filters=flags, store=store)
        _ensure_corpus(index)
        if session.session_id is not None:
            err.print(f"Resumed session {session.session_id} ({len(session.turns)} turns)")
        try:
            _loop(session, _console(), err)
        finally:
            session.close()
            store.close()
        if session.session_id is not None and session.turns:
            err.print(
                f"[dim]Session {session.session_id} saved ({len(session.turns)} turns). "
                f"Resume it with 'assistant chat -c' or 'assistant chat --session "
                f"{session.session_id}'.[/]",
                markup=True,
            )


def _read_line(interactive: bool) -> str | None:
    """The next line of input, or None at end of input."""
    if interactive:
        sys.stderr.write("> ")
        sys.stderr.flush()
        try:
            return input()
        except EOFError:
            sys.stderr.write("\n")
            return None
    line = sys.stdin.readline()
    return None if line == "" else line


def _loop(session: ChatSession, console: Console, err: Console) -> None:
    """Read questions and commands until /quit or end of input."""
    interactive = sys.stdin.isatty()
    reconfigure = getattr(sys.stdin, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="replace")  # a stray byte must not end the chat
    if interactive:
        import contextlib

        with contextlib.suppress(ImportError):
            import readline  # noqa: F401 - line editing and history for input()
        mode = "a language model" if session.uses_llm else "extractive answers (no LLM)"
        err.print(
            f"[dim]Chatting with the {session.index.catalog.count_papers()} papers in "
            f"{session.index.dir}, using {mode}. /help lists the commands; Ctrl-D leaves.[/]",
            markup=True,
        )
    while True:
        try:
            line = _read_line(interactive)
        except KeyboardInterrupt:
            err.print("\n[dim](Ctrl-D or /quit to leave)[/]", markup=True)
            continue
        if line is None:
            return
        text = line.strip()
        if not text:
            continue
        if text.startswith("/"):
            result = session.handle_command(text)
            _print_command(result, console, err)
            if result.quit:
                return
            continue
        _turn(session, text, console, err)


def _print_command(result: CommandResult, console: Console, err: Console) -> None:
    from rich.markup import escape

    if result.kind == "error":
        err.print(f"[bold red]Error:[/] {escape(result.message)}", markup=True)
    elif result.kind == "unknown":
        err.print(f"[yellow]{escape(result.message)}[/]", markup=True)
    elif result.kind != "quit":
        console.print(escape(result.message))
    for line in result.lines:
        console.print(escape(line))


def _turn(session: ChatSession, question: str, console: Console, err: Console) -> None:
    """Answer one question; errors and Ctrl-C end the turn, never the chat."""
    from rich.markup import escape

    from assistant.cli.render import token_printer
    from assistant.errors import AssistantError

    turns_before = len(session.turns)
    on_token, streamed = token_printer()
    try:
        _answer(session, question, console, err, on_token, streamed)
    except KeyboardInterrupt:
        if streamed():
            sys.stdout.write("\n")
        saved = len(session.turns) > turns_before
        err.print(
            "[yellow]Interrupted"
            + (" (the answer was saved)." if saved else ": this answer was not saved.")
            + "[/]",
            markup=True,
        )
    except AssistantError as exc:
        if streamed():
            sys.stdout.write("\n")
        err.print(f"[bold red]Error:[/] {escape(exc.message)}", markup=True)
        if exc.hint:
            err.print(f"[yellow]Hint:[/] {escape(exc.hint)}", markup=True)
    except Exception as exc:  # noqa: BLE001 - one broken turn must not end the conversation
        from assistant.cli.root import _state

        if _state["debug"]:
            raise
        err.print(
            f"[bold red]Error:[/] unexpected {type(exc).__name__}: {escape(str(exc))} "
            "(this turn was not saved; run with --debug for the traceback)",
            markup=True,
        )


def _answer(
    session: ChatSession,
    question: str,
    console: Console,
    err: Console,
    on_token: Callable[[str], None],
    streamed: Callable[[], bool],
) -> None:
    """Rewrite, answer (streaming), save and print one turn."""
    from rich.markup import escape

    from assistant.cli.render import llm_failure_line, print_answer

    rewrite = session.rewrite(question)
    if rewrite.changed:
        err.print(f"[dim]Searching for: {escape(rewrite.standalone)}[/]", markup=True)
    if rewrite.note:
        err.print(f"[dim]{escape(rewrite.note)}[/]", markup=True)
    answer = session.ask(question, on_token=on_token, rewrite=rewrite).answer
    # A model that failed mid-stream leaves partial text; the extractive answer follows in full.
    fell_back = answer.llm_error is not None
    if streamed() and fell_back:
        sys.stdout.write("\n")
    print_answer(console, err, answer, streamed() and not fell_back)
    if answer.llm_error:
        err.print(
            llm_failure_line(answer.llm_error, "the extractive answer"),
            highlight=False,
            markup=False,
        )
    console.print()


# --- sessions ------------------------------------------------------------------------------------


def _store(index_dir: Path | None) -> SessionStore:
    """The sessions file of the index the settings point at (not created here)."""
    from assistant.chat.store import SessionStore

    settings = _settings(index_dir=index_dir)
    return SessionStore(Path(settings.index_dir))


@sessions_app.callback()
def sessions(
    ctx: typer.Context,
    index_dir: IndexOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List saved chat sessions, most recent first ('assistant chat --session ID' resumes one)."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"index_dir": index_dir}  # 'sessions --index DIR show ID' works too
        return
    with _errors():
        with _store(index_dir) as store:
            listed = store.list_sessions()
        if as_json:
            _print_json({"count": len(listed), "sessions": [s.public_json() for s in listed]})
            return
        console = _console()
        if not listed:
            console.print(f"No saved chat sessions in {store.path.parent}.")
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
                _escape(info.title),
            )
        console.print(table)


@sessions_app.command("show")
def sessions_show(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(help="The session's id (or its start).")],
    index_dir: IndexOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print one session's transcript with its references."""
    with _errors():
        from assistant.chat.session import transcript_json, transcript_markdown, turns_from_store

        parent = ctx.obj if isinstance(ctx.obj, dict) else {}
        with _store(index_dir or parent.get("index_dir")) as store:
            info = store.get(session_id)
            turns = turns_from_store(store.turns(info.id))
        if as_json:
            _print_json(transcript_json(turns, info.id, info.created_at, info.filters))
            return
        sys.stdout.write(transcript_markdown(turns, info.id, info.created_at, info.filters))
