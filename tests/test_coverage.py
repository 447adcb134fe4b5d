"""The coverage signals: named things in a question, and 'which paper introduced X?'."""

from __future__ import annotations

import json
from pathlib import Path

from assistant.retrieval.coverage import missing_origin, named_things

PAPERS = [
    {
        "id": "longlora",
        "title": "LongLoRA: Efficient Fine-tuning of Long-Context Large Language Models",
        "abstract": "We present LongLoRA, an efficient fine-tuning approach that extends the "
        "context sizes of pre-trained large language models with shifted sparse attention.",
    },
    {
        "id": "tools-a",
        "title": "Teaching Small Models to Call Calculators",
        "abstract": "Tool use lets language models call APIs. Building on Toolformer, we train "
        "small models to decide when to call a calculator, and compare with Toolformer.",
    },
    {
        "id": "tools-b",
        "title": "A Survey of Tool-Augmented Language Models",
        "abstract": "We survey tool-augmented language models such as Toolformer and ReAct, "
        "which call search engines and calculators during generation.",
    },
    {
        "id": "reefs",
        "title": "Coral Reefs under Heat Stress",
        "abstract": "Coral reefs bleach when sea temperatures rise; we survey bleaching events.",
    },
]


def test_named_things_are_names_not_authors_or_first_words() -> None:
    assert named_things("Which paper introduced the Switch Transformer for sparse experts?") == [
        "Switch Transformer"
    ]
    assert named_things("What did the Llama 2 paper (Touvron et al., 2023) report?") == ["Llama 2"]
    assert named_things("Which paper by Hinton, Vinyals and Dean proposed distillation?") == []
    assert named_things("What is LongLoRA?") == ["LongLoRA"]


def test_which_paper_introduced_x_when_only_papers_using_x_are_indexed(
    run_cli, tmp_path: Path
) -> None:
    corpus = tmp_path / "papers.jsonl"
    corpus.write_text("\n".join(json.dumps(p) for p in PAPERS) + "\n", encoding="utf-8")
    index = str(tmp_path / "idx")
    assert run_cli(["ingest", str(corpus), "--index", index]).exit_code == 0

    done = run_cli(["ask", "Which paper introduced Toolformer?", "--index", index, "--json"])
    assert done.exit_code == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["abstained"] is True
    note = next(n for n in answer["notes"] if "introduced Toolformer" in n)
    assert "is not in the index" in note and "2 indexed papers mention it" in note
    assert "Teaching Small Models" in note or "A Survey of Tool-Augmented" in note

    done = run_cli(["ask", "Which paper introduced LongLoRA?", "--index", index, "--json"])
    answer = json.loads(done.stdout)
    assert not any("is not in the index" in n for n in answer["notes"])


def test_an_introducing_abstract_counts_even_without_the_name_in_its_title() -> None:
    from assistant.records import Paper

    paper = Paper(
        paper_id="x",
        title="Sparse Experts at Scale",
        abstract="In this work we introduce the Switch Transformer, which routes each token to "
        "one expert.",
    )
    question = "Which paper introduced the Switch Transformer?"
    assert missing_origin(question, [paper]) is None
    assert missing_origin(question, []) == ("Switch Transformer", [])
