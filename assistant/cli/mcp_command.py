"""The ``mcp`` command: the index as a Model Context Protocol server over stdio.

A plain function, registered on the app by :mod:`assistant.cli.root`. The server
(:mod:`assistant.integrations.mcp_server`, the only module that imports the ``mcp`` SDK) is
imported inside it, so ``assistant --help`` does not load the SDK. Standard output carries the
protocol; messages go to standard error.
"""

from __future__ import annotations

from typing import Annotated

import typer

from assistant.cli import common, render
from assistant.cli.options import ChromaOpt, IndexOpt


def mcp(
    index_dir: IndexOpt = None,
    chroma_url: ChromaOpt = None,
    result_chars: Annotated[
        int | None,
        typer.Option(
            "--result-chars",
            min=1000,
            help="Most characters of one tool result. Env: ASSISTANT_MCP_RESULT_CHARS.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve the index to an AI agent over MCP (stdio): search, papers, answers, citations."""
    with common.errors():
        from assistant.integrations.mcp_server import serve

        settings = common.settings(
            index_dir=index_dir, chroma_url=chroma_url, mcp_result_chars=result_chars
        )
        index = common.open_index(settings)
        common.ensure_corpus(index)  # on stderr: stdout is the protocol's
        render.message(
            f"[dim]Serving {index.catalog.count_papers()} papers from "
            f"{render.escape(render.folder_name(index.dir))} over MCP (stdio).[/]"
        )
        serve(index, settings)
