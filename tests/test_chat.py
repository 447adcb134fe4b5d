"""``assistant chat`` and ``assistant sessions``: the real CLI with scripted stdin.

Offline turns use the extractive answerer; LLM turns go to the fake OpenAI-compatible server
(tests/fake_openai.py). Each CLI run is one subprocess on a per-test copy of the bundled index.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fake_openai import FakeOpenAI, FakeReply

from assistant.chat.followups import clean_condensed, history_text, key_terms, offline_rewrite
from assistant.chat.turns import Turn
from assistant.generation.answer import Answer, Citation

LONGLORA = "LongLoRA: Efficient Fine-tuning of Long-Context Large Language Models"
LONGWRITER = "LongWriter: Unleashing 10,000+ Word Generation from Long Context LLMs"
CONTEXT_Q = "How can the context window of large language models be extended efficiently?"


def _chat(run_cli: Any, index: Path, lines: list[str], *args: str, **kw: Any) -> Any:
    result = run_cli(["chat", "--index", str(index), *args], input="\n".join(lines) + "\n", **kw)
    assert result.exit_code == 0, result.stderr
    return result


def _sessions(run_cli: Any, index: Path) -> list[dict[str, Any]]:
    result = run_cli(["sessions", "--json", "--index", str(index)])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["count"] == len(data["sessions"])
    return data["sessions"]


def _numbers(turn: dict[str, Any]) -> dict[str, int]:
    return {c["paper_id"]: c["n"] for c in turn["citations"]}


# --- offline rewriting (no index) ----------------------------------------------------------------


def _turn(
    n: int, question: str, cited: list[tuple[int, str]], standalone: str | None = None
) -> Turn:
    citations = [Citation(n=k, paper_id=f"p{k}", title=title) for k, title in cited]
    answer = Answer(question=question, answer="...", mode="extractive", citations=citations)
    answer.sources = list(citations)
    return Turn(n, question, standalone, answer, "2024-01-01T00:00:00")


HISTORY = [_turn(1, CONTEXT_Q, [(3, "LongWriter"), (1, "E2-LLM"), (2, "LongLoRA")])]


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("what dataset did the second one use?", "p2"),  # the 2nd reference as listed
        ("What dataset did the 2nd paper use?", "p2"),
        ("and the last one?", "p3"),
        ("What does [3] propose?", "p3"),
        ("summarise paper 1", "p1"),
        ("what dataset does that paper use?", "p3"),  # the answer's top (first cited) paper
        ("How much memory does it save?", "p3"),
    ],
)
def test_offline_rewrite_resolves_paper_references(question: str, expected: str) -> None:
    rewrite = offline_rewrite(question, HISTORY)
    assert rewrite.paper_ids == {expected}
    assert rewrite.method == "offline"
    assert rewrite.paper is not None and rewrite.paper.paper_id == expected
    assert rewrite.standalone.startswith(question) and rewrite.paper.title in rewrite.standalone
    assert f"paper [{rewrite.paper.n}]" in rewrite.to_answer


def test_offline_rewrite_appends_terms_to_vague_follow_ups_only() -> None:
    history = [_turn(1, "What is sparse attention for long sequences?", [(1, "X")])]
    vague = offline_rewrite("what about their memory cost?", history)
    assert vague.paper_ids is None and vague.changed
    assert {"sparse", "attention", "long", "sequences"} <= set(vague.standalone.lower().split())
    assert offline_rewrite("Any limitations?", history).changed
    for standalone in ("What is LongLoRA?", "Which benchmarks evaluate retrieval-augmented QA?"):
        assert not offline_rewrite(standalone, history).changed
    assert not offline_rewrite("what dataset did the second one use?", []).changed
    assert not offline_rewrite("what does the ninth paper say?", HISTORY).paper_ids
    assert key_terms("What is the best way to compress the KV cache?") == [
        "compress",
        "KV",
        "cache",
    ]


def test_condense_helpers() -> None:
    assert clean_condensed('Standalone question: "Which dataset does LongLoRA use?"\nextra') == (
        "Which dataset does LongLoRA use?"
    )
    assert clean_condensed("  \n") is None
    history = history_text([_turn(1, "Q <x>", [(2, "LongLoRA"), (1, "E2-LLM")])])
    assert history.splitlines() == [
        "User: Q ‹x›",
        "Assistant: ...",
        "Sources:",
        "[1] E2-LLM",
        "[2] LongLoRA",
    ]


# --- the CLI, offline --------------------------------------------------------------------------


def test_offline_chat_follow_ups_numbers_sources_and_exports(
    run_cli: Any, bundled_index_dir: Path, tmp_path: Path
) -> None:
    result = _chat(
        run_cli,
        bundled_index_dir,
        [
            CONTEXT_Q,
            "what dataset did the second one use?",
            "What is LongLoRA?",
            "/sources",
            "/export md chat.md",
            "/export bib chat.bib",
            "/export json chat.json",
        ],
    )
    data = json.loads((tmp_path / "chat.json").read_text(encoding="utf-8"))
    turns = data["turns"]
    assert [t["question"] for t in turns] == [
        CONTEXT_Q,
        "what dataset did the second one use?",
        "What is LongLoRA?",
    ]
    # "the second one" is the second reference listed after turn 1; turn 2 is about it only.
    listed = sorted(turns[0]["citations"], key=lambda c: c["n"])
    second = listed[1]
    assert [c["paper_id"] for c in turns[1]["citations"]] == [second["paper_id"]]
    assert second["title"] in turns[1]["standalone_question"]
    assert f"Searching for: what dataset did the second one use? — {second['title']}" in (
        " ".join(result.stderr.split())
    )
    # Stable numbers: a paper cited again keeps its number (LongLoRA in turns 1 and 3).
    longlora = [c for t in turns for c in t["citations"] if c["title"] == LONGLORA]
    assert len(longlora) >= 2 and len({c["n"] for c in longlora}) == 1
    seen: dict[str, int] = {}
    for turn in turns:
        for pid, n in _numbers(turn).items():
            assert seen.setdefault(pid, n) == n
    n = longlora[0]["n"]
    assert f"[{n}] {LONGLORA}" in " ".join(result.stdout.split())
    # /sources and the exports cover every cited paper once.
    assert f"{len(seen)} papers cited so far:" in result.stdout
    assert {r["paper_id"] for r in data["references"]} == set(seen)
    bib = (tmp_path / "chat.bib").read_text(encoding="utf-8")
    assert bib.count("\n@") + bib.startswith("@") == len(seen)
    markdown = (tmp_path / "chat.md").read_text(encoding="utf-8")
    assert markdown.count("\n## ") == 4 and "## References" in markdown
    assert f"[{n}] {LONGLORA}" in markdown
    assert "Wrote the BibTeX" in result.stdout
    # The session was saved turn by turn.
    (session,) = _sessions(run_cli, bundled_index_dir)
    assert session["turns"] == 3 and session["title"] == CONTEXT_Q
    assert session["id"] == data["session_id"]


def test_filter_reset_and_bad_commands(
    run_cli: Any, bundled_index_dir: Path, tmp_path: Path
) -> None:
    source = "001_9e7297c5397a81b2.txt"
    result = _chat(
        run_cli,
        bundled_index_dir,
        [
            CONTEXT_Q,  # cites LongWriter as [3]
            "/bogus",
            "/export pdf x.pdf",
            "/filter since soon",
            "/filter since 2023",
            "/filter",
            "/filter clear",
            f"/filter source {source}",
            "What methods reduce the memory of fine-tuning large language models?",
            "/export json filtered.json",
            "/reset",
            "/filter clear",  # filters outlive /reset
            "/sources",
            "What is LongWriter?",
            "/help",
            "/quit",
            "this line is never read",
        ],
    )
    err = " ".join(result.stderr.split())
    assert "Unknown command /bogus. Type /help" in err
    assert "Cannot export as 'pdf'" in err
    assert "'soon' is not a year" in err
    assert "Filters: year >= 2023." in result.stdout
    assert "Filters cleared." in result.stdout
    assert f"Filters: source = {source}." in result.stdout
    assert "No paper cited yet." in result.stdout  # /sources right after /reset
    assert "/export md|bib|json FILE" in result.stdout  # /help
    data = json.loads((tmp_path / "filtered.json").read_text(encoding="utf-8"))
    assert data["filters"] == {"source": source}
    with sqlite3.connect(bundled_index_dir / "catalog.sqlite") as db:
        allowed = {
            r[0] for r in db.execute("SELECT paper_id FROM papers WHERE source=?", (source,))
        }
    filtered = data["turns"][1]["citations"]
    assert filtered and {c["paper_id"] for c in filtered} <= allowed
    assert f"[3] {LONGWRITER}" in result.stdout
    # After /reset numbering restarts: LongWriter is now [1], in a new session.
    last_references = result.stdout[result.stdout.rindex("References") :].split("\n")
    assert last_references[1].startswith(f"[1] {LONGWRITER}")
    sessions = _sessions(run_cli, bundled_index_dir)
    assert [s["turns"] for s in sessions] == [1, 2]
    assert sessions[1]["filters"] == {"source": source}


def test_resume_errors_and_transcript(run_cli: Any, bundled_index_dir: Path) -> None:
    listing = run_cli(["sessions", "--index", str(bundled_index_dir)])
    assert listing.exit_code == 0 and "No saved chat sessions" in listing.stdout
    unknown = run_cli(["chat", "--index", str(bundled_index_dir), "--session", "nope"], input="")
    assert unknown.exit_code == 2
    assert "No chat session 'nope'" in unknown.stderr and "assistant sessions" in unknown.stderr
    _chat(run_cli, bundled_index_dir, ["What is LongLoRA?"])
    (session,) = _sessions(run_cli, bundled_index_dir)
    resumed = _chat(
        run_cli, bundled_index_dir, ["what dataset does it use?"], "--session", session["id"][:5]
    )
    assert f"Resumed session {session['id']} (1 turn)" in resumed.stderr
    assert "LongQA" in resumed.stdout
    show = run_cli(["sessions", "show", session["id"], "--index", str(bundled_index_dir)])
    assert show.exit_code == 0
    assert "## 2. what dataset does it use?" in show.stdout and f"[1] {LONGLORA}" in show.stdout
    shown = json.loads(
        run_cli(
            ["sessions", "show", session["id"], "--json", "--index", str(bundled_index_dir)]
        ).stdout
    )
    assert [t["turn"] for t in shown["turns"]] == [1, 2]


# --- the CLI with a language model -------------------------------------------------------------


def test_llm_chat_condenses_survives_faults_and_resumes(
    run_cli: Any, bundled_index_dir: Path, fake_llm: FakeOpenAI
) -> None:
    env = {
        "OPENAI_BASE_URL": fake_llm.url,
        "ASSISTANT_LLM_MODEL": "fake-model",
        "ASSISTANT_LLM_MAX_RETRIES": "0",
    }
    standalone = "Which dataset did LongLoRA collect for supervised fine-tuning?"
    fake_llm.queue(
        "LongLoRA extends the context of pre-trained models at limited cost [1].",
        standalone,  # condense, turn 2
        "LongLoRA collects the LongQA dataset for supervised fine-tuning [1].",
        FakeReply.error(500),  # condense, turn 3
        FakeReply.error(500),  # answer, turn 3
        "  What is LongLoRA?  ",  # condense, turn 4
        "LongLoRA is an efficient fine-tuning approach [1].",
    )
    result = _chat(
        run_cli,
        bundled_index_dir,
        [
            "What is LongLoRA?",
            "what dataset did it use?",
            "And its limitations?",
            "What is LongLoRA?",
        ],
        env=env,
    )
    requests = fake_llm.chat_requests
    assert len(requests) == 7 and fake_llm.pending == 0
    condense = requests[1]["messages"]
    assert "Follow-up question: what dataset did it use?" in condense[-1]["content"]
    assert f"[1] {LONGLORA}" in condense[-1]["content"]  # history lists sources by title
    assert "User: What is LongLoRA?" in condense[-1]["content"]
    assert not requests[1].get("stream")
    system, user = requests[2]["messages"]
    assert system["role"] == "system" and user["role"] == "user"
    assert f"Question: {standalone}" in user["content"]  # the rewritten question was searched
    assert f"[1] {LONGLORA}" in user["content"] and "LongQA" in user["content"]
    assert "<sources>" in user["content"] and LONGLORA not in system["content"]
    assert requests[2]["stream"] is True
    out, err = " ".join(result.stdout.split()), " ".join(result.stderr.split())
    assert f"Searching for: {standalone}" in err
    assert "LongQA dataset for supervised fine-tuning [1]." in out
    # Turn 3: both calls fail -> offline rewrite, one-line error, extractive answer; chat goes on.
    assert "Could not rewrite the follow-up with the model" in err
    assert "Taking 'its' as [1]" in err
    assert "Error: the language model failed: The model server at" in err and "HTTP 500" in err
    assert "“" in out  # the extractive answer quotes abstracts
    assert "LongLoRA is an efficient fine-tuning approach [1]." in out
    (session,) = _sessions(run_cli, bundled_index_dir)
    assert session["turns"] == 4
    # A second process continues the same session offline, with the same numbering.
    resumed = _chat(
        run_cli, bundled_index_dir, ["How does LongLoRA extend the context window?"], "-c"
    )
    assert f"Resumed session {session['id']} (4 turns)" in resumed.stderr
    assert f"[1] {LONGLORA}" in " ".join(resumed.stdout.split())
    shown = json.loads(
        run_cli(
            ["sessions", "show", session["id"], "--json", "--index", str(bundled_index_dir)]
        ).stdout
    )
    assert len(shown["turns"]) == 5
    assert shown["turns"][2]["llm_error"] and shown["turns"][2]["mode"] == "extractive"
    assert shown["turns"][1]["standalone_question"] == standalone


# --- the library: an interrupted turn loses nothing ---------------------------------------------


def test_interrupted_turn_keeps_session_intact(
    bundled_index_dir: Path, fake_llm: FakeOpenAI
) -> None:
    from assistant.api import open_index
    from assistant.chat.session import ChatSession
    from assistant.history.store import SessionStore
    from assistant.settings import Settings

    settings = Settings(
        index_dir=bundled_index_dir,
        llm_base_url=fake_llm.url,
        llm_model="fake-model",
        llm_max_retries=0,
    )
    index = open_index(settings)
    store = SessionStore(index.dir)
    fake_llm.queue(
        "LongLoRA extends context windows efficiently [1].",
        "What dataset did LongLoRA use?",
        "LongLoRA collects LongQA [1] and more text that is never shown.",
        "What dataset did LongLoRA use?",
        "LongLoRA collects the LongQA dataset [1].",
    )
    with ChatSession(index, settings, store=store) as chat:
        first = chat.ask("What is LongLoRA?")
        numbers = dict(chat.registry.numbers)

        def interrupt(token: str) -> None:
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            chat.ask("what dataset did it use?", on_token=interrupt)
        assert chat.registry.numbers == numbers and len(chat.turns) == 1
        again = chat.ask("what dataset did it use?")
    assert (first.n, again.n) == (1, 2)
    assert [c.n for c in again.answer.citations] == [1]
    saved = store.turns(chat.session_id or "")
    assert [t.question for t in saved] == ["What is LongLoRA?", "what dataset did it use?"]
    assert store.numbers(chat.session_id or "") == chat.registry.numbers
    store.close()
    index.close()
