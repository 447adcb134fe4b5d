"""Ingest speed on long abstracts: ``assistant ingest FILE`` into a fresh index against the
llama-index default (``bench/baseline_llamaindex.py build FILE DIR``), both as whole processes.

    python bench/ingest_speed.py                     # SciFact 1,500 and ACL 5,000, 2 rounds
    python bench/ingest_speed.py --corpus scifact --rounds 3
    python bench/ingest_speed.py --sample 100 --rounds 1    # a quick look

Samples (seed 0, the same papers for both): 1,500 of SciFact's 5,183 abstracts and 5,000 of the
58,959 ACL abstracts (the sample bench/scale.py uses), written to a JSONL file that both read.
Runs alternate ours / default / ours / default (``--together``: each round's two at the same
time), so that the load other processes put on the machine falls on both alike; each run's wall
time, CPU time, peak memory (the process's own accounting, os.wait4) and the load average
before it are recorded. Before the timed runs, one
untimed run of ours (3 papers) warms the disk cache and the imports; each timed run of ours
derives the int8 model into its new index folder (2-3 s), as a first ingest does.
A run for one corpus keeps the other corpus's figures in the results file.
Reads ../shared/bench in place; writes bench/results/ingest-speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assistant.ingest.readers import read_paths  # noqa: E402
from assistant.records import Paper  # noqa: E402

SHARED = REPO.parent / "shared" / "bench"
CORPORA = {
    "scifact": (SHARED / "scifact" / "corpus.jsonl", 1500),
    "acl": (SHARED / "acl" / "acl_abstracts.jsonl.gz", 5000),
}


def write_sample(corpus: str, size: int | None, folder: Path) -> tuple[Path, list[Paper]]:
    path, default_size = CORPORA[corpus]
    papers = read_paths([path]).papers
    sample = random.Random(0).sample(papers, min(size or default_size, len(papers)))
    out = folder / f"{corpus}-{len(sample)}.jsonl"
    with out.open("w", encoding="utf-8") as handle:
        for paper in sample:
            record: dict[str, str | int] = {
                "id": paper.paper_id,
                "title": paper.title,
                "abstract": paper.abstract,
            }
            if paper.year is not None:
                record["year"] = paper.year
            handle.write(json.dumps(record) + "\n")
    return out, sample


def word_pieces(papers: list[Paper]) -> dict[str, float]:
    """How long the abstracts are (title and abstract, as the default embeds them)."""
    from assistant.embeddings import MiniLMEmbedder

    counts = MiniLMEmbedder().count_tokens([f"{p.title}\n{p.abstract}" for p in papers])
    return {
        "mean_word_pieces": sum(counts) / len(counts),
        "share_longer_than_256": sum(n > 256 for n in counts) / len(counts),
        "word_pieces": sum(counts),
    }


@dataclass
class Running:
    """A started process and what its figures need."""

    process: subprocess.Popen
    out: IO[bytes]
    started: float
    load: float


def start(command: list[str], env: dict[str, str]) -> Running:
    load = os.getloadavg()[0]
    out = tempfile.TemporaryFile()  # noqa: SIM115 - closed by finish()
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    return Running(process, out, started, load)


def finish(running: Running) -> dict[str, float | str]:
    """A whole process's wall and CPU seconds, peak memory, and what it printed last."""
    _, status, usage = os.wait4(running.process.pid, 0)
    wall = time.perf_counter() - running.started
    running.out.seek(0)
    printed = running.out.read().decode("utf-8", "replace").strip()
    running.out.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{running.process.args!r} failed:\n{printed[-2000:]}")
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "load_before": round(running.load, 2),
        "printed": printed.splitlines()[-1] if printed else "",
    }


def run(command: list[str], env: dict[str, str]) -> dict[str, float | str]:
    return finish(start(command, env))


def compare(corpus: str, sample: Path, papers: int, rounds: int, tmp: Path, together: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    assistant = str(Path(sys.executable).parent / "assistant")
    baseline = str(REPO / "bench" / "baseline_llamaindex.py")

    def ours(n: int) -> list[str]:
        return [assistant, "ingest", str(sample), "--index", str(tmp / f"ours-{n}"), "--json"]

    def default(n: int) -> list[str]:
        return [sys.executable, baseline, "build", str(sample), str(tmp / f"default-{n}")]

    first = sample.with_name("warm-up.jsonl")
    first.write_text("".join(sample.read_text(encoding="utf-8").splitlines(True)[:3]))
    # Warms the disk cache and the imports (each timed run still derives its own int8 model).
    warm = run([assistant, "ingest", str(first), "--index", str(tmp / "warm-up"), "--json"], env)
    runs: dict[str, list[dict]] = {"ours": [], "default": []}
    for n in range(1, rounds + 1):
        if together:  # both at once: whatever else loads the machine, it loads both
            pair = start(ours(n), env), start(default(n), env)
            runs["ours"].append(finish(pair[0]))
            runs["default"].append(finish(pair[1]))
        else:
            runs["ours"].append(run(ours(n), env))
            runs["default"].append(run(default(n), env))
        print(
            f"  {corpus} round {n}: ours {runs['ours'][-1]['wall_s']} s, default "
            f"{runs['default'][-1]['wall_s']} s",
            file=sys.stderr,
            flush=True,
        )
    chunks = json.loads(str(runs["ours"][0]["printed"]))["chunks_embedded"]
    result: dict = {"papers": papers, "ours_chunks_embedded": chunks, "warm_up_ours": warm}
    for name, done in runs.items():
        wall = statistics.median(float(r["wall_s"]) for r in done)
        result[name] = {
            "runs": done,
            "median_wall_s": wall,
            "papers_per_s": papers / wall,
            "median_cpu_s": statistics.median(float(r["cpu_s"]) for r in done),
            "peak_rss_mb": max(float(r["peak_rss_mb"]) for r in done),
        }
    pairs = [
        float(d["wall_s"]) / float(o["wall_s"])
        for o, d in zip(runs["ours"], runs["default"], strict=True)
    ]
    result["ratio_papers_per_s"] = (
        result["ours"]["papers_per_s"] / result["default"]["papers_per_s"]
    )
    result["ratio_per_round"] = [round(r, 3) for r in pairs]
    result["ratio_cpu"] = result["default"]["median_cpu_s"] / result["ours"]["median_cpu_s"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", choices=[*CORPORA, "all"], default="all")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sample", type=int, default=None, help="papers (default 1,500 / 5,000)")
    parser.add_argument(
        "--together", action="store_true", help="run ours and the default of a round at once"
    )
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    out: dict = {"date": time.strftime("%Y-%m-%d %H:%M"), "cores": os.cpu_count()}
    corpora = list(CORPORA) if args.corpus == "all" else [args.corpus]
    with tempfile.TemporaryDirectory(prefix="ingest-speed-") as folder:
        tmp = Path(folder)
        for corpus in corpora:
            sample, papers = write_sample(corpus, args.sample, tmp)
            out[corpus] = {
                **word_pieces(papers),
                **compare(corpus, sample, len(papers), args.rounds, tmp / corpus, args.together),
            }
            print(
                f"{corpus}: ours {out[corpus]['ours']['papers_per_s']:.1f} papers/s, default "
                f"{out[corpus]['default']['papers_per_s']:.1f}: "
                f"{out[corpus]['ratio_papers_per_s']:.2f}x",
                flush=True,
            )
    args.results.mkdir(parents=True, exist_ok=True)
    name = "ingest-speed.json" if args.sample is None else f"ingest-speed-{args.sample}.json"
    path = args.results / name
    earlier = json.loads(path.read_text()) if path.is_file() else {}  # the other corpus's run
    path.write_text(json.dumps({**earlier, **out}, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
