"""Conversations: follow-up questions, stable citation numbers, filters, saved turns.

A :class:`ChatSession` holds one conversation over an index. Each question is first rewritten
into a standalone search question using the history (see :mod:`assistant.chat.followups`).
Answers come from :func:`assistant.api.ask` with the conversation's :class:`CitationRegistry`,
so a paper keeps its number for the whole conversation, and every turn is saved as it
completes (see :mod:`assistant.history.store`). Slash commands are run by
:mod:`assistant.chat.commands`, transcripts and exports written by
:mod:`assistant.chat.transcripts`. Nothing here prints: results are returned as typed objects.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.chat.commands import CommandResult, handle_command
from assistant.chat.followups import Rewrite, rewrite_follow_up
from assistant.chat.transcripts import (
    export_conversation,
    transcript_json,
    transcript_markdown,
    turns_from_store,
)
from assistant.chat.turns import Turn, cited_papers
from assistant.errors import UsageError
from assistant.generation.answer import Citation, CitationRegistry
from assistant.generation.fallback import wants_model
from assistant.history.store import SessionInfo, SessionStore, new_session_id, now
from assistant.llm.base import TokenFn
from assistant.retrieval.filters import SearchFilters

if TYPE_CHECKING:
    from assistant.index.paper_index import PaperIndex
    from assistant.llm.base import ChatModel
    from assistant.settings import Settings

# transcript_json, transcript_markdown and turns_from_store are re-exported for callers that
# import them from here (the package, assistant.chat, exports them too).
__all__ = [
    "ChatSession",
    "CommandResult",
    "Rewrite",
    "TokenFn",
    "Turn",
    "transcript_json",
    "transcript_markdown",
    "turns_from_store",
]


class ChatSession:
    """One conversation over an index; saved turn by turn when given a :class:`SessionStore`."""

    def __init__(
        self,
        index: PaperIndex,
        settings: Settings,
        *,
        filters: SearchFilters | None = None,
        store: SessionStore | None = None,
        client: ChatModel | None = None,
    ) -> None:
        self.index = index
        self.settings = settings
        self.filters = filters or SearchFilters()
        self.store = store
        self.session_id: str | None = None
        self.created_at: str | None = None
        self.turns: list[Turn] = []
        self.registry = CitationRegistry()
        self._client = client
        self._own_client = False

    @classmethod
    def resume(
        cls,
        index: PaperIndex,
        settings: Settings,
        store: SessionStore,
        session_id: str | None = None,
        *,
        filters: SearchFilters | None = None,
        client: ChatModel | None = None,
    ) -> ChatSession:
        """Reopen a saved session (the most recently updated one when no id is given).

        History, citation numbers and filters are restored; ``filters`` given here are added
        to the saved ones. Raises UsageError when there is no such session.
        """
        if session_id is None:
            info = store.latest()
            if info is None:
                raise UsageError(
                    f"No saved chat session in {store.path.parent} to continue.",
                    hint="Start one with 'assistant chat'.",
                )
        else:
            info = store.get(session_id)
        chat = cls(index, settings, filters=info.filters, store=store, client=client)
        if filters is not None and not filters.is_empty():
            chat.filters = info.filters.merged(filters)
        chat._load(info)
        return chat

    def _load(self, info: SessionInfo) -> None:
        assert self.store is not None
        self.session_id = info.id
        self.created_at = info.created_at
        self.turns = turns_from_store(self.store.turns(info.id))
        self.registry = CitationRegistry(self.store.numbers(info.id))

    # --- the model
    @property
    def uses_llm(self) -> bool:
        """True when answers are written by a language model."""
        return wants_model(self.settings, self._client)

    @property
    def client(self) -> ChatModel | None:
        """The conversation's model client (created on first use), or None offline."""
        if self._client is None and self.settings.llm_configured:
            from assistant.llm.base import make_chat_model

            self._client = make_chat_model(self.settings)
            self._own_client = True
        return self._client

    def close(self) -> None:
        """Close the model client this session opened."""
        if self._own_client and self._client is not None:
            self._client.close()
            self._client = None
            self._own_client = False

    def __enter__(self) -> ChatSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- asking
    def rewrite(self, question: str) -> Rewrite:
        """The standalone search question for a follow-up (the question itself on turn one).

        With a model, the ``condense`` prompt rewrites it; if that call fails, the offline
        rewrite is used and its note says so.
        """
        if not self.turns:
            return Rewrite(question=question, standalone=question)
        return rewrite_follow_up(question, self.turns, self.client)

    def ask(
        self, question: str, on_token: TokenFn | None = None, rewrite: Rewrite | None = None
    ) -> Turn:
        """Answer one question in the conversation and save the turn.

        The model (or the extractive answerer) is given the standalone question; retrieval
        searches for it too. Citation numbers come from the conversation's registry. If the
        turn fails or is interrupted, nothing of it is kept (numbers included).
        """
        from assistant.api import ask as ask_question
        from assistant.retrieval.retriever import RetrievalOptions

        if not question.strip():
            raise UsageError("The question is empty.", hint="Ask something, or /help.")
        rewrite = rewrite or self.rewrite(question)
        search_query = rewrite.standalone if rewrite.changed else None
        options = RetrievalOptions(
            k=max(self.settings.answer_papers, 5),
            filters=self.filters,
            paper_ids=rewrite.paper_ids,
        )
        numbers_before = dict(self.registry.numbers)
        try:
            answer = ask_question(
                self.index,
                rewrite.to_answer,
                self.settings,
                options,
                registry=self.registry,
                on_token=on_token,
                search_query=search_query,
                client=self.client,
            )
        except BaseException:
            self.registry.numbers = numbers_before
            raise
        answer.question = question
        answer.standalone_question = search_query
        turn = Turn(
            n=(self.turns[-1].n if self.turns else 0) + 1,
            question=question,
            standalone_question=search_query,
            answer=answer,
            created_at=now(),
        )
        self.turns.append(turn)
        self._save(turn)
        return turn

    def _save(self, turn: Turn) -> None:
        if self.store is None:
            turn.saved = False
            return
        if self.session_id is None:
            self.session_id = new_session_id()
            self.created_at = turn.created_at
        try:
            turn.n = self.store.save_turn(
                self.session_id,
                turn.question,
                turn.standalone_question,
                turn.answer,
                self.registry.numbers,
                self.filters,
            )
        except Exception as exc:  # noqa: BLE001 - a failed save must not end the chat
            turn.saved = False
            turn.answer.notes.append(f"This turn could not be saved: {exc}")

    # --- commands
    def handle_command(self, line: str) -> CommandResult:
        """Run a slash command (``/sources``, ``/export``, ``/filter``, ``/reset``, ...)."""
        return handle_command(self, line)

    def set_filters(self, filters: SearchFilters) -> None:
        """Filters for the following turns (saved with the session)."""
        self.filters = SearchFilters(**filters.model_dump())
        if self.store is not None and self.session_id is not None:
            with contextlib.suppress(Exception):  # saved again with the next turn
                self.store.set_filters(self.session_id, self.filters)

    def reset(self) -> None:
        """Forget history and citation numbers; the next turn starts a new session."""
        self.turns = []
        self.registry = CitationRegistry()
        self.session_id = None
        self.created_at = None

    # --- sources and exports
    def cited(self) -> list[Citation]:
        """Every paper cited so far, with its conversation number."""
        return cited_papers(self.turns)

    def export(self, kind: str, path: Path, force: bool = False) -> tuple[Path, int]:
        """Write the conversation (``md``, ``json``) or the cited papers' BibTeX (``bib``);
        ``force`` replaces a file the assistant did not write.

        Returns the path written and how many turns (or BibTeX entries) it holds.
        """
        return export_conversation(
            kind,
            path,
            self.turns,
            self.session_id,
            self.created_at,
            self.filters,
            self.index,
            force,
        )
