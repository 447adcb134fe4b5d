"""Scale: ingest speed against the llama-index default pipeline, the 59k ACL abstracts, search
latency as the corpus grows, and retrieval quality with the ACL papers mixed in.

    python bench/scale.py --part sample   # ours vs llama-index on the same 5,000 ACL abstracts
    python bench/scale.py --part full     # the bundled corpus + all 58,959 ACL abstracts
    python bench/scale.py --part cold     # cold-process search on the index 'full' built
    python bench/scale.py --part quality  # dev-set recall on that index and the bundled one
    python bench/scale.py --part baseline-full  # llama-index default over the same 59,384 papers

The figures against the llama-index default at 59k come from running baseline-full and full one
after the other, in the same session.

Reads ../shared/bench/acl/acl_abstracts.jsonl.gz in place. Each part runs in its own process
(peak memory is that process's), prints JSON and writes bench/results/scale-<part>.json.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assistant.api import ensure_corpus, ingest_paths, open_index  # noqa: E402
from assistant.demo_data import bundled_corpus_dir  # noqa: E402
from assistant.evaluation import load_questions_jsonl, resolve_gold  # noqa: E402
from assistant.ingest.dedup import merge_duplicates  # noqa: E402
from assistant.ingest.readers import read_paths  # noqa: E402
from assistant.settings import Settings  # noqa: E402

ACL = REPO.parent / "shared" / "bench" / "acl" / "acl_abstracts.jsonl.gz"
# Relevance of the ACL papers that reach the top 10 of a topic question (written by hand, one
# line each): the dev set's gold lists name bundled papers only.
TOPIC_JUDGMENTS = REPO / "bench" / "topic-judgments-acl.jsonl"
SAMPLE = 5000


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() / 2**20


def folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def progress_printer(label: str) -> Callable[[int, int], None]:
    started = time.perf_counter()
    last = [0.0]

    def report(done: int, total: int) -> None:
        now = time.perf_counter()
        if done and (now - last[0] > 30 or done == total):
            last[0] = now
            rate = done / (now - started)
            left = (total - done) / rate if rate else 0
            print(
                f"  {label}: {done}/{total} papers, {rate:.1f}/s, {left / 60:.1f} min left",
                file=sys.stderr,
                flush=True,
            )

    return report


def sample_part(acl: list, results: Path, tmp: Path) -> dict:
    """Ours and the llama-index default on the same ACL sample, same machine and model."""
    from baseline_llamaindex import LlamaIndexBaseline

    papers = random.Random(0).sample(acl, SAMPLE)
    tokens = open_index(Settings(index_dir=tmp / "count")).embedder.count_tokens(
        [f"{p.title}\n{p.abstract}" for p in papers]
    )
    out: dict = {
        "papers": len(papers),
        "mean_word_pieces": sum(tokens) / len(tokens),
        "share_longer_than_256": sum(n > 256 for n in tokens) / len(tokens),
    }
    index = open_index(Settings(index_dir=tmp / "ours"))
    started = time.perf_counter()
    report = index.ingest(papers, progress=progress_printer("ours"))
    seconds = time.perf_counter() - started
    out["ours"] = {
        "seconds": seconds,
        "papers_per_s": len(papers) / seconds,
        "chunks": report.chunks_embedded,
    }
    baseline = LlamaIndexBaseline(tmp / "llamaindex")
    seconds = baseline.build(papers)
    out["llamaindex_default"] = {"seconds": seconds, "papers_per_s": len(papers) / seconds}
    out["speedup"] = out["ours"]["papers_per_s"] / out["llamaindex_default"]["papers_per_s"]
    from perf import QUERIES, latency, percentiles, timed

    index.close()
    out["ours"]["latency"] = latency(tmp / "ours", QUERIES)
    out["llamaindex_default"]["latency"] = percentiles(timed(baseline.search, QUERIES * 3))
    return out


def full_part(acl: Path, results: Path, devset: Path) -> dict:
    """The bundled corpus plus every ACL abstract in one index, streamed as the CLI does."""
    from perf import QUERIES, best_of, latency

    folder = results / f"index-acl-{Settings().embedding_model}"
    if folder.exists():
        shutil.rmtree(folder)
    index = open_index(Settings(index_dir=folder))
    ensure_corpus(index)
    started = time.perf_counter()
    report = ingest_paths(index, [acl], progress=progress_printer("ACL"))
    seconds = time.perf_counter() - started
    out: dict = {
        "papers": index.catalog.count_papers(),
        "chunks": index.catalog.count_chunks(),
        "acl_ingest_s": seconds,
        "acl_papers_per_s": report.added / seconds,
        "peak_rss_mb_after_ingest": peak_rss_mb(),
        "index_mb": folder_mb(folder),
    }
    index.close()
    out["latency_59k"] = latency(folder, QUERIES)
    out["cold_search_59k_s"] = best_of(3, ["search", QUERIES[0], "--index", str(folder)])
    bundled = results / f"index-bundled-{Settings().embedding_model}"
    scifact = results / f"index-scifact-{Settings().embedding_model}"
    if bundled.is_dir():
        out["latency_425"] = latency(bundled, QUERIES)
    if scifact.is_dir():
        out["latency_5k"] = latency(scifact, QUERIES)
    out.update(quality_part(results, devset))
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def baseline_full_part(acl: Path, results: Path, limit: int | None = None) -> dict:
    """The llama-index default over the papers of ``full`` (bundled + ACL), same model."""
    import subprocess

    from baseline_llamaindex import LlamaIndexBaseline
    from perf import QUERIES, percentiles, timed

    papers, _ = merge_duplicates(read_paths([bundled_corpus_dir(), acl]).papers)
    papers = papers[:limit] if limit else papers
    rss_before = current_rss_mb()  # the parsed papers, which llama-index needs all at once
    folder = results / "llamaindex-acl"
    if folder.exists():
        shutil.rmtree(folder)
    baseline = LlamaIndexBaseline(folder)
    seconds = baseline.build(papers)
    out: dict = {
        "papers": len(papers),
        "build_s": seconds,
        "papers_per_s": len(papers) / seconds,
        "rss_mb_before_build": rss_before,
        "peak_rss_mb_after_build": peak_rss_mb(),
        "index_mb": folder_mb(folder),
        "latency_59k": percentiles(timed(baseline.search, QUERIES * 3)),
    }
    script = str(REPO / "bench" / "baseline_llamaindex.py")
    cold = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, script, str(folder), QUERIES[0]], check=True, capture_output=True
        )
        cold.append(time.perf_counter() - started)
    out["cold_search_59k_s"] = {"best": min(cold), "median": sorted(cold)[1]}
    return out


def quality_part(results: Path, devset: Path) -> dict:
    """Dev-set recall on the bundled index and on the one with the ACL papers mixed in."""
    bundled = results / f"index-bundled-{Settings().embedding_model}"
    folder = results / f"index-acl-{Settings().embedding_model}"
    return {
        "dev_recall@5": {
            "bundled_only": dev_recall(bundled, devset) if bundled.is_dir() else None,
            "with_acl": dev_recall(folder, devset),
        }
    }


def dev_recall(folder: Path, devset: Path) -> dict:
    """Recall@5 of the answerable dev questions (all, and single-paper ones)."""
    from assistant.evaluation import evaluate
    from assistant.retrieval.retriever import RetrievalOptions, Retriever

    index = open_index(Settings(index_dir=folder))
    # Gold titles resolve among the bundled papers only (an ACL paper may share a title).
    bundled, _ = merge_duplicates(read_paths([bundled_corpus_dir()]).papers)
    titles = {p.title: p.paper_id for p in bundled}
    bundled_ids = set(titles.values())
    questions, _ = resolve_gold(load_questions_jsonl(devset), titles, bundled_ids)
    retriever = Retriever(index)

    def search(question: str) -> tuple[list[str], bool]:
        result = retriever.search(question, RetrievalOptions(k=10))
        return [hit.paper_id for hit in result.results], result.covered

    report = evaluate(questions, search)
    answerable = [d for d in report.details if not d.unanswerable]
    single = [d for d in answerable if (d.type or "") != "topic"]
    topic = [d for d in answerable if d.type == "topic"]
    judged: dict[tuple[str, str], bool] = {}
    for line in TOPIC_JUDGMENTS.read_text().splitlines():
        row = json.loads(line)
        judged[(row["id"], row["paper_id"])] = row["relevant"]
    relevant = unjudged = 0
    for d in topic:
        for pid in d.ranked[:5]:
            if pid in d.gold or judged.get((d.id, pid), False):
                relevant += 1
            elif pid not in bundled_ids and (d.id, pid) not in judged:
                unjudged += 1  # counted as not relevant
    return {
        "recall@5": sum(d.metrics["recall@5"] for d in answerable) / len(answerable),
        "single_recall@5": sum(d.metrics["recall@5"] for d in single) / len(single),
        "topic_recall@5": sum(d.metrics["recall@5"] for d in topic) / len(topic),
        "topic_precision@5_judged": relevant / (5 * len(topic)),
        "topic_top5_unjudged": unjudged,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parts = ("sample", "full", "cold", "quality", "baseline-full")
    parser.add_argument("--part", choices=parts, required=True)
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--devset", type=Path, default=REPO / "bench" / "devset.jsonl")
    parser.add_argument("--acl", type=Path, default=ACL)
    parser.add_argument("--limit", type=int, help="baseline-full: only the first N papers")
    args = parser.parse_args()
    args.results.mkdir(parents=True, exist_ok=True)
    out: dict = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "embedding_model": Settings().embedding_model,
    }
    with tempfile.TemporaryDirectory() as tmp:
        if args.part == "cold":  # only the cold-process search on an existing full index
            from perf import QUERIES, best_of

            folder = args.results / f"index-acl-{Settings().embedding_model}"
            out["cold_search_59k_s"] = best_of(3, ["search", QUERIES[0], "--index", str(folder)])
        elif args.part == "quality":
            out.update(quality_part(args.results, args.devset))
        elif args.part == "baseline-full":
            out.update(baseline_full_part(args.acl, args.results, args.limit))
        elif args.part == "sample":
            started = time.perf_counter()
            read = read_paths([args.acl])
            out["acl_papers_read"] = len(read.papers)
            out["acl_read_s"] = time.perf_counter() - started
            out.update(sample_part(read.papers, args.results, Path(tmp)))
        else:
            out.update(full_part(args.acl, args.results, args.devset))
    (args.results / f"scale-{args.part}.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
