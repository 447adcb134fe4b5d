"""``PaperRetriever``: llama-index's own ``CitationQueryEngine`` on the paper index.

llama-index's ``MockLLM`` (no network, no model) answers with the prompt it was given, so the
test sees exactly which sources the engine cited, and checks they are our papers, with our
metadata, in our order, under our filters. The index is real (real model, real Chroma).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip(
    "llama_index.core",
    reason="the 'llama-index' extra is not installed (pip install -e '.[llama-index]')",
)

from llama_index.core.llms import MockLLM  # noqa: E402
from llama_index.core.query_engine import CitationQueryEngine  # noqa: E402
from llama_index.core.schema import QueryBundle  # noqa: E402
from test_similar import write_dated_corpus  # noqa: E402

from assistant.api import ingest_paths, open_index, search  # noqa: E402
from assistant.errors import UsageError  # noqa: E402
from assistant.index.paper_index import PaperIndex  # noqa: E402
from assistant.integrations.llama_index import PaperRetriever  # noqa: E402
from assistant.retrieval.filters import SearchFilters  # noqa: E402
from assistant.retrieval.retriever import RetrievalOptions  # noqa: E402
from assistant.settings import Settings  # noqa: E402


@pytest.fixture(scope="module")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("llama-dated")
    index = open_index(Settings(index_dir=base / "index"))
    ingest_paths(index, [write_dated_corpus(base / "dated.jsonl", n=20)])
    index.close()
    return base / "index"


@pytest.fixture
def index(_template: Path, tmp_path: Path) -> PaperIndex:
    target = tmp_path / "index"
    shutil.copytree(_template, target)
    opened = open_index(Settings(index_dir=target))
    yield opened  # type: ignore[misc]
    opened.close()


def test_citation_query_engine_cites_our_papers(index: PaperIndex) -> None:
    paper = index.catalog.get_paper("d05")
    assert paper is not None
    retriever = PaperRetriever(index, k=3)
    engine = CitationQueryEngine(retriever=retriever, llm=MockLLM(), citation_chunk_size=2048)
    response = engine.query(paper.title)

    expected = search(index, paper.title, RetrievalOptions(k=3)).results
    assert expected[0].paper_id == "d05"
    cited = [node.node.metadata for node in response.source_nodes]
    assert [m["paper_id"] for m in cited] == [hit.paper_id for hit in expected]
    for n, (meta, hit) in enumerate(zip(cited, expected, strict=True), start=1):
        record = index.catalog.get_paper(hit.paper_id)
        assert record is not None
        assert meta["title"] == record.title and meta["year"] == record.year
        assert meta["authors"] == ", ".join(record.authors)
        # The engine numbered our papers as its sources and put them in the prompt.
        text = response.source_nodes[n - 1].node.get_content()
        assert text.startswith(f"Source {n}:\n{record.title}\n")
        assert record.abstract[:200] in text
        assert f"Source {n}:\n{record.title}" in str(response)
    assert all(node.score is not None for node in response.source_nodes)
    assert retriever.last_result is not None and retriever.last_result.covered


def test_filters_snippets_and_coverage(index: PaperIndex) -> None:
    retriever = PaperRetriever(index, k=20, filters=SearchFilters(year_from=2022, author="Turing"))
    nodes = retriever.retrieve("language models")
    allowed = {
        p.paper_id
        for p in index.catalog.iter_papers(year_from=2022)
        if any("Turing" in a for a in p.authors)
    }
    assert nodes and {n.node.metadata["paper_id"] for n in nodes} <= allowed
    assert all(n.node.metadata["year"] >= 2022 for n in nodes)

    snippets = PaperRetriever(index, k=2, text="snippet").retrieve(QueryBundle("attention"))
    for node in snippets:
        record = index.catalog.get_paper(node.node.metadata["paper_id"])
        assert record is not None
        title, snippet = node.node.get_content().split("\n", 1)
        assert title == record.title and snippet in record.abstract and snippet != record.abstract

    off_topic = "volcanic ash dispersion over the north atlantic from satellite lidar"
    assert not PaperRetriever(index, drop_uncovered=True).retrieve(off_topic)
    kept = PaperRetriever(index)
    assert kept.retrieve(off_topic) and kept.last_result is not None
    assert not kept.last_result.covered

    with pytest.raises(UsageError):
        PaperRetriever(index, filters=SearchFilters(year_from=2024, year_to=2020))
    with pytest.raises(UsageError):
        PaperRetriever(index, k=0)
