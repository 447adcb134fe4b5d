"""Damaged or missing index files: correct results after a self-repair, or a message naming the
file and the fix; never a traceback, ``Aborted!``, an unexpected error or a wrong answer."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

QUERIES = ["long context attention", "video generation with diffusion", "reward model for RLHF"]
BROKEN = ("Traceback", "Aborted!", "unexpected", "report it")


def _cli_results(run_cli: Any, folder: Path, method: str = "hybrid") -> list[str]:
    """The first query's results through the real command (which repairs what it must)."""
    result = run_cli(["search", QUERIES[0], "--index", str(folder), "--method", method, "--json"])
    assert result.exit_code == 0, result.stderr
    assert not any(word in result.stderr for word in BROKEN), result.stderr
    return [hit["paper_id"] for hit in json.loads(result.stdout)["results"]]


def _results(folder: Path) -> dict[str, list[list[tuple[str, float]]]]:
    """Every query's results and scores by each method, through the library."""
    from assistant.api import open_index, search
    from assistant.retrieval.retriever import RetrievalOptions
    from assistant.settings import Settings

    index = open_index(Settings(index_dir=folder))
    try:
        return {
            method: [
                [
                    (hit.paper_id, round(hit.score, 4))
                    for hit in search(index, query, RetrievalOptions(k=10, method=method)).results
                ]
                for query in QUERIES
            ]
            for method in ("bm25", "dense", "hybrid")
        }
    finally:
        index.close()


def _vectors_file(folder: Path) -> Path:
    (found,) = [p for p in folder.glob("dense-*.npy") if p.suffix == ".npy"]
    return found


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _half(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip_middle(path: Path) -> None:
    """Bytes changed in place, the size kept (as a bad disk block or a stray write would)."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 4096] = bytes(255 - b for b in data[middle : middle + 4096])
    path.write_bytes(bytes(data))


DAMAGES: dict[str, tuple[Callable[[Path], Path], Callable[[Path], None]]] = {
    "empty lexical.npz": (lambda d: d / "lexical.npz", _empty),
    "half lexical.npz": (lambda d: d / "lexical.npz", _half),
    "bytes changed in lexical.npz": (lambda d: d / "lexical.npz", _flip_middle),
    "empty dense.npz": (lambda d: d / "dense.npz", _empty),
    "half dense.npz": (lambda d: d / "dense.npz", _half),
    "bytes changed in the vectors": (_vectors_file, _flip_middle),
    "half the vectors": (_vectors_file, _half),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_cache_is_rebuilt_and_search_is_right(
    damage: str, run_cli: Any, small_index_dir: Path, tmp_path: Path
) -> None:
    expected = _results(small_index_dir)
    where, harm = DAMAGES[damage]
    harm(where(small_index_dir))
    top = [pid for pid, _score in expected["hybrid"][0]]
    assert _cli_results(run_cli, small_index_dir) == top
    # repaired for good: the rebuilt file is loaded next time, and every method is right
    assert _results(small_index_dir) == expected


@pytest.mark.parametrize("how", ["deleted", "emptied"])
def test_a_lost_catalog_is_an_error_naming_it_never_a_new_empty_index(
    how: str, run_cli: Any, small_index_dir: Path, small_corpus_file: Path
) -> None:
    catalog = small_index_dir / "catalog.sqlite"
    for extra in ("catalog.sqlite-wal", "catalog.sqlite-shm"):
        (small_index_dir / extra).unlink(missing_ok=True)
    if how == "deleted":
        catalog.unlink()
    else:
        catalog.write_bytes(b"")
    for args in (["search", "attention"], ["stats"], ["ingest", str(small_corpus_file)]):
        result = run_cli([*args, "--index", str(small_index_dir)])
        assert result.exit_code == 1, result.stdout
        assert "catalog.sqlite" in result.stderr and "lost its catalog" in result.stderr
        assert "--rebuild" in result.stderr
        assert not any(word in result.stderr for word in BROKEN), result.stderr
    # the way out it names works
    rebuilt = run_cli(
        ["ingest", "--rebuild", str(small_corpus_file), "--index", str(small_index_dir)]
    )
    assert rebuilt.exit_code == 0, rebuilt.stderr
    assert _cli_results(run_cli, small_index_dir)


def test_a_damaged_catalog_is_named_and_a_rebuild_sets_it_aside(
    run_cli: Any, small_index_dir: Path, small_corpus_file: Path
) -> None:
    catalog = small_index_dir / "catalog.sqlite"
    probe = run_cli(["stats", "--index", str(small_index_dir)])
    assert probe.exit_code == 0
    for extra in ("catalog.sqlite-wal", "catalog.sqlite-shm"):
        (small_index_dir / extra).unlink(missing_ok=True)
    data = bytearray(catalog.read_bytes())
    data[:100] = b"\x00" * 100  # the header: SQLite no longer knows the file
    catalog.write_bytes(bytes(data))
    for args in (["search", "attention"], ["stats"], ["papers"]):
        result = run_cli([*args, "--index", str(small_index_dir)])
        assert result.exit_code == 1, result.stdout
        assert str(catalog) in result.stderr and "damaged" in result.stderr
        assert not any(word in result.stderr for word in BROKEN), result.stderr
    rebuilt = run_cli(
        ["ingest", "--rebuild", str(small_corpus_file), "--index", str(small_index_dir)]
    )
    assert rebuilt.exit_code == 0, rebuilt.stderr
    assert (small_index_dir / "catalog.sqlite.damaged").exists()
    assert _cli_results(run_cli, small_index_dir)


def test_a_deleted_chroma_folder_loses_no_paper_when_the_dense_cache_is_rebuilt(
    run_cli: Any, small_index_dir: Path
) -> None:
    expected = _results(small_index_dir)
    shutil.rmtree(small_index_dir / "chroma")
    for name in ("dense.npz", *[p.name for p in small_index_dir.glob("dense-*")]):
        (small_index_dir / name).unlink()
    result = run_cli(["search", QUERIES[0], "--index", str(small_index_dir), "--method", "dense"])
    assert result.exit_code == 0, result.stderr
    assert "missing from the vector store" in result.stderr  # said
    assert _results(small_index_dir) == expected
    for name in ("dense.npz", *[p.name for p in small_index_dir.glob("dense-*")]):
        (small_index_dir / name).unlink()
    again = run_cli(["search", QUERIES[0], "--index", str(small_index_dir), "--method", "dense"])
    assert "missing from the vector store" not in again.stderr  # written back: repaired
