"""Rough edges of ingest from the issue: duplicates across sources, record size, damaged .gz,
and the slips in messages (real files, the real CLI)."""

from __future__ import annotations

import gzip
import json
import re
import time
from pathlib import Path
from typing import Any

from bibcheck import check_bibtex

from assistant.export.bibtex import bibliography
from assistant.ingest.dedup import merge_duplicates
from assistant.ingest.readers import read_paths
from assistant.ingest.text import make_paper_id

REPO = Path(__file__).resolve().parent.parent

JSONL = [
    {
        "id": "rec-1",
        "title": "Shifted Sparse Attention for Long Contexts",
        "abstract": "We extend context windows of language models. It works well.",
        "doi": "10.1234/ABC.5",
        "authors": ["Yukang Chen", "Song Han"],
        "year": 2023,
    },
    {
        "id": "rec-2",
        "title": "Another Paper Entirely",
        "abstract": "Different content about graph neural networks.",
        "arxiv_id": "2309.12307v2",
    },
]
BIB = """@article{chen2023,
  title = {Shifted Sparse Attention for Long Contexts},
  author = {Chen, Yukang and Han, Song},
  doi = {https://doi.org/10.1234/abc.5},
  journal = {ICLR},
  year = {2023},
  abstract = {We extend context windows of language models. It works well.}
}
"""
CSV = (
    "title,abstract,arxiv_id\n"
    '"Another paper, entirely","Different content about graph neural networks, '
    'in a longer version.",2309.12307\n'
)
# The same title and first author, no shared identifier.
CSV_TITLE = (
    "title,abstract,authors\n"
    '"Shifted sparse attention for long contexts!","We extend context windows.",Y. Chen\n'
)


def _write(folder: Path) -> dict[str, Path]:
    files = {
        "jsonl": folder / "a.jsonl",
        "bib": folder / "b.bib",
        "csv": folder / "c.csv",
        "title": folder / "d.csv",
    }
    files["jsonl"].write_text("\n".join(json.dumps(r) for r in JSONL) + "\n", encoding="utf-8")
    files["bib"].write_text(BIB, encoding="utf-8")
    files["csv"].write_text(CSV, encoding="utf-8")
    files["title"].write_text(CSV_TITLE, encoding="utf-8")
    return files


def _json(result: Any) -> Any:
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


# --- 2. the same paper from two sources ---------------------------------------------------------


def test_same_doi_in_jsonl_and_bib_is_one_paper_with_both_sources(tmp_path: Path) -> None:
    files = _write(tmp_path)
    papers, merged = merge_duplicates(read_paths([files["jsonl"], files["bib"]]).papers)
    assert merged == 1
    assert [p.paper_id for p in papers] == ["rec-1", "rec-2"]  # the first one keeps its id
    first = papers[0]
    assert first.extra["sources"] == "a.jsonl; b.bib"
    assert first.venue == "ICLR"  # filled from the .bib
    assert len(check_bibtex(bibliography(papers))) == 2
    # arXiv id without its version, title + first author surname
    more, merged = merge_duplicates(
        read_paths([files["jsonl"], files["csv"], files["title"]]).papers
    )
    assert merged == 2 and [p.paper_id for p in more] == ["rec-1", "rec-2"]
    assert more[1].abstract.endswith("in a longer version.")  # the longer abstract is kept


def test_duplicates_merge_across_runs_and_stats_counts_them(run_cli: Any, tmp_path: Path) -> None:
    files = _write(tmp_path)
    index = ["--index", str(tmp_path / "idx")]
    first = run_cli(["ingest", str(files["jsonl"]), *index])
    assert first.exit_code == 0, first.stderr
    second = run_cli(["ingest", str(files["bib"]), str(files["csv"]), str(files["title"]), *index])
    assert second.exit_code == 0, second.stderr
    assert "(3 duplicates merged)" in second.stdout
    listed = _json(run_cli(["papers", "--json", *index]))
    assert [p["paper_id"] for p in listed["papers"]] == ["rec-1", "rec-2"]  # ids unchanged
    shown = _json(run_cli(["papers", "show", "rec-1", "--json", *index]))
    assert shown["extra"]["sources"] == "a.jsonl; b.bib; d.csv"
    assert shown["venue"] == "ICLR"
    stats = run_cli(["stats", *index])
    assert re.search(r"^duplicates: +3 merged", stats.stdout, re.M), stats.stdout
    assert _json(run_cli(["stats", "--json", *index]))["duplicates_merged"] == 3
    # The same input again merges again but adds nothing; the BibTeX has one entry per paper.
    again = run_cli(["ingest", str(files["bib"]), *index])
    assert again.exit_code == 0 and "added 0" in again.stdout, again.stderr
    bib = run_cli(["papers", "--bib", "all.bib", *index])
    assert bib.exit_code == 0, bib.stderr
    assert len(check_bibtex((tmp_path / "all.bib").read_text(encoding="utf-8"))) == 2


def test_paper_ids_without_duplicates_do_not_change() -> None:
    assert make_paper_id(record_id="rec-1", doi="10.1/x", arxiv_id=None, title="T") == "rec-1"
    assert make_paper_id(
        record_id=None, doi="https://doi.org/10.1/X", arxiv_id=None, title="T"
    ) == ("doi:10.1/x")
    assert make_paper_id(record_id=None, doi=None, arxiv_id="2309.12307v2", title="T") == (
        "arxiv:2309.12307"
    )
    assert make_paper_id(record_id=None, doi=None, arxiv_id=None, title="Hello") == (
        "t:aaf4c61ddcc5e8a2"
    )


# --- 3. record size -----------------------------------------------------------------------------


def test_a_huge_abstract_is_cut_and_output_is_capped(run_cli: Any, tmp_path: Path) -> None:
    huge = "Dense retrieval of giant records. " + "tokenwords " * 500_000  # 5.5 MB, no sentence end
    source = tmp_path / "big.jsonl"
    source.write_text(
        json.dumps({"title": "A normal paper", "abstract": "Short and fine."})
        + "\n"
        + json.dumps({"title": "A giant record", "abstract": huge})
        + "\n",
        encoding="utf-8",
    )
    index = ["--index", str(tmp_path / "idx")]
    started = time.perf_counter()
    ingest = run_cli(["ingest", str(source), *index])
    assert ingest.exit_code == 0, ingest.stderr
    assert time.perf_counter() - started < 120
    assert f"{source}:line 2: abstract of {len(huge.strip()):,} characters cut to" in ingest.stderr
    assert "(1 abstracts cut)" in ingest.stdout
    papers = _json(run_cli(["papers", "--json", *index]))["papers"]
    giant = next(p for p in papers if p["title"] == "A giant record")
    shown = _json(run_cli(["papers", "show", giant["paper_id"], "--json", *index]))
    assert len(shown["abstract"]) <= 20_000 and shown["abstract"].endswith(" …")
    search = run_cli(["search", "tokenwords", *index])
    assert search.exit_code == 0, search.stderr
    assert "A giant record" in search.stdout and len(search.stdout) < 3_000
    found = _json(run_cli(["search", "tokenwords", "--json", *index]))
    assert all(len(hit["snippet"]) <= 400 for hit in found["results"])
    show = run_cli(["papers", "show", giant["paper_id"], *index])
    assert len(show.stdout) < 21_000


def test_max_abstract_chars_is_a_setting(tmp_path: Path) -> None:
    source = tmp_path / "p.jsonl"
    text = "One sentence here. " * 200
    source.write_text(json.dumps({"title": "T", "abstract": text}) + "\n", encoding="utf-8")
    result = read_paths([source], max_abstract_chars=1_000)
    (paper,) = result.papers
    assert len(paper.abstract) <= 1_000 and paper.abstract.endswith("here. …")
    assert [(t.location, t.path) for t in result.truncated] == [("line 1", str(source))]
    assert read_paths([source]).papers[0].abstract == text.strip()  # no limit: as it was


# --- 4. a damaged .gz ----------------------------------------------------------------------------


def _records(n: int) -> bytes:
    lines = [
        json.dumps({"title": f"Paper {i}", "abstract": f"Abstract {i}. " * 30}) for i in range(n)
    ]
    return ("\n".join(lines) + "\n").encode()


def test_a_truncated_gz_keeps_the_records_before_the_damage(run_cli: Any, tmp_path: Path) -> None:
    whole = gzip.compress(_records(3000))
    path = tmp_path / "papers.jsonl.gz"
    path.write_bytes(whole[: len(whole) // 2])
    result = read_paths([path])
    assert 1000 < result.count < 3000
    (reject,) = result.rejects
    assert reject.location == f"line {result.count + 1}"
    assert "truncated" in reject.reason
    # A .bib.gz and a Daily Papers .txt.gz too.
    bib = "".join(
        f"@misc{{k{i}, title={{Paper {i}}}, abstract={{Abstract {i}. {'x ' * 40}}}}}\n"
        for i in range(2000)
    )
    packed = gzip.compress(bib.encode())
    (tmp_path / "refs.bib.gz").write_bytes(packed[: len(packed) // 2])
    refs = read_paths([tmp_path / "refs.bib.gz"])
    assert refs.count > 500 and any("truncated" in r.reason for r in refs.rejects)
    ingest = run_cli(["ingest", str(path), "--index", str(tmp_path / "idx")])
    assert ingest.exit_code == 0, ingest.stderr
    assert f"added {result.count}," in ingest.stdout
    assert f"papers.jsonl.gz:line {result.count + 1}: the .gz file is truncated" in ingest.stderr


def test_a_corrupt_gz_keeps_what_was_read(tmp_path: Path) -> None:
    whole = bytearray(gzip.compress(_records(3000)))
    whole[len(whole) // 2] ^= 0xFF
    whole[len(whole) // 2 + 1] ^= 0xFF
    path = tmp_path / "papers.jsonl.gz"
    path.write_bytes(bytes(whole))
    result = read_paths([path])
    assert result.count > 500
    assert any("damaged" in r.reason or "malformed" in r.reason for r in result.rejects)


# --- 5. slips ----------------------------------------------------------------------------------


def test_malformed_json_message_has_no_double_at(run_cli: Any, tmp_path: Path) -> None:
    source = tmp_path / "p.jsonl"
    source.write_text(
        '{"title": "Good", "abstract": "Fine."}\n{"title": "Bad\u0001", "abstract": "x"}\n',
        encoding="utf-8",
    )
    (reject,) = read_paths([source]).rejects
    assert reject.reason == "malformed JSON (Invalid control character at column 15)"
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"question": "a\u0001"}\n', encoding="utf-8")
    cli = run_cli(["search", "--queries-file", str(queries), "--index", str(tmp_path / "i")])
    assert cli.exit_code != 0
    assert "at at" not in cli.stderr and "Invalid control character at column" in cli.stderr


def test_usage_lines_show_no_template_braces(run_cli: Any) -> None:
    for command, name in (
        (["ingest"], "PATHS"),
        (["ask"], "QUESTION"),
        (["cite"], "CLAIM"),
        (["related-work"], "TOPIC"),
        (["papers", "show"], "PAPER_ID"),
        (["search", "--bogus"], "[QUERY]"),
    ):
        result = run_cli([*command, "--bogus"] if command[-1] != "--bogus" else command)
        usage = next(line for line in result.stderr.splitlines() if line.startswith("Usage:"))
        assert "{" not in usage and name in usage, usage


def test_ingest_report_has_no_blank_line_and_stats_sources_have_a_header(
    run_cli: Any, tmp_path: Path
) -> None:
    files = _write(tmp_path)
    index = ["--index", str(tmp_path / "idx")]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"title": "x", oops\n', encoding="utf-8")
    result = run_cli(["ingest", str(files["jsonl"]), str(bad), *index])
    assert result.exit_code == 0, result.stderr
    assert result.stderr.startswith(f"rejected {bad}:line 1: malformed JSON"), repr(result.stderr)
    stats = run_cli(["stats", *index]).stdout.splitlines()
    header = next(i for i, line in enumerate(stats) if line.startswith("sources:"))
    assert "papers" in stats[header] and "file" in stats[header]
    assert stats[header + 1].split() == ["2", "a.jsonl"]


def test_index_folder_message_reads_well() -> None:
    from rich.console import Console

    from assistant.cli.render import building_corpus

    console = Console(record=True, width=200)
    building_corpus(console, Path("index"))
    text = console.export_text()
    assert "The index in index" not in text
    assert text.startswith("The index folder ./index is empty: building it from the bundled")


def test_papers_per_second_counts_only_papers_embedded_in_this_run(tmp_path: Path) -> None:
    from assistant.api import ingest_paths, open_index
    from assistant.cli.render import ProgressBar
    from assistant.settings import Settings

    source = tmp_path / "p.jsonl"
    rows = [{"title": f"Paper {i}", "abstract": f"About topic {i}. More."} for i in range(40)]
    source.write_text("\n".join(json.dumps(r) for r in rows[:30]) + "\n", encoding="utf-8")
    index = open_index(Settings(index_dir=tmp_path / "idx"))
    ingest_paths(index, [source])  # the papers an interrupted run committed
    source.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")

    class Recorder:
        def __init__(self) -> None:
            self.calls: list[tuple[int, int]] = []
            self.skipped_papers = 0

        def __call__(self, done: int, total: int) -> None:
            self.calls.append((done, total))

        def skipped(self, papers: int) -> None:
            self.skipped_papers += papers

    recorder = Recorder()
    report = ingest_paths(index, [source], progress=recorder)  # the resumed run
    index.close()
    assert (report.added, report.unchanged) == (10, 30)
    assert recorder.skipped_papers == 30 and recorder.calls[-1] == (40, 40)

    bar = ProgressBar("Embedding")
    bar(0, 40)
    bar.skipped(30)
    bar(30, 40)
    time.sleep(0.5)
    bar(40, 40)
    bar.close()
    rate = float(bar.rate.split()[0])
    assert 0 < rate <= 10 / 0.5 + 1, bar.rate  # 10 papers in ~0.5 s, not 40


def test_readme_says_the_real_batch_sizes() -> None:
    from assistant.index.paper_index import INGEST_WINDOW
    from assistant.settings import Settings

    readme = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    batch = Settings.model_fields["ingest_batch_papers"].default
    assert f"read {INGEST_WINDOW:,} papers at a time" in readme
    assert f"committed in batches of `ASSISTANT_INGEST_BATCH_PAPERS`, {batch}" in readme
    assert "committed 4,096 papers at a time" not in readme
