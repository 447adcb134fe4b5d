"""The sentence that stands for a paper: its contribution sentence, wherever one sentence does.

Measured on hand-labelled abstracts by bench/contribution_sentences.py; here, the bundled part
of those labels (the corpus ships with the package) and the places that use the choice:
``ask`` (questions about what a paper does), ``similar``, ``papers show``, the MCP tools.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from assistant import api
from assistant.demo_data import bundled_corpus_dir
from assistant.index.paper_index import PaperIndex
from assistant.ingest.chunking import split_sentences
from assistant.ingest.dedup import merge_duplicates
from assistant.ingest.readers import read_paths
from assistant.settings import Settings
from assistant.text.contribution import (
    abstract_sentences,
    asks_what_paper_does,
    contribution_sentence,
)

LABELS = Path(__file__).resolve().parent.parent / "bench" / "contribution-labels.jsonl"
LONGLORA = "t:a90bc210a0509370"
DATA_JUICER_PROPOSAL = (
    "In response, we propose a one-stop, powerful yet flexible and user-friendly LLM data "
    "processing system named Data-Juicer."
)


def test_the_choice_holds_on_the_hand_labelled_bundled_abstracts() -> None:
    """60 bundled abstracts labelled by hand before the method was written: the chosen
    sentence is one where the paper says what it proposes, studies or finds."""
    papers, _ = merge_duplicates(read_paths([bundled_corpus_dir()]).papers)
    by_id = {p.paper_id: p for p in papers}
    labels = [json.loads(line) for line in LABELS.read_text(encoding="utf-8").splitlines()]
    bundled = [r for r in labels if r["corpus"] == "bundled"]
    assert len(bundled) == 60
    hits = first = 0
    for record in bundled:
        paper = by_id[record["id"]]
        sentences = abstract_sentences(paper.abstract)
        assert len(sentences) == record["sentences"]  # the labels' split is the module's
        chosen = contribution_sentence(paper.title, paper.abstract)
        assert sentences[chosen.position] == chosen.sentence
        hits += chosen.position in record["contribution"]
        first += 0 in record["contribution"]
    assert hits / len(bundled) >= 0.9
    assert first / len(bundled) < 0.5  # the first sentence would be no answer


def test_glued_sentences_are_told_apart_and_stay_pieces_of_the_abstract() -> None:
    abstract = (
        "Alterations of white matter can affect cortical development.A line scan sequence was "
        "applied in preterm (n = 17) infants (n = 7).To assess prematurity, infants were "
        "studied again.In conclusion, these data indicate that diffusion MRI gives insight."
    )
    pieces = abstract_sentences(abstract)
    assert len(pieces) == 4 and len(split_sentences(abstract)) == 2
    assert all(piece in abstract for piece in pieces)
    assert contribution_sentence("Diffusion MRI of the newborn brain", abstract).position == 3


def test_the_proposal_wins_over_background_results_and_links() -> None:
    abstract = (
        "Large language models have achieved remarkable success in many tasks. However, "
        "fine-tuning them remains expensive. In this paper, we propose FrugalTune, a method "
        "that trains one adapter per layer. Experiments show that FrugalTune outperforms "
        "strong baselines on GLUE. Our code is available at https://github.com/x/frugal."
    )
    chosen = contribution_sentence("FrugalTune: Cheap Fine-Tuning", abstract)
    assert chosen.sentence.startswith("In this paper, we propose FrugalTune")


def test_a_structured_biomedical_abstract_gives_its_conclusion() -> None:
    abstract = (
        "BACKGROUND Statins are widely used. OBJECTIVE To determine whether statins reduce "
        "fractures. METHODS Patients were randomized to statin or placebo for two years. "
        "RESULTS Fractures were fewer with statins (12 vs 20, p=0.03). CONCLUSIONS Statins "
        "reduce the risk of fractures in older women."
    )
    chosen = contribution_sentence("Statins and fractures", abstract)
    assert chosen.sentence.startswith("CONCLUSIONS Statins reduce")


def test_a_paper_without_an_abstract_is_represented_by_its_title() -> None:
    chosen = contribution_sentence("A Title Only", "")
    assert (chosen.sentence, chosen.position) == ("A Title Only", -1)


@pytest.mark.parametrize(
    ("question", "about_a_paper"),
    [
        ("What is LongLoRA?", True),
        ("What does DePT propose?", True),
        ("Which paper introduces shifted sparse attention?", True),
        ("What are the main contributions of QLoRA?", True),
        ("How can the context window of LLaMA be extended?", False),
        ("What is the best way to fine-tune a 7B model on one GPU?", False),
        ("Statins reduce the risk of fractures.", False),
    ],
)
def test_questions_about_what_a_paper_does(question: str, about_a_paper: bool) -> None:
    assert asks_what_paper_does(question) is about_a_paper


def test_ask_quotes_the_contribution_when_asked_what_a_paper_does(
    read_only_index: PaperIndex, read_only_index_dir: Path
) -> None:
    answer = api.ask(
        read_only_index, "What does Data-Juicer do?", Settings(index_dir=read_only_index_dir)
    )
    assert answer.mode == "extractive"
    assert answer.answer.splitlines()[0].startswith(f"“{DATA_JUICER_PROPOSAL}”")


def test_similar_papers_show_what_each_contributes(read_only_index: PaperIndex) -> None:
    result = api.similar_papers(read_only_index, LONGLORA)
    assert result.results
    for hit in result.results:
        assert hit.paper is not None
        assert hit.snippet == contribution_sentence(hit.paper.title, hit.paper.abstract).sentence


def test_papers_show_gives_the_contribution(run_cli: Any, read_only_index_dir: Path) -> None:
    index = ["--index", str(read_only_index_dir)]
    shown = run_cli(["papers", "show", LONGLORA, *index])
    assert shown.exit_code == 0, shown.stderr
    assert "contribution: “We present LongLoRA, an efficient fine-tuning approach" in shown.stdout
    data = json.loads(run_cli(["papers", "show", LONGLORA, "--json", *index]).stdout)
    assert data["contribution"].startswith("We present LongLoRA")
    assert data["contribution"] in data["abstract"]


def test_the_mcp_get_paper_tool_gives_the_contribution(
    read_only_index: PaperIndex, read_only_index_dir: Path
) -> None:
    from assistant.integrations.mcp_tools import PaperArgs, ToolContext, get_paper

    context = ToolContext(read_only_index, Settings(index_dir=read_only_index_dir))
    data = get_paper(context, PaperArgs(paper_id=LONGLORA))
    assert data["contribution"].startswith("We present LongLoRA")
