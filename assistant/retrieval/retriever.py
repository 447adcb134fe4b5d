"""Hybrid retrieval: dense chunk similarity and BM25, fused, aggregated to papers, diversified.

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
from assistant.retrieval.server_dense import server_best
from assistant.text.sentences import SentenceScorer

if TYPE_CHECKING:
    from assistant.index.bm25 import LexicalIndex
    from assistant.index.paper_index import PaperIndex

Method = Literal["hybrid", "dense", "bm25"]

# Fusion: each signal is standardised against its own best FUSION_TOP papers for the query
# (z-scores), then score = z(best-chunk cosine) + LEXICAL_WEIGHT * z(BM25). Raw cosines crowd
# together as a corpus grows and BM25 has no fixed scale; standardising keeps the two comparable
# from 425 to 59k papers (docs/benchmarks.md, "Retrieval quality as the corpus grows").
FUSION_TOP = 200
LEXICAL_WEIGHT = 1.0
CANDIDATES = 100
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


@dataclass
class Signals:
    """Per-paper retrieval scores before fusion."""

    dense: dict[str, float] = field(default_factory=dict)
    lexical: dict[str, float] = field(default_factory=dict)
    best_dense: float = 0.0
    # (mean, standard deviation) of each signal over its best FUSION_TOP papers
    dense_stats: tuple[float, float] = (0.0, 1.0)
    lexical_stats: tuple[float, float] = (0.0, 1.0)


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
        options = options or RetrievalOptions()
        text, filters, note = self._effective_query(query, options)
        if options.strip_request:
            text = without_request(text)
        allowed = self.allowed_papers(filters, options.paper_ids)
        scored = self._score(text, options, allowed, filters)
        if options.diversity and options.method != "bm25" and len(scored) > 2:
            scored = self._diversify(scored, options.k)
        top = scored[: options.k]
        papers = self.index.catalog.get_papers(s.paper_id for s in top)
        top = [s for s in top if s.paper_id in papers]  # vectors left by a crashed ingest
        confidence = self._confidence(text, self._last_signals)
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
        return result

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
        """Dense (best chunk cosine per paper) and BM25 scores of the candidate papers.

        ``filters``: those ``allowed`` came from, for a server to apply itself; ``restricted``:
        ``allowed`` holds fewer papers than they say.
        """
        index = self.index
        signals = Signals()
        pool = max(CANDIDATES, k)
        lexical_scores = None
        if method != "dense":
            lexical_scores = index.lexical.allowed_scores(text, allowed)
            ranked = index.lexical.top(lexical_scores, max(pool, FUSION_TOP))
            signals.lexical = dict(ranked[:pool])
            population = index.lexical.size if allowed is None else len(allowed)
            signals.lexical_stats = top_stats(np.asarray([s for _, s in ranked]), population)
        if method != "bm25" and len(index.dense):
            from assistant.embeddings.base import embed_queries  # the query prefix, if any
            from assistant.index.server_dense import ServerDense

            query_vector = embed_queries(index.embedder, [text])[0]
            dense = index.dense
            if isinstance(dense, ServerDense):  # a large shared index: the server's HNSW
                wanted, lexical_ids = max(pool, FUSION_TOP), list(signals.lexical)
                best, paper_list, positions = server_best(
                    dense, query_vector, wanted, allowed, filters, lexical_ids, restricted
                )
            else:
                paper_list, starts = dense.layout()
                positions = dense.positions()
                best = np.maximum.reduceat(dense.matrix() @ query_vector, starts)
                if allowed is not None:
                    mask = np.fromiter((pid in allowed for pid in paper_list), dtype=bool)
                    best = np.where(mask, best, -1.0)
            add_dense(signals, best, paper_list, positions, index.lexical, lexical_scores, pool)
        return signals

    def _score(
        self,
        text: str,
        options: RetrievalOptions,
        allowed: set[str] | None,
        filters: SearchFilters | None = None,
    ) -> list[ScoredPaper]:
        restricted = options.paper_ids is not None
        signals = self.signals(text, options.method, options.k, allowed, filters, restricted)
        self._last_signals = signals
        return fuse(signals, options.method, max(CANDIDATES, options.k), options.lexical_weight)

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

    @property
    def last_signals(self) -> Signals:
        """The per-paper signals of the last search (coverage features read them)."""
        return self._last_signals

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


def add_dense(
    signals: Signals,
    best: np.ndarray,
    paper_list: list[str],
    positions: dict[str, int],
    lexical: LexicalIndex,
    lexical_scores: np.ndarray | None,
    pool: int,
) -> None:
    """Fill the dense side of ``signals`` from one score per paper (``best``, in the dense
    cache's paper order; -1.0 for a paper left out): the ``pool`` best, every lexical candidate
    too, and the BM25 score of every dense candidate."""
    if not len(best):
        return
    top = np.argpartition(-best, min(pool, len(best)) - 1)[:pool]
    chosen = {int(i) for i in top if best[i] > -1.0}
    # Fusion needs the dense score of every lexical candidate too.
    chosen.update(positions[pid] for pid in signals.lexical if pid in positions)
    signals.dense = {paper_list[i]: float(best[i]) for i in chosen}
    if lexical_scores is not None:
        # ...and the BM25 score of every dense candidate, not 0 beyond the BM25 top.
        for pid in signals.dense.keys() - signals.lexical.keys():
            score = lexical.score_of(lexical_scores, pid)
            if score > 0:
                signals.lexical[pid] = score
    signals.best_dense = float(best.max())
    eligible = best[best > -1.0]
    signals.dense_stats = top_stats(eligible, len(eligible))


def top_stats(scores: np.ndarray, population: int) -> tuple[float, float]:
    """Mean and standard deviation of the best FUSION_TOP of ``population`` scores.

    ``scores`` may hold only the positive ones (BM25): the rest of the top count as 0.
    """
    n = min(FUSION_TOP, population)
    if n <= 0:
        return 0.0, 1.0
    top = np.partition(scores, len(scores) - n)[-n:] if len(scores) > n else scores
    if len(top) < n:
        top = np.concatenate([top, np.zeros(n - len(top), dtype=np.float64)])
    spread = float(np.std(top))
    return float(np.mean(top)), spread if spread > 1e-6 else 1.0


def fuse(
    signals: Signals, method: Method, candidates: int, lexical_weight: float = LEXICAL_WEIGHT
) -> list[ScoredPaper]:
    """Combine dense and BM25 scores into one ranking of papers, best first."""
    dense, lexical = signals.dense, signals.lexical
    if method == "dense":
        pool = sorted(dense, key=lambda p: -dense[p])[:candidates]
    elif method == "bm25":
        pool = list(lexical)
    else:
        top_dense = sorted(dense, key=lambda p: -dense[p])[:candidates]
        pool = list(dict.fromkeys(top_dense + list(lexical)))
    dense_mean, dense_spread = signals.dense_stats
    lexical_mean, lexical_spread = signals.lexical_stats
    scored = []
    for pid in pool:
        d = dense.get(pid, 0.0)
        raw = lexical.get(pid, 0.0)
        if method == "dense":
            score = d
        elif method == "bm25":
            score = raw
        else:
            score = (d - dense_mean) / dense_spread + lexical_weight * (
                raw - lexical_mean
            ) / lexical_spread
        scored.append(ScoredPaper(pid, score, d, raw))
    scored.sort(key=lambda s: (-s.score, s.paper_id))
    return scored
