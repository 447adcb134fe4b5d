"""The app factory: the open index on its thread, the routes, templates, static files, errors.

``create_app(settings)`` is what ``assistant serve`` runs under uvicorn and what the tests drive.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from assistant.errors import AssistantError
from assistant.web import routes_ask, routes_index, routes_papers, routes_write
from assistant.web.library_thread import LibraryThread
from assistant.web.security import Guard, GuardMiddleware
from assistant.web.state import HERE, WebApp, error_json, web

if TYPE_CHECKING:
    from assistant import PaperIndex
    from assistant.settings import Settings


def _open_plain(settings: Settings) -> PaperIndex:
    from assistant import open_index

    return open_index(settings)


def create_app(
    settings: Settings, open_index: Callable[[Settings], PaperIndex] | None = None
) -> FastAPI:
    """The web app over the index ``settings`` name (opened by ``open_index``, on the thread
    that will use it; by default the library's ``open_index``)."""
    library = LibraryThread()
    index = library.run(open_index or _open_plain, settings)
    templates = Jinja2Templates(directory=str(HERE / "templates"))  # autoescapes .html
    state = WebApp(settings=settings, library=library, index=index, templates=templates)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await library.call(_close, state)
        library.close()

    app = FastAPI(title="Literature assistant", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.web = state
    token = settings.web_token.get_secret_value() if settings.web_token else None
    app.state.guard = Guard(token)
    app.add_middleware(GuardMiddleware, guard=app.state.guard)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    for module in (routes_ask, routes_papers, routes_write, routes_index):
        app.include_router(module.router)

    @app.exception_handler(AssistantError)
    async def _assistant_error(request: Request, exc: AssistantError) -> Response:
        return _error_response(request, exc, 400)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        return _error_response(request, exc, 500)

    return app


def _error_response(request: Request, exc: BaseException, status: int) -> Response:
    error = error_json(exc)
    if "text/html" in request.headers.get("accept", ""):
        return web(request).page(request, "error.html", error=error, status_code=status)
    return JSONResponse({"error": error}, status_code=status)


def _close(state: WebApp) -> None:
    for chat in state.chats.values():
        chat.close()
        if chat.store is not None:
            chat.store.close()
    state.index.close()
