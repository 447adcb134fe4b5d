"""Abstract sentences scored against a query: the one scorer behind snippets, quotes and support.

Every score builds on the same idf weighting of the query's analysed words. Three rankings use
it, each on purpose different:

* :meth:`SentenceScorer.best_by_overlap` (search snippets): lexical only, no embedding, so a
  search embeds nothing but the query;
* :meth:`SentenceScorer.best_by_cosine` (cite, related work): closest sentence by cosine, ties
  broken by word overlap;
* :meth:`SentenceScorer.relevance` (extractive answers): cosine plus weighted overlap and a
  bonus for better-ranked papers;
* :meth:`SentenceScorer.cosine_and_overlap` (attribution, :mod:`assistant.generation.attribution`):
  both signals of every sentence, for the support score of a cited statement.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from assistant.ingest.chunking import split_sentences

if TYPE_CHECKING:
    import numpy as np

    from assistant.index.paper_index import PaperIndex
    from assistant.records import Paper

__all__ = [
    "KEY_SENTENCES",
    "ScoredSentences",
    "SentenceScorer",
    "key_sentences",
    "scored_sentences",
]

#: Sentences of a paper marked as key (the rest follow as "Other sentences" in a prompt).
KEY_SENTENCES = 2


class SentenceScorer:
    """Scores sentences against one query over one index."""

    def __init__(
        self, index: PaperIndex, query: str, query_vector: np.ndarray | None = None
    ) -> None:
        """``query_vector``: the query already embedded (as a query), e.g. in a batch."""
        self.index = index
        self.query = query
        lexical = index.lexical
        self._idf = {t: lexical.idf(t) for t in set(lexical.analyzer.tokens(query))}
        self.idf_total = sum(self._idf.values()) or 1.0
        self._query: np.ndarray | None = query_vector

    # --- lexical
    def matched_idf(self, words: Collection[str]) -> float:
        """The idf mass of the query's words found in ``words`` (analysed words)."""
        return sum(weight for term, weight in self._idf.items() if term in words)

    def overlap(self, sentence: str) -> float:
        """Share of the query's idf mass found in ``sentence`` (0 to 1)."""
        words = set(self.index.lexical.analyzer.tokens(sentence))
        return self.matched_idf(words) / self.idf_total

    def best_by_overlap(
        self, sentences: Sequence[tuple[str, Collection[str]]], fallback: str
    ) -> str:
        """The sentence sharing the most idf mass with the query (the first one on ties or
        when none shares any); ``fallback`` when there are no sentences.

        ``sentences`` are ``(text, analysed words)`` pairs.
        """
        if not sentences:
            return fallback
        best, best_score = sentences[0][0], 0.0
        for sentence, words in sentences:
            score = self.matched_idf(words)
            if score > best_score:
                best, best_score = sentence, score
        return best

    # --- with the embedding model
    def best_by_cosine(
        self, papers: Sequence[Paper], extra: Sequence[str] = (), min_words: int = 1
    ) -> tuple[dict[str, tuple[str, float]], np.ndarray]:
        """``{paper_id: (sentence, cosine)}`` and the vectors of ``extra`` texts (same batch).

        A paper's candidates are its abstract sentences of at least ``min_words`` words (else
        all of them, else its title); the best has the highest cosine (rounded to 4 places),
        ties broken by :meth:`overlap`.
        """
        candidates: list[tuple[str, str]] = []
        for paper in papers:
            sentences = (
                [s for s in split_sentences(paper.abstract) if len(s.split()) >= min_words]
                or split_sentences(paper.abstract)
                or [paper.title]
            )
            candidates.extend((paper.paper_id, s) for s in sentences)
        query = self._query_vector()
        vectors = self.index.embedder.embed([*extra, *(text for _pid, text in candidates)])
        extra_vectors = vectors[: len(extra)]
        sims = vectors[len(extra) :] @ query
        best: dict[str, tuple[str, float, float]] = {}
        for (pid, text), sim in zip(candidates, sims, strict=True):
            cosine = round(float(sim), 4)
            current = best.get(pid)
            if current is not None and cosine < current[1]:
                continue
            lexical = self.overlap(text)
            if current is None or cosine > current[1] or lexical > current[2]:
                best[pid] = (text, cosine, lexical)
        return {pid: (text, cosine) for pid, (text, cosine, _lex) in best.items()}, extra_vectors

    def cosine_and_overlap(
        self, sentences: Sequence[str], vectors: np.ndarray
    ) -> list[tuple[float, float]]:
        """``(cosine, overlap)`` with the query of each sentence, given its (passage) vector."""
        sims = vectors @ self._query_vector() if len(sentences) else []
        return [(float(sim), self.overlap(text)) for text, sim in zip(sentences, sims, strict=True)]

    def _query_vector(self) -> np.ndarray:
        """The query as a query (models with a query prefix embed it apart from passages)."""
        from assistant.embeddings.base import embed_queries

        if self._query is None:  # embedded once per scorer, however many rankings use it
            self._query = embed_queries(self.index.embedder, [self.query])[0]
        return self._query

    def relevance(
        self,
        candidates: Sequence[tuple[int, int, str]],
        *,
        lexical_weight: float = 0.25,
        rank_bonus: float = 0.12,
    ) -> tuple[list[float], np.ndarray]:
        """Relevance of ``(paper rank, sentence position, text)`` candidates, and their vectors.

        ``cosine + lexical_weight * overlap + rank_bonus / (rank + 1)``. Where a sentence sits in
        its abstract does not count: a penalty for late sentences made the first quote a
        background sentence more often (SciFact rationale sentences, bench/extractive_evidence.py).
        """
        query = self._query_vector()
        sentence_vectors = self.index.embedder.embed([c[2] for c in candidates])
        scores = [
            float(vector @ query) + lexical_weight * self.overlap(text) + rank_bonus / (rank + 1)
            for (rank, _position, text), vector in zip(candidates, sentence_vectors, strict=True)
        ]
        return scores, sentence_vectors


@dataclass
class ScoredSentences:
    """A paper's sentences (abstract order) and their relevance to the query."""

    paper: Paper
    sentences: list[str]
    scores: list[float]


def scored_sentences(index: PaperIndex, query: str, papers: list[Paper]) -> list[ScoredSentences]:
    """Each paper's sentences with their relevance to ``query`` (rank bonus included)."""
    split = [split_sentences(p.abstract) for p in papers]
    candidates = [
        (rank, position, text)
        for rank, sentences in enumerate(split)
        for position, text in enumerate(sentences)
    ]
    scores: list[float] = []
    if candidates:
        scores, _vectors = SentenceScorer(index, query).relevance(candidates)
    out = []
    start = 0
    for paper, sentences in zip(papers, split, strict=True):
        out.append(ScoredSentences(paper, sentences, scores[start : start + len(sentences)]))
        start += len(sentences)
    return out


def key_sentences(
    index: PaperIndex, query: str, papers: list[Paper], count: int = KEY_SENTENCES
) -> dict[str, list[str]]:
    """``{paper_id: its count sentences most relevant to query, best first}``."""
    out = {}
    for scored in scored_sentences(index, query, papers):
        order = sorted(range(len(scored.sentences)), key=lambda i: -scored.scores[i])
        out[scored.paper.paper_id] = [scored.sentences[i] for i in order[:count]]
    return out
