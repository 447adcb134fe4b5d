"""A llama-index retriever over the paper index (the ``llama-index`` extra).

:class:`PaperRetriever` is a ``BaseRetriever``: any llama-index query engine, chat engine or
agent can retrieve from the index with the assistant's own search (hybrid dense + BM25, papers
not chunks, filters, the coverage signal)::

    from llama_index.core.query_engine import CitationQueryEngine
    from assistant import Settings, SearchFilters, open_index
    from assistant.integrations.llama_index import PaperRetriever

    index = open_index(Settings(index_dir="my-index"))
    retriever = PaperRetriever(index, k=5, filters=SearchFilters(year_from=2023))
    engine = CitationQueryEngine(retriever=retriever, llm=my_llm)

Each hit is a ``NodeWithScore`` whose ``TextNode`` holds the paper's title and abstract (or only
its best sentence: ``text="snippet"``) and, as metadata, its ``paper_id``, ``title``, ``year``,
``url`` (its best link), ``authors`` and ``venue``. Importing this module imports llama-index;
nothing else in the assistant does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.callbacks import CallbackManager
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

if TYPE_CHECKING:
    from assistant.index.paper_index import PaperIndex
    from assistant.records import SearchHit, SearchResult
    from assistant.retrieval.filters import SearchFilters
    from assistant.retrieval.retriever import Method

__all__ = ["PaperRetriever"]

#: Metadata the language model is not shown (ids and links are for the caller, not the prompt).
HIDDEN_FROM_LLM = ["paper_id", "url"]


class PaperRetriever(BaseRetriever):
    """Retrieves papers from a :class:`~assistant.index.paper_index.PaperIndex`.

    ``k``: papers per query. ``method``: hybrid (default), dense or bm25. ``filters``: a
    :class:`~assistant.retrieval.filters.SearchFilters` applied to every query (years, venue,
    author, source, metadata). ``text``: what a node holds besides the title, the whole
    ``abstract`` (default) or the ``snippet`` (the sentence that best matches the query).
    ``drop_uncovered``: return no node when retrieval says the index does not cover the query
    (else the nearest papers are returned; :attr:`last_result` tells either way).
    """

    def __init__(
        self,
        index: PaperIndex,
        k: int = 5,
        method: Method = "hybrid",
        filters: SearchFilters | None = None,
        text: Literal["abstract", "snippet"] = "abstract",
        drop_uncovered: bool = False,
        callback_manager: CallbackManager | None = None,
    ) -> None:
        from assistant.errors import UsageError
        from assistant.retrieval.filters import SearchFilters, check_filters

        if k < 1:
            raise UsageError(f"k must be at least 1 (got {k}).", hint="E.g. PaperRetriever(index)")
        if text not in ("abstract", "snippet"):
            raise UsageError(f"Unknown text {text!r}.", hint="Use 'abstract' or 'snippet'.")
        self.index = index
        self.k = k
        self.method: Method = method
        self.filters = filters or SearchFilters()
        check_filters(self.filters, index.catalog)  # a bad filter fails here, not per query
        self.text = text
        self.drop_uncovered = drop_uncovered
        self.last_result: SearchResult | None = None
        super().__init__(callback_manager=callback_manager)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        from assistant.api import search
        from assistant.retrieval.retriever import RetrievalOptions

        options = RetrievalOptions(k=self.k, method=self.method, filters=self.filters)
        result = search(self.index, query_bundle.query_str, options)
        self.last_result = result
        if self.drop_uncovered and not result.covered:
            return []
        return [NodeWithScore(node=self._node(hit), score=hit.score) for hit in result.results]

    def _node(self, hit: SearchHit) -> TextNode:
        from assistant.generation.answer import paper_link

        paper = hit.paper
        body = hit.snippet if self.text == "snippet" or paper is None else paper.abstract
        metadata: dict[str, Any] = {
            "paper_id": hit.paper_id,
            "title": hit.title,
            "year": hit.year,
            "url": paper_link(paper) if paper is not None else None,
            "authors": ", ".join(paper.authors) if paper is not None else "",
            "venue": paper.venue if paper is not None else None,
        }
        return TextNode(
            id_=hit.paper_id,
            text=f"{hit.title}\n{body}",
            metadata={k: v for k, v in metadata.items() if v not in (None, "")},
            excluded_llm_metadata_keys=list(HIDDEN_FROM_LLM),
            excluded_embed_metadata_keys=list(HIDDEN_FROM_LLM),
        )
