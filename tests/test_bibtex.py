"""BibTeX output: stable readable keys, deterministic collision suffixes, escaping, round trip."""

from __future__ import annotations

import random
from pathlib import Path

from assistant.export.bibtex import assign_keys, base_key, bibliography, entry
from assistant.ingest.readers import read_paths
from assistant.records import Paper


def paper(pid: str, title: str, **fields: object) -> Paper:
    return Paper(
        paper_id=pid, title=title, abstract=fields.pop("abstract", "An abstract."), **fields
    )  # type: ignore[arg-type]


def test_key_is_lastname_year_and_first_significant_title_word() -> None:
    p = paper(
        "p1", "The Attention Is All You Need", authors=["Ashish Vaswani", "Noam Shazeer"], year=2017
    )
    assert base_key(p) == "vaswani2017attention"
    # "Last, First" names, accents and punctuation are reduced to ASCII letters.
    q = paper("p2", "On Q&A-based Évaluation", authors=["Müller-Lüdenscheidt, José"], year=2021)
    assert base_key(q) == "mullerludenscheidt2021qabased"


def test_key_falls_back_to_title_words_without_authors() -> None:
    assert base_key(paper("p1", "LongLoRA: Efficient Fine-tuning", year=2023)) == "longlora2023"
    assert base_key(paper("p2", "LongLoRA: Efficient Fine-tuning")) == "longloraefficient"
    assert base_key(paper("p3", "The", authors=[])) == "paper"  # nothing usable in the title


def test_keys_are_stable_across_calls_and_input_order() -> None:
    papers = [
        paper(f"id{i}", title, authors=["Jane Smith"], year=2020)
        for i, title in enumerate(["Deep Nets", "Deep Trees", "Wide Nets", "Deep Forests"])
    ]
    first = assign_keys(papers)
    shuffled = papers[:]
    random.Random(7).shuffle(shuffled)
    assert assign_keys(shuffled) == first
    assert assign_keys(papers) == first


def test_collisions_get_a_b_suffixes_in_paper_id_order() -> None:
    a = paper("zz-2", "Scaling Laws", authors=["Kaplan, Jared"], year=2020)
    b = paper("aa-1", "Scaling Up", authors=["J. Kaplan"], year=2020)
    c = paper("mm-3", "Sparse Models", authors=["Kaplan"], year=2020)
    keys = assign_keys([a, b, c])
    assert keys == {
        "aa-1": "kaplan2020scalinga",
        "zz-2": "kaplan2020scalingb",
        "mm-3": "kaplan2020sparse",
    }
    assert assign_keys([c, b, a]) == keys
    assert len(set(keys.values())) == 3


def test_special_characters_are_escaped() -> None:
    p = paper(
        "x1",
        "Q&A at 50% of the cost: $5 for #1 in snake_case",
        abstract="A&B beat C by 10% on data_set #2 for $3.",
        authors=["Ann O'Neil"],
        year=2024,
        venue="Proc. R&D",
    )
    text = entry(p, "oneil2024qa")
    assert text.startswith("@article{oneil2024qa,\n")
    assert r"title = {{Q\&A at 50\% of the cost: \$5 for \#1 in snake\_case}}" in text
    assert r"abstract = {A\&B beat C by 10\% on data\_set \#2 for \$3.}" in text
    assert r"journal = {Proc. R\&D}" in text
    for raw in ("A&B", "10% ", "data_set", " #2", " $3"):
        assert raw not in text
    assert text.count("{") == text.count("}")


def test_entries_parse_back_with_the_bibtex_reader(tmp_path: Path) -> None:
    papers = [
        paper(
            "x1",
            "Q&A at 50% of the cost: $5 for #1 in snake_case",
            abstract="We show that A&B beat C by 10% on data_set #2.\nIt costs $3.",
            authors=["José Müller", "Smith, Bob"],
            year=2024,
            venue="Proc. R&D",
            doi="10.1234/ab_cd",
            arxiv_id="2401.01234",
        ),
        paper("x2", "Attention Is All You Need", abstract="The Transformer.", year=2017),
        paper("x3", "Attention Is Not Explanation", abstract="Weights are not reasons.", year=2017),
    ]
    path = tmp_path / "refs.bib"
    path.write_text(bibliography(papers), encoding="utf-8")

    result = read_paths([path])

    assert result.rejects == []
    by_title = {p.title: p for p in result.papers}
    assert set(by_title) == {p.title for p in papers}
    first = by_title[papers[0].title]
    assert first.abstract == "We show that A&B beat C by 10% on data_set #2. It costs $3."
    assert first.authors == ["José Müller", "Bob Smith"]
    assert (first.year, first.venue) == (2024, "Proc. R&D")
    assert (first.doi, first.arxiv_id) == ("10.1234/ab_cd", "2401.01234")
    assert first.extra["bibkey"] == "muller2024qa"
    assert {by_title[p.title].extra["bibkey"] for p in papers[1:]} == {
        "attention2017a",
        "attention2017b",
    }
    assert by_title["Attention Is Not Explanation"].abstract == "Weights are not reasons."


def test_unbalanced_braces_and_backslashes_survive_the_round_trip(tmp_path: Path) -> None:
    p = paper("x1", r"Sets {a, b and a \ b", abstract=r"Uses } and \emph as text.", year=2020)
    path = tmp_path / "odd.bib"
    path.write_text(bibliography([p]), encoding="utf-8")
    result = read_paths([path])
    assert result.rejects == []
    assert [(r.title, r.abstract) for r in result.papers] == [(p.title, p.abstract)]
