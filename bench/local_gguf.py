"""Time to first token and total time: a GGUF file run by the assistant (``gguf:PATH``) vs a server.

    python bench/local_gguf.py --limit 5

Asks the first ``--limit`` answerable dev questions (bench/devset.jsonl, on the bundled index)
through SmolLM2-135M-Instruct twice: run by ``-m gguf:PATH`` in the assistant's own model process
(assistant/llm/llama_cpp_local.py; ``in_process`` in the results, the name it had when
it ran inside the assistant's process) and through llama.cpp's OpenAI-compatible server
(tests/llama_server.py) with the same file, context (8192), threads (llama.cpp's defaults),
sampling (temperature 0) and papers per answer; the two alternate per question, so a change in
the machine's load falls on both. Deadlines are raised (``--first-token-timeout``) so that each
time is measured rather than cut; the model is loaded, and the server started, before timing.
Writes bench/results/local-gguf.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from llama_server import LlamaServer, gguf_path  # noqa: E402

from assistant.api import ask, ensure_corpus, open_index  # noqa: E402
from assistant.evaluation import load_questions_jsonl, resolve_gold  # noqa: E402
from assistant.generation.answer import CitationRegistry  # noqa: E402
from assistant.index.paper_index import PaperIndex  # noqa: E402
from assistant.llm.llama_cpp_local import LocalGGUFModel  # noqa: E402
from assistant.settings import Settings  # noqa: E402


def timed_answer(index: PaperIndex, question: str, settings: Settings) -> dict[str, Any]:
    first: list[float] = []
    pieces = [0]
    started = time.perf_counter()

    def on_token(_text: str) -> None:
        pieces[0] += 1
        if not first:
            first.append(time.perf_counter() - started)

    answer = ask(index, question, settings, registry=CitationRegistry(), on_token=on_token)
    usage = answer.usage
    return {
        "mode": "abstained" if answer.abstained else answer.mode,
        "fallback": answer.llm_error,
        "first_token_s": round(first[0], 3) if first else None,
        "total_s": round(time.perf_counter() - started, 3),
        "prompt_tokens": usage.get("prompt_tokens"),
        "completion_tokens": usage.get("completion_tokens"),
        "streamed_pieces": pieces[0],  # as the answerer hands them on, not tokens
        "answer_start": answer.answer[:60],
    }


def summary(rows: list[dict[str, Any]], tokens: dict[str, int]) -> dict[str, Any]:
    """Medians over the questions the model answered; ``tokens`` is each one's completion
    tokens as counted in-process (the server streams no usage; the answers are the same)."""
    answered = [r for r in rows if r["mode"] == "llm"]
    firsts = [r["first_token_s"] for r in answered if r["first_token_s"] is not None]
    generation_s = sum(r["total_s"] - (r["first_token_s"] or 0) for r in answered)
    written = sum(tokens.get(r["id"], 0) for r in answered)
    return {
        "answered_by_model": len(answered),
        "fell_back": sum(r["fallback"] is not None for r in rows),
        "first_token_s_median": statistics.median(firsts) if firsts else None,
        "total_s_median": statistics.median(r["total_s"] for r in answered) if answered else None,
        "after_first_token_s_total": round(generation_s, 3),
        "tokens_per_s_after_first": round(written / generation_s, 2) if generation_s else None,
    }


def same_answers(rows: dict[str, list[dict[str, Any]]]) -> bool:
    """Both providers wrote the same answers (same start, as many streamed pieces)."""
    key = [(r["id"], r["answer_start"], r["streamed_pieces"]) for r in rows["in_process"]]
    return key == [(r["id"], r["answer_start"], r["streamed_pieces"]) for r in rows["server"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--devset", type=Path, default=REPO / "bench" / "devset.jsonl")
    parser.add_argument("--limit", type=int, default=5, help="dev questions asked")
    parser.add_argument("--k", type=int, default=3, help="papers given to the model")
    parser.add_argument("--max-tokens", type=int, default=256, help="answer length cap")
    parser.add_argument("--first-token-timeout", type=float, default=300.0)
    parser.add_argument("--answer-timeout", type=float, default=600.0)
    parser.add_argument(
        "--summarise", type=Path, help="only recompute the summary of this results file"
    )
    args = parser.parse_args()
    if args.summarise:
        write_summary(args.summarise, json.loads(args.summarise.read_text()))
        return
    index_dir = args.results / f"index-bundled-{Settings().embedding_model}"
    index = open_index(Settings(index_dir=index_dir))
    ensure_corpus(index)
    titles = {p.title: p.paper_id for p in index.catalog.iter_papers()}
    questions, _ = resolve_gold(load_questions_jsonl(args.devset), titles, set(titles.values()))
    asked = [q for q in questions if not q.unanswerable][: args.limit]
    model_file = gguf_path()
    common: dict[str, Any] = {
        "index_dir": index_dir,
        "llm_temperature": 0.0,
        "answer_papers": args.k,
        "answer_max_tokens": args.max_tokens,
        "llm_first_token_timeout": args.first_token_timeout,
        "llm_answer_timeout": args.answer_timeout,
    }
    local = Settings(llm_model=f"gguf:{model_file}", **common)
    started = time.perf_counter()
    LocalGGUFModel(local).load()
    load_s = time.perf_counter() - started
    rows: dict[str, list[dict[str, Any]]] = {"in_process": [], "server": []}
    with LlamaServer.start(log=args.results / "llama-server-local-gguf.log") as server:
        remote = Settings(llm_base_url=server.url, llm_model=server.alias, **common)
        for number, q in enumerate(asked):
            order = [("in_process", local), ("server", remote)]
            for name, settings in order if number % 2 == 0 else order[::-1]:
                row = {"id": q.id, **timed_answer(index, q.question, settings)}
                rows[name].append(row)
                print(name, json.dumps(row), flush=True)
    out = {
        "model": f"{model_file.name} (llama-cpp-python 0.3.36)",
        "questions": len(asked),
        "papers_per_answer": args.k,
        "answer_max_tokens": args.max_tokens,
        "load_average_at_end": os.getloadavg(),
        "in_process_load_s": round(load_s, 3),
        "rows": rows,
    }
    args.results.mkdir(parents=True, exist_ok=True)
    write_summary(args.results / "local-gguf.json", out)


def write_summary(path: Path, out: dict[str, Any]) -> None:
    """Add the summaries to ``out`` (its ``rows``), write it to ``path`` and print them."""
    rows = out["rows"]
    tokens = {r["id"]: int(r["completion_tokens"] or 0) for r in rows["in_process"]}
    out.update(
        same_answers=same_answers(rows),
        in_process=summary(rows["in_process"], tokens),
        server=summary(rows["server"], tokens),
    )
    out["rows"] = out.pop("rows")  # last, after the summaries
    path.write_text(json.dumps(out, indent=2))
    print(json.dumps({k: v for k, v in out.items() if k != "rows"}, indent=2))


if __name__ == "__main__":
    main()
