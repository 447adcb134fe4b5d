"""An ingest killed with SIGKILL and run again, and the index on a real Chroma server."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import small_corpus_text

from assistant.api import ingest_paths, open_index, search
from assistant.index.paper_index import PaperIndex
from assistant.ingest.readers import read_paths
from assistant.retrieval.retriever import RetrievalOptions
from assistant.settings import Settings

PAPERS = 48
BATCH = 6
QUERIES = ["long context attention", "video generation with diffusion", "reward model for RLHF"]


def index_state(folder: Path, **settings: Any) -> dict[str, Any]:
    """Everything that must agree between two builds of the same papers."""
    index = open_index(Settings(index_dir=folder, **settings))
    try:
        return _state(index)
    finally:
        index.close()


def _state(index: PaperIndex) -> dict[str, Any]:
    catalog = index.catalog
    paper_ids = sorted(p.paper_id for p in catalog.iter_papers())
    chunks = sorted(catalog.chunk_ids())
    stored = index.store.get_embeddings([cid for cid, _ in chunks])
    lexical = index.lexical
    live = sorted(pid for pid, pos in lexical.doc_pos.items() if lexical.alive[pos])
    dense = index.dense
    return {
        "papers": paper_ids,
        "hashes": sorted(catalog.hashes(paper_ids).items()),
        "chunks": chunks,
        "chroma_count": index.store.count(),
        "chroma_has_every_chunk": set(stored) == {cid for cid, _ in chunks},
        "lexical_docs": live,
        "dense_chunks": sorted(zip(dense.chunk_ids, dense.paper_of_chunk, strict=True)),
        "results": [
            [
                (h.paper_id, round(h.score, 4))
                for h in search(index, q, RetrievalOptions(k=5)).results
            ]
            for q in QUERIES
        ],
    }


def committed_papers(folder: Path) -> int:
    path = folder / "catalog.sqlite"
    if not path.exists():
        return 0
    try:  # closed at once (``with connect()`` alone leaves the connection open)
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)) as db:
            return int(db.execute("SELECT count(*) FROM papers").fetchone()[0])
    except sqlite3.Error:
        return 0


def start_ingest(corpus: Path, folder: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "assistant", "ingest", str(corpus), "--index", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )


def kill_when(proc: subprocess.Popen[bytes], ready: Any, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, "the ingest ended before it could be interrupted"
        assert time.monotonic() < deadline, "the ingest never reached the point to kill it"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL


def test_kill_9_at_any_moment_then_rerun_equals_an_uninterrupted_ingest(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(small_corpus_text(PAPERS), encoding="utf-8")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")},
        "ASSISTANT_INGEST_BATCH_PAPERS": str(BATCH),
    }
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    assert start_ingest(corpus, clean, env).wait() == 0

    # 1. Killed while the first batch is being written (vectors in Chroma, catalog empty).
    proc = start_ingest(corpus, killed, env)
    kill_when(proc, lambda: (killed / "chroma").exists() and committed_papers(killed) == 0)
    # 2. Killed between batches, some papers committed and the rest not.
    proc = start_ingest(corpus, killed, env)
    kill_when(proc, lambda: 0 < committed_papers(killed) < PAPERS - BATCH)
    partial = committed_papers(killed)
    assert 0 < partial < PAPERS
    # 3. A search of the interrupted index works and sees only committed papers.
    index = open_index(Settings(index_dir=killed, ingest_batch_papers=BATCH))
    assert len(list(index.catalog.iter_papers())) == partial
    assert search(index, QUERIES[0], RetrievalOptions(k=3)).results
    index.close()
    # 4. The same command again finishes the job.
    assert start_ingest(corpus, killed, env).wait() == 0

    expected = index_state(clean, ingest_batch_papers=BATCH)
    got = index_state(killed, ingest_batch_papers=BATCH)
    assert len(expected["papers"]) == PAPERS
    assert expected["chroma_has_every_chunk"] and got["chroma_has_every_chunk"]
    assert got == expected


# --- streamed input -----------------------------------------------------------------------


def test_input_streamed_in_small_windows_equals_an_index_built_in_one_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows of 5 papers, with a duplicate of a first-window paper in a later file."""
    corpus = tmp_path / "a.txt"
    corpus.write_text(small_corpus_text(PAPERS // 2), encoding="utf-8")
    first = read_paths([corpus]).papers[0]
    again = tmp_path / "b.csv"
    again.write_text(f'title,abstract,year,authors\n"{first.title}","Short.",2023,Ada Lovelace\n')

    whole = tmp_path / "whole"
    index = open_index(Settings(index_dir=whole))
    read = read_paths([corpus, again])
    one_go = index.ingest(read.papers)
    index.close()

    monkeypatch.setattr("assistant.index.paper_index.INGEST_WINDOW", 5)
    streamed = tmp_path / "streamed"
    index = open_index(Settings(index_dir=streamed))
    seen: list[tuple[int, int]] = []
    report = ingest_paths(index, [corpus, again], progress=lambda d, t: seen.append((d, t)))
    merged = index.catalog.get_papers([first.paper_id])[first.paper_id]
    index.close()

    assert (report.added, report.duplicates_merged, report.rejected) == (PAPERS // 2, 1, 0)
    assert (one_go.added, one_go.duplicates_merged) == (report.added, report.duplicates_merged)
    assert (merged.year, merged.authors) == (2023, ["Ada Lovelace"])
    assert seen[0] == (0, PAPERS // 2 + 1) and seen[-1] == (PAPERS // 2 + 1, PAPERS // 2 + 1)
    got, expected = index_state(streamed), index_state(whole)
    # The int8 model quantizes activations per batch, so vectors move slightly with the batch
    # a text lands in; everything else is equal.
    got_results, expected_results = got.pop("results"), expected.pop("results")
    for mine, theirs in zip(got_results, expected_results, strict=True):
        assert mine[0][0] == theirs[0][0]
        assert len({pid for pid, _ in mine} & {pid for pid, _ in theirs}) >= 4
    assert got == expected
    assert len(list(streamed.glob("dense-*.npy"))) == 1


# --- Chroma server mode ------------------------------------------------------------------


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Chroma server (the ``chroma`` command of the chromadb package) on loopback."""
    from chroma_server import run_chroma

    with run_chroma(tmp_path_factory.mktemp("chroma-server")) as url:
        yield url


def test_ingest_search_and_ask_through_a_chroma_server(
    chroma_server: str, run_cli: Any, small_corpus_file: Path, tmp_path: Path
) -> None:
    env: dict[str, str | None] = {"ASSISTANT_CHROMA_URL": chroma_server}
    folder = tmp_path / "idx"
    ingest = run_cli(["ingest", str(small_corpus_file), "--index", str(folder)], env=env)
    assert ingest.exit_code == 0, ingest.stderr
    assert not (folder / "chroma").exists()  # the vectors live on the server

    # Without the local vector cache, search reads the vectors back from the server.
    (folder / "dense.npz").unlink()
    found = run_cli(
        [
            "search",
            "memory optimizations to train trillion-parameter models",
            "--json",
            "--index",
            str(folder),
        ],
        env=env,
    )
    assert found.exit_code == 0, found.stderr

    results = json.loads(found.stdout)["results"]
    assert results and results[0]["title"].startswith("ZeRO")
    asked = run_cli(["ask", "What does ZeRO optimize?", "--json", "--index", str(folder)], env=env)
    assert asked.exit_code == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert answer["mode"] == "extractive" and answer["citations"]

    state = index_state(folder, chroma_url=chroma_server)
    assert state["chroma_has_every_chunk"] and state["chroma_count"] == len(state["chunks"])


def test_unreachable_chroma_server_is_a_clear_error(run_cli: Any, tmp_path: Path) -> None:
    from chroma_server import free_port

    url = f"http://127.0.0.1:{free_port()}"
    # Building the demo corpus writes its vectors to the server (an empty --index folder no
    # longer builds it on a search: tests/test_demo_corpus.py).
    result = run_cli(
        ["ingest", "--bundled", "--index", str(tmp_path / "idx")], env={"ASSISTANT_CHROMA_URL": url}
    )
    assert result.exit_code != 0
    assert "Could not reach the Chroma server" in result.stderr
    assert "chroma run" in result.stderr and "Traceback" not in result.stderr
