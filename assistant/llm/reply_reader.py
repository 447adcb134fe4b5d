"""Reading a chat-completion reply (streamed chunks, or a whole message) into answer and reasoning.

SDK-agnostic: chunks and messages are read with ``getattr``, so any object shaped like the
OpenAI API's works. Reasoning (``reasoning_content`` / ``reasoning`` deltas and ``<think>``
blocks in the content) never reaches ``on_token`` nor the answer text; the answer is stopped
when it loops (:class:`~assistant.llm.guards.RepetitionGuard`) or passes its cap.
"""

from __future__ import annotations

from typing import Any

from assistant.llm.base import TokenFn
from assistant.llm.guards import (
    Deadlines,
    RepetitionGuard,
    ThinkSplitter,
    strip_reasoning,
)

__all__ = ["STOP_NOTES", "StreamReader", "read_message", "reasoning_tokens_of"]

#: Why the client stopped a reply, as a note for the user.
STOP_NOTES = {
    "repetition": "The model began repeating itself, so it was stopped there; the repeated "
    "text is left out of the answer.",
    "length": "The model reached the answer's length cap, so the answer may end abruptly "
    "(raise ASSISTANT_ANSWER_MAX_TOKENS, or the related-work or cite cap, for longer ones).",
}


def _reasoning_delta(delta: Any) -> str | None:
    for name in ("reasoning_content", "reasoning"):
        value = getattr(delta, name, None)
        if isinstance(value, str) and value:
            return value
    return None


def reasoning_tokens_of(usage: Any) -> int | None:
    """``completion_tokens_details.reasoning_tokens`` of a usage report, if given."""
    details = getattr(usage, "completion_tokens_details", None)
    value = getattr(details, "reasoning_tokens", None) if details is not None else None
    return value if isinstance(value, int) and value > 0 else None


class StreamReader:
    """Takes stream chunks one by one; :meth:`take` returns True when reading should stop.

    ``max_pieces`` caps the answer's streamed pieces (each is at least one token), for servers
    that ignore the request's cap. ``shown`` counts the characters given to ``on_token``.
    """

    def __init__(
        self,
        on_token: TokenFn,
        on_reasoning: TokenFn | None,
        deadlines: Deadlines,
        shown: list[int],
        max_pieces: int | None = None,
    ) -> None:
        self.on_token = on_token
        self.on_reasoning = on_reasoning
        self.deadlines = deadlines
        self.shown = shown
        self.max_pieces = max_pieces
        self.splitter = ThinkSplitter()
        self.guard = RepetitionGuard()
        self.parts: list[str] = []
        self.reasoning_parts: list[str] = []
        self.reasoning_pieces = 0
        self.finished = False
        self.finish_reason: str | None = None
        self.usage: Any = None
        self.model: str | None = None
        self.stopped: str | None = None

    @property
    def text(self) -> str:
        return self.guard.kept if self.stopped == "repetition" else "".join(self.parts)

    @property
    def reasoning(self) -> str:
        return "".join(self.reasoning_parts).strip()

    def take(self, chunk: Any) -> bool:
        self.model = str(getattr(chunk, "model", None) or self.model or "") or None
        self.usage = getattr(chunk, "usage", None) or self.usage
        for choice in getattr(chunk, "choices", None) or []:
            reason = getattr(choice, "finish_reason", None)
            if reason:
                self.finished = True
                self.finish_reason = str(reason)
            delta = getattr(choice, "delta", None)
            thought = _reasoning_delta(delta)
            if thought:
                self._reason(thought)
            text = getattr(delta, "content", None)
            if isinstance(text, str) and text:
                for is_reasoning, piece in self.splitter.feed(text):
                    if is_reasoning:
                        self._reason(piece)
                    elif self._answer(piece):
                        return True
        return False

    def close(self) -> None:
        """End of the stream: what the ``<think>`` splitter still held."""
        for is_reasoning, piece in self.splitter.close():
            if is_reasoning:
                self._reason(piece)
            elif self.stopped is None:
                self._answer(piece)
        if self.stopped is None and self.finish_reason == "length":
            self.stopped = "length"

    def _reason(self, piece: str) -> None:
        self.deadlines.started_answering()
        self.reasoning_pieces += 1
        self.reasoning_parts.append(piece)
        if self.on_reasoning is not None:
            self.on_reasoning(piece)

    def _answer(self, piece: str) -> bool:
        if not self.parts:
            piece = piece.lstrip()  # e.g. the blank lines after </think>
            if not piece:
                return False
        self.deadlines.started_answering()
        if self.guard.feed(piece):
            self.stopped = "repetition"
            return True
        if self.max_pieces is not None and len(self.parts) >= self.max_pieces:
            self.stopped = "length"
            return True
        self.parts.append(piece)
        self.shown[0] += len(piece)
        self.on_token(piece)
        return False


def read_message(message: Any, finish_reason: str | None) -> tuple[str, str, str | None]:
    """``(answer, reasoning, stopped)`` of a whole (not streamed) reply message."""
    content = getattr(message, "content", None)
    text = content if isinstance(content, str) else ""
    answer, reasoning = strip_reasoning(text)
    field = _reasoning_delta(message)
    if field:
        reasoning = "\n".join(r for r in (field.strip(), reasoning) if r)
    guard = RepetitionGuard()
    stopped = "repetition" if guard.feed(answer + "\n") else None
    if stopped:
        answer = guard.kept
    elif finish_reason == "length":
        stopped = "length"
    return answer, reasoning, stopped
