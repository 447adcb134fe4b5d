"""LitSearch at 59k papers: real literature-search questions asked of the whole ACL Anthology.

    python bench/litsearch.py                  # needs the 59k index: bench/scale.py --part full
    python bench/litsearch.py --methods hybrid # one method only (quicker)

The questions are ../shared/bench/questions/litsearch_tuning.jsonl (164 LitSearch questions,
Ajith et al., EMNLP 2024: written from a citing sentence, ``inline_citation``, or by the cited
paper's authors, ``author_written``; ``specific`` ones mean one paper, ``broad`` ones a topic),
each with its gold ACL paper(s), asked of the index of the bundled corpus and the 58,959 ACL
abstracts that ``bench/scale.py --part full`` builds. Each question falls on the tuning or the
held-out side by a hash of its id (``heldout.part_of``, the salt every held-out figure here
uses); both figures are printed side by side, and only the tuning side may be looked at while
changing the pipeline.

Figures, as LitSearch reports them: specific Recall@5 (the mean of the two question types' own
means), broad Recall@20, pooled Recall@5 and @20 over every question; Recall is the share of a
question's gold papers in the top k. Also: answerable questions flagged "not covered" (all are
answerable), and search latency (p50, p95) in this process. Methods, in one run: BM25 with
stemming as bm25s ships it (the LitSearch paper's baseline), the assistant's BM25 alone, dense
alone, the assistant's search with the question as written (``hybrid-as-asked``, as before
issue 22) and as read (``hybrid``: its request left out, assistant/retrieval/question.py).
Writes bench/results/litsearch.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from heldout import part_of  # noqa: E402

from assistant.api import search as search_papers  # noqa: E402
from assistant.index.paper_index import PaperIndex  # noqa: E402
from assistant.retrieval.retriever import RetrievalOptions  # noqa: E402
from assistant.settings import Settings  # noqa: E402

QUESTIONS = REPO.parent / "shared" / "bench" / "questions" / "litsearch_tuning.jsonl"
TYPES = ("inline_citation", "author_written")
# (recall, covered) of the top ``k`` paper ids of a question
Search = Callable[[str, int], tuple[list[str], bool]]


def load_questions() -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]
    for row in rows:
        row["part"] = part_of("litsearch", row["id"])
    return rows


def recall(found: list[str], gold: list[str], k: int) -> float:
    return len(set(found[:k]) & set(gold)) / len(gold)


def bm25s_search(index: PaperIndex) -> Search:
    """bm25s as it comes (its tokenizer, English stopwords, the Snowball stemmer, k1 1.5, b 0.75)
    over the same papers' titles and abstracts."""
    import bm25s
    import snowballstemmer

    stemmer = snowballstemmer.stemmer("english")
    rows = [(p.paper_id, f"{p.title} {p.abstract}") for p in index.catalog.iter_papers()]
    texts = [t for _i, t in rows]
    tokenized = bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False)
    retriever = bm25s.BM25()
    retriever.index(tokenized, show_progress=False)
    ids = [i for i, _t in rows]

    def search(question: str, k: int) -> tuple[list[str], bool]:
        query = bm25s.tokenize(question, stopwords="en", stemmer=stemmer, show_progress=False)
        docs, scores = retriever.retrieve(query, k=k, show_progress=False, return_as="tuple")
        return [ids[int(d)] for d, s in zip(docs[0], scores[0], strict=True) if s > 0], True

    return search


def assistant_search(index: PaperIndex, method: str) -> Search:
    """The assistant's search; ``hybrid-as-asked``: the question as written, its request ("Could
    you suggest research that") scored too, as before issue 22."""
    strip = not method.endswith("-as-asked")
    method = method.removesuffix("-as-asked")

    def search(question: str, k: int) -> tuple[list[str], bool]:
        options = RetrievalOptions(k=k, method=method, strip_request=strip)  # type: ignore[arg-type]
        result = search_papers(index, question, options)
        return [hit.paper_id for hit in result.results], result.covered

    return search


def measure(search: Search, questions: list[dict[str, Any]]) -> dict[str, Any]:
    per_part: dict[str, dict[str, list[float]]] = {}
    seconds: list[float] = []
    for row in questions:
        started = time.perf_counter()
        found, covered = search(row["question"], 20)
        seconds.append(time.perf_counter() - started)
        bucket = per_part.setdefault(row["part"], {})
        bucket.setdefault("r5", []).append(recall(found, row["gold"], 5))
        bucket.setdefault("r20", []).append(recall(found, row["gold"], 20))
        bucket.setdefault("flagged", []).append(0.0 if covered else 1.0)
        key = f"{row['specificity']}:{row['type']}"
        bucket.setdefault(f"{key}:r5", []).append(recall(found, row["gold"], 5))
        bucket.setdefault(f"{key}:r20", []).append(recall(found, row["gold"], 20))
    figures: dict[str, Any] = {}
    for part, bucket in per_part.items():

        def mean(name: str, bucket: dict[str, list[float]] = bucket) -> float | None:
            values = bucket.get(name)
            return round(statistics.fmean(values), 3) if values else None

        specific = [mean(f"specific:{t}:r5") for t in TYPES]
        broad = [r for t in TYPES for r in bucket.get(f"broad:{t}:r20", [])]
        figures[part] = {
            "questions": len(bucket["r5"]),
            "specific_r5": round(statistics.fmean(v for v in specific if v is not None), 3),
            "specific_r5_by_type": dict(zip(TYPES, specific, strict=True)),
            "broad_r20": round(statistics.fmean(broad), 3) if broad else None,
            "pooled_r5": mean("r5"),
            "pooled_r20": mean("r20"),
            "flagged_not_covered": mean("flagged"),
        }
    ordered = sorted(seconds)
    figures["latency_ms"] = {
        "p50": round(1000 * statistics.median(ordered), 1),
        "p95": round(1000 * ordered[int(0.95 * (len(ordered) - 1))], 1),
    }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--methods", default="bm25s,bm25,dense,hybrid-as-asked,hybrid")
    args = parser.parse_args()
    folder = args.results / f"index-acl-{Settings().embedding_model}"
    if not (folder / "catalog.sqlite").exists():
        sys.exit(f"no 59k index at {folder}: run python bench/scale.py --part full first")
    index = PaperIndex(Settings(index_dir=folder))
    questions = load_questions()
    known = set(index.catalog.get_papers([g for q in questions for g in q["gold"]]))
    missing = sorted({g for q in questions for g in q["gold"]} - known)
    if missing:
        print(f"gold papers not in the index (left in, as misses): {missing}")
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "papers": index.catalog.count_papers(),
        "parts": {p: sum(q["part"] == p for q in questions) for p in ("tune", "heldout")},
    }
    for method in args.methods.split(","):
        search = bm25s_search(index) if method == "bm25s" else assistant_search(index, method)
        search("warm up", 20)
        report[method] = measure(search, questions)
        row = report[method]
        print(
            f"{method:15s} specific R@5 {row['tune']['specific_r5']:.3f} / "
            f"{row['heldout']['specific_r5']:.3f}  broad R@20 {row['tune']['broad_r20']:.3f} / "
            f"{row['heldout']['broad_r20']:.3f}  pooled R@5 {row['tune']['pooled_r5']:.3f} / "
            f"{row['heldout']['pooled_r5']:.3f}  R@20 {row['tune']['pooled_r20']:.3f} / "
            f"{row['heldout']['pooled_r20']:.3f}  flagged {row['tune']['flagged_not_covered']:.3f}"
            f" / {row['heldout']['flagged_not_covered']:.3f}  p50/p95 "
            f"{row['latency_ms']['p50']}/{row['latency_ms']['p95']} ms  (tuning / held-out)",
            flush=True,
        )
    out = args.results / "litsearch.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
