"""BM25: the project's own index (assistant/index/bm25.py) against bm25s, at 59k abstracts.

    python bench/bm25_compare.py              # every part, each in its own process, + a table
    python bench/bm25_compare.py --part own   # one part: own | bm25s-same | bm25s-native

The corpus is the bundled one (425 papers) plus the 58,959 ACL abstracts, read in place from
../shared/bench/acl/acl_abstracts.jsonl.gz. Quality is BM25 alone (no embeddings): Recall@5 and
Recall@10 of the 35 lookup questions of ../shared/bench/questions/seeds_tuning.jsonl, whose one
gold paper each is in the bundled corpus. Latency is per query (scores and top 10) over all its
100 questions, after 3 warm-up queries, single-threaded.

- ``own``: LexicalIndex (k1=0.9, b=0.4; title twice; the Analyzer's stemmed words + coined names).
- ``bm25s-same``: bm25s on exactly the same tokens, k1 and b (method "lucene", whose idf is the
  project's; its tf part lacks the constant (k1+1) factor, which does not change a ranking).
- ``bm25s-native``: bm25s as it comes: its own tokenizer (``\\w\\w+``, English stopwords, the same
  Snowball stemmer), its defaults k1=1.5, b=0.75; title twice as well.

Each part prints JSON; the whole run writes bench/results/bm25-compare.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assistant.demo_data import bundled_corpus_dir  # noqa: E402
from assistant.ingest.dedup import merge_duplicates  # noqa: E402
from assistant.ingest.readers import read_paths  # noqa: E402
from assistant.ingest.text import normalize_title  # noqa: E402

ACL = REPO.parent / "shared" / "bench" / "acl" / "acl_abstracts.jsonl.gz"
QUESTIONS = REPO.parent / "shared" / "bench" / "questions"
RESULTS = REPO / "bench" / "results" / "bm25-compare.json"
PARTS = ("own", "bm25s-same", "bm25s-native")
Search = Callable[[str], list[str]]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() / 2**20


def folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def load_corpus(limit: int | None = None) -> list[tuple[str, str, str]]:
    """(paper id, title, abstract): the bundled papers (merged as ingest merges them), then ACL
    (the first ``limit`` of them, for a quick check)."""
    papers, _ = merge_duplicates(read_paths([bundled_corpus_dir()]).papers)
    rows = [(p.paper_id, p.title, p.abstract) for p in papers]
    with gzip.open(ACL, "rt", encoding="utf-8") as handle:
        for n, line in enumerate(handle):
            if limit is not None and n >= limit:
                break
            record = json.loads(line)
            rows.append((str(record["id"]), record["title"] or "", record["abstract"] or ""))
    return rows


def load_questions(rows: list[tuple[str, str, str]]) -> tuple[list[str], list[tuple[str, str]]]:
    """All question texts, and the lookups as (question, gold paper id)."""
    by_title = {normalize_title(title): pid for pid, title, _ in rows[:1000]}
    texts: list[str] = []
    lookups: list[tuple[str, str]] = []
    for path in sorted(QUESTIONS.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            texts.append(item["question"])
            if item["kind"] == "lookup":
                (gold,) = item["gold"]
                lookups.append((item["question"], by_title[normalize_title(gold)]))
    return texts, lookups


def build_own(rows: list[tuple[str, str, str]], folder: Path) -> Search:
    from assistant.index.bm25 import LexicalIndex

    index = LexicalIndex.build((pid, title, abstract, n) for n, (pid, title, abstract) in
                               enumerate(rows))  # fmt: skip
    index.save(folder)
    return lambda query: [pid for pid, _score in index.search(query, 10)]


def _bm25s_search(retriever: Any, ids: list[str], tokens: Callable[[str], list[str]]) -> Search:
    def search(query: str) -> list[str]:
        token_ids = retriever.get_tokens_ids(tokens(query))
        if not token_ids:
            return []
        docs, scores = retriever.retrieve(
            [token_ids], k=10, show_progress=False, n_threads=0, return_as="tuple"
        )
        return [ids[int(d)] for d, s in zip(docs[0], scores[0], strict=True) if s > 0]

    return search


def build_bm25s_same(rows: list[tuple[str, str, str]], folder: Path) -> Search:
    import bm25s

    from assistant.index.terms import Analyzer

    analyzer = Analyzer()
    corpus = []
    for _pid, title, abstract in rows:
        title_terms = analyzer.bm25_terms(title)
        corpus.append(title_terms + title_terms + analyzer.bm25_terms(abstract))
    retriever = bm25s.BM25(k1=0.9, b=0.4, method="lucene")
    retriever.index(corpus, show_progress=False)
    retriever.save(str(folder), show_progress=False)
    return _bm25s_search(retriever, [r[0] for r in rows], analyzer.bm25_terms)


def build_bm25s_native(rows: list[tuple[str, str, str]], folder: Path) -> Search:
    import bm25s
    import snowballstemmer

    stemmer = snowballstemmer.stemmer("english")
    texts = [f"{title} {title} {abstract}" for _pid, title, abstract in rows]
    tokenized = bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False)
    retriever = bm25s.BM25()
    retriever.index(tokenized, show_progress=False)
    retriever.save(str(folder), show_progress=False)

    def tokens(query: str) -> list[str]:
        found = bm25s.tokenize(
            query, stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False
        )
        return list(found[0]) if found else []

    return _bm25s_search(retriever, [r[0] for r in rows], tokens)


BUILDERS: dict[str, Callable[[list[tuple[str, str, str]], Path], Search]] = {
    "own": build_own,
    "bm25s-same": build_bm25s_same,
    "bm25s-native": build_bm25s_native,
}


def run_part(part: str, limit: int | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    rows = load_corpus(limit)
    texts, lookups = load_questions(rows)
    loaded_rss = current_rss_mb()
    load_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        search = BUILDERS[part](rows, folder)
        build_s = time.perf_counter() - started
        disk_mb = folder_mb(folder)
    index_rss = current_rss_mb()
    for query in texts[:3]:
        search(query)
    latencies = []
    for query in texts:
        started = time.perf_counter()
        search(query)
        latencies.append((time.perf_counter() - started) * 1000)
    hits5 = hits10 = 0
    for question, gold in lookups:
        ranked = search(question)
        hits5 += gold in ranked[:5]
        hits10 += gold in ranked[:10]
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "part": part,
        "papers": len(rows),
        "lookups": len(lookups),
        "queries_timed": len(latencies),
        "load_s": round(load_s, 1),
        "build_s": round(build_s, 1),
        "rss_after_load_mb": round(loaded_rss),
        "rss_with_index_mb": round(index_rss),
        "peak_rss_mb": round(peak_rss_mb()),
        "disk_mb": round(disk_mb, 1),
        "latency_p50_ms": round(statistics.median(latencies), 2),
        "latency_p95_ms": round(cuts[94], 2),
        "recall@5": round(hits5 / len(lookups), 3),
        "recall@10": round(hits10 / len(lookups), 3),
    }


def table(results: list[dict[str, Any]]) -> str:
    head = (
        "| index | build s | peak RSS MB | RSS with index MB | on disk MB | p50 ms | p95 ms "
        "| R@5 | R@10 |\n|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in results:
        lines.append(
            f"| {r['part']} | {r['build_s']} | {r['peak_rss_mb']} | {r['rss_with_index_mb']} "
            f"| {r['disk_mb']} | {r['latency_p50_ms']} | {r['latency_p95_ms']} "
            f"| {r['recall@5']:.3f} | {r['recall@10']:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=PARTS)
    parser.add_argument("--limit", type=int, help="Only the first N ACL abstracts (a check).")
    args = parser.parse_args()
    if args.part:
        print(json.dumps(run_part(args.part, args.limit)))
        return
    results = []
    for part in PARTS:  # each in its own process: its peak memory is its own
        done = subprocess.run(
            [sys.executable, __file__, "--part", part]
            + ([] if args.limit is None else ["--limit", str(args.limit)]),
            capture_output=True,
            text=True,
            check=True,
        )
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), file=sys.stderr)
    if args.limit is None:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))


if __name__ == "__main__":
    main()
