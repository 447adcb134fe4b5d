"""Search latency with year and source filters at 59k papers: the papers a filter allows read
as ids from the catalog, against reading and checking every record (the way before), in one
process, interleaved.

    python bench/filtered_search.py                    # the 59k index bench/scale.py built
    python bench/filtered_search.py --index DIR --rounds 5

Needs an index folder built by ``python bench/scale.py --part full`` (bundled + 58,959 ACL
abstracts) or any other; writes bench/results/filtered-search.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assistant.api import open_index  # noqa: E402
from assistant.retrieval.filters import SearchFilters  # noqa: E402
from assistant.retrieval.retriever import RetrievalOptions, Retriever  # noqa: E402
from assistant.settings import Settings  # noqa: E402

QUERIES = [
    "extending the context window of large language models",
    "neural machine translation for low-resource languages",
    "dependency parsing with graph neural networks",
    "reinforcement learning from human feedback",
    "named entity recognition in biomedical text",
]


def full_check(retriever: Retriever, filters: SearchFilters) -> set[str] | None:
    """The way before: every record in the year range read and checked."""
    if filters.is_empty():
        return None
    return {
        p.paper_id
        for p in retriever.index.catalog.iter_papers(
            year_from=filters.year_from, year_to=filters.year_to, source=filters.source
        )
        if filters.matches(p)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    default = REPO / "bench" / "results" / "index-acl-all-MiniLM-L6-v2-q8"
    parser.add_argument("--index", type=Path, default=default)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    index = open_index(Settings(index_dir=args.index))
    papers = index.catalog.count_papers()
    retriever = Retriever(index)
    retriever.search(QUERIES[0])  # loads BM25 and the mirror
    source = index.catalog.sources()[0][0]
    cases = {
        "no filter": SearchFilters(),
        "year >= 2020": SearchFilters(year_from=2020),
        "2015-2018": SearchFilters(year_from=2015, year_to=2018),
        f"source {source}": SearchFilters(source=source),
    }
    ways = {"ids from the catalog": retriever.allowed_papers, "every record checked": None}
    timings: dict[str, dict[str, list[float]]] = {w: {c: [] for c in cases} for w in ways}
    same = True
    for _round in range(args.rounds):
        for way, allowed in ways.items():
            for case, filters in cases.items():
                for query in QUERIES:
                    options = RetrievalOptions(k=10, filters=filters, parse_filters=False)
                    if allowed is None:
                        retriever.allowed_papers = lambda f, ids=None: full_check(retriever, f)  # type: ignore[method-assign]
                    started = time.perf_counter()
                    result = retriever.search(query, options)
                    timings[way][case].append(time.perf_counter() - started)
                    retriever.allowed_papers = ways["ids from the catalog"]  # type: ignore[method-assign,assignment]
                    if allowed is None:  # the same papers either way
                        again = retriever.search(query, options)
                        same &= [h.paper_id for h in again.results] == [
                            h.paper_id for h in result.results
                        ]
    report: dict = {"date": time.strftime("%Y-%m-%d %H:%M"), "papers": papers, "same": same}
    print(f"{papers} papers; {args.rounds} rounds x {len(QUERIES)} queries; same results: {same}")
    print("| filter | " + " | ".join(f"{w}: p50 / p95 ms" for w in ways) + " |")
    print("|---" * (len(ways) + 1) + "|")
    for case in cases:
        cells = []
        for way in ways:
            values = sorted(timings[way][case])
            p50 = statistics.median(values) * 1000
            p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))] * 1000
            cells.append(f"{p50:.0f} / {p95:.0f}")
            report.setdefault(case, {})[way] = {"p50_ms": p50, "p95_ms": p95}
        print(f"| {case} | " + " | ".join(cells) + " |")
    out = REPO / "bench" / "results" / "filtered-search.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"written {out}")
    index.close()


if __name__ == "__main__":
    main()
