"""Zotero in and out: its .bib, CSL-JSON and RIS exports read with their citation keys, and
BibTeX, RIS and CSL-JSON written with those keys (``papers``, ``cite``, ``related-work``).

The samples in tests/data/zotero/ are one small library exported three ways, with the odd
cases of real exports: LaTeX accents (.bib), an item without an abstract, two papers under one
key (``liu2019``), a broken record, an item whose only id is a Zotero URI (no key).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from bibcheck import check_bibtex

from assistant.api import ingest_paths, open_index
from assistant.export.bibtex import assign_keys, bibliography
from assistant.export.csl_json import csl_json
from assistant.export.ris import ris_text
from assistant.ingest.readers import FieldLimits, detect_format, read_file, read_paths
from assistant.records import Paper
from assistant.settings import Settings

ZOTERO = Path(__file__).resolve().parent / "data" / "zotero"
SAMPLES = {"bibtex": "library.bib", "csl-json": "library.json", "ris": "library.ris"}
LORA_KEY = "huLoRALowRankAdaptation2021"
#: The samples' item without an abstract is rejected, as these tests expect, with the setting
#: that drops such items (keep_papers_without_abstract=false; by default it is kept, title only).
DROP_NO_ABSTRACT = FieldLimits(keep_without_abstract=False)
CAMEMBERT_AUTHORS_BIB = [
    "Louis Martin",
    "Benjamin Muller",
    "Pedro Javier Ortiz Suárez",
    "Yoann Dupont",
    "Laurent Romary",
    "Éric Villemonte de la Clergerie",
    "Djamé Seddah",
    "Benoît Sagot",
]


def by_title(papers: list[Paper]) -> dict[str, Paper]:
    return {p.title: p for p in papers}


def reasons(path: Path) -> list[str]:
    return [r.describe() for r in read_file(path, limits=DROP_NO_ABSTRACT).rejects]


# --- reading ---------------------------------------------------------------------------------


def test_zotero_bib_keeps_keys_decodes_latex_and_reports_bad_entries() -> None:
    path = ZOTERO / "library.bib"
    result = read_file(path, limits=DROP_NO_ABSTRACT)
    papers = by_title(result.papers)
    assert len(result.papers) == 8
    attention = papers["Attention Is All You Need"]
    assert attention.citation_key == "vaswaniAttentionAllYou2017"
    assert "Łukasz Kaiser" in attention.authors
    assert (attention.year, attention.arxiv_id) == (2017, "1706.03762")
    assert attention.extra["keywords"] == "attention,machine translation,transformers"
    assert attention.extra["file"].endswith("Vaswani et al. - 2017 - Attention Is All You Need.pdf")
    camembert = papers["CamemBERT: A Tasty French Language Model"]  # {{CamemBERT}}: case braces
    assert camembert.authors == CAMEMBERT_AUTHORS_BIB
    xlmr = papers["Unsupervised Cross-lingual Representation Learning at Scale"]
    assert {"Francisco Guzmán", "Édouard Grave"} <= set(xlmr.authors)
    assert "+14.6% average accuracy on XNLI" in xlmr.abstract  # \% decoded
    lora = papers["LoRA: Low-Rank Adaptation of Large Language Models"]
    assert (lora.arxiv_id, lora.doi) == ("2106.09685", "10.48550/arXiv.2106.09685")
    # Two papers under one key are both kept, each with the key of the file.
    liu = [p for p in result.papers if p.citation_key == "liu2019"]
    assert len(liu) == 2 and len({p.paper_id for p in liu}) == 2
    assert reasons(path) == [
        f"{path}:entry jurafskySpeechLanguageProcessing2009 (line 70): record has no abstract",
        f"{path}:entry brokenEntry2022 (line 99): unbalanced braces (a new entry starts at "
        "line 105 before the value closes)",
    ]
    # The entry after the broken one is read.
    assert "Exploring the Limits of Transfer Learning with a Unified Text-to-Text Transformer" in (
        papers
    )


def test_zotero_csl_json_keeps_keys_and_reports_bad_items() -> None:
    path = ZOTERO / "library.json"
    result = read_file(path, limits=DROP_NO_ABSTRACT)
    papers = by_title(result.papers)
    assert len(result.papers) == 7
    attention = papers["Attention Is All You Need"]
    assert attention.citation_key == "vaswaniAttentionAllYou2017"  # "citation-key"
    assert attention.extra["csl_id"] == "http://zotero.org/users/8123456/items/5UBW8CBW"
    assert attention.year == 2017  # date-parts hold the year as a string in Zotero's export
    assert "Łukasz Kaiser" in attention.authors
    assert papers["LoRA: Low-Rank Adaptation of Large Language Models"].citation_key == LORA_KEY
    bert = papers[
        "BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding"
    ]
    assert bert.citation_key is None  # its only id is a Zotero URI: not a key
    assert bert.venue and bert.venue.startswith("Proceedings of the 2019 Conference")
    camembert = papers["CamemBERT: a Tasty French Language Model"]
    assert "Éric de la Clergerie" in camembert.authors  # non-dropping-particle
    act = papers["Artificial Intelligence Act"]
    assert (act.authors, act.year) == (["European Parliament"], 2023)  # literal; "raw" date
    assert len([p for p in result.papers if p.citation_key == "liu2019"]) == 2
    got = reasons(path)
    assert got[0] == f"{path}:item 5 (line 209): record has no abstract"
    assert got[1].startswith(f"{path}:item 7 (line 272): malformed JSON (Invalid control character")
    assert len(got) == 2  # reading went on after the broken item


def test_zotero_ris_keeps_ids_and_reports_bad_records() -> None:
    path = ZOTERO / "library.ris"
    result = read_file(path, limits=DROP_NO_ABSTRACT)
    papers = by_title(result.papers)
    assert len(result.papers) == 6
    attention = papers["Attention Is All You Need"]
    assert attention.citation_key == "vaswaniAttentionAllYou2017"
    assert attention.authors[6] == "Łukasz Kaiser"  # "Kaiser, Łukasz"
    assert (attention.year, attention.arxiv_id) == (2017, "1706.03762")
    assert attention.extra["keywords"] == "attention; transformers"
    lora = papers["LoRA: Low-Rank Adaptation of Large Language Models"]
    assert lora.abstract.endswith("for downstream tasks.")  # a continuation line
    assert lora.arxiv_id == "2106.09685"
    assert (
        papers[
            "BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding"
        ].citation_key
        is None
    )  # Zotero writes no ID tag
    assert len([p for p in result.papers if p.citation_key == "liu2019"]) == 2
    assert reasons(path) == [
        f"{path}:record jurafskySpeechLanguageProcessing2009 (line 78): record has no abstract",
        f"{path}:record brokenRecord2022 (line 101): no end line ('ER  -') before the next "
        "record at line 108",
    ]


def test_ris_text_outside_records_and_a_cut_file(tmp_path: Path) -> None:
    path = tmp_path / "cut.ris"
    path.write_text(
        "Exported from a reference manager\n\n"
        "TY  - JOUR\nTI  - Kept\nAB  - An abstract.\nER  - \n\n"
        "TY  - JOUR\nTI  - Cut\nAB  - Never ends.\n",
        encoding="utf-8",
    )
    assert [p.title for p in read_file(path).papers] == ["Kept"]
    assert reasons(path) == [
        f"{path}:line 1: text outside a record (a record starts with 'TY  - ' and ends with "
        "'ER  - ')",
        f"{path}:record (line 8): no end line ('ER  -') before the end of the file (the file "
        "may be cut short)",
    ]


def test_formats_are_detected_and_plain_json_stays_jsonl(tmp_path: Path) -> None:
    for fmt, name in SAMPLES.items():
        head = (ZOTERO / name).read_text(encoding="utf-8")[:4000]
        assert detect_format(ZOTERO / name, head) == fmt
        assert detect_format(Path("export.txt"), head) == fmt  # by content alone
    assert detect_format(Path("a.json"), '[{"title": "x", "abstract": "y"}]') == "jsonl"
    assert detect_format(Path("a.jsonl"), '[{"title": "x", "issued": {}}]') == "jsonl"
    # A folder of all three is read whole (.ris is a known extension).
    result = read_paths([ZOTERO], limits=DROP_NO_ABSTRACT)
    assert len(result.papers) == 8 + 7 + 6


# --- keys ------------------------------------------------------------------------------------


def test_assign_keys_keeps_library_keys_unique_and_generates_the_rest() -> None:
    def paper(pid: str, title: str, key: str | None = None) -> Paper:
        extra = {"bibkey": key} if key else {}
        return Paper(
            paper_id=pid, title=title, abstract="A.", authors=["Yinhan Liu"], year=2019,
            extra=extra,
        )  # fmt: skip

    papers = [
        paper("p3", "Multi-Task Networks", "liu2019"),
        paper("p1", "RoBERTa", "liu2019"),
        paper("p2", "Liu", None),  # no key: liu2019liu is generated
        paper("p4", "Whatever", "Liu2019a"),  # BibTeX compares keys without case
        paper("p5", "Spaces", "not a key"),  # unusable: a generated one instead
    ]
    keys = assign_keys(papers)
    assert keys["p1"] == "liu2019"  # the first in paper-id order keeps the library's key
    assert keys["p4"] == "Liu2019a"
    assert keys["p3"] == "liu2019b"  # not liu2019a: Liu2019a is another paper's key
    assert keys["p2"] == "liu2019liu"
    assert keys["p5"] == "liu2019spaces"
    assert len({k.lower() for k in keys.values()}) == 5
    assert assign_keys(list(reversed(papers))) == keys


# --- round trips through --bib, --ris and --csl-json ------------------------------------------


def _summary(papers: list[Paper]) -> set[tuple[Any, ...]]:
    return {(p.title, p.year, tuple(p.authors)) for p in papers}


@pytest.mark.parametrize("fmt", sorted(SAMPLES))
def test_sample_ingests_with_its_keys_and_round_trips(
    fmt: str, tmp_path: Path, run_cli: Any
) -> None:
    index_dir = tmp_path / "idx"
    index = open_index(Settings(index_dir=index_dir, keep_papers_without_abstract=False))
    report = ingest_paths(index, [ZOTERO / SAMPLES[fmt]])
    assert report.rejected == 2
    indexed = list(index.catalog.iter_papers())
    index.close()
    keys = {p.paper_id: p.citation_key for p in indexed}
    assert LORA_KEY in keys.values()
    listed = run_cli(
        ["papers", "--limit", "0", "--bib", "out.bib", "--ris", "out.ris",
         "--csl-json", "out.json", "--index", str(index_dir)]
    )  # fmt: skip
    assert listed.exit_code == 0, listed.stderr
    n = len(indexed)
    for written in (f"{n} BibTeX entries to out.bib", f"{n} RIS records to out.ris",
                    f"{n} CSL-JSON items to out.json"):  # fmt: skip
        assert f"Wrote {written}." in listed.stderr
    check_bibtex((tmp_path / "out.bib").read_text(encoding="utf-8"))
    expected_keys = set(assign_keys(indexed).values())
    # liu2019 twice in the library: one keeps it, the other is liu2019a in every written file.
    assert {"liu2019", "liu2019a"} <= expected_keys
    for name in ("out.bib", "out.ris", "out.json"):
        back = read_paths([tmp_path / name])
        assert back.rejects == [], name
        assert _summary(back.papers) == _summary(indexed), name
        back_keys = [p.citation_key for p in back.papers]
        assert set(back_keys) == expected_keys and len(back_keys) == n, name
        by_key = {p.citation_key: p for p in back.papers}
        assert by_key[LORA_KEY].title == "LoRA: Low-Rank Adaptation of Large Language Models"
    # Papers kept the library's keys through the index (those with one).
    assert {k for k in keys.values() if k} - {"liu2019"} <= expected_keys


def test_writers_keep_text_and_keys_of_odd_papers(tmp_path: Path) -> None:
    papers = [
        Paper(
            paper_id="x1", title="Q&A at 50% of the cost {with} $\\alpha$", abstract="A&B ~ 10%.",
            authors=["José Müller", "Ludwig van Beethoven"], year=2024, venue="Proc. R&D",
            doi="10.1/ab_cd", extra={"bibkey": "mueller:2024/qa"},
        ),
        Paper(paper_id="x2", title="No Authors", abstract="Just text."),
    ]  # fmt: skip
    for name, text in (
        ("o.bib", bibliography(papers)),
        ("o.ris", ris_text(papers)),
        ("o.json", csl_json(papers)),
    ):
        (tmp_path / name).write_text(text, encoding="utf-8")
        back = read_paths([tmp_path / name])
        assert back.rejects == [], name
        first, second = back.papers
        assert first.citation_key == "mueller:2024/qa", name
        assert first.authors == ["José Müller", "Ludwig van Beethoven"], name
        assert (first.year, first.venue, first.doi) == (2024, "Proc. R&D", "10.1/ab_cd"), name
        assert (second.title, second.citation_key) == ("No Authors", "noauthors"), name
    assert json.loads(csl_json(papers))[0]["author"][1] == {
        "family": "van Beethoven",
        "given": "Ludwig",
    }


# --- cite and related-work use the library's keys ---------------------------------------------


@pytest.fixture
def zotero_index(tmp_path: Path) -> Path:
    index_dir = tmp_path / "zotero-index"
    index = open_index(Settings(index_dir=index_dir))
    ingest_paths(index, [ZOTERO / "library.bib"])
    index.close()
    return index_dir


def test_cite_and_related_work_write_the_library_keys(
    zotero_index: Path, tmp_path: Path, run_cli: Any
) -> None:
    index = ["--index", str(zotero_index)]
    claim = "Freezing the pretrained weights and training low-rank matrices cuts parameters."
    cite = run_cli(
        ["cite", claim, "--bib", "c.bib", "--ris", "c.ris", "--csl-json", "c.json", "--json",
         *index]
    )  # fmt: skip
    assert cite.exit_code == 0, cite.stderr
    cited = json.loads(cite.stdout)["papers"]
    assert cited and cited[0]["bibkey"] == LORA_KEY
    keys = [p["bibkey"] for p in cited]
    assert check_bibtex((tmp_path / "c.bib").read_text(encoding="utf-8")) == keys
    assert [p.citation_key for p in read_paths([tmp_path / "c.ris"]).papers] == keys
    assert [i["id"] for i in json.loads((tmp_path / "c.json").read_text())] == keys

    rw = run_cli(
        ["related-work", "pretraining transformer language models", "--k", "8",
         "--bib", "rw.bib", "--csl-json", "rw.json", "--json", *index]
    )  # fmt: skip
    assert rw.exit_code == 0, rw.stderr
    references = json.loads(rw.stdout)["references"]
    library_keys = {p.citation_key for p in read_file(ZOTERO / "library.bib").papers}
    ref_keys = [r["bibkey"] for r in references]
    assert len(ref_keys) >= 3 and len(set(ref_keys)) == len(ref_keys)
    assert set(ref_keys) <= library_keys | {"liu2019a"}
    assert sorted(check_bibtex((tmp_path / "rw.bib").read_text(encoding="utf-8"))) == sorted(
        ref_keys
    )
    assert f"Wrote {len(ref_keys)} CSL-JSON items to rw.json." in rw.stderr
