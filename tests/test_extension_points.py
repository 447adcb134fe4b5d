"""The seams for the next extension: a made-up input format and a made-up retrieval signal,
each one new module (tests/notes_format.py), registered here and forgotten after."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import favourites_signal
import notes_format
import pytest

from assistant import api
from assistant.errors import UsageError
from assistant.ingest.readers import detect_format, formats, read_paths
from assistant.retrieval import signals
from assistant.retrieval.retriever import RetrievalOptions, Retriever
from assistant.settings import Settings

NOTES = """# Tidal Gardens: Growing Kelp Forests with Reinforcement Learning Controllers
We steer underwater kelp farms with a learned controller that schedules nutrient pumps.
The controller doubles kelp growth over a season in three coastal test sites.

# Lighthouse Acoustics for Counting Migrating Whales
Hydrophones mounted on lighthouses count passing whales from their songs.
"""


@pytest.fixture
def notes() -> Iterator[None]:
    formats.register(notes_format.FORMAT)
    yield
    formats.unregister(notes_format.FORMAT.name)


def test_a_new_format_is_one_module(notes: None, tmp_path: Path) -> None:
    folder = tmp_path / "library"
    folder.mkdir()
    (folder / "kelp.notes").write_text(NOTES, encoding="utf-8")
    assert "notes" in formats.format_names() and ".notes" in formats.extensions()
    assert detect_format(Path("kelp.notes"), NOTES) == "notes"
    assert formats.check_format("NOTES") == "notes"
    read = read_paths([folder])  # taken from the folder by its extension
    assert [p.title for p in read.papers][:1] == [
        "Tidal Gardens: Growing Kelp Forests with Reinforcement Learning Controllers"
    ]
    assert not read.rejects


def test_a_registered_format_is_ingested(
    notes: None, small_index_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / "kelp.notes"
    path.write_text(NOTES, encoding="utf-8")
    index = api.open_index(Settings(index_dir=small_index_dir))
    try:
        report = api.ingest_paths(index, [path])
        assert report.added == 2
        hits = api.search(index, "kelp farm nutrient pumps controller").results
        assert hits[0].title.startswith("Tidal Gardens")
    finally:
        index.close()


def test_a_forgotten_format_is_unknown(tmp_path: Path) -> None:
    assert "notes" not in formats.format_names()
    with pytest.raises(UsageError):
        formats.check_format("notes")
    assert detect_format(Path("kelp.notes"), "just a line\n") is None


@pytest.fixture
def favourites() -> Iterator[favourites_signal.Favourites]:
    signals.register(favourites_signal.SIGNAL)
    yield favourites_signal.SIGNAL
    signals.unregister(favourites_signal.SIGNAL.name)
    favourites_signal.SIGNAL.paper_ids = set()


def test_a_new_signal_is_one_module(
    favourites: favourites_signal.Favourites, small_index_dir: Path
) -> None:
    index = api.open_index(Settings(index_dir=small_index_dir))
    try:
        question = "efficient attention for long documents"
        options = RetrievalOptions(k=8)
        before = [h.paper_id for h in api.search(index, question, options).results]
        favourites.paper_ids = {before[-1]}
        result, fused = Retriever(index).search_with_signals(question, options)
        after = [h.paper_id for h in result.results]
        assert after[0] == before[-1] and set(after) == set(before)
        assert fused.favourites == {before[-1]: 1.0}
        # dense or BM25 alone: the method names its signal, the favourites have no say
        assert api.search(index, question, RetrievalOptions(k=8, method="bm25")).results
        # papers like one: the same signals, fused the same way
        target = before[0]
        alike = [
            h.paper_id for h in api.similar_papers(index, target, RetrievalOptions(k=5)).results
        ]
        favourites.paper_ids = {alike[-1]}
        moved = [
            h.paper_id for h in api.similar_papers(index, target, RetrievalOptions(k=5)).results
        ]
        assert moved[0] == alike[-1]
    finally:
        index.close()
