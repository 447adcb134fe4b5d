"""The one answer pipeline behind ``ask``, ``cite`` and ``related-work`` (and chat and the MCP
tools, which call them): retrieve, decide coverage, model or extractive, fall back.

What differs between them is an :class:`AnswerSteps`: what the input is called, the default
retrieval, the answer when there is nothing to answer from (the filters leave no paper, the
corpus does not cover it), the model's answer (its citations checked and attributed there) and
the offline one, which is also what a failed model call falls back to
(:func:`~assistant.generation.fallback.answer_with_fallback`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from assistant.errors import UsageError
from assistant.generation.fallback import answer_with_fallback, wants_model
from assistant.retrieval.retriever import RetrievalOptions, Retriever

if TYPE_CHECKING:
    from assistant.generation.answer import Mode
    from assistant.index.paper_index import PaperIndex
    from assistant.llm.base import ChatModel
    from assistant.records import SearchResult
    from assistant.settings import Settings

__all__ = ["AnswerSteps", "Retrieved", "run_answer"]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


@dataclass
class Retrieved:
    """What the pipeline found for the steps: the search and how it ran, and how the answer
    is to be written."""

    result: SearchResult
    options: RetrievalOptions
    mode: Mode


class AnswerSteps(Protocol[T_co]):
    """What one answer command does its own way."""

    #: What the input is ("question", "claim", "topic") and an example, for an empty one.
    noun: str
    example: str

    def default_options(self, settings: Settings) -> RetrievalOptions:
        """The retrieval when the caller gives none."""
        ...

    def unanswerable(self, found: Retrieved) -> T_co | None:
        """The answer when there is nothing to answer from (no paper, not covered), else None.

        Called once with the retrieval, before either answerer."""
        ...

    def with_model(self, model: ChatModel, found: Retrieved) -> T_co:
        """The model's answer (raises LLMError when the model fails)."""
        ...

    def offline(self, found: Retrieved, failure: str | None) -> T_co:
        """The answer without a model; ``failure``: the model's error, when it failed."""
        ...


def run_answer(
    index: PaperIndex,
    text: str,
    settings: Settings,
    steps: AnswerSteps[T],
    options: RetrievalOptions | None = None,
    client: ChatModel | None = None,
    search_query: str | None = None,
) -> T:
    """Answer ``text`` from the index the ``steps``' way.

    Retrieval runs on ``search_query`` (a condensed follow-up) when given, else ``text``. With
    a model wanted (``client`` given, which is left open, or one configured), the model answers
    and, if it fails, the offline answer is given with its error.
    """
    from assistant.retrieval.filters import check_filters

    if not text.strip():
        raise UsageError(f"The {steps.noun} is empty.", hint=steps.example)
    options = options or steps.default_options(settings)
    check_filters(options.filters, index.catalog)
    result = Retriever(index).search(search_query or text, options)
    mode: Mode = "llm" if wants_model(settings, client) else "extractive"
    found = Retrieved(result, options, mode)
    unanswerable = steps.unanswerable(found)
    if unanswerable is not None:
        return unanswerable
    return answer_with_fallback(
        settings,
        client,
        lambda model: steps.with_model(model, found),
        lambda failure: steps.offline(found, failure),
    )
