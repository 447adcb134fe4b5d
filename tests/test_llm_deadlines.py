"""Behaviour with any model: deadlines, keep-alives, loops, length caps, the answer shown once.

Faults come from tests/fake_openai.py (a real HTTP server on loopback) on demand: a server that
never sends its headers, one that sends only SSE keep-alive comments, one that repeats itself
without end, one that trickles tokens past the deadline. The real ``openai`` client does the
HTTP; nothing in the assistant is patched. Each test has its own copy of the small index.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
from fake_openai import FakeOpenAI, FakeReply
from rich.console import Console

from assistant import api
from assistant.cli.render_stream import StreamPrinter
from assistant.generation.answer import Answer
from assistant.generation.citations import UNCITED_MARK
from assistant.llm.guards import RepetitionGuard
from assistant.settings import Settings

QUESTION = "How does ZeRO reduce memory when training trillion-parameter models?"
TOPIC = "memory optimizations for training large language models"
LOOP = (
    "ZeRO partitions optimizer states across data-parallel processes [1]. "
    "This removes memory redundancy while keeping communication low [1].\n\n"
    "It scales training to models with a trillion parameters [1].\n\n"
)
DEADLINE = 1.5
MARGIN = 1.5  # beyond the deadline: thread hand-over, timing noise on a loaded 2-core machine


def settings_for(index_dir: Path, url: str, **extra: Any) -> Settings:
    extra.setdefault("llm_max_retries", 2)
    return Settings(index_dir=index_dir, llm_base_url=url, llm_model="fake-model", **extra)


def env_for(url: str, **extra: str) -> dict[str, str]:
    return {"OPENAI_BASE_URL": url, "ASSISTANT_LLM_MODEL": "fake-model", **extra}


def timed_ask(index_dir: Path, settings: Settings, stream: bool = True) -> tuple[Answer, float]:
    """The answer, and the seconds it took beyond an extractive answer to the same question
    (retrieval and the extractive answer are paid in both; the embedding model is warm)."""
    index = api.open_index(settings)
    tokens: list[str] = []
    try:
        api.ask(index, QUESTION, Settings(index_dir=index_dir))  # loads the embedding model
        started = time.monotonic()
        api.ask(index, QUESTION, Settings(index_dir=index_dir))
        baseline = time.monotonic() - started
        started = time.monotonic()
        answer = api.ask(index, QUESTION, settings, on_token=tokens.append if stream else None)
        return answer, time.monotonic() - started - baseline
    finally:
        index.close()


def assert_extractive_fallback(answer: Answer, reason: str) -> None:
    assert answer.mode == "extractive"
    assert answer.llm_error is not None and reason in answer.llm_error
    assert answer.citations and answer.answer.startswith("“")
    assert "\n" not in answer.llm_error  # one line


# --- deadlines ------------------------------------------------------------------------------------


def test_a_server_that_never_sends_headers_costs_only_the_first_token_deadline(
    small_index_dir: Path, fake_llm: FakeOpenAI
) -> None:
    fake_llm.queue(FakeReply.stalled(), FakeReply.stalled(), FakeReply.stalled())
    settings = settings_for(small_index_dir, fake_llm.url, llm_first_token_timeout=DEADLINE)
    answer, seconds = timed_ask(small_index_dir, settings)

    assert DEADLINE - 0.5 <= seconds < DEADLINE + MARGIN
    assert_extractive_fallback(answer, f"sent no answer within {DEADLINE:g} s")
    assert "ASSISTANT_LLM_FIRST_TOKEN_TIMEOUT" in (answer.llm_error or "")
    assert len(fake_llm.chat_requests) == 1  # the deadline leaves no time for a retry


def test_keep_alive_comments_do_not_reset_the_first_token_deadline(
    small_index_dir: Path, fake_llm: FakeOpenAI
) -> None:
    fake_llm.queue(FakeReply.keep_alive_forever(every=0.2))
    # A read timeout (per socket read) longer than the keep-alive interval never fires.
    settings = settings_for(
        small_index_dir, fake_llm.url, llm_first_token_timeout=DEADLINE, llm_timeout=5.0
    )
    answer, seconds = timed_ask(small_index_dir, settings)

    assert DEADLINE - 0.5 <= seconds < DEADLINE + MARGIN
    assert_extractive_fallback(answer, f"sent no answer within {DEADLINE:g} s")


def test_a_reply_past_the_answer_deadline_gives_the_extractive_answer(
    small_index_dir: Path, fake_llm: FakeOpenAI
) -> None:
    words = [f" step{i}" for i in range(2000)]  # never repeats, never ends in time
    fake_llm.queue(FakeReply.chunks(["ZeRO"] + words, delay=0.02))
    settings = settings_for(
        small_index_dir, fake_llm.url, llm_answer_timeout=DEADLINE, answer_max_tokens=50_000
    )
    answer, seconds = timed_ask(small_index_dir, settings)

    assert DEADLINE - 0.5 <= seconds < DEADLINE + MARGIN
    assert_extractive_fallback(answer, f"did not finish its answer within {DEADLINE:g} s")
    assert "ASSISTANT_LLM_ANSWER_TIMEOUT" in (answer.llm_error or "")


def test_a_stalled_complete_call_is_bounded_by_the_answer_deadline(
    small_index_dir: Path, fake_llm: FakeOpenAI
) -> None:
    fake_llm.queue(FakeReply.stalled(), FakeReply.stalled(), FakeReply.stalled())
    settings = settings_for(small_index_dir, fake_llm.url, llm_answer_timeout=DEADLINE)
    answer, seconds = timed_ask(small_index_dir, settings, stream=False)

    assert DEADLINE - 0.5 <= seconds < DEADLINE + MARGIN
    assert_extractive_fallback(answer, f"did not finish its answer within {DEADLINE:g} s")


STALLS = {"no headers": FakeReply.stalled, "keep-alives only": FakeReply.keep_alive_forever}


@pytest.mark.parametrize("stall", list(STALLS))
def test_a_whole_reply_asked_without_a_callback_keeps_the_first_token_deadline(
    small_index_dir: Path, fake_llm: FakeOpenAI, stall: str
) -> None:
    """The library's ask() with no on_token (as --json, MCP and scripts call it): a stalled
    server costs the first-token deadline, not the answer deadline."""
    fake_llm.queue(*(STALLS[stall]() for _ in range(3)))
    settings = settings_for(
        small_index_dir,
        fake_llm.url,
        llm_first_token_timeout=DEADLINE,
        llm_answer_timeout=30.0,
        llm_timeout=5.0,  # a read timeout longer than the keep-alive interval never fires
    )
    answer, seconds = timed_ask(small_index_dir, settings, stream=False)

    assert DEADLINE - 0.5 <= seconds < DEADLINE + MARGIN
    assert_extractive_fallback(answer, f"sent no answer within {DEADLINE:g} s")
    assert "ASSISTANT_LLM_FIRST_TOKEN_TIMEOUT" in (answer.llm_error or "")
    [request] = fake_llm.chat_requests
    assert request["stream"] is True  # streamed though no callback prints it


@pytest.mark.parametrize(
    ("command", "stall"),
    [("ask", "keep-alives only"), ("ask", "no headers"), ("cite", "keep-alives only")],
)
def test_json_output_keeps_the_first_token_deadline(
    run_cli: Any, small_index_dir: Path, fake_llm: FakeOpenAI, command: str, stall: str
) -> None:
    fake_llm.queue(*(STALLS[stall]() for _ in range(3)))
    first_token, answer_timeout = 2.0, 60.0
    started = time.monotonic()
    text = QUESTION if command == "ask" else "ZeRO removes memory redundancies in training."
    cli = run_cli(
        [command, text, "--json", "--index", str(small_index_dir)],
        env=env_for(
            fake_llm.url,
            ASSISTANT_LLM_FIRST_TOKEN_TIMEOUT=str(first_token),
            ASSISTANT_LLM_ANSWER_TIMEOUT=str(answer_timeout),
            ASSISTANT_LLM_TIMEOUT="10",
        ),
    )
    seconds = time.monotonic() - started

    assert cli.exit_code == 0, cli.stderr
    assert seconds < answer_timeout / 2  # process start and retrieval included
    data = json.loads(cli.stdout)
    assert data["mode"] != "llm"
    assert f"sent no answer within {first_token:g} s" in data["llm_error"]
    assert "ASSISTANT_LLM_FIRST_TOKEN_TIMEOUT" in data["llm_error"]
    if command == "ask":
        assert data["answer"].startswith("“") and data["citations"]
    else:
        assert data["papers"] or data["nearest"]


def test_ask_cli_falls_back_within_the_deadline_with_one_line(
    run_cli: Any, small_index_dir: Path, fake_llm: FakeOpenAI
) -> None:
    fake_llm.queue(FakeReply.keep_alive_forever(every=0.2))
    started = time.monotonic()
    cli = run_cli(
        ["ask", QUESTION, "--index", str(small_index_dir)],
        env=env_for(fake_llm.url, ASSISTANT_LLM_FIRST_TOKEN_TIMEOUT=str(DEADLINE)),
    )
    seconds = time.monotonic() - started

    assert cli.exit_code == 0, cli.stderr
    assert seconds < 60  # the old client hung here for good
    assert cli.stdout.startswith("“")  # the extractive answer, nothing streamed before it
    errors = [line for line in cli.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1
    assert f"sent no answer within {DEADLINE:g} s" in errors[0]
    assert errors[0].endswith("Showing the extractive answer.")


# --- loops and length -----------------------------------------------------------------------------


def test_endless_repetition_is_stopped_and_left_out_of_the_answer(
    small_index_dir: Path, fake_llm: FakeOpenAI
) -> None:
    fake_llm.queue(FakeReply.repeating(LOOP))
    settings = settings_for(small_index_dir, fake_llm.url, answer_max_tokens=50_000)
    answer, seconds = timed_ask(small_index_dir, settings)

    assert seconds < 10
    assert answer.mode == "llm" and answer.llm_error is None
    assert answer.answer.count("ZeRO partitions optimizer states") == 1
    assert answer.answer.rstrip().endswith("with a trillion parameters [1].")
    assert any("repeating itself" in note for note in answer.notes)
    assert [c.n for c in answer.citations] == [1]


def test_the_length_cap_is_sent_and_enforced_on_a_server_that_ignores_it(
    small_index_dir: Path, fake_llm: FakeOpenAI
) -> None:
    fake_llm.queue(FakeReply.chunks(["ZeRO saves memory [1]."] + [f" w{i}" for i in range(300)]))
    settings = settings_for(small_index_dir, fake_llm.url, answer_max_tokens=20)
    answer, _ = timed_ask(small_index_dir, settings)

    [request] = fake_llm.chat_requests
    assert request["max_tokens"] == 20 and "max_completion_tokens" not in request
    assert answer.mode == "llm"
    assert answer.answer.startswith("ZeRO saves memory [1].")
    assert len(answer.answer.split()) <= 4 + 20 + 20 // 4 + 8  # the client's slack
    assert any("length cap" in note for note in answer.notes)


def test_each_command_has_its_own_cap(small_index_dir: Path, fake_llm: FakeOpenAI) -> None:
    fake_llm.default = lambda _body: "ZeRO partitions optimizer states [1]."
    settings = settings_for(
        small_index_dir, fake_llm.url, answer_max_tokens=111, related_work_max_tokens=222
    )
    index = api.open_index(settings)
    try:
        api.ask(index, QUESTION, settings)
        api.related_work(index, TOPIC, settings)
    finally:
        index.close()
    assert [r["max_tokens"] for r in fake_llm.chat_requests] == [111, 222]


def test_repetition_guard_on_text() -> None:
    assert not RepetitionGuard().feed(LOOP)
    looping = RepetitionGuard()
    for _ in range(5):
        if looping.feed(LOOP):
            break
    assert looping.looped_at is not None and looping.kept == LOOP.strip()
    varied = RepetitionGuard()
    text = " ".join(f"Sentence {i} says something about topic {i % 7} [1]." for i in range(60))
    assert not varied.feed(text + "\n")


# --- the streamed answer, shown once ------------------------------------------------------------


def test_a_streamed_answer_is_printed_once_with_its_marks_appended(
    run_cli: Any, small_index_dir: Path, fake_llm: FakeOpenAI
) -> None:
    fake_llm.queue("ZeRO partitions optimizer states [1][9]. This claim comes from nowhere at all.")
    cli = run_cli(["ask", QUESTION, "--index", str(small_index_dir)], env=env_for(fake_llm.url))

    assert cli.exit_code == 0, cli.stderr
    assert cli.stdout.count("ZeRO partitions optimizer states") == 1
    assert cli.stdout.count("This claim comes from nowhere at all.") == 2  # streamed, then marked
    assert "Checked answer" not in cli.stdout
    assert cli.stdout.startswith(
        "ZeRO partitions optimizer states [1]. This claim comes from nowhere at all.\n\n"
        f"{UNCITED_MARK} “This claim comes from nowhere at all.”\n"
    )
    assert "[9]" not in cli.stdout
    assert "Removed citations that match no retrieved paper: [9]" in cli.stderr


def test_related_work_that_loops_ends_quickly_with_a_note(
    run_cli: Any, small_index_dir: Path, fake_llm: FakeOpenAI
) -> None:
    fake_llm.queue(FakeReply.repeating("### Memory\n\n" + LOOP))
    started = time.monotonic()
    cli = run_cli(
        ["related-work", TOPIC, "--index", str(small_index_dir)], env=env_for(fake_llm.url)
    )
    assert cli.exit_code == 0, cli.stderr
    assert time.monotonic() - started < 60
    assert "repeating itself" in cli.stderr
    assert "\nReferences\n[1] " in cli.stdout


# --- progress -------------------------------------------------------------------------------------


def _terminal() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=True, width=100), buffer


def test_a_spinner_shows_until_the_first_token_then_the_text_once() -> None:
    err, err_text = _terminal()
    out = io.StringIO()
    printer = StreamPrinter(err=err, out=out).start()
    assert printer.spinning
    time.sleep(0.4)
    printer.reasoning("hidden thought")
    time.sleep(0.3)
    printer("Answer ")
    assert not printer.spinning
    printer("text.")
    printer.stop()
    assert out.getvalue() == "Answer text."
    assert "Waiting for the model…" in err_text.getvalue()
    assert "The model is reasoning (1 tokens)" in err_text.getvalue()
    assert "hidden thought" not in err_text.getvalue()


def test_no_spinner_when_stderr_is_not_a_terminal() -> None:
    buffer = io.StringIO()
    printer = StreamPrinter(err=Console(file=buffer), out=io.StringIO()).start()
    assert not printer.spinning
    printer.stop()
    assert buffer.getvalue() == ""


@pytest.mark.parametrize("show", [True, False])
def test_show_reasoning_prints_it_dimmed_on_stderr(show: bool) -> None:
    err, err_text = _terminal()
    out = io.StringIO()
    printer = StreamPrinter(show_reasoning=show, err=err, out=out).start()
    printer.reasoning("Source [2] looks ")
    printer.reasoning("relevant.")
    printer("The answer [2].")
    printer.stop()
    assert out.getvalue() == "The answer [2]."
    shown = err_text.getvalue()
    assert ("Source [2] looks" in shown and "relevant." in shown) is show
    if show:
        assert "\x1b[2m" in shown  # dim


def test_a_chat_goes_on_with_the_same_model_after_a_deadline(
    run_cli: Any, small_index_dir: Path, fake_llm: FakeOpenAI
) -> None:
    """The abandoned call's worker does not block the conversation's next call."""
    fake_llm.queue(FakeReply.stalled())  # (--json asks for whole replies, not streams)
    fake_llm.default = lambda _body: "ZeRO partitions optimizer states [1]."
    cli = run_cli(
        ["chat", "--json", "--index", str(small_index_dir)],
        input=f"{QUESTION}\n{QUESTION}\n/quit\n",
        env=env_for(fake_llm.url, ASSISTANT_LLM_ANSWER_TIMEOUT=str(DEADLINE)),
    )
    assert cli.exit_code == 0, cli.stderr
    first, second = (json.loads(line) for line in cli.stdout.splitlines() if '"turn"' in line)
    assert first["mode"] == "extractive"
    assert f"did not finish its answer within {DEADLINE:g} s" in first["llm_error"]
    assert second["mode"] == "llm" and second["llm_error"] is None
    assert second["answer"] == "ZeRO partitions optimizer states [1]."
