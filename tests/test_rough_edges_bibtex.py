"""BibTeX written by every command passes a real BibTeX toolchain (pybtex, plain style).

Rough edges from the issue: ``^`` unescaped (pdflatex: "Missing $ inserted"), ``\\{`` that BibTeX
does not count as balanced, arXiv math written as literal text, entries without authors lacking
the ``key`` field the plain style sorts by.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bibcheck import check_bibtex

from assistant.export.bibtex import bibliography
from assistant.ingest.dedup import merge_duplicates
from assistant.ingest.readers import read_paths
from assistant.records import Paper

SEEDS = Path(__file__).resolve().parent.parent / "assistant" / "data" / "seeds"


def test_every_bundled_paper_passes_pybtex_and_e2_llm_is_escaped() -> None:
    papers, _ = merge_duplicates(read_paths([SEEDS]).papers)
    text = bibliography(papers)
    keys = check_bibtex(text)
    assert len(keys) == len(papers) == len(set(keys))
    assert r"E\textasciicircum{}2-LLM" in text
    assert bibliography(list(reversed(papers))).count("@") == text.count("@")  # stable keys
    assert sorted(keys) == sorted(check_bibtex(bibliography(list(reversed(papers)))))


def test_braces_math_and_missing_authors_pass_pybtex(tmp_path: Path) -> None:
    source = tmp_path / "arxiv.jsonl"
    records = [
        {
            "id": "2401.00001",
            "title": r"$\alpha$-Nets: Sets {a, b and E^2 costs $3 and $5",
            "abstract": r"We bound it by $O(n^2)$ with \emph{fast} nets; 50% & C# a_b } ~ done.",
            "authors": "Jane Smith and Bob Doe",
            "year": 2024,
        },
        {"title": "No Authors Here", "abstract": "Unbalanced { brace.", "year": 2023},
        {"title": "No Authors Or Year", "abstract": "Just text."},
    ]
    source.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    papers = read_paths([source]).papers
    text = bibliography(papers)
    check_bibtex(text)
    # arXiv's LaTeX stays LaTeX; the rest is escaped so that braces balance for BibTeX.
    assert r"{{$\alpha$-Nets: Sets \textbraceleft{}a, b and E\textasciicircum{}2 " in text
    assert r"costs \$3 and \$5}}" in text
    assert r"$O(n^2)$ with \emph{fast} nets; 50\% \& C\# a\_b \textbraceright{}" in text
    assert "textbackslash{}alpha" not in text
    assert text.count("key = {") == 2
    # ... and reads back as the same text.
    bib = tmp_path / "back.bib"
    bib.write_text(text, encoding="utf-8")
    back = read_paths([bib])
    assert back.rejects == []
    assert [p.abstract for p in back.papers][1:] == ["Unbalanced { brace.", "Just text."]


def test_entries_with_odd_names_and_ids_pass_pybtex() -> None:
    odd = Paper(
        paper_id="x",
        title="T",
        abstract="A.",
        authors=["Doe, Jr, K, L", "Ann {O'Neil}"],
        venue="ICML",
        year=2020,
        doi="10.1/{x}",
        url="https://example.org/a b",
    )
    text = bibliography([odd])
    check_bibtex(text)
    assert "@article{doe2020t," in text


def test_cite_related_work_and_papers_bib_files_pass_pybtex(
    run_cli: Any, bundled_index_dir: Path, tmp_path: Path
) -> None:
    index = ["--index", str(bundled_index_dir)]
    # The README's example, as it is written there.
    rw = run_cli(["related-work", "long-context LLMs", "--out", "rw.md", "--bib", "rw.bib", *index])
    assert rw.exit_code == 0, rw.stderr
    assert len(check_bibtex((tmp_path / "rw.bib").read_text(encoding="utf-8"))) >= 3

    claim = "Low-rank adapters can match full fine-tuning"
    cite = run_cli(["cite", claim, "--bib", "c.bib", *index])
    assert cite.exit_code == 0, cite.stderr
    assert check_bibtex((tmp_path / "c.bib").read_text(encoding="utf-8"))

    listed = run_cli(["papers", "--limit", "0", "--bib", "all.bib", *index])
    assert listed.exit_code == 0, listed.stderr
    assert "Wrote 425 BibTeX entries to all.bib." in listed.stderr
    assert len(check_bibtex((tmp_path / "all.bib").read_text(encoding="utf-8"))) == 425

    chat = run_cli(
        ["chat", *index],
        input="What is LongLoRA?\n/export bib chat.bib\n/export md chat.md\n",
    )
    assert chat.exit_code == 0, chat.stderr
    assert check_bibtex((tmp_path / "chat.bib").read_text(encoding="utf-8"))
    assert "(1 turn) to chat.md" in chat.stdout + chat.stderr
    assert "1 turns" not in chat.stdout + chat.stderr
