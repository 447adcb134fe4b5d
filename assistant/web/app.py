"""The app factory: the open index on its thread, the routes, templates, static files, errors.

``create_app(settings)`` is what ``assistant serve`` runs under uvicorn and what the tests drive.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from assistant.errors import AssistantError, UsageError
from assistant.web.jobs import JobRegistry
from assistant.web.library_thread import LibraryThread
from assistant.web.security import Guard, GuardMiddleware

if TYPE_CHECKING:
    from assistant import ChatSession, PaperIndex, SearchFilters
    from assistant.settings import Settings

HERE = Path(__file__).parent
#: Uploaded files are written here, inside the index folder, and nowhere else.
UPLOAD_FOLDER = "uploads"


@dataclass
class WebApp:
    """What the routes share: settings, the index (used on the library thread only), the chat
    sessions of this server, the background jobs."""

    settings: Settings
    library: LibraryThread
    index: PaperIndex
    templates: Jinja2Templates
    jobs: JobRegistry = field(default_factory=JobRegistry)
    chats: dict[str, ChatSession] = field(default_factory=dict)

    @property
    def upload_dir(self) -> Path:
        return self.index.dir / UPLOAD_FOLDER

    def page(
        self, request: Request, name: str, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        context = {"csrf": getattr(request.state, "csrf", ""), "llm": self.llm_name, **context}
        return self.templates.TemplateResponse(request, name, context, status_code=status_code)

    @property
    def llm_name(self) -> str | None:
        """The model answering, or None in extractive mode."""
        if not self.settings.llm_configured:
            return None
        return self.settings.llm_model or "the server's default model"


def web(request: Request) -> WebApp:
    state: WebApp = request.app.state.web
    return state


def filters_from(values: dict[str, Any]) -> SearchFilters:
    """The filter fields of a form or query (since, until, venue, author, source)."""
    from assistant import SearchFilters

    def year(name: str) -> int | None:
        text = str(values.get(name) or "").strip()
        if not text:
            return None
        if not text.isdigit() or len(text) > 4:
            message = f"{name.capitalize()} must be a year, not {text!r}."
            raise UsageError(message, hint="E.g. 2023.")
        return int(text)

    def text(name: str) -> str | None:
        value = str(values.get(name) or "").strip()
        return value[:300] or None

    since, until = year("since"), year("until")
    if since is not None and until is not None and since > until:
        raise UsageError(
            f"Since {since} is after until {until}: no paper can match.",
            hint=f"Swap them: since {until}, until {since}.",
        )
    return SearchFilters(
        year_from=since,
        year_to=until,
        venue=text("venue"),
        author=text("author"),
        source=text("source"),
    )


def error_json(exc: BaseException) -> dict[str, Any]:
    """The error contract on the page: message and hint, never a traceback."""
    if isinstance(exc, AssistantError):
        return {"message": exc.message, "hint": exc.hint}
    return {
        "message": f"Unexpected error: {type(exc).__name__}: {exc}",
        "hint": "Run the same command with the CLI and --debug to see where it failed.",
    }


def _open_plain(settings: Settings) -> PaperIndex:
    from assistant import open_index

    return open_index(settings)


def create_app(
    settings: Settings, open_index: Callable[[Settings], PaperIndex] | None = None
) -> FastAPI:
    """The web app over the index ``settings`` name (opened by ``open_index``, on the thread
    that will use it; by default the library's ``open_index``)."""
    from assistant.web import routes_ask, routes_index, routes_papers, routes_write

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
