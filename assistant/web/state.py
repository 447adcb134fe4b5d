"""What the web app's routes share: the app's state (settings, the index on its library
thread, chat sessions, jobs), the filter fields of a form, the error contract as JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from assistant.errors import AssistantError, UsageError
from assistant.web.jobs import JobRegistry
from assistant.web.library_thread import LibraryThread

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
