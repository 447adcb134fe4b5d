"""The default chat model: any OpenAI-compatible endpoint (OpenAI, Ollama, vLLM, llama.cpp, ...).

:class:`LLMClient` implements :class:`~assistant.llm.base.ChatModel`; the registry
there sends every model name without a registered prefix here (:func:`make_chat_model`).

With :mod:`assistant.llm.failures` it is the only module that imports :mod:`openai`,
lazily (inside functions), so importing the package and ``assistant --help`` stay fast. The
SDK's own retries are turned off: :class:`LLMClient` retries connection errors, timeouts, 429
and 5xx itself (exponential backoff with jitter, honouring ``Retry-After``) while its deadlines
leave time, never retries a stream that already showed tokens, and turns every failure into an
:class:`~assistant.errors.LLMError` with a one-line message and a hint. Each call runs in a
worker thread (:mod:`~assistant.llm.pump`) so its deadlines hold whatever the
server does; replies are read by :mod:`~assistant.llm.reply_reader`.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

from assistant.errors import LLMError
from assistant.llm.base import CallOptions, LLMReply, LLMUsage, TokenFn
from assistant.llm.failures import (
    BadReply,
    DeadlinePassed,
    StreamCut,
    classify,
    describe,
)
from assistant.llm.guards import Deadlines
from assistant.llm.params import sampling_args
from assistant.llm.pump import Pump, next_before
from assistant.llm.reply_reader import StreamReader, read_message, reasoning_tokens_of
from assistant.settings import Settings

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
_T = TypeVar("_T")


def make_chat_model(settings: Settings) -> LLMClient:
    """The default provider's factory (see :mod:`assistant.llm.base`)."""
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

    def complete(
        self, messages: list[dict[str, str]], options: CallOptions | None = None
    ) -> LLMReply:
        """Send ``messages``; return the whole reply (no streaming), retrying transient errors.

        Both deadlines hold: a reply that is not streamed shows its first token with its last,
        so each attempt's reply must come whole by ``llm_first_token_timeout`` (a server that
        never answers, or sends only keep-alives, costs that deadline, whatever the output
        mode), and the whole call, retries included, ends by ``llm_answer_timeout``.
        """
        options = options or CallOptions()
        deadlines = Deadlines(
            self.settings.llm_first_token_timeout,
            self.settings.llm_answer_timeout,
            per_attempt=True,
        )

        def once() -> LLMReply:
            deadlines.new_attempt()
            return self._complete_once(messages, options, deadlines)

        return self._with_retries(once, delivered=lambda: 0, deadlines=deadlines)

    def stream(
        self,
        messages: list[dict[str, str]],
        on_token: TokenFn,
        options: CallOptions | None = None,
    ) -> LLMReply:
        """Stream the reply, calling ``on_token`` with each piece of answer text as it arrives.

        A failed attempt is retried only if no token was delivered yet, so text already shown
        is never repeated. Exceptions raised by ``on_token`` propagate unchanged. The first
        token (of the answer or its reasoning) must come by ``llm_first_token_timeout`` and the
        whole reply by ``llm_answer_timeout``, retries included; keep-alive comments do not
        count. Reasoning goes to ``options.on_reasoning``, never to ``on_token``; a reply that
        loops, or passes its cap, is stopped (``LLMReply.stopped`` says so).
        """
        options = options or CallOptions()
        deadlines = Deadlines(
            self.settings.llm_first_token_timeout, self.settings.llm_answer_timeout
        )
        shown = [0]  # characters delivered to on_token

        def once() -> LLMReply:
            return self._stream_once(messages, on_token, options, shown, deadlines)

        return self._with_retries(once, delivered=lambda: shown[0], deadlines=deadlines)

    def max_tokens_for(self, purpose: str) -> int | None:
        """The length cap of a reply for ``purpose`` (None: no cap is sent)."""
        caps = {
            "answer": self.settings.answer_max_tokens,
            "related_work": self.settings.related_work_max_tokens,
            "cite": self.settings.cite_max_tokens,
        }
        return caps.get(purpose)

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def __enter__(self) -> LLMClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- one attempt

    def _request_args(
        self, messages: list[dict[str, str]], options: CallOptions, deadlines: Deadlines
    ) -> dict[str, Any]:
        model = self.model
        args: dict[str, Any] = {"model": model, "messages": cast(Any, messages)}
        args.update(
            sampling_args(
                model,
                self.settings.llm_base_url,
                self.settings.llm_temperature,
                self.max_tokens_for(options.purpose),
            )
        )
        # The SDK's own timeout (per read) never outlives the call's deadline.
        args["timeout"] = max(0.05, min(self.settings.llm_timeout, deadlines.remaining() + 0.5))
        return args

    def _complete_once(
        self, messages: list[dict[str, str]], options: CallOptions, deadlines: Deadlines
    ) -> LLMReply:
        args = self._request_args(messages, options, deadlines)

        def produce(put: Callable[[Any], None], _on_cancel: Any) -> None:
            put(self._client.chat.completions.create(**args))

        pump = Pump(produce, "llm-complete")
        try:
            response = next_before(pump, deadlines, 0)
        except ValueError as exc:  # the body is not JSON
            raise BadReply("invalid JSON") from exc
        finally:
            pump.cancel()
        choices = getattr(response, "choices", None)
        if not isinstance(choices, list) or not choices:
            raise BadReply("no choices in the reply")
        message = getattr(choices[0], "message", None)
        content = getattr(message, "content", None)
        if content is not None and not isinstance(content, str):
            raise BadReply("the reply's content is not text")
        text, reasoning, stopped = read_message(message, getattr(choices[0], "finish_reason", None))
        if not text.strip():
            refusal = getattr(message, "refusal", None)
            detail = f"refusal: {refusal}" if refusal else "empty content"
            raise BadReply(detail + (" after its reasoning" if reasoning else ""), empty=True)
        model = str(getattr(response, "model", None) or self.model)
        usage_data = getattr(response, "usage", None)
        usage = _usage(usage_data, model, reasoning_tokens_of(usage_data))
        return LLMReply(text=text, usage=usage, model=model, reasoning=reasoning, stopped=stopped)

    def _stream_once(
        self,
        messages: list[dict[str, str]],
        on_token: TokenFn,
        options: CallOptions,
        shown: list[int],
        deadlines: Deadlines,
    ) -> LLMReply:
        args = self._request_args(messages, options, deadlines)
        args.update(stream=True, stream_options={"include_usage": True})
        cap = self.max_tokens_for(options.purpose)
        # The server enforces the cap; the reader's, with some slack (a streamed piece is not
        # always one token), stops only servers that ignore it.
        pieces = None if cap is None else cap + cap // 4 + 8
        reader = StreamReader(on_token, options.on_reasoning, deadlines, shown, pieces)

        def produce(put: Callable[[Any], None], on_cancel: Any) -> None:
            stream = self._client.chat.completions.create(**args)
            on_cancel(stream.close)
            with stream:
                for chunk in stream:
                    put(chunk)

        pump = Pump(produce, "llm-stream")
        try:
            while True:
                try:
                    chunk = next_before(pump, deadlines, shown[0])
                except ValueError as exc:  # a data line that is not JSON
                    raise BadReply("a stream event is not valid JSON") from exc
                if chunk is Pump.END or reader.take(chunk):
                    break
        finally:
            pump.cancel()
        reader.close()
        text = reader.text
        if not (reader.finished or reader.usage is not None or reader.stopped):
            raise StreamCut(len(text))
        if not text.strip():
            detail = "empty content" + (" after its reasoning" if reader.reasoning else "")
            raise BadReply(detail, empty=True)
        model = reader.model or self.model
        counted = reasoning_tokens_of(reader.usage) or reader.reasoning_pieces or None
        return LLMReply(
            text=text,
            usage=_usage(reader.usage, model, counted),
            model=model,
            reasoning=reader.reasoning,
            stopped=reader.stopped,
        )

    def _detect_model(self) -> str:
        import openai

        hint = "Set the model with -m/--model or ASSISTANT_LLM_MODEL."
        try:
            timeout = min(self.settings.llm_timeout, self.settings.llm_first_token_timeout)
            page = self._client.models.list(timeout=timeout)
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
                f"Could not list the models of {self.base_url} ({describe(exc)}).",
                hint=hint,
            ) from exc
        if not names:
            raise LLMError(f"The server at {self.base_url} lists no models.", hint=hint)
        logger.info("Using model %s, the first one listed by %s", names[0], self.base_url)
        return names[0]

    # --- retries and errors

    def _with_retries(
        self, attempt: Callable[[], _T], delivered: Callable[[], int], deadlines: Deadlines
    ) -> _T:
        """Run ``attempt``, retrying transient failures while ``delivered()`` (chars shown) is 0
        and the deadline leaves time for the retry."""
        import openai

        attempts = self.max_retries + 1
        for number in range(1, attempts + 1):
            try:
                return attempt()
            except (openai.APIError, BadReply, StreamCut, DeadlinePassed) as exc:
                shown = delivered()
                failed: Exception = exc
                if shown and isinstance(exc, openai.APIConnectionError):
                    failed = StreamCut(shown, timed_out=isinstance(exc, openai.APITimeoutError))
                failure = classify(
                    failed,
                    url=self.base_url,
                    model=self._model or "?",
                    timeout=self.settings.llm_timeout,
                    has_key=bool(self._key),
                )
                delay = self._delay(number - 1, failure.retry_after)
                left, deadline = deadlines.left_for_retry()
                in_time = left > delay + 0.1
                retry = failure.retryable and number < attempts and not shown and in_time
                if not retry:
                    message = failure.message
                    if failure.retryable and number > 1:
                        message = f"{message.rstrip('.')} (after {number} attempts)."
                    if failure.retryable and number < attempts and not shown:
                        message = (
                            f"{message.rstrip('.')}, and the {deadline:g} s deadline "
                            "leaves no time to retry."
                        )
                    cause = None if self._redact(str(exc)) != str(exc) else exc
                    raise LLMError(self._redact(message), self._redact(failure.hint)) from cause
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

    def _redact(self, text: str) -> str:
        """``text`` with the API key masked (keys under 6 characters are not worth masking)."""
        return text.replace(self._key, "***") if len(self._key) >= 6 else text


def _usage(data: Any, model: str, reasoning_tokens: int | None = None) -> LLMUsage | None:
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
        reasoning_tokens=reasoning_tokens,
    )
