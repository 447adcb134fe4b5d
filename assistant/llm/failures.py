"""What went wrong with one call to an OpenAI-compatible server, as a message and a hint.

:func:`classify` turns an SDK exception, or one of this module's own (:class:`BadReply`,
:class:`StreamCut`, :class:`DeadlinePassed`), into a :class:`Failure`: a one-line message, a
hint, and whether the call is worth retrying. :mod:`openai` is imported inside the functions.
"""

from __future__ import annotations

import email.utils
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import openai

__all__ = [
    "BadReply",
    "DeadlinePassed",
    "Failure",
    "StreamCut",
    "classify",
    "describe",
    "one_line",
    "says_context_exceeded",
]

_RETRYABLE_STATUS = {408, 429}

#: How servers say a prompt is longer than the model's context: OpenAI and vLLM ("maximum
#: context length", ``context_length_exceeded``), llama.cpp ("exceed context window", ``n_ctx``,
#: ``exceed_context_size_error``), others ("context size", "context window").
_CONTEXT_EXCEEDED = re.compile(
    r"context[ _](length|window|size)|n_ctx|exceed_context|too many tokens", re.IGNORECASE
)


def says_context_exceeded(text: str) -> bool:
    """True when a server's error text says the prompt does not fit the model's context."""
    return bool(_CONTEXT_EXCEEDED.search(text))


@dataclass
class Failure:
    """A classified failure of one attempt."""

    message: str
    hint: str
    retryable: bool
    retry_after: float | None = None


class BadReply(Exception):
    """The server answered, but not with a usable chat completion."""

    def __init__(self, detail: str, *, empty: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.empty = empty


class StreamCut(Exception):
    """The stream ended before the reply was complete."""

    def __init__(self, chars: int, *, timed_out: bool = False) -> None:
        super().__init__(f"stream ended after {chars} characters")
        self.chars = chars
        self.timed_out = timed_out


class DeadlinePassed(Exception):
    """The first-token or whole-reply deadline passed (never retried)."""

    def __init__(self, kind: str, seconds: float, chars: int) -> None:
        super().__init__(f"{kind} deadline of {seconds:g} s passed")
        self.kind = kind
        self.seconds = seconds
        self.chars = chars


@dataclass
class _Context:
    url: str
    model: str
    timeout: float
    has_key: bool


def classify(exc: Exception, *, url: str, model: str, timeout: float, has_key: bool) -> Failure:
    """The failure ``exc`` stands for, calling the endpoint ``url`` with ``model``."""
    import openai

    context = _Context(url, model, timeout, has_key)
    if isinstance(exc, DeadlinePassed):
        return _deadline(exc, url)
    if isinstance(exc, openai.APITimeoutError):
        return Failure(
            f"The model at {url} sent no reply within {timeout:g} s.",
            "Raise ASSISTANT_LLM_TIMEOUT (seconds), or use a smaller or faster model.",
            retryable=True,
        )
    if isinstance(exc, openai.APIConnectionError):
        return Failure(
            f"Could not reach the model at {url}.",
            "Is the server running? Check ASSISTANT_LLM_BASE_URL / OPENAI_BASE_URL.",
            retryable=True,
        )
    if isinstance(exc, StreamCut) and exc.timed_out:
        return Failure(
            f"The model at {url} stopped sending for {timeout:g} s "
            f"mid-reply (after {exc.chars} characters).",
            "Raise ASSISTANT_LLM_TIMEOUT (seconds), or check the server's load.",
            retryable=True,
        )
    if isinstance(exc, StreamCut):
        return Failure(
            f"The reply from {url} was cut off mid-stream (after {exc.chars} characters).",
            "The connection dropped; check the server (or its logs) and ask again.",
            retryable=True,
        )
    if isinstance(exc, openai.APIStatusError):
        return _status(exc, context)
    if isinstance(exc, BadReply) and exc.empty:
        return Failure(
            f"The model returned an empty reply ({exc.detail}).",
            "Ask again or try another model; the prompt may exceed the model's context window.",
            retryable=False,
        )
    if isinstance(exc, openai.APIError):
        return Failure(  # e.g. an error event in the middle of a stream
            f"The model server at {url} reported an error: {one_line(exc.message)}",
            "It is a server-side error: try again later or check the server's logs.",
            retryable=True,
        )
    detail = exc.detail if isinstance(exc, BadReply) else one_line(str(exc))
    return Failure(
        f"The model returned a malformed reply ({detail}).",
        "Check that ASSISTANT_LLM_BASE_URL points at an OpenAI-compatible API "
        "(it usually ends with /v1).",
        retryable=False,
    )


def _deadline(exc: DeadlinePassed, url: str) -> Failure:
    if exc.kind == "first_token":
        return Failure(
            f"The model at {url} sent no answer within {exc.seconds:g} s.",
            "Raise ASSISTANT_LLM_FIRST_TOKEN_TIMEOUT (seconds), or use a smaller or faster "
            "model; a server that is still loading the model takes longer the first time.",
            retryable=False,
        )
    return Failure(
        f"The model at {url} did not finish its answer within {exc.seconds:g} s "
        f"(after {exc.chars} characters).",
        "Raise ASSISTANT_LLM_ANSWER_TIMEOUT (seconds), lower the answer's length cap "
        "(ASSISTANT_ANSWER_MAX_TOKENS), or use a faster model.",
        retryable=False,
    )


def _status(exc: openai.APIStatusError, context: _Context) -> Failure:
    status = exc.status_code
    detail = describe(exc)
    url, model = context.url, context.model
    if status == 401:
        hint = (
            "Check ASSISTANT_LLM_API_KEY / OPENAI_API_KEY."
            if context.has_key
            else "No API key is set: set ASSISTANT_LLM_API_KEY or OPENAI_API_KEY."
        )
        return Failure(f"The endpoint {url} rejected the API key ({detail}).", hint, False)
    if status == 403:
        return Failure(
            f"Access to model '{model}' at {url} was denied ({detail}).",
            "Check that the API key (project, organisation) may use this model.",
            False,
        )
    if status == 404:
        return Failure(
            f"Model '{model}' or the chat endpoint was not found at {url} ({detail}).",
            "Check the model name (-m/--model, ASSISTANT_LLM_MODEL) and the base URL: "
            "OpenAI-compatible servers usually expect it to end with /v1 "
            "(e.g. http://localhost:11434/v1).",
            False,
        )
    retry_after = _retry_after(exc)
    if status == 429:
        return Failure(
            f"Rate limited by {url} ({detail}).",
            "Wait a moment and ask again, or check the account's rate limits and quota.",
            True,
            retry_after,
        )
    if status >= 500 or status in _RETRYABLE_STATUS:
        return Failure(
            f"The model server at {url} failed ({detail}).",
            "It is a server-side error: try again later or check the server's logs.",
            True,
            retry_after,
        )
    if status in (400, 413) and says_context_exceeded(detail):
        return Failure(
            f"The prompt is longer than the context window of model '{model}' at {url} ({detail}).",
            "Set ASSISTANT_LLM_CONTEXT_TOKENS to the server's context size (llama.cpp: "
            "--n_ctx), or give fewer papers (ASSISTANT_ANSWER_PAPERS).",
            False,
        )
    return Failure(
        f"The model at {url} rejected the request ({detail}).",
        "Check the model name and settings; the prompt may exceed the model's context window.",
        False,
    )


def describe(exc: Exception) -> str:
    """``HTTP 404: <server message>`` for status errors, else the exception's class and text."""
    import openai

    if isinstance(exc, openai.APIStatusError):
        body = exc.body
        text = body.get("message") if isinstance(body, dict) else body
        detail = one_line(str(text)) if text else ""
        return f"HTTP {exc.status_code}" + (f": {detail}" if detail else "")
    return one_line(f"{type(exc).__name__}: {exc}")


def _retry_after(exc: openai.APIStatusError) -> float | None:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date), if present."""
    headers = exc.response.headers
    try:
        millis = headers.get("retry-after-ms")
        if millis is not None:
            return float(millis) / 1000
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return float(value)
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return when.timestamp() - time.time()
    except (TypeError, ValueError, OverflowError):
        return None


def one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
