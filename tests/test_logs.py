"""The answer log (``assistant logs``) and ``-u/--usage``.

The log is real SQLite in the index folder's sessions.sqlite; the commands run as subprocesses
against a copy of the 24-paper index, with tests/fake_openai.py as the language model.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fake_openai import FakeOpenAI, FakeReply

from assistant.errors import UsageError
from assistant.history import answer_log
from assistant.history.answer_log import AnswerLog
from assistant.settings import Settings
from assistant.usage import parse_prices, usage_of

QUESTION = "Which paper proposes ZeRO memory optimizations for training trillion parameter models?"


def llm_env(url: str, **extra: str) -> dict[str, str]:
    return {"ASSISTANT_LLM_MODEL": "fake-model", "OPENAI_BASE_URL": url, **extra}


def logged(index_dir: Path, run_cli: Any, *args: str) -> Any:
    done = run_cli(["logs", *args, "--json", "--index", str(index_dir)])
    assert done.exit_code == 0, done.stderr
    return json.loads(done.stdout)


# --- the library ------------------------------------------------------------------------------


def test_record_list_show_and_search(tmp_path: Path) -> None:
    log = AnswerLog(tmp_path)
    assert log.recent() == [] and log.search("anything") == []
    assert not log.path.exists()  # reading never creates the file
    first = log.record(
        "ask", "What is LoRA?", "LoRA freezes the weights [1].", "llm",
        [("arxiv:2106.09685", "LoRA")], {"model": "m1", "prompt_tokens": 10,
        "completion_tokens": 5, "total_tokens": 15, "cost_usd": 0.25},
    )  # fmt: skip
    second = log.record("cite", "Adapters match fine-tuning", "2 papers.", "extractive", [], {})
    assert log.path.name == "sessions.sqlite"
    assert [e.id for e in log.recent()] == [second, first]
    assert [e.id for e in log.recent(limit=1)] == [second]
    entry = log.get(first)
    assert (entry.command, entry.model, entry.total_tokens) == ("ask", "m1", 15)
    assert entry.cost_usd == 0.25
    assert entry.paper_ids == ["arxiv:2106.09685"]
    assert [e.id for e in log.search("lora WEIGHTS")] == [first]  # every word, any case
    assert [e.id for e in log.search("fine-tuning")] == [second]  # FTS syntax is quoted
    assert log.search('"unbalanced') == []
    with pytest.raises(UsageError) as missing:
        log.get(99)
    assert missing.value.hint and "assistant logs" in missing.value.hint
    with pytest.raises(UsageError):
        log.search("   ")
    log.close()
    # The sessions' tables and the log live in one file, side by side.
    tables = {r[0] for r in sqlite3.connect(log.path).execute("SELECT name FROM sqlite_master")}
    assert {"sessions", "turns", "answer_log", "answer_log_fts"} <= tables


def test_search_falls_back_to_like_without_fts5(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(answer_log, "FTS_SCHEMA", "CREATE VIRTUAL TABLE t USING no_such_module(a);")
    with AnswerLog(tmp_path) as log:
        kept = log.record("ask", "Shifted sparse attention?", "LongLoRA [1].", "extractive", [], {})
        log.record("ask", "Something else", "Nothing.", "extractive", [], {})
        assert [e.id for e in log.search("sparse LONGLORA")] == [kept]
        assert log.search("sparse nothing") == []


def test_usage_line_cost_from_table_setting_or_unknown() -> None:
    reported = {"model": "gpt-4o-mini", "prompt_tokens": 1000, "completion_tokens": 500,
                "total_tokens": 1500, "cost_usd": 0.00045}  # fmt: skip
    table = usage_of(reported, "llm", Settings())
    assert table.line() == (
        "Tokens: 1,000 prompt + 500 completion = 1,500 (gpt-4o-mini); cost $0.000450."
    )
    priced = usage_of(reported, "llm", Settings(llm_prices="2, 10"))
    assert priced.cost_usd == pytest.approx((1000 * 2 + 500 * 10) / 1e6)
    assert priced.line().endswith("(from ASSISTANT_LLM_PRICES).")
    unknown = usage_of({**reported, "model": "llama3.1", "cost_usd": None}, "llm", Settings())
    assert "cost unknown (no price for llama3.1: set ASSISTANT_LLM_PRICES" in unknown.line()
    assert (
        usage_of({}, "llm", Settings(llm_model="x"))
        .line()
        .startswith("Tokens: none reported for x (it was not called")
    )
    assert "extractive answer" in usage_of({}, "extractive", Settings()).line()
    assert parse_prices("0,0") == (0.0, 0.0)
    with pytest.raises(UsageError):
        parse_prices("cheap")


# --- the commands -----------------------------------------------------------------------------


def test_ask_cite_related_work_and_chat_are_logged_with_usage(
    run_cli: Any, small_index_dir: Path, fake_llm: FakeOpenAI
) -> None:
    index = ["--index", str(small_index_dir)]
    fake_llm.queue(FakeReply.reply("ZeRO removes memory redundancies across data ranks [1]."))
    ask = run_cli(["ask", QUESTION, "-u", *index], env=llm_env(fake_llm.url))
    assert ask.exit_code == 0, ask.stderr
    assert "cost unknown (no price for fake-model" in ask.stderr
    assert " completion tokens (fake-model)" not in ask.stderr  # -u replaces the short line

    cite = run_cli(["cite", "ZeRO partitions optimizer states across GPUs", "--usage", *index])
    assert cite.exit_code == 0, cite.stderr
    assert "Tokens: none (extractive answer" in cite.stderr
    draft = run_cli(["related-work", "large language models in medicine", "--json", *index])
    assert draft.exit_code == 0, draft.stderr
    chat = run_cli(["chat", "-u", *index], input="What is Graph-of-Thought reasoning?\n")
    assert chat.exit_code == 0, chat.stderr
    assert "Tokens: none (extractive answer" in chat.stderr

    listed = logged(small_index_dir, run_cli)
    assert [e["command"] for e in listed["answers"]] == ["chat", "related-work", "cite", "ask"]
    chat_entry, draft_entry, cite_entry, ask_entry = listed["answers"]
    assert ask_entry["question"] == QUESTION and ask_entry["model"] == "fake-model"
    assert ask_entry["mode"] == "llm" and ask_entry["total_tokens"] > 0
    assert ask_entry["answer"].startswith("ZeRO removes memory redundancies")
    assert ask_entry["paper_ids"]
    assert cite_entry["mode"] == "extractive" and cite_entry["model"] is None
    cited = json.loads(draft.stdout)["references"]
    assert draft_entry["paper_ids"] == [r["paper_id"] for r in cited]
    sessions = run_cli(["sessions", "--json", *index])
    assert chat_entry["session_id"] == json.loads(sessions.stdout)["sessions"][0]["id"]

    shown = logged(small_index_dir, run_cli, "show", str(ask_entry["id"]))
    assert shown == ask_entry
    found = logged(small_index_dir, run_cli, "search", "redundancies ranks")
    assert ask_entry["id"] in [e["id"] for e in found["answers"]]
    text = run_cli(["logs", "show", str(ask_entry["id"]), *index])
    assert QUESTION in text.stdout and "fake-model" in text.stdout
    table = run_cli(["logs", "--limit", "2", *index])
    assert table.exit_code == 0 and "related-work" in table.stdout and "ask " not in table.stdout
    bad = run_cli(["logs", "show", "12345", *index])
    assert bad.exit_code == 2 and "No logged answer 12345" in bad.stderr


def test_logging_can_be_turned_off(run_cli: Any, small_index_dir: Path) -> None:
    index = ["--index", str(small_index_dir)]
    off = {"ASSISTANT_LOG_ANSWERS": "false"}
    done = run_cli(["ask", QUESTION, *index], env=off)
    assert done.exit_code == 0, done.stderr
    assert not (small_index_dir / "sessions.sqlite").exists()
    assert logged(small_index_dir, run_cli) == {"count": 0, "answers": []}
    config = run_cli(["config", "--json"], env=off)
    assert json.loads(config.stdout)["log_answers"] is False
