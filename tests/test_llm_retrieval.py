"""The model helping retrieval (``llm_retrieval``: rewrite, rerank, both), end to end.

The fake OpenAI server is scripted with the model's queries and rankings, good and bad; the
real llama.cpp server with SmolLM2 checks the protocol (any reply it gives is handled).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fake_openai import FakeOpenAI, FakeReply

from assistant import api
from assistant.generation.answer import CitationRegistry
from assistant.index.paper_index import PaperIndex
from assistant.retrieval.llm_assist import parse_queries, parse_ranking
from assistant.retrieval.retriever import RetrievalOptions
from assistant.settings import Settings

QUESTION = "How can the context window of a pretrained language model be extended cheaply?"
REPLY = "Fine-tuning with sparse local attention extends the context cheaply [1]."


def settings_for(read_only_index: PaperIndex, url: str, mode: str, **extra: Any) -> Settings:
    return Settings(
        index_dir=read_only_index.settings.index_dir,
        llm_base_url=url,
        llm_model="fake-model",
        llm_retrieval=mode,
        **extra,
    )


def plain_ids(read_only_index: PaperIndex, query: str = QUESTION, k: int = 6) -> list[str]:
    return [h.paper_id for h in api.search(read_only_index, query, RetrievalOptions(k=k)).results]


def source_ids(answer: Any) -> list[str]:
    return [c.paper_id for c in sorted(answer.sources, key=lambda c: c.n)]


def ask(read_only_index: PaperIndex, settings: Settings) -> Any:
    return api.ask(read_only_index, QUESTION, settings, registry=CitationRegistry())


# --- parsing the model's replies


def test_rankings_are_read_strictly() -> None:
    assert parse_ranking("3, 1, 4", 5) == ([3, 1, 4], [])
    assert parse_ranking("[2][5] and 1.", 5) == ([2, 5, 1], [])
    assert parse_ranking("Numbers, most useful first: 2, 2, 9", 5) == ([2], [9])
    assert parse_ranking("NONE", 5) == ([], [])
    assert parse_ranking("Paper 3 is the best one.", 5) is None
    assert parse_ranking("", 5) is None


def test_queries_are_read_one_a_line() -> None:
    text = 'Search queries:\n1. "sparse attention fine-tuning"\n- LongLoRA\n\nLongLoRA\nq?'
    assert parse_queries(text, "q?") == ["sparse attention fine-tuning", "LongLoRA"]
    assert parse_queries("\n\n", "q?") == []


# --- rerank, with the fake server


def test_rerank_reorders_by_the_models_ranking(
    read_only_index: PaperIndex, fake_llm: FakeOpenAI
) -> None:
    plain = plain_ids(read_only_index)
    fake_llm.queue("4, 2", REPLY)
    answer = ask(read_only_index, settings_for(read_only_index, fake_llm.url, "rerank"))

    assert answer.mode == "llm"
    rerank_request, answer_request = fake_llm.chat_requests
    assert "<candidates>" in rerank_request["messages"][-1]["content"]
    # the model's choices first, in its order; the others keep theirs
    expected = [plain[3], plain[1], *[p for p in plain if p not in {plain[3], plain[1]}]]
    assert source_ids(answer) == expected
    assert any("reranked the top" in note for note in answer.notes)
    # its tokens are part of the answer's usage
    assert answer.usage["retrieval_tokens"] > 0
    assert answer.usage["total_tokens"] > answer.usage["retrieval_tokens"]
    assert "sources" not in rerank_request["messages"][0]["content"].lower()
    assert "<sources>" in answer_request["messages"][-1]["content"]


def test_a_malformed_ranking_keeps_the_retrieval_order(
    read_only_index: PaperIndex, fake_llm: FakeOpenAI
) -> None:
    fake_llm.queue("The second paper looks most relevant to me.", REPLY)
    answer = ask(read_only_index, settings_for(read_only_index, fake_llm.url, "rerank"))

    assert answer.mode == "llm"
    assert source_ids(answer) == plain_ids(read_only_index)
    assert any("reranking could not be read" in note for note in answer.notes)
    assert answer.usage["retrieval_tokens"] > 0  # the call was made, and it cost tokens


def test_a_ranking_naming_unknown_numbers_adds_no_paper(
    read_only_index: PaperIndex, fake_llm: FakeOpenAI
) -> None:
    plain = plain_ids(read_only_index)
    fake_llm.queue("42, 3, 17", REPLY)
    answer = ask(read_only_index, settings_for(read_only_index, fake_llm.url, "rerank"))

    assert source_ids(answer)[0] == plain[2]
    assert set(source_ids(answer)) == set(plain)
    assert any("no candidate (ignored): 42, 17" in note for note in answer.notes)


def test_a_ranking_naming_only_unknown_numbers_changes_nothing(
    read_only_index: PaperIndex, fake_llm: FakeOpenAI
) -> None:
    fake_llm.queue("0, 99", REPLY)
    answer = ask(read_only_index, settings_for(read_only_index, fake_llm.url, "rerank"))
    assert source_ids(answer) == plain_ids(read_only_index)
    assert any("named no candidate" in note for note in answer.notes)


def test_a_failed_or_late_rerank_keeps_plain_retrieval(
    read_only_index: PaperIndex, fake_llm: FakeOpenAI
) -> None:
    fake_llm.queue(FakeReply.error(400, message="bad request"), REPLY)
    answer = ask(read_only_index, settings_for(read_only_index, fake_llm.url, "rerank"))
    assert answer.mode == "llm" and answer.llm_error is None
    assert source_ids(answer) == plain_ids(read_only_index)
    assert any("could not rerank the papers" in note for note in answer.notes)
    assert "retrieval_tokens" not in answer.usage

    fake_llm.queue(FakeReply.slow(3.0, "1, 2"), REPLY)
    late = settings_for(read_only_index, fake_llm.url, "rerank", llm_answer_timeout=1.0)
    answer = ask(read_only_index, late)
    assert answer.mode == "llm" and source_ids(answer) == plain_ids(read_only_index)
    assert any("could not rerank" in note and "1 s" in note for note in answer.notes)


def test_off_asks_the_model_once(read_only_index: PaperIndex, fake_llm: FakeOpenAI) -> None:
    fake_llm.queue(REPLY)
    answer = ask(read_only_index, settings_for(read_only_index, fake_llm.url, "off"))
    assert len(fake_llm.chat_requests) == 1 and source_ids(answer) == plain_ids(read_only_index)
    assert "retrieval_tokens" not in answer.usage


# --- rewrite and both


def test_rewrite_searches_the_models_queries_beside_the_question(
    read_only_index: PaperIndex, fake_llm: FakeOpenAI
) -> None:
    plain = plain_ids(read_only_index)
    # a query naming a paper the question's own search does not find
    target = next(
        pid
        for pid in plain_ids(read_only_index, "protein structure prediction", k=3)
        if pid not in plain
    )
    title = read_only_index.catalog.get_paper(target).title  # type: ignore[union-attr]
    fake_llm.queue(title, REPLY)  # fused by RRF: its rank 1 there earns it a place here
    answer = ask(read_only_index, settings_for(read_only_index, fake_llm.url, "rewrite"))

    rewrite_request = fake_llm.chat_requests[0]
    assert QUESTION in rewrite_request["messages"][-1]["content"]
    assert target in source_ids(answer)
    assert len(answer.sources) == len(plain)
    assert any(title in note and "model's queries" in note for note in answer.notes)


def test_both_rewrites_then_reranks(read_only_index: PaperIndex, fake_llm: FakeOpenAI) -> None:
    fake_llm.queue("long context fine-tuning\nsparse attention", "2", REPLY)
    answer = ask(read_only_index, settings_for(read_only_index, fake_llm.url, "both"))

    assert len(fake_llm.chat_requests) == 3
    rerank_request = fake_llm.chat_requests[1]["messages"][-1]["content"]
    second = rerank_request.split("\n[2] ", 1)[1].split("\n", 1)[0]
    assert sorted(answer.sources, key=lambda c: c.n)[0].title.startswith(second.split(" (")[0])
    assert answer.usage["retrieval_tokens"] > 0


def test_an_unreadable_rewrite_keeps_plain_retrieval(
    read_only_index: PaperIndex, fake_llm: FakeOpenAI
) -> None:
    fake_llm.queue("Search queries:\n\n", REPLY)
    answer = ask(read_only_index, settings_for(read_only_index, fake_llm.url, "rewrite"))
    assert source_ids(answer) == plain_ids(read_only_index)
    assert any("search queries could not be read" in note for note in answer.notes)


def test_the_cli_takes_the_setting_from_the_environment(
    run_cli: Any, read_only_index_dir: Path, fake_llm: FakeOpenAI
) -> None:
    fake_llm.queue("1", REPLY)
    env = {
        "ASSISTANT_LLM_MODEL": "fake-model",
        "OPENAI_BASE_URL": fake_llm.url,
        "ASSISTANT_LLM_RETRIEVAL": "rerank",
    }
    done = run_cli(["ask", QUESTION, "--json", "--index", str(read_only_index_dir)], env=env)
    assert done.exit_code == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["mode"] == "llm" and data["usage"]["retrieval_tokens"] > 0
    assert len(fake_llm.chat_requests) == 2


# --- the real small model, for the protocol


def test_real_model_rerank_and_rewrite_protocol(
    run_cli: Any, small_index_dir: Path, smollm_server: Any
) -> None:
    assert smollm_server.alive(), smollm_server.log_tail()
    env = {
        "OPENAI_BASE_URL": smollm_server.url,
        "ASSISTANT_LLM_MODEL": smollm_server.alias,
        "ASSISTANT_LLM_TEMPERATURE": "0",
        "ASSISTANT_LLM_FIRST_TOKEN_TIMEOUT": "90",
        "ASSISTANT_LLM_ANSWER_TIMEOUT": "150",
        "ASSISTANT_ANSWER_MAX_TOKENS": "120",
        "ASSISTANT_CITE_MAX_TOKENS": "60",
        "ASSISTANT_LLM_RETRIEVAL": "both",
        "ASSISTANT_LLM_RERANK_CANDIDATES": "4",
    }
    question = "What is ZeRO and how does it reduce memory?"
    args = ["ask", question, "--k", "4", "--json", "--index", str(small_index_dir)]
    done = run_cli(args, env=env, timeout=600)
    assert done.exit_code == 0, done.stderr
    data = json.loads(done.stdout)
    notes = " ".join(data["notes"])
    # each helper call either worked (and said what it did) or left retrieval as it was
    assert (
        "model's queries" in notes
        or "search queries could not be read" in notes
        or ("could not rewrite" in notes)
    )
    assert "reranked the top" in notes or "reranking" in notes or "could not rerank" in notes
    if data["mode"] == "llm":  # the helper calls are not streamed: their usage is reported
        assert data["usage"]["retrieval_tokens"] > 0
        assert data["usage"]["total_tokens"] >= data["usage"]["retrieval_tokens"]


def test_after_a_failed_rewrite_the_model_is_not_asked_to_rerank(
    read_only_index: PaperIndex, fake_llm: FakeOpenAI
) -> None:
    fake_llm.queue(FakeReply.error(400, message="bad request"), REPLY)
    answer = ask(read_only_index, settings_for(read_only_index, fake_llm.url, "both"))
    assert len(fake_llm.chat_requests) == 2  # the rewrite, then the answer: no rerank
    assert answer.mode == "llm" and source_ids(answer) == plain_ids(read_only_index)
    assert any("could not rewrite the question" in note for note in answer.notes)
