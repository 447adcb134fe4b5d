"""Related-work drafts grouped by approach: surveys apart, headings that the papers share,
each paper by its contribution sentence, the papers left out, and the model given the plan.

On a copy of the bundled corpus (read only), with the issue's own example topic; the model
is tests/fake_openai.py behind the real ``openai`` client.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from fake_openai import FakeOpenAI

from assistant import api
from assistant.generation.related_work import IGNORED_OUTLINE_NOTE
from assistant.generation.themes import OTHER_HEADING, PAPERS_PER_SECTION
from assistant.index.paper_index import PaperIndex
from assistant.records import Paper
from assistant.retrieval.retriever import RetrievalOptions
from assistant.settings import Settings
from assistant.text.contribution import contribution_sentence

EXAMPLE = "parameter-efficient fine-tuning of large language models"
# The example's surveys and reviews, labelled by hand (bench/theme-groups.jsonl).
SURVEYS = {"t:dd6ed7dffdf245fb", "t:ee1a922b77f2e119", "t:2cb87c53bc256656"}


def _stems(text: str) -> list[str]:
    import snowballstemmer

    stemmer = snowballstemmer.stemmer("english")
    text = re.sub(r"\b([A-Z]{2,})s\b", r"\1", text)
    return [stemmer.stemWord(w) for w in re.findall(r"[a-z0-9]+", text.lower().replace("-", ""))]


def shared_by_most(heading: str, papers: list[Paper]) -> bool:
    """The heading's phrase (or its bracketed acronym; "A and B": either) is in more than
    half of the papers' titles and abstracts."""
    heading = heading.removesuffix(" (one paper)")
    acronym = re.search(r"\(([^()]+)\)\s*$", heading)
    phrase = re.sub(r"\s*\([^()]+\)\s*$", "", heading)

    def uses(paper: Paper) -> bool:
        text = f"{paper.title} {paper.abstract}"
        if acronym and re.search(rf"\b{re.escape(acronym.group(1))}s?\b", text):
            return True
        words = _stems(text)
        for part in phrase.split(" and "):
            want = _stems(part)
            if any(words[i : i + len(want)] == want for i in range(len(words))):
                return True
        return False

    return sum(uses(p) for p in papers) * 2 > len(papers)


def offline(index_dir: Path, **extra: Any) -> Settings:
    return Settings(index_dir=index_dir, **extra)


def test_the_issue_example_is_grouped_by_approach_with_surveys_apart(
    read_only_index: PaperIndex, read_only_index_dir: Path
) -> None:
    draft = api.related_work(
        read_only_index, EXAMPLE, offline(read_only_index_dir), RetrievalOptions(k=12)
    )
    assert draft.covered and draft.mode == "extractive"
    by_n = {r.n: read_only_index.catalog.get_paper(r.paper_id) for r in draft.references}
    assert len(by_n) == 12 and all(p is not None for p in by_n.values())
    first = draft.themes[0]
    assert first.kind == "surveys" and first.heading == "Surveys and reviews"
    assert {by_n[n].paper_id for n in first.papers} == SURVEYS  # type: ignore[union-attr]
    for theme in draft.themes[1:]:
        assert not SURVEYS & {by_n[n].paper_id for n in theme.papers}  # type: ignore[union-attr]
    assert 2 <= len(draft.themes) <= 12 // PAPERS_PER_SECTION
    for theme in draft.themes:
        members = [by_n[n] for n in theme.papers]
        assert theme.heading == OTHER_HEADING or shared_by_most(theme.heading, members), theme
        assert "," not in theme.heading  # a phrase, not a list of words
        if theme.kind == "single":
            assert theme.heading.endswith(" (one paper)") and len(theme.papers) == 1
    for n, paper in by_n.items():  # each paper stands by its contribution sentence
        assert paper is not None
        sentence = contribution_sentence(paper.title, paper.abstract).sentence
        assert f"“{sentence}” [{n}]" in draft.markdown
    assert "Large Language Models (LLMs) are difficult to fully fine-tune" not in draft.markdown


def test_papers_left_out_are_counted_and_listed(
    read_only_index: PaperIndex, read_only_index_dir: Path, run_cli: Any
) -> None:
    draft = api.related_work(
        read_only_index, EXAMPLE, offline(read_only_index_dir), RetrievalOptions(k=6)
    )
    cited = {r.paper_id for r in draft.references}
    assert draft.left_out and not cited & {p.paper_id for p in draft.left_out}
    note = f"{len(draft.left_out)} more paper(s) look as relevant as the draft's"
    assert any(n.startswith(note) for n in draft.notes)
    none = api.related_work(
        read_only_index,
        EXAMPLE,
        offline(read_only_index_dir, related_work_pool=6),
        RetrievalOptions(k=6),
    )
    assert none.left_out == []  # a pool no wider than the draft leaves nothing out
    cli = run_cli(
        ["related-work", EXAMPLE, "--k", "6", "--json", "--index", str(read_only_index_dir)]
    )
    assert cli.exit_code == 0, cli.stderr
    data = json.loads(cli.stdout)
    assert [p["paper_id"] for p in data["left_out"]] == [p.paper_id for p in draft.left_out]
    assert data["themes"][0]["kind"] == "surveys"


def test_the_mcp_tool_says_what_it_left_out(
    read_only_index: PaperIndex, read_only_index_dir: Path
) -> None:
    from assistant.integrations.mcp_tools import RelatedArgs, ToolContext, related_work

    context = ToolContext(read_only_index, offline(read_only_index_dir))
    data = related_work(context, RelatedArgs(topic=EXAMPLE, k=6))
    assert data["left_out_count"] >= len(data["left_out"]) > 0
    assert "### Surveys" in data["markdown"]


def _user_message(fake: FakeOpenAI) -> str:
    return str(fake.chat_requests[-1]["messages"][-1]["content"])


def with_llm(index_dir: Path, fake: FakeOpenAI, **extra: Any) -> Settings:
    return Settings(index_dir=index_dir, llm_base_url=fake.url, llm_model="fake-model", **extra)


def test_the_model_gets_the_themes_and_contribution_sentences(
    read_only_index: PaperIndex, read_only_index_dir: Path, fake_llm: FakeOpenAI
) -> None:
    fake_llm.queue("### Surveys and reviews\n\nThree surveys cover the field [1][2].")
    settings = with_llm(read_only_index_dir, fake_llm, llm_context_tokens=32_000)
    draft = api.related_work(read_only_index, EXAMPLE, settings, RetrievalOptions(k=12))
    assert draft.mode == "llm"
    user = _user_message(fake_llm)
    sources, _, outline = user.partition("</sources>")
    assert outline.lstrip().startswith("<outline>\n### Surveys and reviews\n- [")
    titles = {int(n): t for n, t in re.findall(r"^\[(\d+)\] (.+?)(?: \(\d{4}\))?$", sources, re.M)}
    assert len(titles) == 12
    by_title = {p.title: p for p in read_only_index.catalog.iter_papers()}
    listed = re.findall(r"^- \[(\d+)\]: (.+)$", outline, re.M)
    assert sorted(int(n) for n, _s in listed) == list(range(1, 13))  # the sources' numbers
    for n, said in listed:
        paper = by_title[titles[int(n)]]
        assert said == contribution_sentence(paper.title, paper.abstract).sentence


def test_a_small_context_gets_the_themes_with_numbers_only(
    read_only_index: PaperIndex, read_only_index_dir: Path, fake_llm: FakeOpenAI
) -> None:
    fake_llm.queue("### Surveys and reviews\n\nThree surveys cover the field [1][2].")
    settings = with_llm(read_only_index_dir, fake_llm, llm_context_tokens=4096)
    api.related_work(read_only_index, EXAMPLE, settings, RetrievalOptions(k=12))
    outline = _user_message(fake_llm).partition("<outline>")[2]
    assert "### Surveys and reviews\nPapers: [" in outline
    assert not re.search(r"^- \[\d+\]: ", outline, re.M)


def test_a_model_that_ignores_the_outline_gives_way_to_the_offline_draft(
    read_only_index: PaperIndex, read_only_index_dir: Path, fake_llm: FakeOpenAI, run_cli: Any
) -> None:
    fake_llm.queue("Parameter-efficient fine-tuning is an active field with many methods.")
    settings = with_llm(read_only_index_dir, fake_llm)
    draft = api.related_work(read_only_index, EXAMPLE, settings, RetrievalOptions(k=12))
    assert draft.mode == "extractive" and draft.llm_error is None
    assert draft.markdown.startswith("> Extractive draft")
    assert draft.notes[0] == IGNORED_OUTLINE_NOTE
    assert draft.usage.get("total_tokens", 0) > 0  # the tokens spent are still reported
    fake_llm.queue("Parameter-efficient fine-tuning is an active field with many methods.")
    cli = run_cli(
        ["related-work", EXAMPLE, "--index", str(read_only_index_dir)],
        env={"OPENAI_BASE_URL": fake_llm.url, "ASSISTANT_LLM_MODEL": "fake-model"},
    )
    assert cli.exit_code == 0, cli.stderr
    assert "\n> Extractive draft" in cli.stdout  # after the model's text, streamed as it came
    assert "did not follow the outline" in cli.stderr
    assert not [line for line in cli.stderr.splitlines() if line.startswith("Error:")]
