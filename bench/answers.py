"""Answers on the dev questions.

    python bench/answers.py                    # extractive: first cited paper, citation validity,
                                               # abstention, cold time to the first answer byte
    python bench/answers.py --real-llm --limit 20   # a real small model (see below)

Writes bench/results/answers.json (extractive) or bench/results/answers-smollm2.json.

``--real-llm`` starts llama.cpp's OpenAI-compatible server with SmolLM2-135M-Instruct (the
``local-llm`` extra; tests/llama_server.py) on loopback and asks the first ``--limit`` dev
questions through it, streamed, with the product's default deadlines: citation validity after
checking, citations the checker removed, share of answer sentences with a citation, share of
citations passing the attribution check (the cited abstract has a sentence supporting the citing
sentence: assistant/generation/attribution.py, calibrated by bench/attribution.py), time to the
first answer token and total time per question, and how many fell back to the extractive answer.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assistant.api import ask, ensure_corpus, open_index  # noqa: E402
from assistant.evaluation import load_questions_jsonl, resolve_gold  # noqa: E402
from assistant.generation.answer import CitationRegistry  # noqa: E402
from assistant.settings import Settings  # noqa: E402

QUOTED = re.compile(r"^“(.+)” \[(\d+)\]$")


def first_token_seconds(index_dir: Path, question: str) -> float:
    """From process start to the first byte of the answer on stdout."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "assistant"),
            "ask",
            question,
            "--index",
            str(index_dir),
            "--extractive",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.stdout is not None
    proc.stdout.read(1)
    elapsed = time.perf_counter() - started
    proc.communicate()
    return elapsed


def _sentences(text: str) -> tuple[int, int]:
    """(sentences, sentences with a citation) of an answer, its marks left out."""
    from assistant.generation.citations import UNCITED_MARK
    from assistant.ingest.chunking import split_sentences

    total = cited = 0
    for line in text.replace(f" {UNCITED_MARK}", "").splitlines():
        for sentence in split_sentences(line.strip()):
            if re.search(r"[^\W\d_]", sentence):
                total += 1
                cited += bool(re.search(r"\[\d+\]", sentence))
    return total, cited


def real_llm_report(
    index_dir: Path,
    devset: Path,
    results: Path,
    limit: int,
    k: int,
    deadlines: tuple[float, float] = (30.0, 120.0),
) -> None:
    """The first ``limit`` answerable dev questions through SmolLM2 on llama.cpp's server."""
    sys.path.insert(0, str(REPO / "tests"))
    from llama_server import LlamaServer

    index = open_index(Settings(index_dir=index_dir))
    ensure_corpus(index)
    titles = {p.title: p.paper_id for p in index.catalog.iter_papers()}
    questions, _ = resolve_gold(load_questions_jsonl(devset), titles, set(titles.values()))
    asked = [q for q in questions if not q.unanswerable][:limit]
    rows = []
    with LlamaServer.start(log=results / "llama-server.log") as server:
        settings = Settings(
            index_dir=index_dir,
            llm_base_url=server.url,
            llm_model=server.alias,
            llm_temperature=0.0,
            answer_papers=k,
            llm_first_token_timeout=deadlines[0],
            llm_answer_timeout=deadlines[1],
        )
        for q in asked:
            first: list[float] = []
            started = time.perf_counter()

            def on_token(_text: str, first: list[float] = first, started: float = started) -> None:
                if not first:
                    first.append(time.perf_counter() - started)

            answer = ask(
                index, q.question, settings, registry=CitationRegistry(), on_token=on_token
            )
            total = time.perf_counter() - started
            retrieved = {c.n for c in answer.sources}
            cited = [int(n) for n in re.findall(r"\[(\d+)\]", answer.answer)]
            sentences, with_citation = _sentences(answer.answer)
            rows.append(
                {
                    "id": q.id,
                    "mode": "abstained" if answer.abstained else answer.mode,
                    "fallback": answer.llm_error,
                    "citations": len(cited),
                    "valid": sum(n in retrieved for n in cited),
                    "removed": len(answer.removed_citations),
                    "sentences": sentences,
                    "with_citation": with_citation,
                    "support_checked": len(answer.support),
                    "supported": sum(s.supported for s in answer.support),
                    "stopped": [n[:40] for n in answer.notes if "stopped" in n or "cap" in n],
                    "first_token_s": first[0] if first else None,
                    "total_s": total,
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    llm = [r for r in rows if r["mode"] == "llm"]
    citations = sum(r["citations"] for r in llm)
    sentences = sum(r["sentences"] for r in llm)
    checked = sum(r["support_checked"] for r in llm)
    firsts = [r["first_token_s"] for r in llm if r["first_token_s"] is not None]
    out = {
        "model": "SmolLM2-135M-Instruct Q4_1 (llama-cpp-python 0.3.36 server)",
        "questions": len(rows),
        "papers_per_answer": k,
        "deadlines_s": list(deadlines),
        "answered_by_model": len(llm),
        "fell_back_extractive": sum(r["fallback"] is not None for r in rows),
        "abstained": sum(r["mode"] == "abstained" for r in rows),
        "citation_validity_after_checking": (
            sum(r["valid"] for r in llm) / citations if citations else None
        ),
        "citations_removed_by_checking": sum(r["removed"] for r in llm),
        "citations_kept": citations,
        "sentences_with_citation": (
            sum(r["with_citation"] for r in llm) / sentences if sentences else None
        ),
        "citations_passing_attribution": (
            sum(r["supported"] for r in llm) / checked if checked else None
        ),
        "citation_occurrences_checked": checked,
        "answers_stopped_by_a_guard": sum(bool(r["stopped"]) for r in llm),
        "first_token_s_median": statistics.median(firsts) if firsts else None,
        "first_token_s_max": max(firsts) if firsts else None,
        "total_s_median": statistics.median(r["total_s"] for r in rows),
        "total_s_max": max(r["total_s"] for r in rows),
        "rows": rows,
    }
    results.mkdir(parents=True, exist_ok=True)
    name = "answers-smollm2.json" if deadlines == (30.0, 120.0) else "answers-smollm2-long.json"
    (results / name).write_text(json.dumps(out, indent=2))
    print(json.dumps({k: v for k, v in out.items() if k != "rows"}, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--devset", type=Path, default=REPO / "bench" / "devset.jsonl")
    parser.add_argument("--real-llm", action="store_true", help="SmolLM2 on llama.cpp's server")
    parser.add_argument("--limit", type=int, default=20, help="--real-llm: questions asked")
    parser.add_argument("--k", type=int, default=3, help="--real-llm: papers given to the model")
    parser.add_argument("--first-token-timeout", type=float, default=30.0, help="--real-llm")
    parser.add_argument("--answer-timeout", type=float, default=120.0, help="--real-llm")
    args = parser.parse_args()
    index_dir = args.results / f"index-bundled-{Settings().embedding_model}"
    if args.real_llm:
        deadlines = (args.first_token_timeout, args.answer_timeout)
        real_llm_report(index_dir, args.devset, args.results, args.limit, args.k, deadlines)
        return
    settings = Settings(index_dir=index_dir)
    index = open_index(settings)
    ensure_corpus(index)
    titles = {p.title: p.paper_id for p in index.catalog.iter_papers()}
    questions, _ = resolve_gold(load_questions_jsonl(args.devset), titles, set(titles.values()))
    abstracts = {p.paper_id: p.abstract for p in index.catalog.iter_papers()}
    first_gold = answered = abstained_unans = unans = false_abstain = 0
    citations = valid = verbatim = 0
    for q in questions:
        answer = ask(index, q.question, settings, registry=CitationRegistry())
        if q.unanswerable:
            unans += 1
            abstained_unans += answer.abstained
            continue
        if answer.abstained:
            false_abstain += 1
            continue
        answered += 1
        retrieved = {c.n: c.paper_id for c in answer.sources}
        if answer.citations and answer.citations[0].paper_id in set(q.gold):
            first_gold += 1
        for line in answer.answer.splitlines():
            match = QUOTED.match(line)
            citations += 1
            if match and int(match.group(2)) in retrieved:
                valid += 1
                verbatim += match.group(1) in abstracts[retrieved[int(match.group(2))]]
    answerable = answered + false_abstain
    ttft = [
        first_token_seconds(index_dir, q)
        for q in (
            "Which paper lets a language model reason over a graph of thoughts?",
            "What is LongLoRA?",
            "memory-efficient fine-tuning of large language models",
        )
    ]
    out = {
        "questions": len(questions),
        "first_cited_is_gold": first_gold / answered if answered else 0.0,
        "citation_validity": valid / citations if citations else 1.0,
        "quotes_verbatim": verbatim / citations if citations else 1.0,
        "abstain_unanswerable": abstained_unans / unans if unans else None,
        "false_abstain": false_abstain / answerable if answerable else None,
        "cold_first_token_s_median": statistics.median(ttft),
        "cold_first_token_s_max": max(ttft),
    }
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "answers.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
