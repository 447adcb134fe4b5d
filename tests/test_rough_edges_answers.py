"""Filters that explain themselves, and citations that cannot be confused with quoted text.

Year, venue and ``--where`` filters that leave no paper say why (in ``search``, ``ask``, the chat
and ``--json``); an inverted year range or a ``--where`` key no paper has is a usage error.
Extractive quotes show a source's own bracketed numbers as ``(n)``; every uncited sentence of a
model's answer is marked, one-word ones too.
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
from assistant.errors import UsageError
from assistant.generation.answer import CitationRegistry, extractive_answer
from assistant.generation.citations import UNCITED_MARK, check_citations
from assistant.index.paper_index import PaperIndex
from assistant.retrieval.filters import SearchFilters
from assistant.retrieval.retriever import RetrievalOptions, Retriever
from assistant.settings import Settings
from assistant.text.quoting import quote_text

NO_YEAR = "none of the 425 indexed papers has a year"
BRACKETED = {
    "id": "bracketed-2021",
    "title": "Quantum Beekeeping: Entangled Pollen Improves Hive Yield",
    "abstract": (
        "Quantum beekeeping improves hive yield by forty percent over classical apiculture [99]. "
        "Earlier hive models [7] ignored pollen entanglement between neighbouring colonies. "
        "We measure quantum beekeeping gains across twelve apiaries in three climates [3, 5-7]."
    ),
    "year": 2021,
    "track": "findings",
}
DATED = [
    {
        "id": "dated-2019",
        "title": "Neural Weather Nowcasting",
        "year": 2019,
        "abstract": "We train neural networks to nowcast rainfall from radar images over Europe.",
    },
    {
        "id": "dated-2024",
        "title": "Neural Protein Folding at Scale",
        "year": 2024,
        "abstract": "Neural networks predict protein structures from sequences at genome scale.",
    },
]
BEEKEEPING_Q = "How much does quantum beekeeping improve hive yield?"


@pytest.fixture
def dated_index_dir(small_index_dir: Path, tmp_path: Path) -> Path:
    """The 24-paper index (no years) plus three papers with years 2019-2024 and a 'track'."""
    path = tmp_path / "dated.jsonl"
    lines = [json.dumps(record) for record in [BRACKETED, *DATED]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    index = api.open_index(Settings(index_dir=small_index_dir))
    try:
        assert api.ingest_paths(index, [path]).added == 3
    finally:
        index.close()
    return small_index_dir


@pytest.fixture
def dated_index(dated_index_dir: Path) -> Iterator[PaperIndex]:
    index = api.open_index(Settings(index_dir=dated_index_dir))
    yield index
    index.close()


def _json(run_cli: Any, *args: str) -> dict[str, Any]:
    result = run_cli([*args, "--json"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


# --- case 1: filters that leave no paper say why ----------------------------------------------


def test_year_filter_on_papers_without_years_says_why(
    run_cli: Any, bundled_index_dir: Path
) -> None:
    index = ["--index", str(bundled_index_dir)]
    shown = run_cli(["search", "attention", "--since", "3000", *index])
    assert shown.exit_code == 0, shown.stderr
    assert NO_YEAR in " ".join(shown.stdout.split())
    data = _json(run_cli, "search", "attention", "--since", "3000", *index)
    assert data["results"] == []
    assert f"No paper matches the filters (year >= 3000): {NO_YEAR}." in data["notes"]

    asked = _json(run_cli, "ask", "attention", "--since", "3000", *index)
    assert asked["abstained"] and asked["citations"] == []
    assert NO_YEAR in asked["no_match"] and NO_YEAR in asked["answer"]
    assert "retrieval confidence" not in asked["answer"]
    plain = run_cli(["ask", "attention", "--since", "3000", *index])
    assert plain.exit_code == 0, plain.stderr
    assert NO_YEAR in " ".join(plain.stdout.split())
    assert "do not appear to address" not in plain.stdout


def test_filters_name_the_years_and_values_there_are(run_cli: Any, dated_index_dir: Path) -> None:
    index = ["--index", str(dated_index_dir)]
    later = _json(run_cli, "search", "neural networks", "--since", "3000", *index)
    (note,) = later["notes"]
    assert "no indexed paper is from 3000 or later (years 2019-2024, 3 of the 27" in note
    earlier = _json(run_cli, "search", "neural networks", "--until", "1990", *index)
    assert any("no indexed paper is from 1990 or earlier" in n for n in earlier["notes"])
    track = _json(run_cli, "search", "neural networks", "--where", "track=main", *index)
    assert any("no indexed paper has track = main" in n for n in track["notes"])
    venue = _json(run_cli, "search", "neural networks", "--venue", "ACL", *index)
    assert any("none of the 27 indexed papers has a venue" in n for n in venue["notes"])
    # a key from the papers' extra metadata is known: it filters, and no note is added
    found = _json(run_cli, "search", "quantum beekeeping", "--where", "track=findings", *index)
    assert [h["paper_id"] for h in found["results"]] == ["bracketed-2021"]
    assert found["notes"] == []


@pytest.mark.parametrize("command", ["search", "ask"])
def test_inverted_range_and_unknown_where_key_are_usage_errors(
    run_cli: Any, dated_index_dir: Path, command: str
) -> None:
    index = ["--index", str(dated_index_dir)]
    inverted = run_cli([command, "attention", "--since", "2024", "--until", "2020", *index])
    assert inverted.exit_code == 2, inverted
    assert "--since 2024 is after --until 2020" in inverted.stderr
    assert "Hint: Swap them: --since 2020 --until 2024." in inverted.stderr
    unknown = run_cli([command, "attention", "--where", "veneu=ACL", *index])
    assert unknown.exit_code == 2, unknown
    err = " ".join(unknown.stderr.split())
    assert "Unknown filter key 'veneu'" in err
    assert "Hint: Did you mean 'venue'? Known keys: paper_id, title" in err
    assert "track" in err  # the papers' other metadata keys are listed too
    assert "Traceback" not in unknown.stderr


def test_library_checks_filters_and_question_filters_explain(dated_index: PaperIndex) -> None:
    settings = Settings(index_dir=dated_index.dir)
    inverted = RetrievalOptions(filters=SearchFilters(year_from=2024, year_to=2020))
    with pytest.raises(UsageError, match="from 2024 is after until 2020") as raised:
        api.search(dated_index, "attention", inverted)
    assert raised.value.hint == "Swap the years: from 2020 until 2024."
    unknown = RetrievalOptions(filters=SearchFilters(metadata={"trak": "findings"}))
    with pytest.raises(UsageError, match="'trak'") as raised:
        api.ask(dated_index, "attention", settings, unknown)
    assert raised.value.hint is not None and "Did you mean 'track'?" in raised.value.hint
    # Filters read from the question follow the same rules: ignored, saying why.
    inverted_q = api.search(dated_index, "neural networks since 2024 until 2020")
    assert inverted_q.results and inverted_q.filters is None
    assert any(
        "the year range is empty (from 2024 is after until 2020)" in n for n in inverted_q.notes
    ), inverted_q.notes
    too_late = api.search(dated_index, "neural networks since 2030")
    assert any(
        n.startswith(
            "Ignored 'year >= 2030' from the question: no indexed paper is "
            "from 2030 or later (years 2019-2024"
        )
        for n in too_late.notes
    )


def test_year_and_source_filters_read_ids_alone_and_match_the_full_check(
    dated_index: PaperIndex,
) -> None:
    """Year and source filters are answered from the catalog's ids (no records read); the
    answer is the one checking every record gives."""
    retriever = Retriever(dated_index)
    sources = [s for s, _ in dated_index.catalog.sources()]
    cases = [
        SearchFilters(year_from=2020),
        SearchFilters(year_from=2019, year_to=2021),
        SearchFilters(year_to=2030, source=sources[-1]),
        SearchFilters(source=sources[0]),
        SearchFilters(year_from=2019, venue="e"),  # venue: every record is checked
    ]
    for filters in cases:
        full = {p.paper_id for p in dated_index.catalog.iter_papers() if filters.matches(p)}
        assert retriever.allowed_papers(filters) == full, filters
        assert retriever.allowed_papers(filters, {"nope", *sorted(full)[:1]}) == set(
            sorted(full)[:1]
        )
    assert retriever.allowed_papers(SearchFilters(year_from=2020)), "the case has papers"


def test_question_year_on_papers_without_years_says_why(bundled_index_dir: Path) -> None:
    index = api.open_index(Settings(index_dir=bundled_index_dir))
    try:
        result = api.search(index, "attention since 2023")
    finally:
        index.close()
    assert result.results
    assert f"Ignored 'year >= 2023' from the question: {NO_YEAR}." in result.notes


def test_chat_filter_explains_and_rejects_bad_filters(
    run_cli: Any, bundled_index_dir: Path
) -> None:
    lines = [
        "/filter since 2023",
        "What is LongLoRA?",
        "/filter until 2020",
        "/filter where veneu=ACL",
        "/filter",
        "/filter clear",
        "What is LongLoRA?",
        "/quit",
    ]
    result = run_cli(["chat", "--index", str(bundled_index_dir)], input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.stderr
    out, err = " ".join(result.stdout.split()), " ".join(result.stderr.split())
    assert out.count("Filters: year >= 2023.") == 2  # set, then unchanged by the bad ones
    assert f"No paper matches the filters (year >= 2023): {NO_YEAR}." in out  # /filter and ask
    assert "do not appear to address" not in out
    assert "Error: The year range is empty: from 2023 is after until 2020." in err
    assert "Unknown filter key 'veneu'" in err and "Did you mean 'venue'?" in err
    assert "Filters cleared." in out
    assert "References [1] LongLoRA" in out  # the chat went on, unfiltered


# --- case 2: quoted numbers are not citations; every uncited sentence is marked ---------------


def test_extractive_quotes_show_a_sources_numbers_as_parentheses(dated_index: PaperIndex) -> None:
    result = Retriever(dated_index).search(BEEKEEPING_Q, RetrievalOptions(k=5))
    assert result.results[0].paper_id == "bracketed-2021"
    answer = extractive_answer(dated_index, BEEKEEPING_Q, result, CitationRegistry())
    numbers = {c.n for c in answer.citations}
    bee = next(c.n for c in answer.citations if c.paper_id == "bracketed-2021")
    assert f"over classical apiculture (99).” [{bee}]" in answer.answer
    for line in answer.answer.split("\n"):
        quoted, cited = re.fullmatch(r"“(.+)” ((?:\[\d+\])+)", line).groups()  # type: ignore[union-attr]
        assert not re.search(r"\[\d", quoted), line  # no bracketed number inside a quote
        assert {int(n) for n in re.findall(r"\d+", cited)} <= numbers
    checked = check_citations(answer.answer, numbers, mark_uncited=False)
    assert checked.removed == [] and set(checked.used) == numbers


def test_an_extractive_answer_quotes_only_papers_scoring_near_the_best(
    dated_index: PaperIndex,
) -> None:
    """A lookup whose paper stands out is answered from it alone, not padded with the next
    four; papers scoring close to the best are quoted beside it; the sources stay the five."""
    from assistant.generation.answer import QUOTE_SCORE_SHARE, quoted_papers

    result = Retriever(dated_index).search(BEEKEEPING_Q, RetrievalOptions(k=5))
    scores = [h.score for h in result.results]
    assert scores[1] < QUOTE_SCORE_SHARE * scores[0]  # the case: one paper stands out
    answer = extractive_answer(dated_index, BEEKEEPING_Q, result, CitationRegistry())
    assert [c.paper_id for c in answer.citations] == ["bracketed-2021"]
    assert len(answer.sources) == 5

    close = [
        h.model_copy(update={"score": s})
        for h, s in zip(result.results, [2.0, 1.5, 1.3, 0.4, 0.1], strict=False)
    ]
    assert [h.score for h in quoted_papers(close)] == [2.0, 1.5]
    negative = [
        h.model_copy(update={"score": -s}) for h, s in zip(result.results, [1.0, 2.0], strict=False)
    ]
    assert quoted_papers(negative) == negative  # no positive best: nothing to compare with


def test_quote_text_rewrites_every_citation_shape() -> None:
    assert quote_text("as in [7], [3, 5-7] and [ 12 ]; not [a1] or [x]") == (
        "as in (7), (3, 5-7) and (12); not [a1] or [x]"
    )


def test_one_word_uncited_sentences_are_marked() -> None:
    checked = check_citations("Yes. LongLoRA extends context [1]. Indeed!\n1. Sparse [2].", {1, 2})
    assert checked.text == (
        f"Yes. {UNCITED_MARK} LongLoRA extends context [1]. Indeed! {UNCITED_MARK}\n1. Sparse [2]."
    )
    assert checked.uncited_sentences == 2  # the list marker "1." is no sentence


def test_llm_answer_numbers_copied_from_a_source_and_short_sentences(
    dated_index: PaperIndex, fake_llm: FakeOpenAI
) -> None:
    settings = Settings(
        index_dir=dated_index.dir, llm_base_url=fake_llm.url, llm_model="fake-model"
    )
    fake_llm.queue("Yes. Quantum beekeeping raises hive yield by forty percent [1][99].")
    answer = api.ask(dated_index, BEEKEEPING_Q, settings)
    assert answer.answer == (
        f"Yes. {UNCITED_MARK} Quantum beekeeping raises hive yield by forty percent [1]."
    )
    assert answer.removed_citations == [99] and answer.uncited_sentences == 1
    assert [c.paper_id for c in answer.citations] == ["bracketed-2021"]


def test_cite_and_related_work_check_filters_like_search(run_cli, bundled_index_dir: Path) -> None:
    """An unknown --where key is a usage error on cite and related-work too."""
    for command in (["cite", "LoRA matches full fine-tuning"], ["related-work", "long context"]):
        done = run_cli([*command, "--where", "colour=blue", "--index", str(bundled_index_dir)])
        assert done.exit_code == 2, (command, done.stderr)
        assert "colour" in done.stderr and "Known keys" in done.stderr
