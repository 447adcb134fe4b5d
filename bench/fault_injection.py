"""Fault injection: a 2,000-paper ingest interrupted at random points, 20 times; papers lost?

    python bench/fault_injection.py                       # SciFact 2,000, 20 interruptions
    python bench/fault_injection.py --code /tmp/old-main  # the same against another checkout

One ``assistant ingest FILE`` (batches of 16 papers) is started, stopped and started again,
20 times: each time with a signal drawn from SIGINT, SIGTERM and SIGKILL (seeded), sent either
after a random number (1-8) of further batches were committed or at a random moment (0.3-6 s
after start: while reading, embedding, or committing). After each stop, every paper that was
ever seen committed must still be in the catalog (``lost``), and each must be found by a search
for its exact title with BM25 (all of them), dense and hybrid search (a seeded sample of 100):
``unfindable`` counts those missed that an index built in one go finds (a few generic titles
are missed by any index and are not counted; the uninterrupted build tells which). A last,
uninterrupted run completes the ingest; then every paper is searched by each method. The
searches after a stop run in a copy of the index, so the next start finds what the stop left.

The sample is 2,000 of SciFact's 5,183 abstracts (seed 0). ``--code DIR`` runs the ``assistant``
package of another checkout (e.g. ``git worktree add /tmp/old-main f3c299a``), to see what the
same procedure does to the code before a fix. Reads ../shared/bench in place; writes
bench/results/fault-injection.json (``--out`` elsewhere).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "bench"
BATCH = 16
SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGKILL": signal.SIGKILL}

# Runs in a child process with the code under test on sys.path: the titles a search misses.
_SEARCH_CHILD = """
import json, sys
from assistant.api import open_index, search
from assistant.retrieval.retriever import RetrievalOptions
from assistant.settings import Settings
folder, wanted_path, methods = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
wanted = json.load(open(wanted_path))
index = open_index(Settings(index_dir=folder))
missed = {}
for method in methods:
    options = RetrievalOptions(k=10, method=method, parse_filters=False)
    missed[method] = [
        pid for pid, title in wanted[method]
        if pid not in {h.paper_id for h in search(index, title, options).results}
    ]
print(json.dumps(missed))
"""


def write_sample(size: int, folder: Path) -> tuple[Path, dict[str, str]]:
    sys.path.insert(0, str(REPO))
    from assistant.ingest.dedup import merge_duplicates
    from assistant.ingest.readers import read_paths

    papers, _ = merge_duplicates(read_paths([SHARED / "scifact" / "corpus.jsonl"]).papers)
    sample = random.Random(0).sample(papers, size)
    path = folder / f"scifact-{size}.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for paper in sample:
            record = {"id": paper.paper_id, "title": paper.title, "abstract": paper.abstract}
            handle.write(json.dumps(record) + "\n")
    return path, {p.paper_id: p.title for p in sample}


def committed(folder: Path) -> set[str]:
    path = folder / "catalog.sqlite"
    if not path.exists():
        return set()
    try:  # closed at once: a connection left open keeps the file (and its locks) in this process
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as db:
            return {row[0] for row in db.execute("SELECT paper_id FROM papers")}
    except sqlite3.Error:
        return set()


def count_committed(folder: Path) -> int:
    path = folder / "catalog.sqlite"
    if not path.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)) as db:
            return int(db.execute("SELECT count(*) FROM papers").fetchone()[0])
    except sqlite3.Error:
        return -1  # unreadable this moment: the caller polls again


def environment(code: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSISTANT_", "OPENAI_"))}
    env["PYTHONPATH"] = str(code)
    env["ASSISTANT_INGEST_BATCH_PAPERS"] = str(BATCH)
    env["ASSISTANT_MODEL_CACHE_DIR"] = str(Path(tempfile.gettempdir()) / "fault-model-cache")
    return env


def ingest(source: Path, folder: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """The ingest command, its stderr to a file (a pipe nobody reads could fill and stall it),
    with faulthandler on: a SIGABRT then prints every thread's stack."""
    command = [sys.executable, "-X", "faulthandler", "-m", "assistant", "ingest", str(source)]
    log = (folder.parent / f"{folder.name}.stderr").open("wb")
    return subprocess.Popen(
        [*command, "--index", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=log,
        env=env,
        cwd=folder.parent,
        preexec_fn=_interruptible,
    )


def _interruptible() -> None:
    """In the child: Ctrl-C's signal acts, even if this process was started with it ignored
    (a background job of a non-interactive shell is): Python then keeps ignoring it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def stderr_of(folder: Path) -> str:
    return (folder.parent / f"{folder.name}.stderr").read_text("utf-8", "replace")


def missed(
    folder: Path, wanted: dict[str, list[tuple[str, str]]], env: dict[str, str]
) -> dict[str, list[str]]:
    """Per method, the ids of the ``wanted`` papers that a search for their title misses."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(wanted, handle)
    try:
        out = subprocess.run(
            [sys.executable, "-c", _SEARCH_CHILD, str(folder), handle.name, ",".join(wanted)],
            capture_output=True,
            text=True,
            env=env,
            cwd=folder.parent,
            timeout=1800,
            check=True,
        ).stdout
    finally:
        os.unlink(handle.name)
    return dict(json.loads(out.strip().splitlines()[-1]))


def missed_in_a_copy(
    folder: Path, wanted: dict[str, list[tuple[str, str]]], env: dict[str, str]
) -> dict[str, list[str]]:
    """:func:`missed`, searched in a copy of the index: a search may bring stale caches up to
    date, and the next start must find the index exactly as the stop left it (a search between
    the two hid f3c299a's loss of papers)."""
    probe = folder.parent / f"{folder.name}-probe"
    shutil.rmtree(probe, ignore_errors=True)
    shutil.copytree(folder, probe, symlinks=True)
    try:
        return missed(probe, wanted, env)
    finally:
        shutil.rmtree(probe, ignore_errors=True)


def interrupt_once(
    source: Path, folder: Path, env: dict[str, str], rng: random.Random
) -> dict[str, Any]:
    name = rng.choice(list(SIGNALS))
    by_commits = rng.random() < 0.6
    before = len(committed(folder))
    target = before + BATCH * rng.randint(1, 8)
    moment = rng.uniform(0.3, 6.0)
    proc = ingest(source, folder, env)
    started = time.monotonic()
    while proc.poll() is None:
        elapsed = time.monotonic() - started
        if (by_commits and count_committed(folder) >= target) or (
            not by_commits and elapsed >= moment
        ):
            proc.send_signal(SIGNALS[name])
            break
        time.sleep(0.005)
    stopped_at = time.monotonic()
    try:
        proc.wait(timeout=300)
        hung = None
    except subprocess.TimeoutExpired:  # record where it hangs, and go on
        proc.send_signal(signal.SIGABRT)
        proc.wait(timeout=60)
        hung = stderr_of(folder)[-8000:]
    text = stderr_of(folder)
    return {
        "hung": hung,
        "exit_seconds": round(time.monotonic() - stopped_at, 1),
        "signal": name,
        "when": f"after {(target - before) // BATCH} batches" if by_commits else f"{moment:.1f} s",
        "stopped": proc.returncode != 0,
        "exit": proc.returncode,
        "committed_before": before,
        "committed_after": len(committed(folder)),
        "native_crash": "terminate called" in text,
        "traceback": "Traceback" in text,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--papers", type=int, default=2000)
    parser.add_argument("--interruptions", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample", type=int, default=100, help="dense/hybrid checks per stop")
    parser.add_argument("--code", type=Path, default=REPO, help="the checkout to run")
    parser.add_argument("--work", type=Path, help="a work folder (an earlier run's is reused)")
    parser.add_argument(
        "--out", type=Path, default=REPO / "bench" / "results" / "fault-injection.json"
    )
    args = parser.parse_args()
    env = environment(args.code.resolve())
    rng = random.Random(args.seed)
    work = args.work or Path(tempfile.mkdtemp(prefix="fault-injection-"))
    work.mkdir(parents=True, exist_ok=True)
    source, titles = write_sample(args.papers, work)
    print(f"sample: {source} ({len(titles)} papers); code: {args.code}", flush=True)

    whole, generic_file = work / "whole", work / "generic.json"
    everyone = {m: list(titles.items()) for m in ("bm25", "dense", "hybrid")}
    if generic_file.exists():  # --work of an earlier run: the same build, already searched
        generic = json.loads(generic_file.read_text())
    else:
        if not (whole / "catalog.sqlite").exists():
            assert ingest(source, whole, env).wait() == 0, stderr_of(whole)
        generic = missed(whole, everyone, env)  # titles any index misses
        generic_file.write_text(json.dumps(generic))
    print("an index built in one go misses:", {m: len(v) for m, v in generic.items()}, flush=True)

    folder = work / "interrupted"
    seen: set[str] = set()
    rounds: list[dict[str, Any]] = []
    while len(rounds) < args.interruptions:
        result = interrupt_once(source, folder, env, rng)
        now = committed(folder)
        if not result["stopped"]:  # it finished before the signal: a fresh start
            print("  (the ingest finished before the signal; starting over)", flush=True)
            seen = set()
            shutil.rmtree(folder, ignore_errors=True)
            continue
        lost = sorted(seen - now)
        seen |= now
        ordered = sorted(now)
        checks = {
            "bm25": [(pid, titles[pid]) for pid in ordered],
            "dense": [
                (pid, titles[pid]) for pid in rng.sample(ordered, min(args.sample, len(ordered)))
            ],
        }
        checks["hybrid"] = checks["dense"]
        miss = missed_in_a_copy(folder, checks, env) if ordered else {m: [] for m in checks}
        result["lost"] = len(lost)
        result["unfindable"] = {m: len(set(v) - set(generic[m])) for m, v in miss.items()}
        rounds.append(result)
        print(f"  {len(rounds):2d}. {json.dumps(result)}", flush=True)

    ingest(source, folder, env).wait(timeout=3600)
    now = committed(folder)
    final_missed = missed(folder, everyone, env)
    summary = {
        "code": str(args.code),
        "papers": len(titles),
        "interruptions": len(rounds),
        "signals": {n: sum(r["signal"] == n for r in rounds) for n in SIGNALS},
        "lost": sum(r["lost"] for r in rounds) + len(seen - now),
        "unfindable_after_stops": {
            m: sum(r["unfindable"][m] for r in rounds) for m in ("bm25", "dense", "hybrid")
        },
        "final_papers": len(now),
        "final_unfindable": {m: len(set(v) - set(generic[m])) for m, v in final_missed.items()},
        "generic_titles_missed_by_any_index": {m: len(v) for m, v in generic.items()},
        "native_crashes": sum(r["native_crash"] for r in rounds),
        "tracebacks": sum(r["traceback"] for r in rounds),
        "hangs": sum(r["hung"] is not None for r in rounds),
        "rounds": rounds,
    }
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=1))
    print(json.dumps({k: v for k, v in summary.items() if k != "rounds"}, indent=1))


if __name__ == "__main__":
    main()
