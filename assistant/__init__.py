"""A literature question-answering assistant over paper titles and abstracts.

The library is the public face; the ``assistant`` command only parses, calls it and prints::

    from assistant import Settings, ask, ingest_paths, open_index
    settings = Settings(index_dir="my-index")
    index = open_index(settings)
    ingest_paths(index, ["my-papers.bib"])
    print(ask(index, "Which paper extends LLaMA's context window?", settings).answer)

Names are imported on first use, so ``import assistant`` (and ``assistant --help``) stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.lazy_exports import lazy_exports

__version__ = "0.1.0"

# Public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    "open_index": "assistant.api",
    "ingest_paths": "assistant.api",
    "ingest_zotero": "assistant.api",
    "watch_zotero": "assistant.api",
    "ZoteroSyncReport": "assistant.index.zotero_sync",
    "ensure_corpus": "assistant.api",
    "search": "assistant.api",
    "search_many": "assistant.api",
    "ask": "assistant.api",
    "cite_claim": "assistant.api",
    "related_work": "assistant.api",
    "evaluate_questions": "assistant.api",
    "similar_papers": "assistant.api",
    "paper_from_text": "assistant.api",
    "publish_index": "assistant.api",
    "SimilarResult": "assistant.retrieval.similar",
    "ChatSession": "assistant.chat",
    "Settings": "assistant.settings",
    "RetrievalOptions": "assistant.retrieval.retriever",
    "SearchFilters": "assistant.retrieval.filters",
    "AssistantError": "assistant.errors",
    "UsageError": "assistant.errors",
    "LLMError": "assistant.errors",
    "Paper": "assistant.records",
    "SearchResult": "assistant.records",
    "PaperIndex": "assistant.index.paper_index",
    "Embedder": "assistant.embeddings.base",
    "ChatModel": "assistant.llm.base",
    # What the faces (CLI, MCP, web) show beside answers: the answer log, saved conversations,
    # reference files, a paper's link and its contribution sentence.
    "AnswerLog": "assistant.history.answer_log",
    "log_result": "assistant.history.answer_log",
    "SessionStore": "assistant.history.store",
    "export_text": "assistant.export.formats",
    "paper_link": "assistant.generation.answer",
    "contribution_sentence": "assistant.text.contribution",
}

__all__ = [
    "AnswerLog",
    "AssistantError",
    "ChatModel",
    "ChatSession",
    "Embedder",
    "LLMError",
    "Paper",
    "PaperIndex",
    "RetrievalOptions",
    "SearchFilters",
    "SearchResult",
    "SessionStore",
    "Settings",
    "SimilarResult",
    "UsageError",
    "ZoteroSyncReport",
    "ask",
    "cite_claim",
    "contribution_sentence",
    "ensure_corpus",
    "evaluate_questions",
    "export_text",
    "ingest_paths",
    "ingest_zotero",
    "log_result",
    "open_index",
    "paper_from_text",
    "paper_link",
    "publish_index",
    "related_work",
    "search",
    "search_many",
    "similar_papers",
    "watch_zotero",
]

if TYPE_CHECKING:
    from assistant.api import (
        ask,
        cite_claim,
        ensure_corpus,
        evaluate_questions,
        ingest_paths,
        ingest_zotero,
        open_index,
        paper_from_text,
        publish_index,
        related_work,
        search,
        search_many,
        similar_papers,
        watch_zotero,
    )
    from assistant.chat import ChatSession
    from assistant.embeddings.base import Embedder
    from assistant.errors import AssistantError, LLMError, UsageError
    from assistant.export.formats import export_text
    from assistant.generation.answer import paper_link
    from assistant.history.answer_log import AnswerLog, log_result
    from assistant.history.store import SessionStore
    from assistant.index.paper_index import PaperIndex
    from assistant.index.zotero_sync import ZoteroSyncReport
    from assistant.llm.base import ChatModel
    from assistant.records import Paper, SearchResult
    from assistant.retrieval.filters import SearchFilters
    from assistant.retrieval.retriever import RetrievalOptions
    from assistant.retrieval.similar import SimilarResult
    from assistant.settings import Settings
    from assistant.text.contribution import contribution_sentence


__getattr__, __dir__ = lazy_exports("assistant", globals(), _EXPORTS)
