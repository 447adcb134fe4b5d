"""The Ask page: a conversation (the CLI chat's sessions), answers streamed as Server-Sent
Events over a POST (fetch reads the stream): ``sources`` (the retrieved papers and their
scores), ``token`` (answer text as the model writes it), then ``answer`` (the checked answer,
its citations, evidence and notes) or ``error`` (message and hint)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from pydantic import BaseModel, Field

from assistant.errors import UsageError
from assistant.web.state import WebApp, error_json, filters_from, web
from assistant.web.views import answer_view, search_view

if TYPE_CHECKING:
    from assistant import ChatSession

router = APIRouter()

#: Longest question taken (as the MCP server's limit).
MAX_QUESTION_CHARS = 2000
#: Chat sessions kept open in this server; older ones are reopened from the store when asked.
OPEN_CHATS = 20


class AskRequest(BaseModel):
    question: str = Field(max_length=MAX_QUESTION_CHARS)
    chat_id: str | None = Field(default=None, max_length=64)
    filters: dict[str, str] = Field(default_factory=dict)


#: Saved conversations listed on the Ask page.
LISTED_CHATS = 8


@router.get("/", response_class=HTMLResponse)
async def ask_page(request: Request) -> HTMLResponse:
    from assistant import SessionStore

    state = web(request)

    def run() -> tuple[int, list[Any]]:
        with SessionStore(state.index.dir) as store:
            chats = store.list_sessions()[:LISTED_CHATS]
        return state.index.catalog.count_papers(), chats

    papers, chats = await state.library.call(run)
    return state.page(
        request,
        "ask.html",
        papers=papers,
        question=request.query_params.get("q"),
        chat_id=(request.query_params.get("chat") or "")[:64],
        chats=chats,
    )


@router.get("/api/chats/{chat_id}")
async def chat_turns(request: Request, chat_id: str) -> dict[str, Any]:
    """A saved conversation (the CLI chat's too), to continue it on the page."""
    state = web(request)

    def run() -> dict[str, Any]:
        chat = _chat(state, chat_id[:64])
        if chat.session_id is not None:
            state.chats[chat.session_id] = chat
        return {
            "chat_id": chat.session_id,
            "filters": chat.filters.model_dump(exclude_defaults=True),
            "turns": [
                {**answer_view(state.index, t.answer), "question": t.question, "turn": t.n}
                for t in chat.turns
            ],
        }

    return await state.library.call(run)


def _chat(state: WebApp, chat_id: str | None) -> ChatSession:
    """This conversation's session: open here, reopened from the store, or a new one."""
    from assistant import ChatSession, SessionStore

    if chat_id and chat_id in state.chats:
        return state.chats[chat_id]
    store = SessionStore(state.index.dir)
    if chat_id:
        chat = ChatSession.resume(state.index, state.settings, store, chat_id)
    else:
        chat = ChatSession(state.index, state.settings, store=store)
    if len(state.chats) >= OPEN_CHATS:
        oldest = next(iter(state.chats))
        state.chats.pop(oldest).close()
    return chat


def _event(kind: str, data: Any) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode()


@router.post("/api/ask")
async def ask_stream(request: Request, body: AskRequest) -> StreamingResponse:
    state = web(request)
    if not body.question.strip():
        raise UsageError("The question is empty.", hint="Ask something, e.g. 'What is LongLoRA?'")
    filters = filters_from(body.filters)
    loop = asyncio.get_running_loop()
    tokens: asyncio.Queue[str] = asyncio.Queue()

    def on_token(text: str) -> None:  # on the library thread, as the model writes
        loop.call_soon_threadsafe(tokens.put_nowait, text)

    def prepare() -> tuple[ChatSession, Any, dict[str, Any]]:
        from assistant import RetrievalOptions, search

        chat = _chat(state, body.chat_id)
        chat.set_filters(filters)
        rewrite = chat.rewrite(body.question)
        k = max(state.settings.answer_papers, 5)
        found = search(state.index, rewrite.standalone, RetrievalOptions(k=k, filters=filters))
        view = search_view(found)
        view["searched_as"] = rewrite.standalone if rewrite.changed else None
        return chat, rewrite, view

    def answer(chat: ChatSession, rewrite: Any) -> dict[str, Any]:
        from assistant import log_result

        turn = chat.ask(body.question, on_token=on_token, rewrite=rewrite)
        if chat.session_id is not None:
            state.chats[chat.session_id] = chat
        logged = log_result(
            state.settings, state.index.dir, "chat", turn.answer, session_id=chat.session_id
        )
        view = answer_view(state.index, turn.answer)
        if logged:
            view["notes"] = [*view["notes"], logged]
        return {**view, "turn": turn.n, "chat_id": chat.session_id}

    async def events() -> AsyncIterator[bytes]:
        try:
            chat, rewrite, sources = await state.library.call(prepare)
        except Exception as exc:  # noqa: BLE001 - shown as message and hint
            yield _event("error", error_json(exc))
            return
        yield _event("sources", sources)
        running = asyncio.ensure_future(state.library.call(answer, chat, rewrite))
        while not running.done() or not tokens.empty():
            getter = asyncio.ensure_future(tokens.get())
            await asyncio.wait({getter, running}, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                yield _event("token", getter.result())
            else:
                getter.cancel()
        try:
            yield _event("answer", running.result())
        except Exception as exc:  # noqa: BLE001 - shown as message and hint
            yield _event("error", error_json(exc))

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)
