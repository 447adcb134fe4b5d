"""Reading a literature-search question: its request is not what it is about."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.retrieval.question import without_request


@pytest.mark.parametrize(
    ("asked", "read"),
    [
        (
            "Could you suggest research that explores methods for transforming multi-hop "
            "questions into single-hop sub-questions?",
            "explores methods for transforming multi-hop questions into single-hop sub-questions",
        ),
        (
            "Is there any paper that evaluates cross-encoder BERT rankers?",
            "evaluates cross-encoder BERT rankers",
        ),
        (
            "Are there any studies on detecting patronizing and condescending language?",
            "detecting patronizing and condescending language",
        ),
        (
            "Where can I find multilingual datasets for intended sarcasm detection?",
            "multilingual datasets for intended sarcasm detection",
        ),
        (
            "I'm looking for a paper on insertion-based decoding for semantic parsing",
            "insertion-based decoding for semantic parsing",
        ),
        (
            "What research has been conducted on the evaluation of consistency in summaries?",
            "evaluation of consistency in summaries",
        ),
        (
            "Can you recommend a foundational paper that provides a scalable framework for data "
            "augmentation?",
            "provides a scalable framework for data augmentation",
        ),
    ],
)
def test_the_request_is_left_out(asked: str, read: str) -> None:
    assert without_request(asked) == read


@pytest.mark.parametrize(
    "asked",
    [
        "Which paper extends the context window of LLaMA with shifted sparse attention?",
        "memory-efficient fine-tuning",
        "What is LongLoRA?",
        "Is there a paper?",  # nothing but the request: kept whole
        "Could you suggest papers?",
    ],
)
def test_a_question_without_a_request_is_left_as_it_is(asked: str) -> None:
    assert without_request(asked) == asked.strip()


def test_search_scores_what_the_question_is_about(read_only_index_dir: Path) -> None:
    from assistant.api import open_index, search
    from assistant.retrieval.retriever import RetrievalOptions
    from assistant.settings import Settings

    index = open_index(Settings(index_dir=read_only_index_dir))
    try:
        about = "extending the context window of LLaMA with shifted sparse attention"
        framed = f"Could you suggest research that explores {about}?"
        plain = search(index, f"explores {about}", RetrievalOptions(k=5))
        read = search(index, framed, RetrievalOptions(k=5))
        asked = search(index, framed, RetrievalOptions(k=5, strip_request=False))
        assert [h.paper_id for h in read.results] == [h.paper_id for h in plain.results]
        assert [h.score for h in read.results] == [h.score for h in plain.results]
        assert [h.score for h in asked.results] != [h.score for h in read.results]
    finally:
        index.close()
