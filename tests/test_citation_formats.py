"""Citation formats models write: recognised, normalised to ``[n]``, checked. One test each.

Each format goes through the whole-text check (:func:`check_citations`) and, character by
character, the stream filter (what the user sees while it streams): both must give the same
``[n]`` text, drop numbers that match no source and leave text that is no citation alone. An
end-to-end test drives ``api.ask`` against tests/fake_openai.py with papers that carry authors.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fake_openai import FakeOpenAI

from assistant import api
from assistant.generation.citations import (
    UNCITED_MARK,
    AuthorIndex,
    CitationStreamFilter,
    check_citations,
)
from assistant.settings import Settings

VALID = {1, 2, 3}
AUTHORS = AuthorIndex(
    [(1, ["John Smith", "Ann Lee"], 2023), (2, ["García, María"], 2022), (3, [], None)]
)


def streamed(text: str, authors: AuthorIndex | None = AUTHORS) -> str:
    out: list[str] = []
    stream = CitationStreamFilter(VALID, out.append, authors)
    for char in text:
        stream.feed(char)
    stream.close()
    return "".join(out)


def both(text: str, authors: AuthorIndex | None = AUTHORS) -> tuple[str, list[int], list[int]]:
    """The checked text (no marks), its citations and removed numbers; the stream must agree."""
    checked = check_citations(text, VALID, mark_uncited=False, authors=authors)
    assert re.sub(r" +([.,;:])", r"\1", streamed(text, authors)) == checked.text
    return checked.text, checked.used, checked.removed


FORMATS = {
    "[1]": ("Memory drops [1]. Speed rises [9].", "Memory drops [1]. Speed rises.", [1], [9]),
    "[1, 2]": ("Memory drops [1, 2; 9].", "Memory drops [1][2].", [1, 2], [9]),
    "[1][2]": ("Memory drops [1][2][9].", "Memory drops [1][2].", [1, 2], [9]),
    "[1-3]": ("Memory drops [1-3].", "Memory drops [1][2][3].", [1, 2, 3], []),
    "(1)": (
        "Memory drops (1). Speed rises (2, 9).",
        "Memory drops [1]. Speed rises [2].",
        [1, 2],
        [9],
    ),
    "[^1]": ("Memory drops [^1][^9].", "Memory drops [1].", [1], [9]),
    "【1】": ("Memory drops 【1】【2】.", "Memory drops [1][2].", [1, 2], []),
    "[Source 1]": ("Memory drops [Source 1, Source 9].", "Memory drops [1].", [1], [9]),
    "[S1]": ("Memory drops [S1][S2-S3].", "Memory drops [1][2][3].", [1, 2, 3], []),
    "[Paper 1]": (
        "Memory drops [Paper 2] and [Papers 1, 3].",
        "Memory drops [2] and [1][3].",
        [2, 1, 3],
        [],
    ),
    "(Smith et al., 2023)": (
        "Memory drops (Smith et al., 2023). It works on CPUs (Garcia, 2022; Smith and Lee 2023).",
        "Memory drops [1]. It works on CPUs [2][1].",
        [1, 2],
        [],
    ),
}


@pytest.mark.parametrize("name", list(FORMATS))
def test_citation_format(name: str) -> None:
    text, expected, used, removed = FORMATS[name]
    checked, found, dropped = both(text)
    assert checked == expected
    assert found == used and dropped == removed


def test_author_year_citations_that_match_no_source_are_removed_and_reported() -> None:
    checked = check_citations(
        "Attention is all you need (Vaswani et al., 2017).", VALID, authors=AUTHORS
    )
    assert checked.used == [] and checked.unmatched == ["Vaswani et al., 2017"]
    assert checked.text == f"Attention is all you need. {UNCITED_MARK}"
    assert (
        streamed("Attention is all you need (Vaswani et al., 2017).")
        == "Attention is all you need ."
    )


def test_author_year_needs_sources_with_authors() -> None:
    text = "Memory drops (Smith et al., 2023)."
    assert both(text, authors=AuthorIndex([(1, [], 2023)])) == (text, [], [])


@pytest.mark.parametrize(
    "text",
    [
        "Two goals: (1) speed and (2) memory, both cited [1].",  # an enumeration
        "LLaMA (2023) was released openly [1].",  # a year
        "See [the code](https://example.org) and [x] [1].",  # links and brackets
        "As the paper puts it, “gains over baselines (7).” [1]",  # a quoted source's number
        "Results hold for 7B (and 13B) models [1].",
    ],
)
def test_text_that_is_no_citation_is_left_alone(text: str) -> None:
    checked, used, removed = both(text)
    assert checked == text and used == [1] and removed == []


def test_formats_end_to_end_with_papers_that_carry_authors(
    small_index_dir: Path, tmp_path: Path, fake_llm: FakeOpenAI
) -> None:
    records = [
        {
            "id": "smith-2023",
            "title": "Gradient Checkpointing Cuts the Memory of Training Large Language Models",
            "abstract": "We recompute activations during the backward pass so that training "
            "large language models needs far less GPU memory, at a small cost in speed.",
            "authors": ["John Smith", "Ann Lee"],
            "year": 2023,
        },
        {
            "id": "garcia-2022",
            "title": "Offloading Optimizer States to CPU Memory for Large Language Models",
            "abstract": "Moving optimizer states of large language models to CPU memory lets a "
            "single GPU train models ten times larger than its own memory allows.",
            "authors": ["García, María"],
            "year": 2022,
        },
    ]
    path = tmp_path / "authored.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    settings = Settings(index_dir=small_index_dir, llm_base_url=fake_llm.url, llm_model="fake")
    index = api.open_index(settings)

    def reply(body: dict[str, Any]) -> str:
        numbers = dict(
            (title, int(n))
            for n, title in re.findall(
                r"^\[(\d+)\] (.+?)(?: \(\d{4}\))?$", body["messages"][-1]["content"], re.M
            )
        )
        zero = next(n for t, n in numbers.items() if t.startswith("ZeRO"))
        return (
            "Recomputing activations saves memory (Smith et al., 2023). "
            "Optimizer states can live in CPU memory (García, 2022). "
            f"Partitioning states across devices also helps [Source {zero}][^42]."
        )

    fake_llm.default = reply
    try:
        api.ingest_paths(index, [path])
        tokens: list[str] = []
        question = "How can large language models be trained with less GPU memory?"
        answer = api.ask(index, question, settings, on_token=tokens.append)
    finally:
        index.close()

    assert answer.mode == "llm"
    cited = {c.paper_id: c.n for c in answer.citations}
    assert {"smith-2023", "garcia-2022"} <= set(cited)
    smith, garcia = cited["smith-2023"], cited["garcia-2022"]
    assert f"saves memory [{smith}]." in answer.answer
    assert f"live in CPU memory [{garcia}]." in answer.answer
    # ZeRO's abstract never says it partitions anything: the attribution check marks it.
    assert re.search(r"across devices also helps \[\d+\]\[unsupported\]\.", answer.answer)
    assert answer.removed_citations == [42]
    shown = "".join(tokens)
    assert "(Smith et al., 2023)" not in shown and f"saves memory [{smith}]." in shown


def test_cite_reads_the_models_lines_in_any_citation_format(
    small_index_dir: Path, fake_llm: FakeOpenAI
) -> None:
    def reply(body: dict[str, Any]) -> str:
        titles = re.findall(r"^\[(\d+)\] (.+)$", body["messages"][-1]["content"], re.M)
        zero = next(int(n) for n, title in titles if title.startswith("ZeRO"))
        return f"[Source {zero}]: it removes the redundancy.\n【42】 not a source."

    fake_llm.default = reply
    settings = Settings(index_dir=small_index_dir, llm_base_url=fake_llm.url, llm_model="fake")
    index = api.open_index(settings)
    try:
        result = api.cite_claim(index, "ZeRO removes memory redundancy in training.", settings)
    finally:
        index.close()
    assert result.mode == "llm" and result.llm_error is None
    assert [p.title[:5] for p in result.papers] == ["ZeRO:"]
    assert result.papers[0].justification == "it removes the redundancy."
    assert result.removed_citations == [42]
