"""Reasoning models: their thinking is never the answer, never parsed for citations, counted.

``<think>...</think>`` in the content (Qwen3, DeepSeek-R1 through Ollama or llama.cpp), also with
the tags split across stream chunks, and ``reasoning_content`` deltas, from tests/fake_openai.py
(a real HTTP server on loopback). Parameters some models refuse are chosen by model-name rules,
so no first call fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fake_openai import FakeOpenAI, FakeReply

from assistant import api
from assistant.llm.guards import ThinkSplitter, strip_reasoning
from assistant.llm.params import sampling_args
from assistant.settings import Settings

QUESTION = "How does ZeRO reduce memory when training trillion-parameter models?"
ANSWER = "ZeRO partitions optimizer states across data-parallel processes [1]."
THOUGHT = "The user asks about ZeRO. Source [7] says nothing; maybe cite [9]?"


def settings_for(index_dir: Path, url: str, **extra: Any) -> Settings:
    extra.setdefault("llm_model", "fake-model")
    return Settings(index_dir=index_dir, llm_base_url=url, **extra)


def ask(index_dir: Path, settings: Settings, stream: bool = True) -> tuple[Any, list[str]]:
    index = api.open_index(settings)
    tokens: list[str] = []
    try:
        answer = api.ask(index, QUESTION, settings, on_token=tokens.append if stream else None)
    finally:
        index.close()
    return answer, tokens


def assert_thought_left_out(answer: Any, tokens: list[str]) -> None:
    assert answer.mode == "llm" and answer.llm_error is None
    assert answer.answer == ANSWER
    assert "think" not in "".join(tokens) and "user asks" not in "".join(tokens)
    assert answer.removed_citations == []  # [7] and [9] were in the thinking, not the answer
    assert [c.n for c in answer.citations] == [1]
    assert "The user asks about ZeRO." in answer.reasoning


@pytest.mark.parametrize(
    "pieces",
    [
        [f"<think>{THOUGHT}</think>\n\n", ANSWER],
        [
            "<th",
            "ink>The user asks",
            THOUGHT.removeprefix("The user asks") + "</th",
            "ink>",
            ANSWER,
        ],
        ["<", "t", "h", "i", "n", "k", ">", THOUGHT, "<", "/", "think", ">", ANSWER],
    ],
    ids=["whole-tags", "tags-split", "tags-char-by-char"],
)
def test_think_blocks_in_streamed_content_are_not_the_answer(
    small_index_dir: Path, fake_llm: FakeOpenAI, pieces: list[str]
) -> None:
    fake_llm.queue(FakeReply.chunks(pieces))
    answer, tokens = ask(small_index_dir, settings_for(small_index_dir, fake_llm.url))

    assert_thought_left_out(answer, tokens)
    assert "".join(tokens) == ANSWER
    # No server count of reasoning tokens here: the streamed reasoning pieces are counted.
    assert answer.usage["reasoning_tokens"] >= 1


def test_think_blocks_in_a_whole_reply_are_not_the_answer(
    small_index_dir: Path, fake_llm: FakeOpenAI
) -> None:
    fake_llm.queue(f"<think>{THOUGHT}</think>\n\n{ANSWER}")
    answer, tokens = ask(small_index_dir, settings_for(small_index_dir, fake_llm.url), False)
    assert_thought_left_out(answer, tokens)


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])
def test_reasoning_content_is_not_the_answer_and_its_tokens_are_counted(
    small_index_dir: Path, fake_llm: FakeOpenAI, stream: bool
) -> None:
    fake_llm.queue(FakeReply.thinking(ANSWER, reasoning=THOUGHT))
    answer, tokens = ask(small_index_dir, settings_for(small_index_dir, fake_llm.url), stream)

    assert_thought_left_out(answer, tokens)
    assert answer.usage["reasoning_tokens"] == len(THOUGHT.split())  # the server's count
    assert answer.usage["completion_tokens"] == len(THOUGHT.split()) + len(ANSWER.split())


def test_a_reply_that_is_only_thinking_falls_back_with_a_reason(
    small_index_dir: Path, fake_llm: FakeOpenAI
) -> None:
    fake_llm.queue(FakeReply.chunks(["<think>", THOUGHT, "</think>", "\n"]))
    answer, tokens = ask(small_index_dir, settings_for(small_index_dir, fake_llm.url))

    assert tokens == []
    assert answer.mode == "extractive"
    assert "empty reply (empty content after its reasoning)" in (answer.llm_error or "")


@pytest.mark.parametrize("flag", [True, False], ids=["shown", "hidden"])
def test_show_reasoning_on_the_command_line(
    run_cli: Any, small_index_dir: Path, fake_llm: FakeOpenAI, flag: bool
) -> None:
    fake_llm.queue(FakeReply.thinking(ANSWER, reasoning=THOUGHT))
    args = ["ask", QUESTION, "--index", str(small_index_dir)] + ["--show-reasoning"] * flag
    cli = run_cli(args, env={"OPENAI_BASE_URL": fake_llm.url, "ASSISTANT_LLM_MODEL": "fake-model"})

    assert cli.exit_code == 0, cli.stderr
    assert cli.stdout.startswith(ANSWER + "\n")
    assert "user asks" not in cli.stdout
    assert ("Reasoning:\nThe user asks about ZeRO." in cli.stderr) is flag
    assert f"{len(THOUGHT.split())} of them reasoning" in cli.stderr


def test_split_tags_and_dangling_close() -> None:
    splitter = ThinkSplitter()
    pieces = [
        *splitter.feed("Hi <thi"),
        *splitter.feed("nking>x</thinking> there"),
        *splitter.close(),
    ]
    assert "".join(t for r, t in pieces if not r) == "Hi  there"
    assert "".join(t for r, t in pieces if r) == "x"
    assert strip_reasoning("planning first</think>\nThe answer [1].") == (
        "The answer [1].",
        "planning first",
    )
    assert strip_reasoning("a < b and <thinker> [1]") == ("a < b and <thinker> [1]", "")


# --- parameters by model name ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("o3-mini", {"max_completion_tokens": 4 * 1024}),
        ("o1", {"max_completion_tokens": 4 * 1024}),
        ("openai/gpt-5-mini", {"max_completion_tokens": 4 * 1024}),
        ("gpt-4o-mini", {"temperature": 0.1, "max_tokens": 1024}),
        ("qwen3:8b", {"temperature": 0.1, "max_tokens": 1024}),
        ("gpt-5-chat-latest", {"temperature": 0.1, "max_tokens": 1024}),
    ],
)
def test_parameters_follow_model_name_rules_on_the_wire(
    small_index_dir: Path, fake_llm: FakeOpenAI, model: str, expected: dict[str, Any]
) -> None:
    fake_llm.queue(ANSWER)
    answer, _ = ask(small_index_dir, settings_for(small_index_dir, fake_llm.url, llm_model=model))

    assert answer.mode == "llm"
    [request] = fake_llm.chat_requests  # one call: nothing was refused and retried
    sent = {
        k: request[k]
        for k in ("temperature", "max_tokens", "max_completion_tokens")
        if k in request
    }
    assert sent == expected


def test_openai_itself_gets_max_completion_tokens() -> None:
    assert sampling_args("gpt-4o-mini", None, 0.2, 100) == {
        "temperature": 0.2,
        "max_completion_tokens": 100,
    }
    assert sampling_args("gpt-4.1", "https://api.openai.com/v1", 0.2, None) == {"temperature": 0.2}
