"""What the model's help with retrieval (``llm_retrieval``) costs and changes, with a real model.

    python bench/llm_retrieval.py --limit 20        # SmolLM2-135M on llama.cpp's server

Starts llama.cpp's OpenAI-compatible server with SmolLM2-135M-Instruct (the ``local-llm``
extra; tests/llama_server.py), then for the first ``--limit`` answerable dev questions
(bench/devset.jsonl, over the bundled corpus): the rank of the first gold paper in plain
retrieval (top ``--k``), and after each of ``rewrite``, ``rerank`` and ``both``: its rank, the
seconds and tokens the model's calls added, and whether the helper fell back (its note).
Writes bench/results/llm-retrieval-smollm2.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Literal

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assistant.api import ensure_corpus, open_index, search  # noqa: E402
from assistant.evaluation import load_questions_jsonl, resolve_gold  # noqa: E402
from assistant.llm.base import make_chat_model  # noqa: E402
from assistant.retrieval.llm_assist import assist_retrieval  # noqa: E402
from assistant.retrieval.retriever import RetrievalOptions  # noqa: E402
from assistant.settings import Settings  # noqa: E402

MODES: tuple[Literal["rewrite", "rerank", "both"], ...] = ("rewrite", "rerank", "both")
FALLBACK_MARKS = ("could not", "no candidate")


def gold_rank(ids: list[str], gold: set[str]) -> int | None:
    return next((i for i, pid in enumerate(ids, start=1) if pid in gold), None)


def mean_rr(ranks: list[int | None]) -> float:
    return sum(1 / r for r in ranks if r) / len(ranks) if ranks else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--devset", type=Path, default=REPO / "bench" / "devset.jsonl")
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--k", type=int, default=10, help="papers retrieved (and reranked)")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "tests"))
    from llama_server import LlamaServer

    index_dir = args.results / f"index-bundled-{Settings().embedding_model}"
    index = open_index(Settings(index_dir=index_dir))
    ensure_corpus(index)
    titles = {p.title: p.paper_id for p in index.catalog.iter_papers()}
    questions, _ = resolve_gold(load_questions_jsonl(args.devset), titles, set(titles.values()))
    asked = [q for q in questions if not q.unanswerable and q.gold][: args.limit]
    options = RetrievalOptions(k=args.k)
    rows: list[dict[str, Any]] = []
    with LlamaServer.start(log=args.results / "llama-server.log") as server:
        for q in asked:
            gold = set(q.gold)
            started = time.perf_counter()
            plain = search(index, q.question, options)
            row: dict[str, Any] = {
                "id": q.id,
                "plain_rank": gold_rank([h.paper_id for h in plain.results], gold),
                "plain_s": round(time.perf_counter() - started, 2),
            }
            for mode in MODES:
                settings = Settings(
                    index_dir=index_dir,
                    llm_base_url=server.url,
                    llm_model=server.alias,
                    llm_temperature=0.0,
                    llm_retrieval=mode,
                    llm_rerank_candidates=args.k,
                )
                model = make_chat_model(settings)
                started = time.perf_counter()
                try:
                    assisted = assist_retrieval(model, index, q.question, plain, options, settings)
                finally:
                    model.close()
                ids = [h.paper_id for h in assisted.result.results]
                row[mode] = {
                    "rank": gold_rank(ids, gold),
                    "extra_s": round(time.perf_counter() - started, 2),
                    "tokens": sum(u.total_tokens for u in assisted.usage),
                    "fell_back": any(m in n for n in assisted.notes for m in FALLBACK_MARKS),
                    "queries": assisted.queries,
                    "notes": [n[:120] for n in assisted.notes],
                }
            rows.append(row)
            print(json.dumps(row), flush=True)
    summary: dict[str, Any] = {
        "model": "SmolLM2-135M-Instruct Q4_1 (llama-cpp-python 0.3.36 server)",
        "questions": len(rows),
        "k": args.k,
        "plain": {
            "mrr": round(mean_rr([r["plain_rank"] for r in rows]), 3),
            "hit_at_1": sum(r["plain_rank"] == 1 for r in rows),
            "found_in_k": sum(r["plain_rank"] is not None for r in rows),
        },
    }
    for mode in MODES:
        cells = [r[mode] for r in rows]
        ranks = [c["rank"] for c in cells]
        summary[mode] = {
            "mrr": round(mean_rr(ranks), 3),
            "hit_at_1": sum(rank == 1 for rank in ranks),
            "found_in_k": sum(rank is not None for rank in ranks),
            "better": sum(
                (c["rank"] or 99) < (r["plain_rank"] or 99)
                for c, r in zip(cells, rows, strict=True)
            ),
            "worse": sum(
                (c["rank"] or 99) > (r["plain_rank"] or 99)
                for c, r in zip(cells, rows, strict=True)
            ),
            "fell_back": sum(bool(c["fell_back"]) for c in cells),
            "extra_s_median": statistics.median(c["extra_s"] for c in cells),
            "extra_s_max": max(c["extra_s"] for c in cells),
            "tokens_mean": round(statistics.mean(c["tokens"] for c in cells), 1),
        }
    out = {**summary, "rows": rows}
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "llm-retrieval-smollm2.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
