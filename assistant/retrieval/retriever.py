"""Hybrid retrieval: the registered signals (dense chunk similarity, BM25, ...) fused per paper
(:mod:`~assistant.retrieval.signals`), diversified.

Every result set carries a confidence that the corpus covers the query at all, from the
strength of the best dense and lexical matches (a logistic model fitted on the dev questions,
see docs/benchmarks.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

from assistant.ingest.chunking import split_sentences
from assistant.records import Paper, SearchHit, SearchResult
from assistant.retrieval.coverage import (
    COVERAGE_THRESHOLD,
    NAMED_CHECK_BELOW,
    ORIGIN_CANDIDATES,
    asks_for_origin,
    closeness_cap,
    confidence_features,
    coverage_probability,
    missing_origin,
    unknown_name,
)
from assistant.retrieval.filters import SearchFilters, parse_query_filters, why_nothing_matches
from assistant.retrieval.question import without_request
from assistant.retrieval.signal_lexical import LEXICAL_WEIGHT
from assistant.retrieval.signals import CANDIDATES, ScoredPaper, Signals, fuse, query_signals
from assistant.text.sentences import SentenceScorer

if TYPE_CHECKING:
    from assistant.index.paper_index import PaperIndex

Method = Literal["hybrid", "dense", "bm25"]

MMR_LAMBDA = 0.85


@dataclass
class RetrievalOptions:
    """How one search runs."""

    k: int = 10
    method: Method = "hybrid"
    filters: SearchFilters = field(default_factory=SearchFilters)
    parse_filters: bool = True
    diversity: bool = True
    lexical_weight: float = LEXICAL_WEIGHT
    paper_ids: set[str] | None = None  # only these papers (a chat follow-up about one paper)
    strip_request: bool = True  # score what follows "Could you suggest research that" (question.py)


class Retriever:
    """Searches one :class:`PaperIndex`."""

    def __init__(self, index: PaperIndex) -> None:
        self.index = index
        self._sentence_cache: dict[str, list[tuple[str, frozenset[str]]]] = {}

    def allowed_papers(
        self, filters: SearchFilters, paper_ids: set[str] | None = None
    ) -> set[str] | None:
        """Ids of papers passing the filters (and in ``paper_ids``, if given); None: all."""
        if filters.is_empty():
            return None if paper_ids is None else set(paper_ids)
        catalog = self.index.catalog
        bounds = {"year_from": filters.year_from, "year_to": filters.year_to}
        if not filters.needs_records():  # SQL says it all
            ids = catalog.paper_ids(**bounds, source=filters.source)
            return ids if paper_ids is None else ids & set(paper_ids)
        return {
            paper.paper_id
            for paper in catalog.iter_papers(**bounds, source=filters.source)
            if filters.matches(paper) and (paper_ids is None or paper.paper_id in paper_ids)
        }

    def search(self, query: str, options: RetrievalOptions | None = None) -> SearchResult:
        """The best papers for ``query``, with snippets and a coverage confidence."""
        return self.search_with_signals(query, options)[0]

    def search_with_signals(
        self, query: str, options: RetrievalOptions | None = None
    ) -> tuple[SearchResult, Signals]:
        """:meth:`search`, and the signals it fused (what coverage features read)."""
        options = options or RetrievalOptions()
        text, filters, note = self._effective_query(query, options)
        if options.strip_request:
            text = without_request(text)
        allowed = self.allowed_papers(filters, options.paper_ids)
        scored, signals = self._score(text, options, allowed, filters)
        if options.diversity and options.method != "bm25" and len(scored) > 2:
            scored = self._diversify(scored, options.k)
        top = scored[: options.k]
        papers = self.index.catalog.get_papers(s.paper_id for s in top)
        top = [s for s in top if s.paper_id in papers]  # vectors left by a crashed ingest
        confidence = self._confidence(text, signals)
        scorer = SentenceScorer(self.index, text)
        hits = [
            SearchHit(
                rank=rank,
                paper_id=s.paper_id,
                title=papers[s.paper_id].title,
                year=papers[s.paper_id].year,
                score=round(s.score, 4),
                snippet=scorer.best_by_overlap(
                    self.sentences_of(papers[s.paper_id]), papers[s.paper_id].title
                ),
                paper=papers[s.paper_id],
            )
            for rank, s in enumerate(top, start=1)
        ]
        result = SearchResult(
            query=query,
            results=hits,
            confidence=round(confidence, 3),
            covered=confidence >= COVERAGE_THRESHOLD,
        )
        if note:
            result.notes.append(note)
        if not filters.is_empty():
            result.filters = filters.describe()
        self._check_origin(text, scored, result)
        if result.covered and confidence < NAMED_CHECK_BELOW:
            name = unknown_name(text, self.index.lexical)
            if name is not None:
                result.covered = False
                result.notes.append(f"No indexed paper mentions {name}.")
        return result, signals

    def _check_origin(self, text: str, scored: list[ScoredPaper], result: SearchResult) -> None:
        """ "Which paper introduced X?" with X's own paper not among the best candidates."""
        if not asks_for_origin(text):
            return
        candidates = scored[:ORIGIN_CANDIDATES]
        found = self.index.catalog.get_papers(s.paper_id for s in candidates)
        missing = missing_origin(
            text, [found[s.paper_id] for s in candidates if s.paper_id in found]
        )
        if missing is None:
            return
        name, mentions = missing
        result.covered = False
        shown = "; ".join(p.title for p in mentions[:3])
        result.notes.append(
            f"The paper that introduced {name} is not in the index"
            + (f"; {len(mentions)} indexed papers mention it: {shown}." if mentions else ".")
        )

    def _effective_query(
        self, query: str, options: RetrievalOptions
    ) -> tuple[str, SearchFilters, str | None]:
        filters = options.filters
        if not options.parse_filters:
            return query, filters, None
        cleaned, found = parse_query_filters(query)
        if found.is_empty():
            return query, filters, None
        combined = found.merged(filters)  # explicit flags win over what the question says
        allowed = self.allowed_papers(combined)
        if not allowed:
            catalog = self.index.catalog  # say why: e.g. no paper has a year, or a range inverted
            why = why_nothing_matches(found, catalog) or why_nothing_matches(combined, catalog)
            note = f"Ignored '{found.describe()}' from the question: {why or 'no paper matches'}."
            return query, filters, note
        return cleaned, combined, f"Filtered by {found.describe()} (from the question)."

    # --- scoring
    def signals(
        self,
        text: str,
        method: Method,
        k: int,
        allowed: set[str] | None,
        filters: SearchFilters | None = None,
        restricted: bool = False,
    ) -> Signals:
        """The scores of the candidate papers of each signal ``method`` uses (all for hybrid).

        ``filters``: those ``allowed`` came from, for a server to apply itself; ``restricted``:
        ``allowed`` holds fewer papers than they say.
        """
        return query_signals(self.index, text, method, k, allowed, filters, restricted)

    def _score(
        self,
        text: str,
        options: RetrievalOptions,
        allowed: set[str] | None,
        filters: SearchFilters | None = None,
    ) -> tuple[list[ScoredPaper], Signals]:
        restricted = options.paper_ids is not None
        signals = self.signals(text, options.method, options.k, allowed, filters, restricted)
        candidates = max(CANDIDATES, options.k)
        scored = fuse(signals, options.method, candidates, lexical_weight=options.lexical_weight)
        return scored, signals

    def _diversify(self, scored: list[ScoredPaper], k: int) -> list[ScoredPaper]:
        """Maximal marginal relevance over the papers' abstract vectors (mean of chunks)."""
        pool = scored[: max(3 * k, 30)]
        vectors = self._paper_vectors([s.paper_id for s in pool])
        if vectors is None:
            return scored
        relevance = np.asarray([s.score for s in pool], dtype=np.float32)
        spread = float(relevance.max() - relevance.min()) or 1.0
        relevance = (relevance - relevance.min()) / spread
        similarity = vectors @ vectors.T
        chosen = [0]
        remaining = list(range(1, len(pool)))
        while remaining and len(chosen) < len(pool):
            redundancy = similarity[np.ix_(remaining, chosen)].max(axis=1)
            values = MMR_LAMBDA * relevance[remaining] - (1 - MMR_LAMBDA) * redundancy
            pick = remaining[int(np.argmax(values))]
            chosen.append(pick)
            remaining.remove(pick)
        return [pool[i] for i in chosen] + scored[len(pool) :]

    def _paper_vectors(self, paper_ids: list[str]) -> np.ndarray | None:
        """Mean chunk vector of each paper, unit length (zeros for one without vectors)."""
        dense = self.index.dense
        if not len(dense):
            return None
        means = dense.paper_means(paper_ids)
        if not means:
            return None
        dim = len(next(iter(means.values())))
        out = np.zeros((len(paper_ids), dim), dtype=np.float32)
        for row, pid in enumerate(paper_ids):
            if pid in means:
                out[row] = means[pid]
        return out

    # --- confidence and snippets
    def _confidence(self, text: str, signals: Signals) -> float:
        """Probability-like signal that the corpus covers the query, capped when no paper is
        close in meaning (:func:`~.coverage.closeness_cap`)."""
        features = confidence_features(
            self.index.lexical, text, signals, self.index.catalog, self._paper_words
        )
        confidence = coverage_probability(*features)
        cap = closeness_cap(signals.best_dense, self.index.embedder.name) if signals.dense else None
        return confidence if cap is None else min(confidence, cap)

    def sentences_of(self, paper: Paper) -> list[tuple[str, frozenset[str]]]:
        """The abstract's sentences with their analysed words (cached per paper)."""
        cached = self._sentence_cache.get(paper.paper_id)
        if cached is None:
            analyzer = self.index.lexical.analyzer
            cached = [
                (sentence, frozenset(analyzer.tokens(sentence)))
                for sentence in split_sentences(paper.abstract)
            ]
            if len(self._sentence_cache) > 20000:
                self._sentence_cache.clear()
            self._sentence_cache[paper.paper_id] = cached
        return cached

    def _paper_words(self, paper: Paper) -> set[str]:
        words = set(self.index.lexical.analyzer.tokens(paper.title))
        for _sentence, sentence_words in self.sentences_of(paper):
            words |= sentence_words
        return words
