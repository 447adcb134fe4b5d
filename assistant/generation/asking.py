"""``ask``'s steps of the answer pipeline (:mod:`~assistant.generation.pipeline`): a question
answered from the retrieved papers, citing them.

Nothing to answer from: the filters leave no paper (and the answer says why) or the corpus does
not cover the question (it abstains, listing the nearest papers). With a model, the model may
first rewrite the query or rerank (``llm_retrieval``), then writes the answer from the sources
that fit its context, its citations checked and each cited statement attributed to its
abstract; offline (or when the model fails), the answer quotes the retrieved abstracts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.generation.answer import (
    Answer,
    CitationRegistry,
    abstention,
    extractive_answer,
    llm_answer,
    no_match_answer,
)
from assistant.generation.attribution import extractive_support, support_answer
from assistant.generation.pipeline import Retrieved, run_answer
from assistant.retrieval.retriever import RetrievalOptions

if TYPE_CHECKING:
    from assistant.index.paper_index import PaperIndex
    from assistant.llm.base import ChatModel, TokenFn
    from assistant.records import SearchResult
    from assistant.settings import Settings

__all__ = ["AskSteps", "answer_question"]


class AskSteps:
    """A question's answer, with the citation numbers of ``registry`` (a conversation's)."""

    noun = "question"
    example = "Ask something, e.g. 'What is LongLoRA?'"

    def __init__(
        self,
        index: PaperIndex,
        question: str,
        settings: Settings,
        registry: CitationRegistry | None = None,
        on_token: TokenFn | None = None,
        search_query: str | None = None,
    ) -> None:
        self.index = index
        self.question = question
        self.settings = settings
        self.registry = registry if registry is not None else CitationRegistry()
        self.on_token = on_token
        self.search_query = search_query
        self.ranked: SearchResult | None = None  # after the model's help, for both answerers

    def default_options(self, settings: Settings) -> RetrievalOptions:
        return RetrievalOptions(k=max(settings.answer_papers, 5))

    def unanswerable(self, found: Retrieved) -> Answer | None:
        from assistant.retrieval.filters import no_match_message

        result, filters = found.result, found.options.filters
        why = None
        if not result.results and not filters.is_empty():
            why = no_match_message(filters, self.index.catalog)
        if why:  # the filters leave no paper: say why, not "not covered"
            answer = no_match_answer(self.question, why, found.mode)
        elif not result.results or not result.covered:
            answer = abstention(self.question, result, found.mode)
        else:
            self.ranked = result
            return None
        answer.notes.extend(result.notes)
        answer.standalone_question = self.search_query
        return answer

    def with_model(self, model: ChatModel, found: Retrieved) -> Answer:
        from assistant.generation.evidence import SourceSelector
        from assistant.retrieval.llm_assist import add_usage, assist_retrieval

        query = self.search_query or self.question
        settings = self.settings
        assisted = assist_retrieval(model, self.index, query, found.result, found.options, settings)
        self.ranked = assisted.result
        answer = llm_answer(
            model,
            self.question,
            assisted.result,
            self.registry,
            settings.answer_papers,
            on_token=self.on_token,
            selector=SourceSelector(self.index, query, settings),
        )
        answer.usage = add_usage(answer.usage, assisted.usage)
        answer.notes = assisted.result.notes + answer.notes
        answer.standalone_question = self.search_query
        return support_answer(self.index, answer, self.registry.paper_for)  # cited abstracts

    def offline(self, found: Retrieved, failure: str | None) -> Answer:
        ranked = self.ranked if self.ranked is not None else found.result
        answer = extractive_answer(self.index, self.question, ranked, self.registry)
        answer.support = extractive_support(answer)
        answer.standalone_question = self.search_query
        answer.notes = ranked.notes + answer.notes
        if failure:  # reported through llm_error; the "configure an LLM" note does not apply
            answer.notes = [n for n in answer.notes if not n.startswith("Extractive mode")]
            answer.llm_error = failure
        return answer


def answer_question(
    index: PaperIndex,
    question: str,
    settings: Settings,
    options: RetrievalOptions | None = None,
    registry: CitationRegistry | None = None,
    on_token: TokenFn | None = None,
    search_query: str | None = None,
    client: ChatModel | None = None,
) -> Answer:
    """Answer a question from the index, citing the papers it comes from (see
    :func:`assistant.api.ask`)."""
    steps = AskSteps(index, question, settings, registry, on_token, search_query)
    return run_answer(index, question, settings, steps, options, client, search_query)
