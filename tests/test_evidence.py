"""Evidence first, under the model's context budget (assistant/generation/evidence.py).

Real parts: the bundled index (real Chroma, the real MiniLM), the project's fake OpenAI server
for the model (scripted context-length errors, as llama.cpp and OpenAI send them).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fake_openai import FakeOpenAI, FakeReply

from assistant import api
from assistant.generation.answer import CitationRegistry
from assistant.generation.evidence import SourceSelector, estimate_tokens
from assistant.index.paper_index import PaperIndex
from assistant.ingest.chunking import split_sentences
from assistant.llm.failures import says_context_exceeded
from assistant.llm.prompts import load_prompt
from assistant.records import Paper
from assistant.retrieval.retriever import RetrievalOptions, Retriever
from assistant.settings import Settings
from assistant.text.sentences import KEY_SENTENCES

QUESTION = "Which paper extends the context window of LLaMA with shifted sparse attention?"
LONGLORA = "t:a90bc210a0509370"
REPLY = "LongLoRA extends the context of LLaMA with shifted sparse attention [1]."
LLAMA_CPP_OVERFLOW = (
    "Requested tokens (9120) exceed context window of 8192"  # llama-cpp-python's ValueError
)
OPENAI_OVERFLOW = (
    "This model's maximum context length is 8192 tokens. However, your messages resulted in "
    "9120 tokens. Please reduce the length of the messages."
)
SOURCE_HEADER = re.compile(r"^\[(\d+)\] ", re.MULTILINE)


def retrieved(read_only_index: PaperIndex, k: int = 6) -> list[Paper]:
    result = Retriever(read_only_index).search(QUESTION, RetrievalOptions(k=k))
    return [h.paper for h in result.results if h.paper is not None]


def llm_settings(read_only_index_dir: Path, url: str, **extra: Any) -> Settings:
    return Settings(
        index_dir=read_only_index_dir, llm_base_url=url, llm_model="fake-model", **extra
    )


def user_message(request: dict[str, Any]) -> str:
    return str(request["messages"][-1]["content"])


def sources_of(request: dict[str, Any]) -> list[int]:
    text = user_message(request)
    block = text[text.index("<sources>") : text.index("</sources>")]
    return [int(n) for n in SOURCE_HEADER.findall(block)]


# --- formatting and the budget


def test_key_sentences_come_first_and_the_rest_follows(read_only_index: PaperIndex) -> None:
    papers = retrieved(read_only_index)
    selector = SourceSelector(read_only_index, QUESTION, Settings(evidence_first=True))
    prompt = load_prompt("answer")
    choice = selector.choose(papers, prompt, {"question": QUESTION}, "answer")
    assert [p.paper_id for p in choice.papers] == [p.paper_id for p in papers]  # all fit
    assert choice.note() is None
    longlora = next(p for p in papers if p.paper_id == LONGLORA)
    block = choice.block(1, longlora)
    lines = block.split("\n")
    assert lines[0].startswith("[1] LongLoRA")
    assert lines[1].startswith("Key sentences: ")
    assert lines[2].startswith("Other sentences: ")
    sentences = split_sentences(longlora.abstract)
    key = [s for s in sentences if s in lines[1]]
    assert len(key) == KEY_SENTENCES
    assert any("shift short attention" in s for s in key)  # the abstract's name for it
    # nothing is lost or repeated: every sentence is in exactly one of the two parts
    for sentence in sentences:
        assert (sentence in lines[1]) != (sentence in lines[2])


def test_evidence_off_gives_whole_abstracts(read_only_index: PaperIndex) -> None:
    papers = retrieved(read_only_index, k=3)
    selector = SourceSelector(read_only_index, QUESTION, Settings(evidence_first=False))
    choice = selector.choose(papers, load_prompt("answer"), {"question": QUESTION}, "answer")
    text = choice.text(list(enumerate(choice.papers, start=1)))
    assert "Key sentences" not in text
    for paper in papers:
        assert paper.abstract.replace("<", "‹").replace(">", "›") in text


@pytest.mark.parametrize("evidence_first", [True, False])
def test_a_small_context_cuts_sentences_then_papers(
    read_only_index: PaperIndex, evidence_first: bool
) -> None:
    papers = retrieved(read_only_index)
    prompt = load_prompt("answer")
    values = {"question": QUESTION}
    roomy = SourceSelector(read_only_index, QUESTION, Settings(evidence_first=evidence_first))
    full = roomy.choose(papers, prompt, values, "answer")
    full_tokens = estimate_tokens(full.text(list(enumerate(full.papers, 1))))
    # a context that leaves room for about half of the sources
    settings = Settings(
        evidence_first=evidence_first, llm_context_tokens=2048, answer_max_tokens=256
    )
    tight = SourceSelector(read_only_index, QUESTION, settings)
    budget = tight.budget(prompt, values, "answer")
    assert 0 < budget < full_tokens
    choice = tight.choose(papers, prompt, values, "answer")
    text = choice.text(list(enumerate(choice.papers, 1)))
    assert estimate_tokens(text) <= budget
    assert choice.dropped_sentences + choice.dropped_papers > 0
    note = choice.note()
    assert note is not None and "ASSISTANT_LLM_CONTEXT_TOKENS" in note
    assert choice.papers == papers[: len(choice.papers)]  # the best-ranked papers stay
    if evidence_first:  # sentences go before papers: every paper kept keeps at least one
        assert len(choice.papers) == len(papers) or all(
            len(choice.kept[p.paper_id]) == 1 for p in choice.papers
        )
        assert "Key sentences: " in text
    # tighter still: fewer papers
    tighter = SourceSelector(
        read_only_index,
        QUESTION,
        Settings(evidence_first=evidence_first, llm_context_tokens=1024, answer_max_tokens=256),
    )
    fewer = tighter.choose(papers, prompt, values, "answer")
    assert len(fewer.papers) < len(papers) and fewer.dropped_papers > 0


def test_context_errors_are_recognised() -> None:
    assert says_context_exceeded(LLAMA_CPP_OVERFLOW)
    assert says_context_exceeded(OPENAI_OVERFLOW)
    assert says_context_exceeded("the request exceeds the available context size (n_ctx 4096)")
    assert not says_context_exceeded("The model 'x' does not exist")
    assert not says_context_exceeded("Rate limit reached for requests")


# --- end to end, with the fake server


def test_ask_sends_key_sentences_first(read_only_index: PaperIndex, fake_llm: FakeOpenAI) -> None:
    fake_llm.queue(REPLY)
    settings = llm_settings(read_only_index.settings.index_dir, fake_llm.url, evidence_first=True)
    answer = api.ask(read_only_index, QUESTION, settings, registry=CitationRegistry())
    assert answer.mode == "llm" and answer.grounded
    [request] = fake_llm.chat_requests
    user = user_message(request)
    assert user.count("Key sentences: ") == settings.answer_papers
    assert sources_of(request) == list(range(1, settings.answer_papers + 1))
    assert "Key sentences" in request["messages"][0]["content"]  # the prompt explains them


def test_a_context_error_is_retried_once_with_half_the_sources(
    read_only_index: PaperIndex, fake_llm: FakeOpenAI
) -> None:
    fake_llm.queue(FakeReply.error(400, message=LLAMA_CPP_OVERFLOW), REPLY)
    settings = llm_settings(read_only_index.settings.index_dir, fake_llm.url, evidence_first=True)
    answer = api.ask(read_only_index, QUESTION, settings, registry=CitationRegistry())

    assert answer.mode == "llm" and answer.llm_error is None
    first, second = fake_llm.chat_requests
    assert sources_of(first) == [1, 2, 3, 4, 5, 6]
    assert sources_of(second) == [1, 2, 3]
    assert [c.n for c in answer.sources] == [1, 2, 3]
    assert any("lowest-ranked" in note for note in answer.notes)


def test_a_second_context_error_falls_back_to_the_extractive_answer(
    read_only_index: PaperIndex, fake_llm: FakeOpenAI
) -> None:
    fake_llm.queue(
        FakeReply.error(400, message=OPENAI_OVERFLOW),
        FakeReply.error(400, message=OPENAI_OVERFLOW),
    )
    settings = llm_settings(read_only_index.settings.index_dir, fake_llm.url)
    answer = api.ask(read_only_index, QUESTION, settings, registry=CitationRegistry())

    assert answer.mode == "extractive"
    assert len(fake_llm.chat_requests) == 2  # one retry, not more
    assert answer.llm_error is not None and "context window" in answer.llm_error
    assert "ASSISTANT_LLM_CONTEXT_TOKENS" in answer.llm_error


def test_other_errors_are_not_retried_with_fewer_sources(
    read_only_index: PaperIndex, fake_llm: FakeOpenAI
) -> None:
    fake_llm.queue(FakeReply.error(400, message="Unknown parameter: frobnicate"))
    settings = llm_settings(read_only_index.settings.index_dir, fake_llm.url)
    answer = api.ask(read_only_index, QUESTION, settings, registry=CitationRegistry())
    assert answer.mode == "extractive" and len(fake_llm.chat_requests) == 1


def test_cite_and_related_work_fit_the_context_too(
    read_only_index: PaperIndex, fake_llm: FakeOpenAI
) -> None:
    base = llm_settings(
        read_only_index.settings.index_dir,
        fake_llm.url,
        evidence_first=True,
        llm_context_tokens=1536,
    )
    fake_llm.queue(FakeReply.error(400, message=LLAMA_CPP_OVERFLOW), "[1] It says so.")
    cited = api.cite_claim(read_only_index, "LongLoRA uses shifted sparse attention.", base)
    assert cited.mode == "llm" and cited.llm_error is None
    first, second = fake_llm.chat_requests
    assert len(sources_of(second)) == (len(sources_of(first)) + 1) // 2
    assert "Key sentences: " in user_message(first)

    fake_llm.queue("### Long context\n\nShifted sparse attention extends LLaMA [1].")
    draft = api.related_work(
        read_only_index,
        "long-context language models",
        base.model_copy(update={"llm_context_tokens": 2048, "related_work_max_tokens": 512}),
    )
    assert draft.mode == "llm"
    request = fake_llm.chat_requests[-1]
    shown = sources_of(request)
    budget_cut = any("context" in note for note in draft.notes)
    assert budget_cut  # 12 whole abstracts do not fit in 2048 tokens: sentences were cut
    assert user_message(request).count("Other sentences: ") < len(shown)


def test_the_real_servers_context_error_is_recognised(smollm_server: Any) -> None:
    """llama.cpp's server (n_ctx 8192) refuses a longer prompt in the words this module reads
    as a context error (it only tokenizes the prompt: fast)."""
    from assistant.errors import LLMError
    from assistant.generation.evidence import exceeds_context
    from assistant.llm.base import make_chat_model

    assert smollm_server.alive(), smollm_server.log_tail()
    settings = Settings(llm_base_url=smollm_server.url, llm_model=smollm_server.alias)
    model = make_chat_model(settings)
    try:
        with pytest.raises(LLMError) as failed:
            model.complete([{"role": "user", "content": "attention " * 9000}])
    finally:
        model.close()
    assert exceeds_context(failed.value), failed.value.message
    assert "ASSISTANT_LLM_CONTEXT_TOKENS" in (failed.value.hint or "")
