"""Speed: building the bundled index, the CLI from a cold process, in-process search latency,
and the llama-index default pipeline measured in the same run as the baseline.

    python bench/perf.py                 # bundled corpus (+ SciFact latency if its index exists)
    python bench/perf.py --no-baseline   # skip llama-index

Prints a Markdown table; writes bench/results/perf.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assistant.api import open_index  # noqa: E402
from assistant.demo_data import bundled_corpus_dir  # noqa: E402
from assistant.ingest.dedup import merge_duplicates  # noqa: E402
from assistant.ingest.readers import read_paths  # noqa: E402
from assistant.retrieval.retriever import RetrievalOptions, Retriever  # noqa: E402
from assistant.settings import Settings  # noqa: E402

QUERIES = [
    "What is LongLoRA?",
    "memory-efficient fine-tuning of large language models",
    "Which paper lets a language model reason over a graph of thoughts?",
    "ZeRO-Infinity",
    "how do diffusion models generate video",
    "evaluating code generation of LLMs on real GitHub issues",
    "mixture of experts routing",
    "speculative decoding to speed up inference",
    "retrieval augmented generation for question answering",
    "vision language models for document understanding",
]


def cli(args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> float:
    """Wall time of one cold CLI process."""
    started = time.perf_counter()
    subprocess.run(
        [str(Path(sys.executable).parent / "assistant"), *args],
        check=True,
        capture_output=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )
    return time.perf_counter() - started


def best_of(n: int, args: list[str]) -> tuple[float, float]:
    times = sorted(cli(args) for _ in range(n))
    return times[0], statistics.median(times)


def latency(index_dir: Path, queries: list[str], rounds: int = 3) -> dict[str, float]:
    retriever = Retriever(open_index(Settings(index_dir=index_dir)))
    retriever.search("warm-up")
    samples = timed(lambda q: retriever.search(q, RetrievalOptions(k=10)), queries * rounds)
    return {**percentiles(samples), "queries": len(samples)}


def timed(search: Callable[[str], object], queries: list[str]) -> list[float]:
    """Milliseconds per query."""
    samples = []
    for query in queries:
        started = time.perf_counter()
        search(query)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": ordered[len(ordered) // 2],
        "p95_ms": ordered[int(len(ordered) * 0.95) - 1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()
    args.results.mkdir(parents=True, exist_ok=True)
    out: dict = {"date": time.strftime("%Y-%m-%d %H:%M"), "cores": os.cpu_count()}

    papers, _ = merge_duplicates(read_paths([bundled_corpus_dir()]).papers)
    with tempfile.TemporaryDirectory() as tmp:
        index_dir = Path(tmp) / "index"
        # 1. Cold CLI: a first run (no index configured) builds the bundled demo into ./index.
        started = time.perf_counter()
        cli(["search", "warm", "--k", "1"], cwd=Path(tmp))
        out["first_search_with_build_s"] = time.perf_counter() - started
        index = open_index(Settings(index_dir=index_dir))
        out["papers"] = index.catalog.count_papers()
        out["chunks"] = index.catalog.count_chunks()
        # 2. Build time in-process (embedding included), on a fresh index.
        rebuild_dir = Path(tmp) / "rebuild"
        fresh = open_index(Settings(index_dir=rebuild_dir))
        started = time.perf_counter()
        report = fresh.ingest(papers)
        build = time.perf_counter() - started
        out["build_s"] = build
        out["build_papers_per_s"] = report.added / build
        # 3. Re-ingest of unchanged papers (nothing embedded).
        started = time.perf_counter()
        again = fresh.ingest(papers)
        out["reingest_unchanged_s"] = time.perf_counter() - started
        out["reingest_chunks_embedded"] = again.chunks_embedded
        # 4. CLI cold starts.
        out["help_s"] = best_of(5, ["--help"])
        out["cold_search_s"] = best_of(3, ["search", QUERIES[0], "--index", str(index_dir)])
        out["cold_ask_extractive_s"] = best_of(
            3, ["ask", QUERIES[2], "--index", str(index_dir), "--extractive"]
        )
        # 5. In-process latency.
        out["latency_bundled"] = latency(index_dir, QUERIES)
        scifact_dir = args.results / f"index-scifact-{Settings().embedding_model}"
        if scifact_dir.is_dir():
            out["latency_scifact"] = latency(scifact_dir, QUERIES)
        # 6. Baseline: llama-index default pipeline, same papers and model.
        if not args.no_baseline:
            from baseline_llamaindex import LlamaIndexBaseline

            baseline = LlamaIndexBaseline(Path(tmp) / "llamaindex")
            seconds = baseline.build(papers)
            out["baseline_build_s"] = seconds
            out["baseline_papers_per_s"] = len(papers) / seconds
            out["baseline_latency"] = percentiles(timed(baseline.search, QUERIES * 3))
    (args.results / "perf.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
