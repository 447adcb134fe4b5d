"""``similar``: papers like a given one, from the library, the CLI and chat (``/similar n``).

Real indexes (the bundled corpus from its shipped vectors; a dated corpus embedded by the real
model), each test on its own copy. Expected neighbours are never written down: they are worked
out from the index (its stored vectors, its papers' words) or compared across entry points.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import SEEDS

from assistant.api import open_index, paper_from_text, similar_papers
from assistant.errors import UsageError
from assistant.index.paper_index import PaperIndex
from assistant.ingest.dedup import merge_duplicates
from assistant.ingest.readers import read_paths
from assistant.retrieval.filters import SearchFilters
from assistant.retrieval.retriever import RetrievalOptions
from assistant.retrieval.similar import CLOSE_THRESHOLD
from assistant.settings import Settings

AUTHORS = ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Marie Curie"]
# An abstract from a field the bundled corpus (language models, ML) does not touch.
SOURDOUGH = (
    "Sourdough starters as microbial communities\n"
    "We follow the lactic acid bacteria and wild yeasts of sourdough starters fed with rye and "
    "wheat flour over six weeks of daily refreshment at room temperature. The acidity of the "
    "dough and the rise of the bread depend on the balance of Lactobacillus and Saccharomyces "
    "species, which shifts with flour type, hydration and the temperature of the kitchen."
)


def write_dated_corpus(path: Path, n: int = 30) -> Path:
    """The first ``n`` bundled papers as JSONL, with years (2019-2024) and authors."""
    papers, _ = merge_duplicates(read_paths([SEEDS]).papers)
    lines = [
        json.dumps(
            {
                "id": f"d{i:02d}",
                "title": p.title,
                "abstract": p.abstract,
                "year": 2019 + i % 6,
                "authors": [AUTHORS[i % 4], AUTHORS[(i + 1) % 4]],
            }
        )
        for i, p in enumerate(papers[:n])
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def _dated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from assistant.api import ingest_paths

    base = tmp_path_factory.mktemp("dated")
    index = open_index(Settings(index_dir=base / "index"))
    ingest_paths(index, [write_dated_corpus(base / "dated.jsonl")])
    index.close()
    return base / "index"


@pytest.fixture
def dated_index_dir(_dated_template: Path, tmp_path: Path) -> Path:
    target = tmp_path / "dated-index"
    shutil.copytree(_dated_template, target)
    return target


def _open(index_dir: Path) -> PaperIndex:
    return open_index(Settings(index_dir=index_dir))


def _target(index: PaperIndex) -> Any:
    """A paper of the index with a real abstract (three sentences or more)."""
    return next(p for p in index.catalog.iter_papers() if p.abstract.count(". ") >= 3)


def test_by_id_title_and_text(bundled_index_dir: Path) -> None:
    index = _open(bundled_index_dir)
    target = _target(index)
    by_id = similar_papers(index, target.paper_id, RetrievalOptions(k=8))
    ids = [hit.paper_id for hit in by_id.results]
    assert len(ids) == 8 and target.paper_id not in ids and len(set(ids)) == 8
    assert by_id.target.paper_id == target.paper_id and by_id.target.indexed
    assert [h.score for h in by_id.results] == sorted(
        (h.score for h in by_id.results), reverse=True
    )
    # The similarity is the cosine of the two papers' mean chunk vectors, as stored.
    means = index.dense.paper_means([target.paper_id, *ids])
    analyzer = index.lexical.analyzer
    for hit in by_id.results:
        expected = float(means[target.paper_id] @ means[hit.paper_id])
        assert hit.similarity == pytest.approx(expected, abs=1e-3)
        assert hit.close == (hit.similarity >= CLOSE_THRESHOLD)
        assert hit.paper is not None
        words = set(analyzer.bm25_terms(f"{hit.paper.title} {hit.paper.abstract}"))
        for term in hit.shared_terms:  # words of the target, found (as stems) in the hit
            assert set(analyzer.bm25_terms(term)) & words, term
            assert term.lower() in f"{target.title} {target.abstract}".lower()
        assert hit.snippet and hit.snippet in hit.paper.abstract  # type: ignore[union-attr]
    # Its closest paper by content is among the first: hybrid ranks it high, dense first.
    nearest = max(
        (p for p in means if p != target.paper_id), key=lambda p: means[target.paper_id] @ means[p]
    )
    assert nearest in ids[:3]
    dense = similar_papers(index, target.paper_id, RetrievalOptions(k=8, method="dense"))
    assert dense.results[0].paper_id == nearest
    sims = [h.similarity for h in dense.results]
    assert sims == sorted(sims, reverse=True)
    bm25 = similar_papers(index, target.paper_id, RetrievalOptions(k=8, method="bm25"))
    assert bm25.results and all(h.shared_terms for h in bm25.results)
    assert target.paper_id not in {h.paper_id for h in bm25.results}

    # The same paper named by its title, in another case and without its punctuation.
    loose = target.title.upper().replace(":", " ").replace(",", "")
    assert [h.paper_id for h in similar_papers(index, loose, RetrievalOptions(k=8)).results] == ids

    # Its text, re-embedded (not read from the index): the indexed copy is left out and the
    # neighbours are the same papers.
    as_text = similar_papers(
        index, paper_from_text(f"{target.title}\n{target.abstract}"), RetrievalOptions(k=8)
    )
    assert not as_text.target.indexed and as_text.target.paper_id is None
    text_ids = [h.paper_id for h in as_text.results]
    assert target.paper_id not in text_ids
    assert any(target.paper_id in note for note in as_text.notes)
    assert len(set(text_ids[:5]) & set(ids[:5])) >= 4
    index.close()


def test_nothing_close_is_said_and_the_nearest_listed(bundled_index_dir: Path) -> None:
    index = _open(bundled_index_dir)
    result = similar_papers(index, paper_from_text(SOURDOUGH), RetrievalOptions(k=3))
    assert not result.close and len(result.results) == 3
    assert result.best_similarity < CLOSE_THRESHOLD
    assert not any(hit.close for hit in result.results)
    assert "No indexed paper is close" in result.summary()
    # ...while a paper of the corpus has close neighbours.
    assert similar_papers(index, _target(index).paper_id).close
    index.close()


def test_filters_and_errors(dated_index_dir: Path) -> None:
    index = _open(dated_index_dir)
    target = index.catalog.get_paper("d00")
    assert target is not None
    since = similar_papers(
        index, "d00", RetrievalOptions(k=30, filters=SearchFilters(year_from=2022))
    )
    assert since.results and all((h.year or 0) >= 2022 for h in since.results)
    expected = {p.paper_id for p in index.catalog.iter_papers(year_from=2022)} - {"d00"}
    assert {h.paper_id for h in since.results} == expected
    assert since.filters == "year >= 2022"
    by_author = similar_papers(
        index, "d00", RetrievalOptions(k=30, filters=SearchFilters(author="hopper"))
    )
    authors = {h.paper_id: h.paper.authors for h in by_author.results if h.paper}
    assert authors and all(any("Hopper" in a for a in names) for names in authors.values())

    with pytest.raises(UsageError) as inverted:
        similar_papers(
            index, "d00", RetrievalOptions(filters=SearchFilters(year_from=2024, year_to=2020))
        )
    assert inverted.value.hint and "Swap" in inverted.value.hint
    with pytest.raises(UsageError) as unknown:
        similar_papers(index, target.title[:-6] + " zzz")
    assert "closest titles" in unknown.value.message and target.title in unknown.value.message
    with pytest.raises(UsageError):
        paper_from_text(" \n ")
    index.close()


def test_cli_json_table_text_and_errors(
    run_cli: Any, dated_index_dir: Path, tmp_path: Path
) -> None:
    index = _open(dated_index_dir)
    target = index.catalog.get_paper("d03")
    assert target is not None
    library = similar_papers(index, "d03", RetrievalOptions(k=4))
    index.close()
    where = ["--index", str(dated_index_dir)]

    shown = run_cli(["similar", "d03", "--k", "4", "--json", *where])
    assert shown.exit_code == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert [h["paper_id"] for h in data["results"]] == [h.paper_id for h in library.results]
    assert data["target"]["paper_id"] == "d03" and data["close"] is library.close
    assert {"rank", "title", "year", "similarity", "close", "shared_terms", "snippet"} <= set(
        data["results"][0]
    )

    table = run_cli(["similar", target.title, "--k", "4", *where])
    assert table.exit_code == 0, table.stderr
    assert "Papers like" in table.stdout
    for hit in library.results:
        assert hit.paper_id in table.stdout

    (tmp_path / "paper.txt").write_text(SOURDOUGH, encoding="utf-8")
    far = run_cli(["similar", "--text", "paper.txt", "--since", "2021", "--json", *where])
    assert far.exit_code == 0, far.stderr
    far_data = json.loads(far.stdout)
    assert far_data["close"] is False and far_data["target"]["indexed"] is False
    assert far_data["results"] and all(h["year"] >= 2021 for h in far_data["results"])
    assert "No indexed paper is close" in far_data["summary"]
    far_table = run_cli(["similar", "--text", "paper.txt", *where])
    assert "No indexed paper is close" in " ".join(far_table.stdout.split())
    assert "not close" in far_table.stdout

    for args in (
        ["similar", *where],
        ["similar", "d03", "--text", "paper.txt", *where],
        ["similar", "no such paper at all", *where],
        ["similar", "d03", "--since", "2024", "--until", "2020", *where],
        ["similar", "--text", "missing.txt", *where],
    ):
        failed = run_cli(args)
        assert failed.exit_code == 2, (args, failed)
        assert "Error:" in failed.stderr and "Hint:" in failed.stderr
        assert "Traceback" not in failed.stderr


def test_chat_similar_command(run_cli: Any, bundled_index_dir: Path) -> None:
    question = "How can the context window of large language models be extended efficiently?"
    result = run_cli(
        ["chat", "--index", str(bundled_index_dir)],
        input="\n".join([question, "/similar 1", "/similar 99", "/similar one", "/quit"]) + "\n",
    )
    assert result.exit_code == 0, result.stderr
    out = " ".join(result.stdout.split())
    start = out.index("[1] Papers like '") + len("[1] Papers like '")
    title = out[start : out.index("':", start)]
    index = _open(bundled_index_dir)
    paper = next(p for p in index.catalog.iter_papers() if p.title == title)
    expected = similar_papers(index, paper.paper_id, RetrievalOptions(k=5))
    index.close()
    for line in expected.lines():
        assert " ".join(line.split()) in out
    errors = " ".join(result.stderr.split())
    assert "No paper [99] in this conversation" in errors
    assert "Usage: /similar N" in errors
