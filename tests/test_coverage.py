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


BIOMEDICAL = [
    {
        "id": "b1",
        "title": "Vitamin D supplementation and hip fracture risk in older adults",
        "abstract": "In a randomised trial of 2,000 adults over 70, daily vitamin D "
        "supplementation did not reduce the incidence of hip fractures over five years.",
    },
    {
        "id": "b2",
        "title": "A language model for clinical notes",
        "abstract": "We pretrain a transformer language model on two million clinical notes and "
        "fine-tune it to extract medication names, improving F1 over rule-based extraction.",
    },
    {
        "id": "b3",
        "title": "Malaria vaccine efficacy in children",
        "abstract": "A phase 3 trial in five African countries found that the vaccine prevented 39 "
        "percent of malaria episodes in children aged 5 to 17 months over four years.",
    },
]


def test_words_shared_without_meaning_shared_are_not_covered(tmp_path: Path) -> None:
    """Most of the question's specific words are in the papers, but no paper is close in
    meaning (best cosine under the floor): not covered, confidence under the cut. The word-level
    model alone would have said covered (0.86)."""
    from assistant.api import ingest_paths, open_index
    from assistant.retrieval.coverage import (
        COVERAGE_THRESHOLD,
        MIN_BEST_COSINE,
        confidence_features,
        coverage_probability,
    )
    from assistant.retrieval.retriever import Retriever
    from assistant.settings import Settings

    corpus = tmp_path / "bio.jsonl"
    corpus.write_text("\n".join(json.dumps(p) for p in BIOMEDICAL) + "\n", encoding="utf-8")
    index = open_index(Settings(index_dir=tmp_path / "idx"))
    ingest_paths(index, [corpus])
    retriever = Retriever(index)
    question = "Which vaccine extracts medication names with a transformer?"
    far, signals = retriever.search_with_signals(question)
    words_only = coverage_probability(
        *confidence_features(index.lexical, question, signals, index.catalog)
    )
    assert words_only >= COVERAGE_THRESHOLD  # what the floor corrects
    assert signals.best_dense < MIN_BEST_COSINE
    assert far.covered is False and far.confidence < COVERAGE_THRESHOLD
    near = retriever.search("Which language model extracts medication names from clinical notes?")
    assert near.covered is True and near.results[0].paper_id == "b2"
    index.close()


def test_a_named_thing_no_paper_mentions_is_not_covered(bundled_index_dir: Path) -> None:
    """'PlotQA' is a word no indexed paper uses: a middling match about charts is not enough.
    A known name with a strong match stays covered."""
    from assistant.api import open_index
    from assistant.retrieval.coverage import COVERAGE_THRESHOLD, NAMED_CHECK_BELOW
    from assistant.retrieval.retriever import Retriever
    from assistant.settings import Settings

    index = open_index(Settings(index_dir=bundled_index_dir))
    retriever = Retriever(index)
    unknown = retriever.search(
        "How do vision-language models answer questions about plots on PlotQA?"
    )
    assert COVERAGE_THRESHOLD <= unknown.confidence < NAMED_CHECK_BELOW  # covered, but for the name
    assert unknown.covered is False
    assert "No indexed paper mentions PlotQA." in unknown.notes
    known = retriever.search("What is LongLoRA?")
    assert known.covered is True and not any("mentions" in n for n in known.notes)
    index.close()
