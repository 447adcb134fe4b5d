"""The ``logs`` commands: the answer log (every ``ask``, ``cite``, ``related-work`` and chat
answer) listed, shown and searched.

``logs_app`` is registered on the app by :mod:`assistant.cli.root`; the log is read through
:mod:`assistant.history.answer_log` (imported inside the commands) and printed by
:mod:`assistant.cli.render_index`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from assistant.cli import common, render, render_index
from assistant.cli.options import IndexOpt, JsonOpt

if TYPE_CHECKING:
    from assistant.history.answer_log import AnswerLog, LogEntry

logs_app = typer.Typer(
    help="The answers given (ask, cite, related-work, chat): list, show, search.",
    invoke_without_command=True,
)
LimitOpt = Annotated[int, typer.Option("--limit", "-n", min=0, help="At most N (0: all).")]


def _log(index_dir: Path | None) -> AnswerLog:
    """The answer log of the index the settings point at (not created here)."""
    from assistant.history.answer_log import AnswerLog

    settings = common.settings(index_dir=index_dir)
    return AnswerLog(Path(settings.index_dir))


def _index_dir(ctx: typer.Context, index_dir: Path | None) -> Path | None:
    parent = ctx.obj if isinstance(ctx.obj, dict) else {}
    return index_dir or parent.get("index_dir")


def _print(entries: list[LogEntry], as_json: bool, folder: Path, what: str) -> None:
    if as_json:
        render.print_json({"count": len(entries), "answers": [e.public_json() for e in entries]})
    else:
        render_index.print_log_entries(entries, folder, what)


@logs_app.callback()
def logs(
    ctx: typer.Context,
    limit: LimitOpt = 20,
    index_dir: IndexOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the latest answers, newest first ('assistant logs show ID' prints one)."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"index_dir": index_dir}  # 'logs --index DIR show ID' works too
        return
    with common.errors(), _log(index_dir) as log:
        _print(log.recent(limit), as_json, log.path.parent, "logged answers")


@logs_app.command("show")
def logs_show(
    ctx: typer.Context,
    entry_id: Annotated[int, typer.Argument(help="The answer's id (as 'assistant logs' shows).")],
    index_dir: IndexOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print one logged answer in full: question, answer, cited papers, tokens."""
    with common.errors(), _log(_index_dir(ctx, index_dir)) as log:
        entry = log.get(entry_id)
        if as_json:
            render.print_json(entry.public_json())
            return
        render_index.print_log_entry(entry)


@logs_app.command("search")
def logs_search(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="Words the question or the answer holds.")],
    limit: LimitOpt = 20,
    index_dir: IndexOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Find logged answers whose question or answer holds every word given, newest first."""
    with common.errors(), _log(_index_dir(ctx, index_dir)) as log:
        _print(log.search(text, limit), as_json, log.path.parent, f"answers matching {text!r}")
