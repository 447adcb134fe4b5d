"""Search through the library on the 24-paper index: paper-level results, titles, snippets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from assistant.api import open_index, search, search_many
from assistant.errors import UsageError
from assistant.index.bm25 import LexicalIndex
from assistant.index.paper_index import PaperIndex
from assistant.index.terms import Analyzer
from assistant.ingest.chunking import split_sentences
from assistant.retrieval.filters import SearchFilters
from assistant.retrieval.retriever import Method, RetrievalOptions, Retriever
from assistant.retrieval.signals import FUSION_TOP, Signals, SignalScores, fuse, top_stats
from assistant.settings import Settings


@pytest.fixture
def index(small_index_dir: Path) -> Iterator[PaperIndex]:
    opened = open_index(Settings(index_dir=small_index_dir))
    yield opened
    opened.close()


def test_every_exact_title_finds_its_paper_first(index: PaperIndex) -> None:
    papers = list(index.catalog.iter_papers())
    assert len(papers) == 24
    results = search_many(index, [p.title for p in papers], RetrievalOptions(k=3))
    misses = [
        (p.title, r.results[0].title)
        for p, r in zip(papers, results, strict=True)
        if r.results[0].paper_id != p.paper_id
    ]
    assert misses == []


@pytest.mark.parametrize("method", ["hybrid", "dense", "bm25"])
def test_results_are_papers_not_chunks(index: PaperIndex, method: Method) -> None:
    result = search(index, "large language models reasoning", RetrievalOptions(k=24, method=method))
    ids = [h.paper_id for h in result.results]
    assert len(ids) == len(set(ids))
    assert [h.rank for h in result.results] == list(range(1, len(ids) + 1))
    if method != "bm25":  # every paper has a dense score; BM25 only those sharing a word
        assert len(ids) == 24
    assert index.catalog.count_chunks() > 24  # so several chunks of a paper could have matched


def test_snippets_are_sentences_of_the_abstract(index: PaperIndex) -> None:
    result = search(index, "memory efficient training", RetrievalOptions(k=10))
    assert len(result.results) == 10
    for hit in result.results:
        paper = index.catalog.get_paper(hit.paper_id)
        assert paper is not None
        assert hit.snippet in split_sentences(paper.abstract)
        assert hit.paper == paper


def test_k_limits_the_results(index: PaperIndex) -> None:
    for k in (1, 4, 7):
        assert len(search(index, "language models", RetrievalOptions(k=k)).results) == k


def test_source_filter_with_no_match_gives_nothing(index: PaperIndex) -> None:
    options = RetrievalOptions(k=5, filters=SearchFilters(source="other.txt"))
    result = search(index, "language models", options)
    assert result.results == []
    assert result.filters == "source = other.txt"


def test_empty_query_is_a_usage_error(index: PaperIndex) -> None:
    with pytest.raises(UsageError):
        search(index, "   ")


# --- fusion ---------------------------------------------------------------------------------


def test_fusion_standardises_each_signal_against_its_own_top() -> None:
    # BM25 returns only positive scores: the rest of the top counts as zeros.
    mean, spread = top_stats(np.asarray([4.0, 2.0]), population=4)
    assert mean == pytest.approx(1.5)
    assert spread == pytest.approx(np.std([4.0, 2.0, 0.0, 0.0]))
    assert top_stats(np.asarray([0.5, 0.5, 0.5]), population=3) == (0.5, 1.0)  # no spread
    assert top_stats(np.zeros(0), population=0) == (0.0, 1.0)
    many = np.linspace(0, 1, FUSION_TOP * 3)
    assert top_stats(many, len(many))[0] == pytest.approx(np.mean(np.sort(many)[-FUSION_TOP:]))

    # A paper strong on one signal and one strong on the other: the weight decides.
    signals = Signals(
        dense=SignalScores({"a": 0.9, "b": 0.5, "c": 0.5}, stats=(0.6, 0.2)),
        lexical=SignalScores({"a": 1.0, "b": 9.0}, stats=(3.0, 3.0)),
    )
    scores = {s.paper_id: s.score for s in fuse(signals, "hybrid", 10)}
    assert scores["a"] == pytest.approx((0.9 - 0.6) / 0.2 + (1.0 - 3.0) / 3.0)
    assert scores["b"] > scores["a"] > scores["c"]
    assert [s.paper_id for s in fuse(signals, "hybrid", 10, lexical_weight=0.1)][0] == "a"


def test_dense_candidates_keep_their_bm25_score_beyond_the_bm25_top(
    index: PaperIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("assistant.retrieval.signals.CANDIDATES", 2)
    monkeypatch.setattr("assistant.retrieval.signals.FUSION_TOP", 2)
    query = "large language models reasoning"
    signals = Retriever(index).signals(query, "hybrid", 1, None)
    full = dict(index.lexical.search(query, 100))
    beyond = [
        pid for pid in signals.dense if pid in full and pid not in dict(list(full.items())[:2])
    ]
    assert beyond, "the dense candidates should include papers outside the BM25 top 2"
    assert all(signals.lexical[pid] == pytest.approx(full[pid]) for pid in beyond)


def test_coined_names_are_matched_verbatim_beside_the_lowercase_word() -> None:
    text = "SCoRe, LongLoRA and LoRAs beat Zero-Shot LLMs, APIs, BERT and ZeRO-Infinity"
    assert Analyzer().name_terms(text) == ["SCoRe", "LongLoRA", "LoRA", "ZeRO-Infinity"]
    rows = [
        (f"p{i}", f"A score study {i}", "We score answers; the score is a good score.", i)
        for i in range(6)
    ]
    rows.append(("coined", "Self-correction", "We train SCoRe, which improves the score.", 6))
    lexical = LexicalIndex.build(rows)
    assert lexical.search("What is SCoRe?", 1)[0][0] == "coined"
    # typed in lower case it is the common word again, and the papers using it most come first
    assert lexical.search("what is score", 1)[0][0] != "coined"
