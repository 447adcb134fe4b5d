"""The ``serve`` command: the local web app (:mod:`assistant.web`) under uvicorn.

A plain function, registered on the app by :mod:`assistant.cli.root`; FastAPI, uvicorn and the
library are imported inside it, so ``assistant --help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from assistant.cli import common, render
from assistant.cli.options import BaseUrlOpt, ChromaOpt, ExtractiveOpt, IndexOpt, ModelOpt

if TYPE_CHECKING:
    import uvicorn

    from assistant.index.paper_index import PaperIndex
    from assistant.settings import Settings


def serve(
    index_dir: IndexOpt = None,
    chroma_url: ChromaOpt = None,
    host: Annotated[
        str,
        typer.Option("--host", help="Address to listen on; anything but loopback needs a token."),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port (0: any free one).")
    ] = 8765,
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the app in the default browser.")
    ] = False,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    extractive: ExtractiveOpt = False,
) -> None:
    """Serve a local web app: ask, read the evidence, draft and export in a browser."""
    with common.errors():
        import uvicorn

        from assistant.web.app import create_app
        from assistant.web.security import check_binding

        settings = common.llm_settings(
            model, base_url, extractive, index_dir=index_dir, chroma_url=chroma_url
        )
        token = settings.web_token.get_secret_value() if settings.web_token else None
        check_binding(host, token)

        def open_for_web(loaded: Settings) -> PaperIndex:
            index = common.open_index(loaded)
            common.ensure_corpus(index)  # the demo on a first run, as for the other commands
            return index

        app = create_app(settings, open_index=open_for_web)
        papers = app.state.web.library.run(app.state.web.index.catalog.count_papers)
        shown_host = f"[{host}]" if ":" in host else host
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
        server = uvicorn.Server(config)

        def announce(bound: int) -> None:
            url = f"http://{shown_host}:{bound}/"
            folder = render.escape(render.folder_name(app.state.web.index.dir))
            render.message(f"Serving {papers} papers from {folder} at {url} (Ctrl-C stops it).")
            if token:
                render.message(
                    "The app requires its token (ASSISTANT_WEB_TOKEN): log in on the page, or "
                    "send 'Authorization: Bearer TOKEN'."
                )
            if open_browser:
                import webbrowser

                webbrowser.open(url)

        _run(server, announce)


def _run(server: uvicorn.Server, announce: Callable[[int], None]) -> None:
    """Start uvicorn, say where it listens once it does, serve until Ctrl-C."""
    import asyncio

    async def main() -> None:
        serving = asyncio.ensure_future(server.serve())
        while not server.started and not serving.done():
            await asyncio.sleep(0.05)
        if server.started:
            sockets = [sock for listener in server.servers for sock in listener.sockets]
            announce(sockets[0].getsockname()[1] if sockets else server.config.port)
        await serving

    asyncio.run(main())
