"""A shared index on a real Chroma server: member B's first commands, two concurrent ingests.

Starts ``chroma run`` on loopback in a temporary folder; member A ingests the bundled corpus
(425 papers, ``ingest --bundled``); member B, with an empty folder, times its first ``stats``
(which reads the whole index from the server), then a first and a second ``search`` (whole
processes, as a user runs them). Then two members ingest overlapping halves of the bundled
corpus at once into a fresh collection, and the counts are checked.

``--at-59k``: the same for the 59,333-paper index (bundled + ACL) already built in
``bench/results/index-acl-all-MiniLM-L6-v2-q8`` (not re-embedded): a copy of its ``chroma/``
folder is served by ``chroma run`` and its catalog published to the server as paper records
(:func:`assistant.index.server_sync.publish_local`). Member B's first ``stats`` and ``search``
(whole processes, with their peak memory), then search p50/p95 and peak memory of a process
running the dev questions, for both dense paths: the local mirror of every vector and the
server's HNSW index (``ASSISTANT_SERVER_DENSE_ABOVE_CHUNKS=0``), and how often their top 10 agree.

    .venv/bin/python bench/shared_index.py [--out bench/results/shared-index/result.json]
    .venv/bin/python bench/shared_index.py --at-59k --out bench/results/shared-index/59k.json
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


def measured(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run a process: (seconds, its own peak RSS in MB, stdout)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=err, text=True)
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode:
            raise SystemExit(f"{command} failed: {err.read()}")
        return seconds, usage.ru_maxrss / 1024, out.read()


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
    from assistant.demo_data import bundled_corpus_dir
    from assistant.ingest.dedup import merge_duplicates
    from assistant.ingest.readers import read_paths

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
    parser.add_argument("--at-59k", action="store_true", help="The 59k index, both dense paths.")
    parser.add_argument("--queries", type=int, default=60, help="Dev questions timed (59k).")
    args = parser.parse_args()
    result = at_59k(args.queries) if args.at_59k else bundled()
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


def bundled() -> dict[str, object]:
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
    return {
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


# --- the 59k index, both dense paths -------------------------------------------------------------

LOCAL_59K = REPO / "bench" / "results" / "index-acl-all-MiniLM-L6-v2-q8"
DEV_QUESTIONS = REPO / "bench" / "devset.jsonl"
THRESHOLDS = {"mirror": str(10**9), "server": "0"}  # ASSISTANT_SERVER_DENSE_ABOVE_CHUNKS

PUBLISH = """
import sys, time
from pathlib import Path
from assistant.settings import Settings
from assistant.index.catalog import Catalog
from assistant.index.paper_index import PaperIndex
from assistant.index.server_sync import publish_local

index = PaperIndex(Settings())
assert index.shared is not None
print(publish_local(Catalog(Path(sys.argv[1])), index.shared, None))
"""

# One process a workload (its peak memory apart): open the index, run the workload on each
# question (search, filtered search) or paper ("papers like this one": 20 spread over the
# corpus), report the latencies, the top 10s and what the dense side is.
LATENCY = """
import json, sys, time
from assistant.settings import Settings
from assistant.api import open_index
from assistant.retrieval.filters import SearchFilters
from assistant.retrieval.retriever import RetrievalOptions, Retriever
from assistant.retrieval.similar import similar_papers

workload, questions = sys.argv[1], json.loads(sys.argv[2])
started = time.perf_counter()
index = open_index(Settings())
retriever = Retriever(index)
retriever.search("warm-up: load the model")
out = {"dense": type(index.dense).__name__, "ready_s": time.perf_counter() - started}
filters = {
    "search": SearchFilters(),
    "search_since_2020": SearchFilters(year_from=2020),
    "search_venue_emnlp": SearchFilters(venue="EMNLP"),
}
if workload == "similar":
    ids = [paper.paper_id for paper in index.catalog.iter_papers()]
    items = ids[:: len(ids) // 20][:20]
    run = lambda item: similar_papers(index, item, RetrievalOptions(k=10))
else:
    items = questions
    options = RetrievalOptions(k=10, filters=filters[workload])
    run = lambda item: retriever.search(item, options)
times, tops = [], []
for item in items:
    t = time.perf_counter()
    result = run(item)
    times.append(time.perf_counter() - t)
    tops.append([hit.paper_id for hit in result.results])
out["times"], out["tops"] = times, tops
print(json.dumps(out))
"""
WORKLOADS = ("search", "search_since_2020", "search_venue_emnlp", "similar")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def at_59k(n_questions: int) -> dict[str, object]:
    """Serve the 59k index from a copy of its Chroma folder; member B in both dense paths."""
    import shutil

    if not (LOCAL_59K / "catalog.sqlite").is_file():
        raise SystemExit(f"{LOCAL_59K} is missing: build it first (bench/scale.py).")
    rows = [json.loads(line) for line in DEV_QUESTIONS.read_text(encoding="utf-8").splitlines()]
    questions = [row["question"] for row in rows][:n_questions]
    python = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cache = work / "model-cache"
        need = sum(p.stat().st_size for p in (LOCAL_59K / "chroma").rglob("*") if p.is_file())
        if shutil.disk_usage(work).free < 3 * need:
            raise SystemExit(f"Not enough free disk in {work} for a copy of the index.")
        shutil.copytree(LOCAL_59K / "chroma", work / "src" / "chroma")
        shutil.copy2(LOCAL_59K / "catalog.sqlite", work / "src" / "catalog.sqlite")
        server, url = start_server(work / "src" / "chroma")
        result: dict[str, object] = {}
        try:
            publisher = member_env(url, work / "a", "papers", cache)
            seconds, rss, out = measured([python, "-c", PUBLISH, str(work / "src")], publisher)
            result["publish"] = {"papers": int(out), "seconds": round(seconds, 1)}
            for mode, threshold in THRESHOLDS.items():
                # Each its own model cache: a new member's first search derives the int8 model.
                env = member_env(url, work / f"b-{mode}", "papers", work / f"models-{mode}")
                env["ASSISTANT_SERVER_DENSE_ABOVE_CHUNKS"] = threshold
                cli = [python, "-m", "assistant"]
                query = "extending the context window of LLaMA"
                row: dict[str, object] = {}
                for name, args in (
                    ("first_stats", ["stats", "--json"]),
                    ("first_search", ["search", query, "--json"]),
                    ("second_search", ["search", query, "--json"]),
                ):
                    seconds, rss, out = measured(cli + args, env)
                    row[f"{name}_s"], row[f"{name}_peak_rss_mb"] = round(seconds, 2), round(rss)
                    if name == "first_stats":
                        row["papers"], row["chunks"] = (
                            json.loads(out)[k] for k in ("papers", "chunks")
                        )
                folder = work / f"b-{mode}"
                row["folder_mb"] = round(
                    sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20
                )
                tops: dict[str, list[list[str]]] = {}
                row["tops"] = tops
                for name in WORKLOADS:
                    command = [python, "-c", LATENCY, name, json.dumps(questions)]
                    seconds, rss, out = measured(command, env)
                    timing = json.loads(out)
                    row["dense"], tops[name] = timing["dense"], timing["tops"]
                    row[f"{name}_p50_ms"] = round(1000 * percentile(timing["times"], 0.5), 1)
                    row[f"{name}_p95_ms"] = round(1000 * percentile(timing["times"], 0.95), 1)
                    row[f"{name}_process_peak_rss_mb"] = round(rss)
                result[mode] = row
            result["server_peak_rss_mb"] = server_peak_rss(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
    mirror, on_server = result["mirror"], result["server"]
    assert isinstance(mirror, dict) and isinstance(on_server, dict)
    agreement = {}
    for name in mirror["tops"]:
        pairs = list(zip(mirror["tops"][name], on_server["tops"][name], strict=True))
        same = sum(a == b for a, b in pairs)
        overlap = sum(len(set(a) & set(b)) / max(len(a), 1) for a, b in pairs) / len(pairs)
        agreement[name] = {
            "same_top10": f"{same}/{len(pairs)}",
            "mean_overlap_at_10": round(overlap, 3),
        }
    for row in (mirror, on_server):
        row.pop("tops")
    result["agreement"] = agreement
    result["questions"] = len(questions)
    return result


def server_peak_rss(pid: int) -> int | None:
    """The Chroma server's peak RSS in MB (Linux /proc), None elsewhere."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    line = next((line for line in status.splitlines() if line.startswith("VmHWM:")), None)
    return round(int(line.split()[1]) / 1024) if line else None


if __name__ == "__main__":
    main()
