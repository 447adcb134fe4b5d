"""The ``chat`` and ``sessions`` commands: terminal I/O around :mod:`assistant.chat.session`.

``chat`` is a plain function and ``sessions_app`` the ``sessions`` sub-command group, both
registered on the app by :mod:`assistant.cli.root`. What they print goes through
:mod:`assistant.cli.render`; heavy modules are imported inside the commands.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from assistant.cli import common, render, render_index
from assistant.cli.options import (
    NO_FILTERS,
    BaseUrlOpt,
    ChromaOpt,
    ExtractiveOpt,
    FilterFlags,
    IndexOpt,
    JsonOpt,
    ModelOpt,
    UsageOpt,
    with_filters,
)
from assistant.cli.render_stream import ShowReasoningOpt, StreamPrinter

if TYPE_CHECKING:
    from rich.console import Console

    from assistant.chat.session import ChatSession
    from assistant.history.store import SessionStore

sessions_app = typer.Typer(
    help="List saved chat sessions, or show one.", invoke_without_command=True
)


@with_filters()
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
    filters: FilterFlags = NO_FILTERS,
    index_dir: IndexOpt = None,
    chroma_url: ChromaOpt = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print each answer and command result as a line of JSON."),
    ] = False,
    usage: UsageOpt = False,
    show_reasoning: ShowReasoningOpt = False,
) -> None:
    """Ask follow-up questions in a conversation; citation numbers stay stable (/help inside)."""
    with common.errors():
        from assistant.chat.session import ChatSession
        from assistant.errors import UsageError
        from assistant.history.store import SessionStore

        if resume_latest and session_id:
            raise UsageError(
                "Give either --continue or --session, not both.",
                hint="--continue resumes the latest session; --session ID a given one.",
            )
        settings = common.llm_settings(
            model, base_url, extractive, index_dir=index_dir, chroma_url=chroma_url, answer_papers=k
        )
        flags = filters.search_filters()
        index = common.open_index(settings)
        store = SessionStore(index.dir)
        err = render.console(stderr=True)
        if session_id is not None:
            session = ChatSession.resume(index, settings, store, session_id, filters=flags)
        elif resume_latest and store.latest() is not None:
            session = ChatSession.resume(index, settings, store, filters=flags)
        else:
            if resume_latest:
                render.message("No earlier chat session to continue: starting a new one.", err)
            session = ChatSession(index, settings, filters=flags, store=store)
        common.ensure_corpus(index)
        if session.session_id is not None:
            render.message(
                f"Resumed session {session.session_id} ({len(session.turns)} turn"
                f"{'s' * (len(session.turns) != 1)})",
                err,
            )
        try:
            _loop(session, render.console(), err, _Output(as_json, usage, show_reasoning))
        finally:
            session.close()
            store.close()
        if session.session_id is not None and session.turns:
            render.session_saved(err, session.session_id, len(session.turns))


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


class _Output:
    """How turns are printed: text or JSON lines, with or without the -u usage line."""

    def __init__(self, as_json: bool, usage: bool, show_reasoning: bool = False) -> None:
        self.as_json = as_json
        self.usage = usage
        self.show_reasoning = show_reasoning


def _loop(session: ChatSession, console: Console, err: Console, output: _Output) -> None:
    """Read questions and commands until /quit or end of input."""
    interactive = sys.stdin.isatty()
    reconfigure = getattr(sys.stdin, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="replace")  # a stray byte must not end the chat
    if interactive and not output.as_json:
        import contextlib

        with contextlib.suppress(ImportError):
            import readline  # noqa: F401 - line editing and history for input()
        render.chat_banner(
            err, session.index.catalog.count_papers(), session.index.dir, session.uses_llm
        )
    while True:
        try:
            line = _read_line(interactive)
        except KeyboardInterrupt:
            render.chat_ctrl_c(err)
            continue
        if line is None:
            return
        text = line.strip()
        if not text:
            continue
        if text.startswith("/"):
            result = session.handle_command(text)
            if output.as_json:
                render_index.print_command_json(text, result)
            else:
                render.print_command(result, console, err)
            if result.quit:
                return
            continue
        _turn(session, text, console, err, output)


def _turn(
    session: ChatSession, question: str, console: Console, err: Console, output: _Output
) -> None:
    """Answer one question; errors and Ctrl-C end the turn, never the chat."""
    from assistant.errors import AssistantError

    turns_before = len(session.turns)
    printer = StreamPrinter(show_reasoning=output.show_reasoning, err=err)
    streamed = printer.streamed
    if session.uses_llm and not output.as_json:
        printer.start()  # a spinner until the first token
    try:
        _answer(
            session, question, console, err, None if output.as_json else printer, streamed, output
        )
    except KeyboardInterrupt:
        render.turn_interrupted(err, streamed(), saved=len(session.turns) > turns_before)
    except AssistantError as exc:
        render.turn_error(err, exc, streamed())
    except common.OutputBroken:  # stdout is gone: no later turn could be shown either
        raise
    except Exception as exc:  # noqa: BLE001 - one broken turn must not end the conversation
        if common.state["debug"]:
            raise
        render.turn_crashed(err, exc)
    finally:
        printer.stop()


def _answer(
    session: ChatSession,
    question: str,
    console: Console,
    err: Console,
    on_token: Callable[[str], None] | None,
    streamed: Callable[[], bool],
    output: _Output,
) -> None:
    """Rewrite, answer (streaming unless JSON), save, log and print one turn."""
    from assistant.history.answer_log import log_result
    from assistant.usage import usage_of

    rewrite = session.rewrite(question)
    render.print_rewrite(err, rewrite.standalone if rewrite.changed else None, rewrite.note)
    turn = session.ask(question, on_token=on_token, rewrite=rewrite)
    answer = turn.answer
    logged = log_result(
        session.settings, session.index.dir, "chat", answer, session_id=session.session_id
    )
    usage = usage_of(answer.usage, answer.mode, session.settings).line() if output.usage else None
    if output.as_json:
        render.print_json({"turn": turn.n, "session_id": session.session_id,
                           **answer.public_json()})  # fmt: skip
        if usage:
            render.print_usage(err, usage)
    else:
        render.print_turn(console, err, answer, streamed(), usage)
    render.print_notes(err, [logged] if logged else [])


# --- sessions ------------------------------------------------------------------------------------


def _store(index_dir: Path | None) -> SessionStore:
    """The sessions file of the index the settings point at (not created here)."""
    from assistant.history.store import SessionStore

    settings = common.settings(index_dir=index_dir)
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
    with common.errors():
        with _store(index_dir) as store:
            listed = store.list_sessions()
        if as_json:
            render.print_json({"count": len(listed), "sessions": [s.public_json() for s in listed]})
            return
        render.print_sessions(listed, store.path.parent)


@sessions_app.command("show")
def sessions_show(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(help="The session's id (or its start).")],
    index_dir: IndexOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print one session's transcript with its references."""
    with common.errors():
        from assistant.chat.session import transcript_json, transcript_markdown, turns_from_store

        parent = ctx.obj if isinstance(ctx.obj, dict) else {}
        with _store(index_dir or parent.get("index_dir")) as store:
            info = store.get(session_id)
            turns = turns_from_store(store.turns(info.id))
        if as_json:
            render.print_json(transcript_json(turns, info.id, info.created_at, info.filters))
            return
        render.print_text(transcript_markdown(turns, info.id, info.created_at, info.filters))
