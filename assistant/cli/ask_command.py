"""The ``ask`` command: one question, answered from the index with citations (streamed).

A plain function, registered on the app by :mod:`assistant.cli.root`; the library is imported
inside it and the answer is printed by :mod:`assistant.cli.render`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from assistant.cli import common, render
from assistant.cli.options import (
    NO_FILTERS,
    BaseUrlOpt,
    ChromaOpt,
    ExtractiveOpt,
    FilterFlags,
    IndexOpt,
    JsonOpt,
    ModelOpt,
    UsageOpt,
    with_filters,
)
from assistant.cli.render_stream import ShowReasoningOpt, StreamPrinter


@with_filters()
def ask(
    question: Annotated[str, typer.Argument(help="Your question.")],
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    extractive: ExtractiveOpt = False,
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=30, help="Papers to draw on.")] = 6,
    filters: FilterFlags = NO_FILTERS,
    index_dir: IndexOpt = None,
    chroma_url: ChromaOpt = None,
    as_json: JsonOpt = False,
    usage: UsageOpt = False,
    show_reasoning: ShowReasoningOpt = False,
) -> None:
    """Answer a question from the indexed papers, citing them."""
    with common.errors():
        from assistant.api import ask as ask_question
        from assistant.chat.answer_log import log_result
        from assistant.retrieval.retriever import RetrievalOptions
        from assistant.usage import usage_of

        search_filters = filters.search_filters()  # before a first build
        settings, index = common.open_for_answers(
            model, base_url, extractive, index_dir, chroma_url, answer_papers=k
        )
        options = RetrievalOptions(k=max(k, 5), filters=search_filters)
        printer = StreamPrinter(show_reasoning=show_reasoning)
        with printer.waiting(spinner=settings.llm_configured and not as_json):
            answer = ask_question(
                index, question, settings, options, on_token=None if as_json else printer
            )
        logged = log_result(settings, index.dir, "ask", answer)
        usage_line = usage_of(answer.usage, answer.mode, settings).line() if usage else None
        if as_json:
            render.print_json(answer.public_json())
            if usage_line:
                render.print_usage(render.console(stderr=True), usage_line)
        else:
            render.print_ask(answer, printer.streamed(), usage_line)
        render.print_notes(render.console(stderr=True), [logged] if logged else [])
