"""The default chat model: any OpenAI-compatible endpoint (OpenAI, Ollama, vLLM, llama.cpp, ...).

:class:`LLMClient` implements :class:`~assistant.generation.llm.base.ChatModel`; the registry
there sends every model name without a registered prefix here (:func:`make_chat_model`).

This is the only module that imports :mod:`openai`, and it does so lazily (inside functions), so
importing the package and ``assistant --help`` stay fast. The SDK's own retries are turned off:
:class:`LLMClient` retries connection errors, timeouts, 429 and 5xx itself (exponential backoff
with jitter, honouring ``Retry-After``), never retries a stream that already showed tokens, and
turns every failure into an :class:`~assistant.errors.LLMError` with a one-line message and a hint.
"""

from __future__ import annotations

import email.utils
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

from assistant.errors import LLMError
from assistant.generation.llm.base import LLMReply, LLMUsage, TokenFn
from assistant.settings import Settings

if TYPE_CHECKING:
    import openai

__all__ = [
    "DEFAULT_OPENAI_MODEL",
    "PRICES_PER_MILLION",
    "LLMClient",
    "LLMReply",
    "LLMUsage",
    "estimate_cost",
    "make_chat_model",
]

logger = logging.getLogger(__name__)

#: Model used with OpenAI's own endpoint when no model and no base URL are configured.
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"

#: USD per 1M tokens (input, output), standard tier, for well-known OpenAI models.
PRICES_PER_MILLION: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
}

NO_KEY_PLACEHOLDER = "not-needed"
_DATED_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")
_NO_TEMPERATURE = re.compile(r"^(o\d|gpt-5)")  # reasoning models accept only the default
_RETRYABLE_STATUS = {408, 429}
_T = TypeVar("_T")


def make_chat_model(settings: Settings) -> LLMClient:
    """The default provider's factory (see :mod:`assistant.generation.llm.base`)."""
    return LLMClient(settings)


def estimate_cost(model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    """Cost in USD from :data:`PRICES_PER_MILLION`, or None for a model not in the table.

    Dated snapshots (``gpt-4o-mini-2024-07-18``) are priced as their base model.
    """
    name = model.strip().lower()
    if name.startswith("openai/"):
        name = name.removeprefix("openai/")
    prices = PRICES_PER_MILLION.get(name) or PRICES_PER_MILLION.get(_DATED_SUFFIX.sub("", name))
    if prices is None:
        return None
    return (prompt_tokens * prices[0] + completion_tokens * prices[1]) / 1_000_000


@dataclass
class _Failure:
    """A classified failure of one attempt."""

    message: str
    hint: str
    retryable: bool
    retry_after: float | None = None


class _BadReply(Exception):
    """The server answered, but not with a usable chat completion."""

    def __init__(self, detail: str, *, empty: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.empty = empty


class _StreamCut(Exception):
    """The stream ended before the reply was complete."""

    def __init__(self, chars: int, *, timed_out: bool = False) -> None:
        super().__init__(f"stream ended after {chars} characters")
        self.chars = chars
        self.timed_out = timed_out


class LLMClient:
    """Chat completions against the configured OpenAI-compatible endpoint, with retries.

    ``sleep`` and ``backoff_base`` are injectable so tests need not wait. The model is resolved
    lazily (see :attr:`model`): constructing a client makes no request.
    """

    backoff_factor: float = 2.0
    backoff_cap: float = 8.0
    retry_after_cap: float = 30.0

    def __init__(
        self,
        settings: Settings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        backoff_base: float = 0.5,
    ) -> None:
        import openai

        self.settings = settings
        self.sleep = sleep
        self.backoff_base = backoff_base
        self.max_retries = settings.llm_max_retries
        self._key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else ""
        self._client = openai.OpenAI(
            base_url=settings.llm_base_url,
            api_key=self._key or NO_KEY_PLACEHOLDER,
            timeout=settings.llm_timeout,
            max_retries=0,
        )
        self._model: str | None = settings.llm_model

    # --- public API

    @property
    def base_url(self) -> str:
        """The endpoint in use, without credentials or trailing slash (safe to display)."""
        parts = urlsplit(str(self._client.base_url))
        netloc = parts.netloc.rpartition("@")[2]
        return urlunsplit(parts._replace(netloc=netloc)).rstrip("/")

    @property
    def model(self) -> str:
        """The model name: the configured one, else the first one the server lists.

        With no model and no base URL (OpenAI itself) it is :data:`DEFAULT_OPENAI_MODEL`.
        ``GET /models`` is called at most once; failure raises :class:`LLMError`.
        """
        if self._model is None:
            if self.settings.llm_base_url is None:
                self._model = DEFAULT_OPENAI_MODEL
            else:
                self._model = self._detect_model()
        return self._model

    def complete(self, messages: list[dict[str, str]]) -> LLMReply:
        """Send ``messages``; return the whole reply (no streaming), retrying transient errors."""
        return self._with_retries(lambda: self._complete_once(messages), delivered=lambda: 0)

    def stream(self, messages: list[dict[str, str]], on_token: TokenFn) -> LLMReply:
        """Stream the reply, calling ``on_token`` with each piece of text as it arrives.

        A failed attempt is retried only if no token was delivered yet, so text already shown
        is never repeated. Exceptions raised by ``on_token`` propagate unchanged.
        """
        shown = [0]  # characters delivered to on_token

        def once() -> LLMReply:
            return self._stream_once(messages, on_token, shown)

        return self._with_retries(once, delivered=lambda: shown[0])

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def __enter__(self) -> LLMClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- one attempt

    def _request_args(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        model = self.model
        args: dict[str, Any] = {"model": model, "messages": cast(Any, messages)}
        if not _NO_TEMPERATURE.match(model):
            args["temperature"] = self.settings.llm_temperature
        return args

    def _complete_once(self, messages: list[dict[str, str]]) -> LLMReply:
        args = self._request_args(messages)
        try:
            response = self._client.chat.completions.create(**args)
        except ValueError as exc:  # the body is not JSON
            raise _BadReply("invalid JSON") from exc
        choices = getattr(response, "choices", None)
        if not isinstance(choices, list) or not choices:
            raise _BadReply("no choices in the reply")
        message = getattr(choices[0], "message", None)
        text = getattr(message, "content", None)
        if text is not None and not isinstance(text, str):
            raise _BadReply("the reply's content is not text")
        if not text or not text.strip():
            refusal = getattr(message, "refusal", None)
            raise _BadReply(f"refusal: {refusal}" if refusal else "empty content", empty=True)
        model = str(getattr(response, "model", None) or self.model)
        return LLMReply(
            text=text, usage=_usage(getattr(response, "usage", None), model), model=model
        )

    def _stream_once(
        self, messages: list[dict[str, str]], on_token: TokenFn, shown: list[int]
    ) -> LLMReply:
        stream = self._client.chat.completions.create(
            **self._request_args(messages), stream=True, stream_options={"include_usage": True}
        )
        parts: list[str] = []
        usage_data: Any = None
        model = self.model
        finished = False
        with stream:
            chunks = iter(stream)
            while True:
                try:
                    chunk = next(chunks)
                except StopIteration:
                    break
                except ValueError as exc:  # a data line that is not JSON
                    raise _BadReply("a stream event is not valid JSON") from exc
                model = str(getattr(chunk, "model", None) or model)
                usage_data = getattr(chunk, "usage", None) or usage_data
                for choice in getattr(chunk, "choices", None) or []:
                    if getattr(choice, "finish_reason", None):
                        finished = True
                    text = getattr(getattr(choice, "delta", None), "content", None)
                    if isinstance(text, str) and text:
                        parts.append(text)
                        shown[0] += len(text)
                        on_token(text)
        text = "".join(parts)
        if not (finished or usage_data is not None):
            raise _StreamCut(len(text))
        if not text.strip():
            raise _BadReply("empty content", empty=True)
        return LLMReply(text=text, usage=_usage(usage_data, model), model=model)

    def _detect_model(self) -> str:
        import openai

        hint = "Set the model with -m/--model or ASSISTANT_LLM_MODEL."
        try:
            page = self._client.models.list()
            names = [str(m.id) for m in page.data if getattr(m, "id", None)]
        except openai.APITimeoutError as exc:
            raise LLMError(
                f"The server at {self.base_url} did not list its models within "
                f"{self.settings.llm_timeout:g} s.",
                hint=hint,
            ) from exc
        except openai.APIConnectionError as exc:
            raise LLMError(
                f"Could not reach the model at {self.base_url} to list its models.",
                hint="Is the server running? Check ASSISTANT_LLM_BASE_URL / OPENAI_BASE_URL. "
                + hint,
            ) from exc
        except (openai.APIError, ValueError, AttributeError, TypeError) as exc:
            raise LLMError(
                f"Could not list the models of {self.base_url} ({self._describe(exc)}).",
                hint=hint,
            ) from exc
        if not names:
            raise LLMError(f"The server at {self.base_url} lists no models.", hint=hint)
        logger.info("Using model %s, the first one listed by %s", names[0], self.base_url)
        return names[0]

    # --- retries and errors

    def _with_retries(self, attempt: Callable[[], _T], delivered: Callable[[], int]) -> _T:
        """Run ``attempt``, retrying transient failures while ``delivered()`` (chars shown) is 0."""
        import openai

        attempts = self.max_retries + 1
        for number in range(1, attempts + 1):
            try:
                return attempt()
            except (openai.APIError, _BadReply, _StreamCut) as exc:
                shown = delivered()
                failed: Exception = exc
                if shown and isinstance(exc, openai.APIConnectionError):
                    failed = _StreamCut(shown, timed_out=isinstance(exc, openai.APITimeoutError))
                failure = self._classify(failed)
                retry = failure.retryable and number < attempts and not shown
                if not retry:
                    message = failure.message
                    if failure.retryable and number > 1:
                        message = f"{message.rstrip('.')} (after {number} attempts)."
                    cause = None if self._redact(str(exc)) != str(exc) else exc
                    raise LLMError(self._redact(message), self._redact(failure.hint)) from cause
                delay = self._delay(number - 1, failure.retry_after)
                logger.warning(
                    "%s Retrying in %.1f s (retry %d of %d).",
                    self._redact(failure.message),
                    delay,
                    number,
                    self.max_retries,
                )
                self.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _delay(self, retry_index: int, retry_after: float | None) -> float:
        """Seconds to wait before retry ``retry_index`` (0-based)."""
        if retry_after is not None:
            return max(0.0, min(retry_after, self.retry_after_cap))
        delay = self.backoff_base * self.backoff_factor**retry_index
        return min(self.backoff_cap, delay * (1 + 0.25 * random.random()))

    def _classify(self, exc: Exception) -> _Failure:
        import openai

        url = self.base_url
        model = self._model or "?"
        if isinstance(exc, openai.APITimeoutError):
            return _Failure(
                f"The model at {url} sent no reply within {self.settings.llm_timeout:g} s.",
                "Raise ASSISTANT_LLM_TIMEOUT (seconds), or use a smaller or faster model.",
                retryable=True,
            )
        if isinstance(exc, openai.APIConnectionError):
            return _Failure(
                f"Could not reach the model at {url}.",
                "Is the server running? Check ASSISTANT_LLM_BASE_URL / OPENAI_BASE_URL.",
                retryable=True,
            )
        if isinstance(exc, _StreamCut) and exc.timed_out:
            return _Failure(
                f"The model at {url} stopped sending for {self.settings.llm_timeout:g} s "
                f"mid-reply (after {exc.chars} characters).",
                "Raise ASSISTANT_LLM_TIMEOUT (seconds), or check the server's load.",
                retryable=True,
            )
        if isinstance(exc, _StreamCut):
            return _Failure(
                f"The reply from {url} was cut off mid-stream (after {exc.chars} characters).",
                "The connection dropped; check the server (or its logs) and ask again.",
                retryable=True,
            )
        if isinstance(exc, openai.APIStatusError):
            return self._classify_status(exc, url, model)
        if isinstance(exc, _BadReply) and exc.empty:
            return _Failure(
                f"The model returned an empty reply ({exc.detail}).",
                "Ask again or try another model; the prompt may exceed the model's context window.",
                retryable=False,
            )
        if isinstance(exc, openai.APIError):
            return _Failure(  # e.g. an error event in the middle of a stream
                f"The model server at {url} reported an error: {_one_line(exc.message)}",
                "It is a server-side error: try again later or check the server's logs.",
                retryable=True,
            )
        detail = exc.detail if isinstance(exc, _BadReply) else _one_line(str(exc))
        return _Failure(
            f"The model returned a malformed reply ({detail}).",
            "Check that ASSISTANT_LLM_BASE_URL points at an OpenAI-compatible API "
            "(it usually ends with /v1).",
            retryable=False,
        )

    def _classify_status(self, exc: openai.APIStatusError, url: str, model: str) -> _Failure:
        status = exc.status_code
        detail = self._describe(exc)
        if status == 401:
            hint = (
                "Check ASSISTANT_LLM_API_KEY / OPENAI_API_KEY."
                if self._key
                else "No API key is set: set ASSISTANT_LLM_API_KEY or OPENAI_API_KEY."
            )
            return _Failure(f"The endpoint {url} rejected the API key ({detail}).", hint, False)
        if status == 403:
            return _Failure(
                f"Access to model '{model}' at {url} was denied ({detail}).",
                "Check that the API key (project, organisation) may use this model.",
                False,
            )
        if status == 404:
            return _Failure(
                f"Model '{model}' or the chat endpoint was not found at {url} ({detail}).",
                "Check the model name (-m/--model, ASSISTANT_LLM_MODEL) and the base URL: "
                "OpenAI-compatible servers usually expect it to end with /v1 "
                "(e.g. http://localhost:11434/v1).",
                False,
            )
        retry_after = _retry_after(exc)
        if status == 429:
            return _Failure(
                f"Rate limited by {url} ({detail}).",
                "Wait a moment and ask again, or check the account's rate limits and quota.",
                True,
                retry_after,
            )
        if status >= 500 or status in _RETRYABLE_STATUS:
            return _Failure(
                f"The model server at {url} failed ({detail}).",
                "It is a server-side error: try again later or check the server's logs.",
                True,
                retry_after,
            )
        return _Failure(
            f"The model at {url} rejected the request ({detail}).",
            "Check the model name and settings; the prompt may exceed the model's context window.",
            False,
        )

    def _describe(self, exc: Exception) -> str:
        """``HTTP 404: <server message>`` for status errors, else the exception's class and text."""
        import openai

        if isinstance(exc, openai.APIStatusError):
            body = exc.body
            text = body.get("message") if isinstance(body, dict) else body
            detail = _one_line(str(text)) if text else ""
            return f"HTTP {exc.status_code}" + (f": {detail}" if detail else "")
        return _one_line(f"{type(exc).__name__}: {exc}")

    def _redact(self, text: str) -> str:
        """``text`` with the API key masked (keys under 6 characters are not worth masking)."""
        return text.replace(self._key, "***") if len(self._key) >= 6 else text


def _usage(data: Any, model: str) -> LLMUsage | None:
    """Usage from the server's report, or None when it sent none (never invented)."""
    if data is None:
        return None
    try:
        prompt = int(getattr(data, "prompt_tokens", None) or 0)
        completion = int(getattr(data, "completion_tokens", None) or 0)
        total = int(getattr(data, "total_tokens", None) or prompt + completion)
    except (TypeError, ValueError):
        return None
    return LLMUsage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=total,
        cost_usd=estimate_cost(model, prompt, completion),
        model=model,
    )


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


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
