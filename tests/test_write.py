"""``assistant cite`` and ``assistant related-work``: offline and with a (fake) language model.

The index is a copy of the bundled corpus; these commands only read it, so one copy serves the
module. The LLM tests drive the real ``openai`` client against tests/fake_openai.py.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_openai import FakeOpenAI, FakeReply

from assistant.api import open_index
from assistant.errors import LLMError
from assistant.generation.cite import cite_claim, parse_cite_reply
from assistant.generation.related_work import related_work
from assistant.index.paper_index import PaperIndex
from assistant.ingest.readers import read_paths
from assistant.retrieval.retriever import RetrievalOptions
from assistant.settings import Settings

LONGLORA = "t:a90bc210a0509370"
LONGLORA_SENTENCE = (
    "The proposed shift short attention effectively enables context extension, leading to "
    "non-trivial computation saving with similar performance to fine-tuning with vanilla attention."
)
GOT = "t:ba814cb0cfae669c"
GOT_CLAIM = (
    "Graph-of-Thought reasoning models human thought processes as a graph rather than a chain "
    "and improves over chain-of-thought on ScienceQA."
)
UNCOVERED_CLAIM = "Coffee consumption increases the risk of heart disease."
TOPIC = "long-context language models"
UNCOVERED_TOPIC = "protein folding accuracy of AlphaFold2 on disordered regions"
CITE_JSON_KEYS = {
    "rank",
    "paper_id",
    "title",
    "year",
    "sentence",
    "score",
    "bibkey",
    "justification",
}


@pytest.fixture(scope="module")
def index_dir(_bundled_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy of the bundled index for the whole module (nothing here writes to it)."""
    target = tmp_path_factory.mktemp("write") / "index"
    shutil.copytree(_bundled_template, target)
    return target


@pytest.fixture(scope="module")
def index(index_dir: Path) -> Iterator[PaperIndex]:
    opened = open_index(Settings(index_dir=index_dir))
    yield opened
    opened.close()


def offline(index_dir: Path) -> Settings:
    return Settings(index_dir=index_dir)


def with_llm(index_dir: Path, fake: FakeOpenAI, **extra: Any) -> Settings:
    return Settings(index_dir=index_dir, llm_base_url=fake.url, llm_model="fake-model", **extra)


def numbered_titles(user_message: str) -> dict[int, str]:
    """``{n: title}`` of the numbered sources in a prompt."""
    return {
        int(m.group(1)): m.group(2)
        for m in re.finditer(r"^\[(\d+)\] (.+?)(?: \(\d{4}\))?$", user_message, re.MULTILINE)
    }


def llm_env(fake: FakeOpenAI, **extra: str) -> dict[str, str]:
    return {"ASSISTANT_LLM_MODEL": "fake-model", "OPENAI_BASE_URL": fake.url, **extra}


# --- cite, offline


def test_cite_ranks_the_claims_source_first_with_its_sentence(
    index: PaperIndex, index_dir: Path
) -> None:
    result = cite_claim(index, LONGLORA_SENTENCE, offline(index_dir))

    assert result.mode == "extractive"
    assert result.supported
    top = result.papers[0]
    assert top.paper_id == LONGLORA
    assert top.sentence == LONGLORA_SENTENCE
    assert top.score == pytest.approx(1.0, abs=0.01)
    assert top.bibkey == "longloraefficient"
    assert [p.rank for p in result.papers] == list(range(1, len(result.papers) + 1))
    scores = [p.score for p in result.papers]
    assert scores == sorted(scores, reverse=True)
    assert result.bibtex.startswith("@misc{longloraefficient,")
    assert result.bibtex.count("\n@") == len(result.papers) - 1
    assert any(n.startswith("Extractive mode") for n in result.notes)


def test_cite_cli_json_and_bib_file(run_cli: Any, index_dir: Path, tmp_path: Path) -> None:
    bib = tmp_path / "support.bib"
    cli = run_cli(["cite", GOT_CLAIM, "--json", "--bib", str(bib), "--index", str(index_dir)])

    assert cli.exit_code == 0, cli.stderr
    data = json.loads(cli.stdout)
    assert {"claim", "supported", "mode", "papers", "bibtex"} <= set(data)
    assert (data["claim"], data["supported"], data["mode"]) == (GOT_CLAIM, True, "extractive")
    assert data["papers"][0]["paper_id"] == GOT
    for rank, item in enumerate(data["papers"], start=1):
        assert set(item) == CITE_JSON_KEYS
        assert item["rank"] == rank
        assert item["justification"] is None
    assert bib.read_text(encoding="utf-8") == data["bibtex"]
    written = read_paths([bib])
    assert written.rejects == []
    assert [p.title for p in written.papers] == [p["title"] for p in data["papers"]]
    assert [p.extra["bibkey"] for p in written.papers] == [p["bibkey"] for p in data["papers"]]
    assert f"Wrote {len(data['papers'])} BibTeX" in cli.stderr


def test_cite_uncovered_claim_lists_nothing_as_support(
    run_cli: Any, index_dir: Path, tmp_path: Path
) -> None:
    bib = tmp_path / "none.bib"
    cli = run_cli(["cite", UNCOVERED_CLAIM, "--bib", str(bib), "--index", str(index_dir)])

    assert cli.exit_code == 0, cli.stderr
    assert cli.stdout.startswith("Not supported: the indexed papers do not appear to address")
    assert "Nearest papers (not supporting):" in cli.stdout
    assert "similarity" not in cli.stdout  # no paper offered with a supporting sentence
    assert not bib.exists()
    assert "Nothing written" in cli.stderr


# --- cite, with a model


def test_cite_keeps_the_models_order_and_justifications(
    index: PaperIndex, index_dir: Path, fake_llm: FakeOpenAI
) -> None:
    fake_llm.queue(
        "[2] The abstract says it extends the context window by fine-tuning; supports all.\n"
        "[1] Reports long-context training; supports part of the claim."
    )
    claim = "Fine-tuning can extend the context window of LLaMA models."
    result = cite_claim(index, claim, with_llm(index_dir, fake_llm), RetrievalOptions(k=5))

    assert result.mode == "llm"
    assert result.llm_error is None
    [request] = fake_llm.chat_requests
    system, user = request["messages"]
    titles = numbered_titles(user["content"])
    assert len(titles) == 5
    assert [p.title for p in result.papers] == [titles[2], titles[1]]
    assert result.papers[0].justification is not None
    assert result.papers[0].justification.startswith("The abstract says it extends")
    assert f"Claim: {claim}" in user["content"] and "<sources>" in user["content"]
    assert not any(title in system["content"] for title in titles.values())
    assert "[1]" not in system["content"]
    assert result.usage["total_tokens"] > 0
    assert result.bibtex.count("@misc{") == 2


def test_cite_cli_drops_invalid_source_numbers(
    run_cli: Any, index_dir: Path, fake_llm: FakeOpenAI
) -> None:
    fake_llm.queue("[9] Made up.\n[1] Its abstract states the claim.")
    cli = run_cli(["cite", GOT_CLAIM, "--json", "--index", str(index_dir)], env=llm_env(fake_llm))

    assert cli.exit_code == 0, cli.stderr
    data = json.loads(cli.stdout)
    assert data["mode"] == "llm" and data["supported"] is True
    assert [p["rank"] for p in data["papers"]] == [1]
    assert data["papers"][0]["justification"] == "Its abstract states the claim."
    titles = numbered_titles(fake_llm.chat_requests[0]["messages"][-1]["content"])
    assert data["papers"][0]["title"] == titles[1]
    assert data["removed_citations"] == [9]
    assert any("[9]" in note for note in data["notes"])


def test_cite_model_finding_no_support_and_model_failure(
    index: PaperIndex, index_dir: Path, fake_llm: FakeOpenAI, run_cli: Any
) -> None:
    fake_llm.queue("NONE: The closest source is about long-context training, not this claim.")
    none = cite_claim(index, GOT_CLAIM, with_llm(index_dir, fake_llm))
    assert not none.supported and none.papers == [] and none.bibtex == ""
    assert "closest source is about long-context" in none.summary
    assert len(none.nearest) == 3

    fake_llm.queue(FakeReply.error(500))
    cli = run_cli(
        ["cite", GOT_CLAIM, "--index", str(index_dir)],
        env=llm_env(fake_llm, ASSISTANT_LLM_MAX_RETRIES="0"),
    )
    assert cli.exit_code == 0
    assert "Traceback" not in cli.stderr
    errors = [line for line in cli.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1
    assert "HTTP 500" in errors[0]
    assert "1. Beyond Chain-of-Thought" in cli.stdout  # the offline ranking instead


def test_parse_cite_reply_is_tolerant_but_strict_about_numbers() -> None:
    reply = (
        "Here is my judgement:\n"
        "- [3] States the claim outright.\n"
        "**[1, 7]**: Both report it, partly.\n"
        "2. [3] Repeated.\n"
        "[12] Not a source."
    )
    judgement = parse_cite_reply(reply, valid={1, 2, 3, 4, 5})
    assert judgement.supporting == [
        (3, "States the claim outright."),
        (1, "Both report it, partly."),
    ]
    assert judgement.removed == [7, 12]
    assert judgement.none_reason is None
    none = parse_cite_reply("NONE: the closest one is about something else.", valid={1})
    assert none.supporting == [] and none.none_reason == "the closest one is about something else."
    with pytest.raises(LLMError):
        parse_cite_reply("I think the first paper supports it.", valid={1})


# --- related work, offline


def body_citations(markdown: str) -> set[int]:
    return {int(n) for n in re.findall(r"\[(\d+)\]", markdown)}


def test_related_work_offline_draft(index: PaperIndex, index_dir: Path) -> None:
    draft = related_work(index, TOPIC, offline(index_dir), RetrievalOptions(k=10))

    assert draft.covered and draft.mode == "extractive"
    assert draft.markdown.startswith("> Extractive draft")
    headings = re.findall(r"^### (.+)$", draft.markdown, re.MULTILINE)
    assert 2 <= len(headings) <= 5
    assert headings == [t.heading for t in draft.themes]
    assert len(set(headings)) == len(headings)
    numbers = [n for theme in draft.themes for n in theme.papers]
    assert numbers == list(range(1, 11))  # every paper once, numbered in order of appearance
    assert body_citations(draft.markdown) == set(numbers)
    assert [r.n for r in draft.references] == numbers
    by_id = {r.paper_id: r for r in draft.references}
    for reference in draft.references:  # each paper is quoted from its own abstract
        paper = index.catalog.get_paper(reference.paper_id)
        assert paper is not None
        [quote] = re.findall(rf"“([^”]+)” \[{reference.n}\]", draft.markdown)
        assert quote in paper.abstract
    assert LONGLORA in by_id
    document = draft.document()
    assert "**References**" in document and by_id[LONGLORA].bibkey in document


def test_related_work_cli_writes_markdown_and_bib(
    run_cli: Any, index_dir: Path, tmp_path: Path
) -> None:
    out, bib = tmp_path / "related.md", tmp_path / "related.bib"
    cli = run_cli(
        [
            "related-work",
            TOPIC,
            "--k",
            "8",
            "--out",
            str(out),
            "--bib",
            str(bib),
            "--index",
            str(index_dir),
        ]
    )

    assert cli.exit_code == 0, cli.stderr
    assert "### " in cli.stdout and "\nReferences\n" in cli.stdout
    document = out.read_text(encoding="utf-8")
    assert document.startswith("> Extractive draft")
    assert document.count("\n### ") >= 2
    refs = re.findall(r"^- \[(\d+)\] (.+?)\. \S+ \(BibTeX: `(\w+)`\)$", document, re.MULTILINE)
    assert [int(n) for n, _t, _k in refs] == list(range(1, 9))
    written = read_paths([bib])
    assert written.rejects == []
    assert [p.extra["bibkey"] for p in written.papers] == [key for _n, _t, key in refs]


def test_related_work_uncovered_topic_is_not_drafted(
    run_cli: Any, index_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "related.md"
    cli = run_cli(
        ["related-work", UNCOVERED_TOPIC, "--json", "--out", str(out), "--index", str(index_dir)]
    )

    assert cli.exit_code == 0, cli.stderr
    data = json.loads(cli.stdout)
    assert data["covered"] is False
    assert data["references"] == [] and data["bibtex"] == "" and data["themes"] == []
    assert "do not appear to cover this topic" in data["markdown"]
    assert "###" not in data["markdown"]
    assert len(data["nearest"]) == 3
    assert not out.exists()


# --- related work, with a model

LLM_DRAFT = (
    "### Extending the context window\n\n"
    "Several works extend the context of pretrained models by fine-tuning [1][3]. "
    "Others report results we cannot check [42].\n\n"
    "### Efficient attention\n\n"
    "Sparse attention speeds up long inputs [2]. This is an uncited connecting sentence here.\n"
)


def test_related_work_with_a_model_checks_citations(
    index: PaperIndex, index_dir: Path, fake_llm: FakeOpenAI
) -> None:
    fake_llm.queue(LLM_DRAFT)
    draft = related_work(index, TOPIC, with_llm(index_dir, fake_llm))

    assert draft.mode == "llm" and draft.covered and draft.grounded
    assert "[42]" not in draft.markdown
    assert draft.removed_citations == [42]
    # The sentence that only cited [42] now cites nothing: both it and the connecting
    # sentence are marked.
    assert draft.uncited_sentences == 2
    assert "cannot check. [citation needed]" in draft.markdown
    assert "connecting sentence here. [citation needed]" in draft.markdown
    assert [t.heading for t in draft.themes] == [
        "Extending the context window",
        "Efficient attention",
    ]
    assert [t.papers for t in draft.themes] == [[1, 3], [2]]
    assert [r.n for r in draft.references] == [1, 2, 3]  # only the cited papers
    assert draft.bibtex.count("@misc{") == 3
    [request] = fake_llm.chat_requests
    system, user = request["messages"]
    assert "related-work section" in system["content"]
    assert user["content"].startswith(f"Topic: {TOPIC}\n\n<sources>\n[1] ")
    assert len(numbered_titles(user["content"])) == 12
    assert draft.usage["total_tokens"] > 0


def test_related_work_cli_streams_and_writes_only_cited_papers(
    run_cli: Any, index_dir: Path, fake_llm: FakeOpenAI, tmp_path: Path
) -> None:
    fake_llm.queue(LLM_DRAFT)
    out, bib = tmp_path / "related.md", tmp_path / "related.bib"
    cli = run_cli(
        ["related-work", TOPIC, "--out", str(out), "--bib", str(bib), "--index", str(index_dir)],
        env=llm_env(fake_llm),
    )

    assert cli.exit_code == 0, cli.stderr
    assert fake_llm.chat_requests[0]["stream"] is True
    assert "Several works extend the context" in cli.stdout
    assert "[42]" not in cli.stdout
    # The draft is shown once (streamed); the uncited sentences' marks follow it.
    assert "Checked draft:" not in cli.stdout
    assert cli.stdout.count("Several works extend the context") == 1
    assert "[citation needed] “Others report results we cannot check.”\n" in cli.stdout
    assert "[citation needed] “This is an uncited connecting sentence here.”\n" in cli.stdout
    assert "Removed citations that match no retrieved paper: [42]" in cli.stderr
    titles = numbered_titles(fake_llm.chat_requests[0]["messages"][-1]["content"])
    written = read_paths([bib])
    assert [p.title for p in written.papers] == [titles[1], titles[2], titles[3]]
    document = out.read_text(encoding="utf-8")
    assert document.startswith("### Extending the context window")
    assert "[42]" not in document and "- [3] " in document and "- [4] " not in document


def test_related_work_cli_falls_back_when_the_stream_breaks(
    run_cli: Any, index_dir: Path, fake_llm: FakeOpenAI
) -> None:
    fake_llm.queue(FakeReply.cut(LLM_DRAFT, after=6))
    cli = run_cli(["related-work", TOPIC, "--index", str(index_dir)], env=llm_env(fake_llm))

    assert cli.exit_code == 0, cli.stderr
    assert "Traceback" not in cli.stderr
    assert cli.stdout.startswith("### Extending the context window\n\nSeveral")  # streamed
    assert "\n> Extractive draft" in cli.stdout  # then the whole offline draft
    assert "\nReferences\n[1] " in cli.stdout
    errors = [line for line in cli.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "cut off mid-stream" in errors[0]
