"""Extractive answers on the dev questions: first cited paper, citation validity, abstention,
and time to the first answer token from a cold CLI process.

    python bench/answers.py

Writes bench/results/answers.json.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--devset", type=Path, default=REPO / "bench" / "devset.jsonl")
    args = parser.parse_args()
    index_dir = args.results / f"index-bundled-{Settings().embedding_model}"
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
