"""Attribution: each citation of an LLM answer checked against the cited abstract.

Real parts throughout: the small index (real Chroma, real ONNX MiniLM) plus two papers written
here, the real CLI in a subprocess, the project's fake OpenAI server with scripted replies.
The scripted answer has one sentence copied from the coral paper's abstract and citing both
papers (supported by the coral paper, not by the seagrass one) and one sentence about
bananas, which no indexed abstract supports.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_openai import FakeOpenAI

from assistant import api
from assistant.generation.answer import Answer
from assistant.generation.attribution import (
    SUPPORT_THRESHOLD,
    check_support,
    statement_text,
)
from assistant.generation.citations import UNSUPPORTED_MARK
from assistant.index.paper_index import PaperIndex
from assistant.records import Paper
from assistant.settings import Settings

CORAL_SENTENCE = (
    "Coral bleaching affected ninety percent of the surveyed reefs when water temperatures "
    "stayed above thirty degrees for four weeks."
)
CORAL: dict[str, Any] = {
    "id": "coral-2021",
    "title": "Coral Reef Bleaching Under Marine Heatwaves",
    "abstract": (
        "Marine heatwaves are becoming more frequent across tropical oceans. We surveyed 120 "
        f"reefs of the Great Barrier Reef during the 2016 heatwave. {CORAL_SENTENCE} Recovery "
        "took more than five years on the most damaged reefs."
    ),
    "year": 2021,
}
SEAGRASS: dict[str, Any] = {
    "id": "seagrass-2022",
    "title": "Seagrass Meadows Store Carbon in Coastal Sediments",
    "abstract": (
        "Seagrass meadows cover a small share of the sea floor. We cored the sediments of forty "
        "meadows along the Mediterranean coast. Seagrass sediments stored twice as much organic "
        "carbon per hectare as terrestrial forests. Meadow loss releases this carbon to the "
        "atmosphere."
    ),
    "year": 2022,
}
QUESTION = (
    "How do marine heatwaves bleach coral reefs, and how much carbon do seagrass meadows store?"
)
BANANAS = "Bananas ripen faster when they are stored next to apples in a warm kitchen"
REPLY = f"{CORAL_SENTENCE[:-1]} [1][2]. {BANANAS} [1]."


@pytest.fixture
def reef_index_dir(small_index_dir: Path, tmp_path: Path) -> Path:
    """The small index plus the coral and the seagrass papers."""
    path = tmp_path / "reefs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in (CORAL, SEAGRASS)), encoding="utf-8")
    index = api.open_index(Settings(index_dir=small_index_dir))
    report = api.ingest_paths(index, [path])
    index.close()
    assert report.added == 2
    return small_index_dir


@pytest.fixture
def reef_index(reef_index_dir: Path) -> Iterator[PaperIndex]:
    opened = api.open_index(Settings(index_dir=reef_index_dir))
    yield opened
    opened.close()


def llm_env(url: str) -> dict[str, str]:
    return {"ASSISTANT_LLM_MODEL": "fake-model", "OPENAI_BASE_URL": url}


def numbers(sources: list[dict[str, Any]]) -> dict[str, int]:
    """``{paper_id: n}`` of the coral and seagrass papers, which must be [1] and [2]."""
    by_id = {s["paper_id"]: s["n"] for s in sources}
    assert {by_id.get(CORAL["id"]), by_id.get(SEAGRASS["id"])} == {1, 2}, sources
    return by_id


def expected_text(by_id: dict[str, int]) -> str:
    """The reply with the seagrass citation of the coral sentence and the bananas' marked."""
    seagrass = by_id[SEAGRASS["id"]]
    first = "[1][2]".replace(f"[{seagrass}]", f"[{seagrass}]{UNSUPPORTED_MARK}")
    return f"{CORAL_SENTENCE[:-1]} {first}. {BANANAS} [1]{UNSUPPORTED_MARK}."


def check_support_entries(support: list[dict[str, Any]], by_id: dict[str, int]) -> None:
    coral_statement, banana_statement = CORAL_SENTENCE, f"{BANANAS}."
    entries = {(s["sentence"], s["paper_id"]): s for s in support}
    first_paper = next(pid for pid, n in by_id.items() if n == 1)
    assert set(entries) == {
        (coral_statement, CORAL["id"]),
        (coral_statement, SEAGRASS["id"]),
        (banana_statement, first_paper),
    }
    coral = entries[(coral_statement, CORAL["id"])]
    assert coral["supported"] and coral["evidence"] == CORAL_SENTENCE  # quoted from the abstract
    assert coral["score"] >= SUPPORT_THRESHOLD and coral["n"] == by_id[CORAL["id"]]
    seagrass = entries[(coral_statement, SEAGRASS["id"])]
    assert not seagrass["supported"] and seagrass["score"] < SUPPORT_THRESHOLD
    assert seagrass["evidence"] in SEAGRASS["abstract"]  # its best sentence, though too weak
    banana = entries[(banana_statement, first_paper)]
    assert not banana["supported"] and banana["n"] == 1


def test_api_ask_marks_the_unsupported_citations(
    reef_index: PaperIndex, reef_index_dir: Path, fake_llm: FakeOpenAI
) -> None:
    fake_llm.queue(REPLY)
    settings = Settings(index_dir=reef_index_dir, llm_base_url=fake_llm.url, llm_model="fake")
    answer = api.ask(reef_index, QUESTION, settings)

    assert answer.mode == "llm" and answer.grounded
    by_id = numbers([s.model_dump() for s in answer.sources])
    assert answer.answer == expected_text(by_id)
    check_support_entries([s.model_dump() for s in answer.support], by_id)
    assert any(
        "2 of 3 citation(s) are not supported by the cited abstract" in n and UNSUPPORTED_MARK in n
        for n in answer.notes
    ), answer.notes
    assert answer.public_json()["support"] == [s.model_dump() for s in answer.support]


def test_ask_json_has_the_support_with_the_quoted_evidence(
    run_cli: Any, reef_index_dir: Path, fake_llm: FakeOpenAI
) -> None:
    fake_llm.queue(REPLY)
    cli = run_cli(
        ["ask", QUESTION, "--json", "--index", str(reef_index_dir)], env=llm_env(fake_llm.url)
    )
    assert cli.exit_code == 0, cli.stderr
    data = json.loads(cli.stdout)
    by_id = numbers(data["citations"])
    assert data["answer"] == expected_text(by_id)
    check_support_entries(data["support"], by_id)


def test_streamed_answer_is_printed_once_with_the_marks_at_the_end(
    run_cli: Any, reef_index_dir: Path, fake_llm: FakeOpenAI
) -> None:
    fake_llm.queue(REPLY)
    cli = run_cli(["ask", QUESTION, "--index", str(reef_index_dir)], env=llm_env(fake_llm.url))
    assert cli.exit_code == 0, cli.stderr
    assert cli.stdout.startswith(REPLY + "\n")  # as streamed, unmarked
    assert cli.stdout.count("Coral bleaching affected ninety") == 1  # printed once
    assert cli.stdout.count("Bananas ripen faster") == 1
    marks = re.findall(r"^\[(\d+)\]\[unsupported\] “(.+)”$", cli.stdout, re.MULTILINE)
    assert [m[1] for m in marks] == [  # the words before each unsupported citation
        "…temperatures stayed above thirty degrees for four weeks",
        "…stored next to apples in a warm kitchen",
    ], cli.stdout
    assert marks[0][0] in ("1", "2") and marks[1][0] == "1"  # the seagrass paper; [1]
    assert cli.stdout.index("[unsupported]") > cli.stdout.index("Bananas ripen")  # at the end
    assert "2 of 3 citation(s) are not supported" in " ".join(cli.stderr.split())


def test_chat_sources_show_the_sentence_each_citation_rests_on(
    run_cli: Any, reef_index_dir: Path, fake_llm: FakeOpenAI
) -> None:
    fake_llm.queue(REPLY)
    cli = run_cli(
        ["chat", "--index", str(reef_index_dir)],
        input=f"{QUESTION}\n/sources\n/quit\n",
        env=llm_env(fake_llm.url),
    )
    assert cli.exit_code == 0, cli.stderr
    sources = cli.stdout[cli.stdout.index("cited so far:") :]
    lines = sources.splitlines()
    coral_ref = next(i for i, line in enumerate(lines) if CORAL["title"] in line)
    # The answer copied the coral sentence: the evidence is the statement itself.
    assert lines[coral_ref + 1] == f"    “{CORAL_SENTENCE}”"
    seagrass_ref = next(i for i, line in enumerate(lines) if SEAGRASS["title"] in line)
    evidence = lines[seagrass_ref + 1]
    quoted = re.fullmatch(
        r"    “(.+)” ← “Coral bleaching (.+)…” \[unsupported\] \(support 0\.\d\d\)", evidence
    )
    assert quoted and quoted.group(1) in SEAGRASS["abstract"], evidence


def test_extractive_answers_rest_on_their_quotes(reef_index: PaperIndex) -> None:
    answer = api.ask(reef_index, QUESTION, Settings(index_dir=reef_index.dir))
    assert answer.mode == "extractive" and answer.support
    quotes = re.findall(r"^“(.+)” \[(\d+)\]$", answer.answer, re.MULTILINE)
    assert [(s.evidence, str(s.n)) for s in answer.support] == quotes
    assert all(s.supported and s.sentence == s.evidence for s in answer.support)


def test_marks_headings_and_statement_text(reef_index: PaperIndex) -> None:
    coral = Paper(paper_id=CORAL["id"], title=CORAL["title"], abstract=CORAL["abstract"])
    text = f"### Reefs [1]\n\n- {CORAL_SENTENCE[:-1]} [1] [citation needed].\n{BANANAS} [1]."
    checked = check_support(reef_index, text, {1: coral}.get)
    assert [(s.sentence, s.supported) for s in checked.support] == [
        (CORAL_SENTENCE, True),
        (f"{BANANAS}.", False),
    ]
    assert checked.text.split("\n")[:3] == text.split("\n")[:3]  # headings are not statements
    assert checked.text.split("\n")[3] == f"{BANANAS} [1]{UNSUPPORTED_MARK}."
    assert statement_text("A claim [2][unsupported] [citation needed] [1, 3].") == "A claim."
    nothing = check_support(reef_index, "No citations here.", {1: coral}.get)
    assert nothing.support == [] and nothing.text == "No citations here."


def test_answers_without_support_load(reef_index: PaperIndex) -> None:
    """Chat sessions saved before attribution existed still load."""
    old = Answer(question="q", answer="a", mode="llm").model_dump()
    old.pop("support")
    assert Answer.model_validate(old).support == []


def test_related_work_with_a_model_marks_the_unsupported_citations(
    reef_index: PaperIndex, reef_index_dir: Path, fake_llm: FakeOpenAI
) -> None:
    fake_llm.queue(f"### Reefs and meadows\n\n{REPLY}")
    settings = Settings(index_dir=reef_index_dir, llm_base_url=fake_llm.url, llm_model="fake")
    draft = api.related_work(reef_index, QUESTION, settings)

    assert draft.mode == "llm"
    by_id = numbers([r.model_dump() for r in draft.references])
    assert draft.markdown == f"### Reefs and meadows\n\n{expected_text(by_id)}\n"
    check_support_entries([s.model_dump() for s in draft.support], by_id)
    assert draft.public_json()["support"] == [s.model_dump() for s in draft.support]


def test_a_sentence_citing_two_papers_is_checked_clause_by_clause(reef_index: PaperIndex) -> None:
    coral = Paper(paper_id=CORAL["id"], title=CORAL["title"], abstract=CORAL["abstract"])
    seagrass = Paper(
        paper_id=SEAGRASS["id"], title=SEAGRASS["title"], abstract=SEAGRASS["abstract"]
    )
    both = (
        "Marine heatwaves bleached nine in ten surveyed reefs [1], while seagrass sediments store "
        "twice the organic carbon of terrestrial forests per hectare [2]."
    )
    checked = check_support(reef_index, both, {1: coral, 2: seagrass}.get)
    evidence = {s.n: s.evidence for s in checked.support}
    assert evidence[1] == CORAL_SENTENCE
    assert evidence[2].startswith("Seagrass sediments stored twice as much organic carbon")
    assert all(s.supported for s in checked.support) and checked.text == both
    swapped = check_support(reef_index, both, {1: seagrass, 2: coral}.get)
    assert not any(s.supported for s in swapped.support)
    assert swapped.text.count(UNSUPPORTED_MARK) == 2
