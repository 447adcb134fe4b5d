"""The assistant against a real model server nobody on the project wrote: llama.cpp's
OpenAI-compatible server (llama-cpp-python[server]) with SmolLM2-135M-Instruct, on loopback.

The ``smollm_server`` fixture (tests/conftest.py, tests/llama_server.py) starts it once per
session; these tests are skipped only when the ``local-llm`` extra is not installed. A 135M
model is no measure of answer quality, so the assertions are properties that hold for any model:
every citation left after checking is a retrieved paper's, the streamed answer is printed once,
each command ends within its deadline, the length cap reaches the server, and when the reply is
unusable the user gets the extractive answer (or offline ranking) with a one-line reason.
Sampling is greedy (temperature 0), so runs repeat.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from cli_output import failure_lines, limits_env, retrieved_ids, without_marks

QUESTION = "What is ZeRO and how does it reduce memory?"
FOLLOW_UP = "Which models can it train?"
CLAIM = "ZeRO removes memory redundancies in data-parallel training."
TOPIC = "memory-efficient training of large models"
FIRST_TOKEN_S, ANSWER_S = 90, 150  # a loaded 2-core machine: ~90 prompt tokens/s
STARTUP_S = 30  # process start, index, embedding model, retrieval
CAPS = {"answer": 160, "related_work": 200, "cite": 80}
CITATION = re.compile(r"\[(\d+)\]")


@pytest.fixture
def env(smollm_server: Any) -> dict[str, str]:
    assert smollm_server.alive(), smollm_server.log_tail()
    return {
        "OPENAI_BASE_URL": smollm_server.url,
        "ASSISTANT_LLM_MODEL": smollm_server.alias,
        **limits_env(FIRST_TOKEN_S, ANSWER_S, CAPS),
    }


def timed(run_cli: Any, args: list[str], env: dict[str, str], calls: int = 1, **kw: Any) -> Any:
    """Run the CLI; assert it ended within its model calls' deadlines (plus start-up)."""
    started = time.monotonic()
    done = run_cli(args, env=env, timeout=calls * ANSWER_S + STARTUP_S + 60, **kw)
    seconds = time.monotonic() - started
    assert done.exit_code == 0, done.stderr
    assert seconds < calls * ANSWER_S + STARTUP_S, f"{args[0]} took {seconds:.0f} s"
    assert "Traceback" not in done.stderr
    return done


def check_answer(data: dict[str, Any], retrieved: set[str], cap: int) -> None:
    """A checked LLM answer cites only retrieved papers; else it is the extractive fallback
    (or, when retrieval finds the question not covered, an abstention: no model is asked)."""
    if data["abstained"]:
        assert data["citations"] == [] and data["usage"] == {}
    elif data["mode"] == "llm":
        assert data["llm_error"] is None
        numbers = {int(n) for n in CITATION.findall(data["answer"])}
        assert numbers == {c["n"] for c in data["citations"]}
        assert {c["paper_id"] for c in data["citations"]} <= retrieved
        assert "<think>" not in data["answer"]
        # Answers are streamed in every output mode (the first-token deadline holds), and
        # llama-cpp-python's server reports no token usage on a stream: none is made up.
        assert data["usage"] == {} or data["usage"]["prompt_tokens"] > 0
        assert len(data["answer"].split()) <= cap  # the cap reached the server
    else:
        assert data["llm_error"] and "\n" not in data["llm_error"]
        assert data["answer"].startswith("“") and data["citations"]
        assert {c["paper_id"] for c in data["citations"]} <= retrieved


def test_ask_streamed_prints_the_answer_once(
    run_cli: Any, small_index_dir: Path, env: dict[str, str]
) -> None:
    done = timed(run_cli, ["ask", QUESTION, "--k", "3", "--index", str(small_index_dir)], env)
    body, _, references = done.stdout.partition("\nReferences\n")
    assert "Checked answer" not in done.stdout
    listed = {int(n) for n in re.findall(r"^\[(\d+)\] ", references, re.M)}
    assert {int(n) for n in CITATION.findall(body)} <= listed
    errors = failure_lines(done.stderr)
    if errors:  # the model failed: one line, and the extractive answer after what it streamed
        assert len(errors) == 1 and errors[0].endswith("Showing the extractive answer.")
        assert "\n“" in "\n" + body
    else:
        first = body.strip().splitlines()[0][:60]
        assert first and without_marks(body).count(first) == 1  # not printed a second time


def test_ask_json_cites_only_retrieved_papers(
    run_cli: Any, small_index_dir: Path, env: dict[str, str]
) -> None:
    done = timed(
        run_cli, ["ask", QUESTION, "--k", "3", "--json", "--index", str(small_index_dir)], env
    )
    data = json.loads(done.stdout)
    check_answer(data, retrieved_ids(run_cli, small_index_dir, QUESTION, 5), CAPS["answer"])


def test_chat_with_a_follow_up(run_cli: Any, small_index_dir: Path, env: dict[str, str]) -> None:
    done = timed(
        run_cli,
        ["chat", "--json", "--k", "3", "--index", str(small_index_dir)],
        env,
        calls=3,  # the answer, the follow-up's rewrite, its answer
        input=f"{QUESTION}\n{FOLLOW_UP}\n/sources\n/quit\n",
    )
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    turns = [line for line in lines if "turn" in line]
    assert [t["turn"] for t in turns] == [1, 2]
    first, second = turns
    check_answer(first, retrieved_ids(run_cli, small_index_dir, QUESTION, 5), CAPS["answer"])
    query = second["standalone_question"] or FOLLOW_UP
    check_answer(second, retrieved_ids(run_cli, small_index_dir, query, 5), CAPS["answer"])
    numbers = {c["paper_id"]: c["n"] for c in first["citations"]}
    for citation in second["citations"]:  # a paper keeps its number in the conversation
        assert numbers.get(citation["paper_id"], citation["n"]) == citation["n"]


def test_cite_gives_retrieved_papers_or_the_offline_ranking(
    run_cli: Any, small_index_dir: Path, env: dict[str, str]
) -> None:
    done = timed(
        run_cli, ["cite", CLAIM, "--k", "3", "--json", "--index", str(small_index_dir)], env
    )
    data = json.loads(done.stdout)
    retrieved = retrieved_ids(run_cli, small_index_dir, CLAIM, 3)
    assert {p["paper_id"] for p in data["papers"] + data["nearest"]} <= retrieved
    if data["mode"] == "llm":
        assert data["llm_error"] is None
        assert 0 < data["usage"]["completion_tokens"] <= CAPS["cite"]
    else:  # e.g. a reply without the expected '[n] ...' lines
        assert data["llm_error"] and "\n" not in data["llm_error"]
        assert data["papers"] or data["nearest"]


def test_related_work_ends_in_time_and_is_shown_once(
    run_cli: Any, small_index_dir: Path, env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "rw.md"
    args = ["related-work", TOPIC, "--k", "4", "--out", str(out), "--index", str(small_index_dir)]
    done = timed(run_cli, args, env)
    assert "Checked draft" not in done.stdout
    document = out.read_text(encoding="utf-8")
    draft, _, references = document.partition("\n**References**\n")
    listed = {int(n) for n in re.findall(r"^- \[(\d+)\] ", references, re.M)}
    assert {int(n) for n in CITATION.findall(draft)} <= listed
    errors = failure_lines(done.stderr) + [
        line for line in done.stderr.splitlines() if "the language model failed" in line
    ]
    if not errors:
        first = draft.strip().splitlines()[0][:60]
        assert first and without_marks(done.stdout).count(first) == 1


def test_a_first_token_deadline_too_short_for_the_model_gives_the_extractive_answer(
    run_cli: Any, small_index_dir: Path, env: dict[str, str]
) -> None:
    """Last in the module: the server goes on reading the abandoned prompt for a few seconds."""
    started = time.monotonic()
    done = run_cli(
        ["ask", QUESTION, "--k", "3", "--index", str(small_index_dir)],
        env={**env, "ASSISTANT_LLM_FIRST_TOKEN_TIMEOUT": "0.5"},
    )
    assert done.exit_code == 0, done.stderr
    assert time.monotonic() - started < STARTUP_S
    [error] = failure_lines(done.stderr)
    assert "sent no answer within 0.5 s" in error and error.endswith("the extractive answer.")
    assert done.stdout.startswith("“")


def test_without_the_extra_the_reason_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the skip says when the GGUF package is missing (checked whether or not it is)."""
    import llama_server

    monkeypatch.setattr(llama_server, "GGUF_DISTRIBUTION", "no-such-gguf-package")
    with pytest.raises(llama_server.Unavailable, match=r"no-such-gguf-package is not installed"):
        llama_server.gguf_path()
