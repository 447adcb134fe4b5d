"""LLMClient against a real OpenAI-compatible HTTP server on loopback (tests/fake_openai.py).

The real ``openai`` client does the HTTP; nothing of it is monkeypatched. Backoff sleeps are
recorded instead of slept, so the whole file runs in a few seconds.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_openai import FakeOpenAI, FakeReply, dead_url, split_tokens

from assistant.errors import LLMError
from assistant.llm.openai_compatible import (
    DEFAULT_OPENAI_MODEL,
    LLMClient,
    LLMReply,
    estimate_cost,
)
from assistant.settings import Settings

MESSAGES = [
    {"role": "system", "content": "Answer only from the numbered sources."},
    {
        "role": "user",
        "content": "[1] Attention Is All You Need (2017)\nWe propose the Transformer...\n\n"
        "Question: what is the Transformer?",
    },
]


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


class Client(LLMClient):
    """An LLMClient whose backoff sleeps are recorded, not slept."""

    sleeps: list[float]


def make_client(base_url: str | None, **settings: Any) -> Client:
    settings.setdefault("llm_model", "fake-model")
    settings.setdefault("llm_max_retries", 2)
    settings.setdefault("llm_timeout", 5.0)
    sleeps: list[float] = []
    client = Client(Settings(llm_base_url=base_url, **settings), sleep=sleeps.append)
    client.sleeps = sleeps
    return client


def ask_stream(client: LLMClient) -> tuple[LLMReply, list[str]]:
    tokens: list[str] = []
    reply = client.stream(MESSAGES, tokens.append)
    return reply, tokens


# --- successful calls


def test_complete_returns_text_usage_and_sends_the_messages(fake: FakeOpenAI) -> None:
    fake.queue("The Transformer relies on attention alone [1].")
    reply = make_client(fake.url, llm_temperature=0.3).complete(MESSAGES)

    assert reply.text == "The Transformer relies on attention alone [1]."
    assert reply.model == "fake-model"
    assert reply.usage is not None
    assert reply.usage.completion_tokens == len(split_tokens(reply.text))
    assert reply.usage.prompt_tokens > 0
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    assert reply.usage.cost_usd is None  # not a priced model
    [body] = fake.chat_requests
    assert body["messages"] == MESSAGES
    assert "We propose the Transformer" in body["messages"][1]["content"]
    assert body["model"] == "fake-model"
    assert body["temperature"] == 0.3
    assert not body.get("stream")


def test_stream_delivers_tokens_in_order_and_usage(fake: FakeOpenAI) -> None:
    text = "Self-attention replaces recurrence [1]. It trains faster [1]."
    fake.queue(text)
    reply, tokens = ask_stream(make_client(fake.url))

    assert tokens == split_tokens(text)
    assert len(tokens) > 3
    assert reply.text == text
    assert reply.usage is not None and reply.usage.completion_tokens == len(tokens)
    [body] = fake.chat_requests
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


def test_stream_without_usage_from_server_leaves_usage_none(fake: FakeOpenAI) -> None:
    fake.queue(FakeReply.reply("No usage here.", usage=False))
    reply, _ = ask_stream(make_client(fake.url))
    assert reply.text == "No usage here."
    assert reply.usage is None


def test_cost_of_known_models(fake: FakeOpenAI) -> None:
    fake.queue(FakeReply.reply("Priced [1].", model="gpt-4o-mini-2024-07-18"))
    reply = make_client(fake.url, llm_model="gpt-4o-mini").complete(MESSAGES)
    assert reply.model == "gpt-4o-mini-2024-07-18"
    assert reply.usage is not None
    expected = (reply.usage.prompt_tokens * 0.15 + reply.usage.completion_tokens * 0.60) / 1e6
    assert reply.usage.cost_usd == pytest.approx(expected)
    assert estimate_cost("gpt-4.1", 1_000_000, 1_000_000) == pytest.approx(10.0)
    assert estimate_cost("gpt-4o-audio-preview", 10, 10) is None
    assert estimate_cost("llama3.2", 10, 10) is None


def test_reasoning_models_get_no_temperature(fake: FakeOpenAI) -> None:
    fake.queue("ok [1].")
    make_client(fake.url, llm_model="gpt-5-mini").complete(MESSAGES)
    assert "temperature" not in fake.chat_requests[0]


def test_model_is_detected_from_models_endpoint() -> None:
    with FakeOpenAI(models=["llama3.2:3b", "qwen2.5:7b"]) as server:
        server.queue("one [1].", "two [1].")
        client = make_client(server.url, llm_model=None)
        assert client.complete(MESSAGES).model == "llama3.2:3b"
        client.complete(MESSAGES)
        assert [b["model"] for b in server.chat_requests] == ["llama3.2:3b", "llama3.2:3b"]
        assert [r.path for r in server.requests if r.method == "GET"] == ["/v1/models"]


def test_model_detection_failure_says_to_set_the_model() -> None:
    with pytest.raises(LLMError) as err:
        make_client(dead_url(), llm_model=None).complete(MESSAGES)
    assert "Could not reach" in err.value.message
    assert (
        err.value.hint and "--model" in err.value.hint and "ASSISTANT_LLM_MODEL" in err.value.hint
    )

    with FakeOpenAI(models=[]) as server, pytest.raises(LLMError) as err:
        make_client(server.url, llm_model=None).complete(MESSAGES)
    assert "lists no models" in err.value.message
    assert server.chat_requests == []


def test_default_model_without_base_url() -> None:
    client = make_client(None, llm_model=None, llm_api_key="sk-x")
    assert client.model == DEFAULT_OPENAI_MODEL
    assert client.base_url.startswith("https://")


def test_no_api_key_with_base_url_works(fake: FakeOpenAI) -> None:
    fake.queue("Local models need no key [1].")
    client = make_client(fake.url)
    assert client.settings.llm_api_key is None
    assert client.complete(MESSAGES).text.startswith("Local")
    headers = {k.lower(): v for k, v in fake.requests[0].headers.items()}
    assert headers["authorization"] == "Bearer not-needed"


def test_api_key_is_sent() -> None:
    with FakeOpenAI(api_key="sk-right") as server:
        server.queue("Authorised [1].")
        reply = make_client(server.url, llm_api_key="sk-right").complete(MESSAGES)
        assert reply.text == "Authorised [1]."


def test_default_responder_when_queue_is_empty() -> None:
    def echo(body: dict[str, Any]) -> str:
        return "echo: " + body["messages"][-1]["content"][:10]

    with FakeOpenAI(default=echo) as server:
        assert make_client(server.url).complete(MESSAGES).text == "echo: [1] Attent"


def test_on_token_errors_propagate_unchanged(fake: FakeOpenAI) -> None:
    fake.queue("a b c")

    def explode(token: str) -> None:
        raise KeyError(token)

    with pytest.raises(KeyError):
        make_client(fake.url).stream(MESSAGES, explode)
    assert len(fake.chat_requests) == 1


def test_importing_the_module_does_not_import_openai() -> None:
    import os

    import assistant

    root = str(Path(assistant.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    module = "assistant.llm.openai_compatible"
    code = f"import sys, {module}; sys.exit('openai' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], env=env, check=False).returncode == 0


# --- faults


def test_endpoint_down() -> None:
    url = dead_url()
    client = make_client(url)
    with pytest.raises(LLMError) as err:
        client.complete(MESSAGES)
    assert err.value.message.startswith(f"Could not reach the model at {url}")
    assert "after 3 attempts" in err.value.message
    assert (
        err.value.hint == "Is the server running? Check ASSISTANT_LLM_BASE_URL / OPENAI_BASE_URL."
    )
    assert len(client.sleeps) == 2


def test_timeout(fake: FakeOpenAI) -> None:
    fake.queue(FakeReply.slow(3.0))
    client = make_client(fake.url, llm_timeout=0.3, llm_max_retries=0)
    started = time.monotonic()
    with pytest.raises(LLMError) as err:
        client.complete(MESSAGES)
    assert time.monotonic() - started < 2.0
    assert "no reply within 0.3 s" in err.value.message
    assert err.value.hint and "ASSISTANT_LLM_TIMEOUT" in err.value.hint
    assert len(fake.chat_requests) == 1


def test_timeout_then_success_is_retried(fake: FakeOpenAI) -> None:
    fake.queue(FakeReply.slow(3.0), "Second time lucky [1].")
    client = make_client(fake.url, llm_timeout=0.3, llm_max_retries=1)
    assert client.stream(MESSAGES, lambda _: None).text == "Second time lucky [1]."
    assert len(fake.chat_requests) == 2


def test_429_then_success_honours_retry_after(fake: FakeOpenAI) -> None:
    fake.queue(FakeReply.error(429, retry_after=1.5), "Done [1].")
    client = make_client(fake.url)
    assert client.complete(MESSAGES).text == "Done [1]."
    assert client.sleeps == [1.5]
    assert len(fake.chat_requests) == 2


def test_retry_after_is_capped(fake: FakeOpenAI) -> None:
    fake.queue(FakeReply.error(429, retry_after=3600), "Done [1].")
    client = make_client(fake.url)
    client.complete(MESSAGES)
    assert client.sleeps == [client.retry_after_cap]


def test_500_then_success_backs_off(fake: FakeOpenAI) -> None:
    fake.queue(FakeReply.error(500), "Recovered [1].")
    client = make_client(fake.url)
    assert client.complete(MESSAGES).text == "Recovered [1]."
    [delay] = client.sleeps
    assert 0.5 <= delay <= 0.5 * 1.25
    assert len(fake.chat_requests) == 2


def test_500_forever(fake: FakeOpenAI) -> None:
    fake.queue(*[FakeReply.error(503)] * 5)
    client = make_client(fake.url, llm_max_retries=3)
    with pytest.raises(LLMError) as err:
        client.complete(MESSAGES)
    assert "HTTP 503" in err.value.message and "after 4 attempts" in err.value.message
    assert err.value.hint and "server" in err.value.hint
    assert len(fake.chat_requests) == 4
    assert len(client.sleeps) == 3
    assert client.sleeps[0] < client.sleeps[1] < client.sleeps[2] <= client.backoff_cap


def test_429_forever_is_reported_as_rate_limit(fake: FakeOpenAI) -> None:
    fake.queue(*[FakeReply.error(429)] * 3)
    with pytest.raises(LLMError) as err:
        make_client(fake.url, llm_max_retries=1).complete(MESSAGES)
    assert err.value.message.startswith("Rate limited")
    assert len(fake.chat_requests) == 2


def test_401_is_not_retried_and_never_shows_the_key(fake: FakeOpenAI) -> None:
    secret = "sk-test-VERYSECRET123"
    fake.queue(FakeReply.error(401, message=f"Incorrect API key provided: {secret}."), "unused")
    client = make_client(fake.url, llm_api_key=secret)
    with pytest.raises(LLMError) as err:
        client.complete(MESSAGES)
    assert "API key" in err.value.message
    assert err.value.hint and "OPENAI_API_KEY" in err.value.hint
    assert secret not in str(err.value)
    assert len(fake.chat_requests) == 1
    assert client.sleeps == []


@pytest.mark.parametrize("status", [400, 403, 404])
def test_client_errors_are_not_retried(fake: FakeOpenAI, status: int) -> None:
    fake.queue(FakeReply.error(status), "unused")
    with pytest.raises(LLMError) as err:
        make_client(fake.url).complete(MESSAGES)
    assert f"HTTP {status}" in err.value.message
    assert len(fake.chat_requests) == 1


def test_base_url_without_v1_gives_404_hint(fake: FakeOpenAI) -> None:
    base = fake.url.removesuffix("/v1")
    with pytest.raises(LLMError) as err:
        make_client(base).complete(MESSAGES)
    assert "HTTP 404" in err.value.message
    assert err.value.hint and "/v1" in err.value.hint and "--model" in err.value.hint
    assert len(fake.requests) == 1


@pytest.mark.parametrize("streaming", [False, True])
def test_malformed_reply(fake: FakeOpenAI, streaming: bool) -> None:
    fake.queue(FakeReply.malformed_body(), "unused")
    client = make_client(fake.url)
    with pytest.raises(LLMError) as err:
        ask_stream(client) if streaming else client.complete(MESSAGES)
    assert "malformed reply" in err.value.message
    assert len(fake.chat_requests) == 1


@pytest.mark.parametrize("streaming", [False, True])
def test_empty_reply(fake: FakeOpenAI, streaming: bool) -> None:
    fake.queue(FakeReply.empty(), "unused")
    client = make_client(fake.url)
    with pytest.raises(LLMError) as err:
        ask_stream(client) if streaming else client.complete(MESSAGES)
    assert "empty reply" in err.value.message
    assert len(fake.chat_requests) == 1


@pytest.mark.parametrize("abruptly", [True, False])
def test_stream_cut_midway_is_not_retried(fake: FakeOpenAI, abruptly: bool) -> None:
    text = "One two three four five six."
    fake.queue(FakeReply.cut(text, after=3, abruptly=abruptly), text)
    client = make_client(fake.url)
    tokens: list[str] = []
    with pytest.raises(LLMError) as err:
        client.stream(MESSAGES, tokens.append)
    assert tokens == ["One", " two", " three"]
    assert "cut off mid-stream" in err.value.message
    assert len(fake.chat_requests) == 1
    assert fake.pending == 1


def test_stream_failing_before_first_token_is_retried(fake: FakeOpenAI) -> None:
    fake.queue(FakeReply.error(502), FakeReply.cut("x y", after=0), "Fine now [1].")
    client = make_client(fake.url)
    reply, tokens = ask_stream(client)
    assert tokens == ["Fine", " now", " [1]."]
    assert reply.text == "Fine now [1]."
    assert len(fake.chat_requests) == 3
    assert len(client.sleeps) == 2
