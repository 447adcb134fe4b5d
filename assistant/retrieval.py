"""Hybrid retrieval: dense chunk similarity and BM25, fused, aggregated to papers, diversified.

Every result set carries a confidence that the corpus covers the query at all, from the
strength of the best dense and lexical matches (a logistic model fitted on the dev questions,
see docs/benchmarks.md).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

from assistant.chunking import split_sentences
from assistant.filters import SearchFilters, parse_query_filters
from assistant.models import Paper, SearchHit, SearchResult

if TYPE_CHECKING:
    from assistant.index import PaperIndex

Method = Literal["hybrid", "dense", "bm25"]

# Fusion and confidence parameters, tuned on SciFact train and the dev set (docs/benchmarks.md).
DENSE_WEIGHT = 0.5
CANDIDATES = 100
# BM25 scores are divided by the query's best; this maps them to cosine-like magnitudes.
LEXICAL_SCALE = 0.6
MMR_LAMBDA = 0.85
CONFIDENCE_BIAS = -9.0
CONFIDENCE_DENSE = 14.0
CONFIDENCE_LEXICAL = 4.0
COVERAGE_THRESHOLD = 0.5


@dataclass
class RetrievalOptions:
    """How one search runs."""

    k: int = 10
    method: Method = "hybrid"
    filters: SearchFilters = field(default_factory=SearchFilters)
    parse_filters: bool = True
    diversity: bool = True
    dense_weight: float = DENSE_WEIGHT


@dataclass
class ScoredPaper:
    paper_id: str
    score: float
    dense: float
    lexical: float


class Retriever:
    """Searches one :class:`PaperIndex`."""

    def __init__(self, index: PaperIndex) -> None:
        self.index = index
        self._paper_rows: dict[str, np.ndarray] | None = None
        self._chunk_paper: np.ndarray | None = None
        self._paper_list: list[str] = []
        self._cache_size = -1

    def _chunk_layout(self) -> tuple[np.ndarray, list[str]]:
        """Paper number of each cached chunk row, and the paper id of each number."""
        dense = self.index.dense
        if self._chunk_paper is None or self._cache_size != len(dense):
            number: dict[str, int] = {}
            rows = np.fromiter(
                (number.setdefault(pid, len(number)) for pid in dense.paper_of_chunk),
                dtype=np.int64,
                count=len(dense.paper_of_chunk),
            )
            self._chunk_paper = rows
            self._paper_list = list(number)
            self._cache_size = len(dense)
        return self._chunk_paper, self._paper_list

    def allowed_papers(self, filters: SearchFilters) -> set[str] | None:
        """Ids of papers passing the filters; None when there are no filters."""
        if filters.is_empty():
            return None
        catalog = self.index.catalog
        return {
            paper.paper_id
            for paper in catalog.iter_papers(
                year_from=filters.year_from, year_to=filters.year_to, source=filters.source
            )
            if filters.matches(paper)
        }

    def search(self, query: str, options: RetrievalOptions | None = None) -> SearchResult:
        """The best papers for ``query``, with snippets and a coverage confidence."""
        options = options or RetrievalOptions()
        text, filters, note = self._effective_query(query, options)
        allowed = self.allowed_papers(filters)
        scored, query_vector = self._score(text, options, allowed)
        if options.diversity and options.method != "bm25" and len(scored) > 2:
            scored = self._diversify(scored, options.k)
        top = scored[: options.k]
        papers = self.index.catalog.get_papers(s.paper_id for s in top)
        top = [s for s in top if s.paper_id in papers]  # vectors left by a crashed ingest
        confidence = self._confidence(text, scored)
        hits = [
            SearchHit(
                rank=rank,
                paper_id=s.paper_id,
                title=papers[s.paper_id].title,
                year=papers[s.paper_id].year,
                score=round(s.score, 4),
                snippet=self.best_sentence(text, papers[s.paper_id]),
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
        return result

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
            return (
                query,
                filters,
                (f"Ignored '{found.describe()}' from the question: no indexed paper matches it."),
            )
        return cleaned, combined, f"Filtered by {found.describe()} (from the question)."

    # --- scoring
    def _score(
        self, text: str, options: RetrievalOptions, allowed: set[str] | None
    ) -> tuple[list[ScoredPaper], np.ndarray | None]:
        index = self.index
        lexical = index.lexical
        dense_scores: dict[str, float] = {}
        query_vector = None
        if options.method != "bm25" and len(index.dense):
            query_vector = index.embedder.embed([text])[0]
            chunk_paper, paper_list = self._chunk_layout()
            sims = index.dense.matrix() @ query_vector
            best = np.full(len(paper_list), -1.0, dtype=np.float32)
            np.maximum.at(best, chunk_paper, sims)
            if allowed is not None:
                mask = np.fromiter((pid in allowed for pid in paper_list), dtype=bool)
                best = np.where(mask, best, -1.0)
            if options.method == "dense":
                order = np.argsort(-best)[: max(CANDIDATES, options.k)]
                dense_scores = {paper_list[i]: float(best[i]) for i in order if best[i] > -1.0}
            else:  # fusion needs every candidate's dense score: keep them all
                dense_scores = {pid: float(b) for pid, b in zip(paper_list, best, strict=True) if b > -1.0}
        lexical_scores: dict[str, float] = {}
        if options.method != "dense":
            lexical_scores = dict(lexical.search(text, max(CANDIDATES, options.k), allowed))
        if options.method == "hybrid" and dense_scores:
            ranked_dense = sorted(dense_scores, key=lambda p: -dense_scores[p])
            candidates = set(ranked_dense[: max(CANDIDATES, options.k)]) | set(lexical_scores)
        else:
            candidates = set(dense_scores) | set(lexical_scores)
        if not candidates:
            return [], query_vector
        top_lexical = max(lexical_scores.values(), default=0.0)
        scored = []
        for pid in candidates:
            d = dense_scores.get(pid, 0.0)
            raw = lexical_scores.get(pid, 0.0)
            lex = raw / top_lexical if top_lexical > 0 else 0.0
            if options.method == "dense":
                score = d
            elif options.method == "bm25":
                score = raw
            else:
                score = options.dense_weight * d + (1 - options.dense_weight) * LEXICAL_SCALE * lex
            scored.append(ScoredPaper(pid, score, d, raw))
        scored.sort(key=lambda s: (-s.score, s.paper_id))
        return scored, query_vector

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
        chunk_paper, paper_list = self._chunk_layout()
        if not len(chunk_paper):
            return None
        position = {pid: i for i, pid in enumerate(paper_list)}
        matrix = self.index.dense.matrix()
        out = np.zeros((len(paper_ids), matrix.shape[1]), dtype=np.float32)
        for row, pid in enumerate(paper_ids):
            number = position.get(pid)
            if number is None:
                continue
            mean = matrix[chunk_paper == number].mean(axis=0)
            out[row] = mean / max(float(np.linalg.norm(mean)), 1e-12)
        return out

    # --- confidence and snippets
    def _confidence(self, text: str, scored: list[ScoredPaper]) -> float:
        """Probability-like signal that the corpus covers the query."""
        if not scored:
            return 0.0
        best_dense = max(s.dense for s in scored)
        lexical = self.index.lexical
        terms = set(lexical.analyzer.tokens(text))
        idf_total = sum(lexical.idf(t) for t in terms) or 1.0
        best_lexical = max(s.lexical for s in scored) / idf_total
        logit = (
            CONFIDENCE_BIAS
            + CONFIDENCE_DENSE * best_dense
            + CONFIDENCE_LEXICAL * min(best_lexical, 1.5)
        )
        return 1.0 / (1.0 + math.exp(-logit))

    def best_sentence(self, text: str, paper: Paper) -> str:
        """The abstract sentence sharing the most informative words with the query."""
        sentences = split_sentences(paper.abstract)
        if not sentences:
            return paper.title
        lexical = self.index.lexical
        analyzer = lexical.analyzer
        terms = set(analyzer.tokens(text))
        best, best_score = sentences[0], 0.0
        for sentence in sentences:
            overlap = terms & set(analyzer.tokens(sentence))
            score = sum(lexical.idf(t) for t in overlap)
            if score > best_score:
                best, best_score = sentence, score
        return best


def search(index: PaperIndex, query: str, options: RetrievalOptions | None = None) -> SearchResult:
    """Search ``index`` once (convenience wrapper around :class:`Retriever`)."""
    return Retriever(index).search(query, options)


def timed_search(
    retriever: Retriever, query: str, options: RetrievalOptions
) -> tuple[SearchResult, float]:
    """A search and its wall time in milliseconds."""
    started = time.perf_counter()
    result = retriever.search(query, options)
    return result, (time.perf_counter() - started) * 1000
