"""The ``assistant`` app: the global ``--debug`` option, the commands' registration, ``main()``.

The commands live in the command modules (:mod:`~assistant.cli.index_commands`,
:mod:`~assistant.cli.answer_commands`, :mod:`~assistant.cli.chat_commands`, ...), which never
import this module. Heavy modules (chromadb, onnxruntime, openai, pydantic-settings, rich) are
imported inside the commands, so ``assistant --help`` starts instantly.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from typer.core import TyperArgument

from assistant.cli import (
    answer_commands,
    chat_commands,
    common,
    index_commands,
    logs_command,
    mcp_command,
    notices,
    render,
    serve_command,
    similar_command,
)


def _usage_name(self: TyperArgument) -> str:
    """An argument in a usage line: ``QUESTION``, ``[QUERY]``, ``PATHS...`` (typer writes
    ``{question}``, which reads like an unfilled template)."""
    name = (self.metavar or self.name or "").upper()
    if not self.required:
        name = f"[{name}]"
    return name + ("..." if self.nargs != 1 else "")


# Why a patch must stay: typer (0.29) writes a required argument as ``{name}`` in every usage
# line, in TyperArgument._usage_display_name, and offers no hook for it: an argument's metavar
# is not used there, typer.Argument takes no argument class, and a Typer app no default command
# class. The alternative, a TyperCommand subclass overriding collect_usage_pieces, would have to
# be passed as ``cls=`` to each of the 16 command registrations (the sub-apps' included), and a
# command registered without it would show ``{name}`` again. This one assignment, made before
# any command is built, covers them all; it changes the usage line only.
TyperArgument._usage_display_name = _usage_name  # type: ignore[method-assign]

app = typer.Typer(
    name="assistant",
    help="Ask questions of paper abstracts and get answers that cite their papers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,  # --install-completion / --show-completion (Typer's own)
    rich_markup_mode=None,
)


@app.callback()
def _main(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks.", envvar="ASSISTANT_DEBUG")
    ] = False,
) -> None:
    common.state["debug"] = debug
    notices.install()


# Registration order is the order of 'assistant --help' (command groups come last).
app.command()(index_commands.ingest)
app.command()(index_commands.search)
app.command()(answer_commands.ask)
app.command("eval")(index_commands.eval_command)
app.command()(index_commands.stats)
app.command()(index_commands.publish)
app.command()(index_commands.config)
app.command()(chat_commands.chat)
app.command()(answer_commands.cite)
app.command("related-work")(answer_commands.related_work)
app.command()(similar_command.similar)
app.command()(mcp_command.mcp)
app.command()(serve_command.serve)
app.add_typer(index_commands.papers_app, name="papers")
app.add_typer(chat_commands.sessions_app, name="sessions")
app.add_typer(logs_command.logs_app, name="logs")


def main() -> None:
    """Console-script entry point."""
    common.guard_stdout()
    try:
        try:
            app(prog_name="assistant")
        finally:
            sys.stdout.flush()  # the output's last part, while its failure can still be said
    except common.OutputBroken as exc:
        sys.exit(common.output_broken(exc))
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - last line of defence: never a bare traceback
        if common.state["debug"] or os.environ.get("ASSISTANT_DEBUG"):
            raise
        full = common.disk_full_of(exc)
        if full is not None:
            render.print_error(full)
        else:
            render.unexpected_error(exc)
        sys.exit(1)
