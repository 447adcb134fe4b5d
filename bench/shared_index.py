"""A shared index on a real Chroma server: member B's first commands, two concurrent ingests.

Starts ``chroma run`` on loopback in a temporary folder; member A ingests the bundled corpus
(425 papers, ``ingest --bundled``); member B, with an empty folder, times its first ``stats``
(which reads the whole index from the server), then a first and a second ``search`` (whole
processes, as a user runs them). Then two members ingest overlapping halves of the bundled
corpus at once into a fresh collection, and the counts are checked.

    .venv/bin/python bench/shared_index.py [--out bench/results/shared-index/result.json]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHROMA = Path(sys.executable).parent / "chroma"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [str(CHROMA), "run", "--path", str(folder), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2):
                return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("chroma run did not start")


def member_env(url: str, folder: Path, collection: str, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSISTANT_", "OPENAI_"))}
    env.update(
        ASSISTANT_CHROMA_URL=url,
        ASSISTANT_INDEX_DIR=str(folder),
        ASSISTANT_COLLECTION=collection,
        ASSISTANT_MODEL_CACHE_DIR=str(cache),
    )
    return env


def timed(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "assistant", *args], env=env, capture_output=True, text=True
    )
    if proc.returncode:
        raise SystemExit(f"{args} failed: {proc.stderr}")
    return time.perf_counter() - started, proc.stdout


def halves(work: Path) -> tuple[Path, Path, int]:
    sys.path.insert(0, str(REPO))
    from assistant.files import bundled_corpus_dir
    from assistant.ingest.readers import merge_duplicates, read_paths

    papers, _ = merge_duplicates(read_paths([bundled_corpus_dir()]).papers)
    third = len(papers) // 3
    files = []
    for name, part in (("first.jsonl", papers[: 2 * third]), ("second.jsonl", papers[third:])):
        path = work / name
        rows = [{"id": p.paper_id, "title": p.title, "abstract": p.abstract} for p in part]
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        files.append(path)
    return files[0], files[1], len(papers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="Write the result as JSON here.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cache = work / "model-cache"
        server, url = start_server(work / "chroma")
        try:
            a = member_env(url, work / "a", "bench", cache)
            b = member_env(url, work / "b", "bench", cache)
            ingest_a, _ = timed(["ingest", "--bundled"], a)
            stats_b, out = timed(["stats", "--json"], b)
            papers_b = json.loads(out)["papers"]
            query = "extending the context window of LLaMA"
            search_b1, _ = timed(["search", query, "--json"], b)
            search_b2, _ = timed(["search", query, "--json"], b)
            search_a, _ = timed(["search", query, "--json"], a)
            first, second, distinct = halves(work)
            envs = [member_env(url, work / n, "concurrent", cache) for n in ("c", "d")]
            started = time.perf_counter()
            procs = [
                subprocess.Popen(
                    [sys.executable, "-m", "assistant", "ingest", str(path)],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for path, env in zip((first, second), envs, strict=True)
            ]
            for proc in procs:
                _out, err = proc.communicate()
                if proc.returncode:
                    raise SystemExit(f"concurrent ingest failed: {err}")
            concurrent_s = time.perf_counter() - started
            counts = [json.loads(timed(["stats", "--json"], env)[1])["papers"] for env in envs]
            fresh = member_env(url, work / "e", "concurrent", cache)
            counts.append(json.loads(timed(["stats", "--json"], fresh)[1])["papers"])
        finally:
            server.terminate()
            server.wait(timeout=30)
    result = {
        "papers": papers_b,
        "member_a_ingest_bundled_s": round(ingest_a, 2),
        "member_b_first_stats_s": round(stats_b, 2),
        "member_b_first_search_s": round(search_b1, 2),
        "member_b_second_search_s": round(search_b2, 2),
        "member_a_search_s": round(search_a, 2),
        "concurrent_ingest_s": round(concurrent_s, 2),
        "concurrent_papers_each_member_and_fresh": counts,
        "concurrent_expected_papers": distinct,
    }
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
