"""The seams for the next extension: a made-up input format and a made-up retrieval signal,
each one new module (tests/notes_format.py), registered here and forgotten after."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import notes_format
import pytest

from assistant import api
from assistant.errors import UsageError
from assistant.ingest.readers import detect_format, read_paths
from assistant.ingest.readers import registry as formats
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
