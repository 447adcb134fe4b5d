"""A conversation's turns: one question, what it was searched as, and its answer."""

from __future__ import annotations

from dataclasses import dataclass

from assistant.generation.answer import Answer, Citation


@dataclass
class Turn:
    """One question, what it was searched as, and its answer."""

    n: int
    question: str
    standalone_question: str | None
    answer: Answer
    created_at: str
    saved: bool = True


def cited_papers(turns: list[Turn]) -> list[Citation]:
    """Every paper cited in the conversation, once, by number."""
    by_id: dict[str, Citation] = {}
    for turn in turns:
        for citation in turn.answer.citations:
            by_id.setdefault(citation.paper_id, citation)
    return sorted(by_id.values(), key=lambda c: c.n)
