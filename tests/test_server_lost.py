"""A shared index's server that goes away during an ingest, and a member waiting for the write
lock: each is said, and the rerun finds every committed paper."""

from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

from chroma_server import run_chroma
from conftest import small_corpus_text
from test_resilience import committed_papers

BROKEN = ("Traceback", "unexpected", "report it")


def _env(url: str, collection: str, batch: int = 6) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    return {
        **env,
        "ASSISTANT_CHROMA_URL": url,
        "ASSISTANT_COLLECTION": collection,
        "ASSISTANT_INGEST_BATCH_PAPERS": str(batch),
    }


def _ingest(corpus: Path, folder: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "assistant", "ingest", str(corpus), "--index", str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_a_server_that_goes_away_mid_ingest_is_said_and_the_rerun_completes(
    tmp_path: Path,
) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(small_corpus_text(48), encoding="utf-8")
    data, member = tmp_path / "server", tmp_path / "member"
    data.mkdir()
    with run_chroma(data) as url:
        proc = _ingest(corpus, member, _env(url, "lost"))
        deadline = time.monotonic() + 180
        while committed_papers(member) < 12:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.01)
    # the server is stopped here, mid-ingest
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert "Lost the connection to the Chroma server" in err and "rerun it" in err
    assert not any(word in err for word in BROKEN), err
    held = committed_papers(member)
    assert 12 <= held < 48
    with run_chroma(data) as url:  # the same database, served again
        rerun = _ingest(corpus, member, _env(url, "lost"))
        _out, err = rerun.communicate(timeout=400)
        assert rerun.returncode == 0, err
        assert committed_papers(member) == 48
        search = subprocess.run(
            [sys.executable, "-m", "assistant", "stats", "--index", str(tmp_path / "other")],
            capture_output=True,
            text=True,
            env=_env(url, "lost"),
            timeout=180,
        )
        assert search.returncode == 0, search.stderr
        assert "48" in search.stdout  # a new member sees every paper


def test_a_member_waiting_for_the_write_lock_is_told_how_long(tmp_path: Path) -> None:
    from assistant.index.chroma_store import SharedRecords, connect

    corpus = tmp_path / "corpus.txt"
    corpus.write_text(small_corpus_text(6), encoding="utf-8")
    data = tmp_path / "server"
    data.mkdir()
    with run_chroma(data) as url:
        client = connect(tmp_path, url)
        records = SharedRecords(client, "waiting-papers", url)
        held, release = threading.Event(), threading.Event()

        def hold() -> None:
            with records.lock():
                held.set()
                release.wait(60)

        holder = threading.Thread(target=hold)
        holder.start()
        assert held.wait(30)
        proc = _ingest(corpus, tmp_path / "member", _env(url, "waiting"))
        assert proc.stderr is not None
        lines: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr])
        reader.start()
        said: list[str] = []
        deadline = time.monotonic() + 180  # the notice comes after 2 s of waiting
        while not any("Waiting for the write lock" in line for line in said):
            assert proc.poll() is None and time.monotonic() < deadline, "".join(said)
            with contextlib.suppress(queue.Empty):
                said.append(lines.get(timeout=0.5))
        release.set()
        holder.join()
        proc.wait(timeout=180)
        reader.join()
        while not lines.empty():
            said.append(lines.get_nowait())
        err = "".join(said)
        assert proc.returncode == 0, err
        assert "Waiting for the write lock of the shared index waiting-papers" in err
        assert "another ingest has held it for" in err
