"""The ``assistant`` command in a subprocess: ingest, search, papers, stats, config and errors.

Every test has its own index: a copy of a fixture index, or a folder in tmp_path.
"""

from __future__ import annotations

import collections
import fcntl
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import SEEDS, CliResult
from test_index import ORIGAMI, write_corpus

from assistant.index.catalog import Catalog
from assistant.ingest.chunking import split_sentences
from assistant.ingest.dedup import merge_duplicates
from assistant.ingest.readers import read_paths
from assistant.records import Paper

SUMMARY = re.compile(
    r"added (\d+), updated (\d+), unchanged (\d+), rejected (\d+)"
    r"(?: \((\d+) duplicates merged\))? in [\d.]+ s; index: (\d+) papers"
)
RunCli = Callable[..., CliResult]
HIT_KEYS = ["rank", "paper_id", "title", "year", "score", "snippet"]
#: Records without an abstract rejected, as the tests of rejects expect (by default they are
#: kept as title-only papers).
DROP_NO_ABSTRACT = {"ASSISTANT_KEEP_PAPERS_WITHOUT_ABSTRACT": "false"}


def flat(text: str) -> str:
    """Whitespace collapsed, so that messages wrapped by the terminal width still match."""
    return " ".join(text.split())


def summary(stdout: str) -> dict[str, int]:
    match = SUMMARY.search(flat(stdout))
    assert match, stdout
    names = ("added", "updated", "unchanged", "rejected", "merged", "index")
    return {name: int(value or 0) for name, value in zip(names, match.groups(), strict=True)}


def papers_in(index_dir: Path) -> dict[str, Paper]:
    catalog = Catalog(index_dir)
    try:
        return {p.paper_id: p for p in catalog.iter_papers()}
    finally:
        catalog.close()


def assert_clean_error(result: CliResult, code: int | None = None) -> str:
    """A non-zero exit with 'Error:' and 'Hint:' on stderr and no traceback; returns stderr."""
    assert result.exit_code != 0, result
    if code is not None:
        assert result.exit_code == code, result
    assert "Error:" in result.stderr and "Hint:" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    return flat(result.stderr)


def search_json(run_cli: RunCli, *args: str, env: dict[str, str | None] | None = None) -> Any:
    result = run_cli(["search", *args, "--json"], env=env)
    assert result.exit_code == 0, result
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    return json.loads(lines[0])


@pytest.fixture(scope="module")
def _meta_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index of the 8-paper corpus of test_index (years, authors, venues, 'track' field)."""
    from assistant.api import ingest_paths, open_index
    from assistant.settings import Settings

    base = tmp_path_factory.mktemp("meta")
    write_corpus(base / "corpus")
    index = open_index(Settings(index_dir=base / "index"))
    report = ingest_paths(index, [base / "corpus"])
    assert report.added == 8
    index.close()
    return base / "index"


@pytest.fixture
def meta_index_dir(_meta_template: Path, tmp_path: Path) -> Path:
    target = tmp_path / "meta-index"
    shutil.copytree(_meta_template, target)
    return target


# --- help ---------------------------------------------------------------------------------


def test_help_lists_the_commands(run_cli: RunCli) -> None:
    result = run_cli(["--help"])
    assert result.exit_code == 0
    for command in ("ingest", "search", "ask", "papers", "stats", "config"):
        assert re.search(rf"^\s+{command}\s", result.stdout, re.M), command
    ingest_help = run_cli(["ingest", "--help"])
    assert ingest_help.exit_code == 0
    for flag in ("--format", "--rebuild", "--strict", "--wait", "--json", "--index"):
        assert flag in ingest_help.stdout


# --- ingest -------------------------------------------------------------------------------


def test_ingest_folder_of_every_format_then_the_files_again(
    run_cli: RunCli, tmp_path: Path
) -> None:
    files = write_corpus(tmp_path / "corpus")
    first = run_cli(["ingest", "corpus", "--index", "idx", "--json"])
    assert first.exit_code == 0, first
    report = json.loads(first.stdout)  # stdout holds the JSON report and nothing else
    assert set(report) >= {
        "added",
        "updated",
        "unchanged",
        "rejected",
        "duplicates_merged",
        "chunks_embedded",
        "seconds",
        "rejects",
    }
    assert (report["added"], report["updated"], report["unchanged"], report["rejected"]) == (
        8,
        0,
        0,
        0,
    )
    assert report["rejects"] == [] and report["chunks_embedded"] >= 8
    papers = papers_in(tmp_path / "idx")
    assert collections.Counter(p.source for p in papers.values()) == {
        f.name: 2 for f in files.values()
    }

    second = run_cli(["ingest", *(str(f) for f in files.values()), "--index", "idx"])
    assert second.exit_code == 0, second
    assert summary(second.stdout) == {
        "added": 0,
        "updated": 0,
        "unchanged": 8,
        "rejected": 0,
        "merged": 0,
        "index": 8,
    }


def test_ingest_format_forcing(run_cli: RunCli, tmp_path: Path) -> None:
    files = write_corpus(tmp_path / "corpus")
    (tmp_path / "dump.csv").write_bytes(files["daily"].read_bytes())
    detected = run_cli(["ingest", "dump.csv", "--index", "idx"])
    assert detected.exit_code == 1
    assert summary(detected.stdout)["rejected"] == 1
    assert "rejected dump.csv:line 1:" in flat(detected.stderr)
    assert "--format" in detected.stderr
    forced = run_cli(["ingest", "dump.csv", "--format", "daily", "--index", "idx"])
    assert forced.exit_code == 0, forced
    assert summary(forced.stdout)["added"] == 2
    assert {p.title for p in papers_in(tmp_path / "idx").values()} == {
        "Origami Folding Planner for Deployable Space Structures",
        "Coral Reef Bleaching Early Warning from Acoustic Signals",
    }


BAD_INPUTS = [
    ("empty.jsonl", b"", "empty.jsonl: file is empty"),
    ("blank.txt", b"\n  \n\n", "blank.txt: file is empty"),
    ("binary.txt", b"\x00\x01\x02\x03PK\x00\xff\xfe" * 20, "binary.txt: binary file"),
    (
        "latin1.txt",
        "Café au lait\nUne étude sur le café.\n".encode("latin-1"),
        "latin1.txt: not UTF-8 text (byte 0xe9 at offset 3)",
    ),
    (
        "malformed.jsonl",
        b'{"title": "A", "abstract": \n',
        "malformed.jsonl:line 1: malformed JSON",
    ),
    (
        "notitle.jsonl",
        json.dumps({"abstract": "An abstract. With two sentences and no title."}).encode(),
        "notitle.jsonl:line 1: record has no title",
    ),
    (
        "noabstract.csv",
        b"title,abstract,year\nA Title Without Abstract,,2020\n",
        "noabstract.csv:line 2: record has no abstract",
    ),
    (
        "noabstract.bib",
        b"@article{key1,\n  title = {A Title},\n  year = 2020\n}\n",
        "noabstract.bib:entry key1 (line 1): record has no abstract",
    ),
    ("unknown.txt", b"just a few words\n", "unknown.txt: unknown format"),
    # a file name rich would read as markup must still be named as it is
    ("notes[draft].txt", b"", "notes[draft].txt: file is empty"),
]


@pytest.mark.parametrize(("name", "content", "message"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_is_rejected_by_file_and_place(
    run_cli: RunCli,
    small_index_dir: Path,
    tmp_path: Path,
    name: str,
    content: bytes,
    message: str,
) -> None:
    (tmp_path / name).write_bytes(content)
    before = papers_in(small_index_dir)
    result = run_cli(["ingest", name, "--index", str(small_index_dir)], env=DROP_NO_ABSTRACT)
    assert result.exit_code == 1, result  # nothing was good
    assert "Traceback" not in result.stderr
    assert f"rejected {message}" in flat(result.stderr)
    assert summary(result.stdout) == {
        "added": 0,
        "updated": 0,
        "unchanged": 0,
        "rejected": 1,
        "merged": 0,
        "index": 24,
    }
    assert papers_in(small_index_dir) == before  # a bad run loses nothing


def write_inbox(folder: Path) -> None:
    """Three good papers among six bad records, in four files."""
    folder.mkdir()
    good = {"title": "Quokka Attention for Genomes", "abstract": "We study quokka attention."}
    (folder / "mixed.jsonl").write_text(
        json.dumps({"id": "q1", **good, "abstract": good["abstract"] + " It is sparse."})
        + "\n"
        + '{"id": "broken", "title": "Broken\n'
        + json.dumps({"id": "q3", "abstract": "No title. Only an abstract."})
        + "\n"
        + json.dumps({"id": "q4", "title": "No abstract"})
        + "\n"
        + json.dumps(
            {
                "id": "q5",
                "title": "Axolotl Limb Regeneration",
                "abstract": "Axolotls regrow limbs. We map the genes involved.",
            }
        )
        + "\n",
        encoding="utf-8",
    )
    (folder / "empty.txt").write_text("")
    (folder / "binary.txt").write_bytes(b"\x00\x01\x02" * 50)
    (folder / "refs.bib").write_text(
        "@article{good1, title={Narwhal Tusks Sense Salinity}, "
        "abstract={Narwhal tusks are sensory organs. We measure their response to salt.}}\n"
        "@article{bad1, title={Only a Title}}\n",
        encoding="utf-8",
    )


INBOX_REJECTS = [
    "inbox/binary.txt: binary file",
    "inbox/empty.txt: file is empty",
    "inbox/mixed.jsonl:line 2: malformed JSON",
    "inbox/mixed.jsonl:line 3: record has no title",
    "inbox/mixed.jsonl:line 4: record has no abstract",
    "inbox/refs.bib:entry bad1 (line 2): record has no abstract",
]


def test_good_records_are_ingested_beside_bad_ones(
    run_cli: RunCli,
    small_index_dir: Path,
    tmp_path: Path,
) -> None:
    write_inbox(tmp_path / "inbox")
    result = run_cli(["ingest", "inbox", "--index", str(small_index_dir)], env=DROP_NO_ABSTRACT)
    assert result.exit_code == 0, result  # some records were good
    counts = summary(result.stdout)
    assert (counts["added"], counts["rejected"], counts["index"]) == (3, 6, 27)
    stderr = flat(result.stderr)
    for reject in INBOX_REJECTS:
        assert f"rejected {reject}" in stderr
    assert {"q1", "q5"} <= set(papers_in(small_index_dir))

    again = run_cli(
        ["ingest", "inbox", "--index", str(small_index_dir), "--json"], env=DROP_NO_ABSTRACT
    )
    assert again.exit_code == 0, again
    report = json.loads(again.stdout)
    assert (report["added"], report["unchanged"], report["rejected"]) == (0, 3, 6)
    assert report["chunks_embedded"] == 0
    described = sorted(
        f"{r['path']}:{r['location']}: {r['reason']}"
        if r["location"]
        else f"{r['path']}: {r['reason']}"
        for r in report["rejects"]
    )
    assert len(described) == 6
    for line, expected in zip(described, INBOX_REJECTS, strict=True):
        assert line.startswith(expected)


def test_strict_ingests_nothing_when_a_record_is_rejected(
    run_cli: RunCli,
    small_index_dir: Path,
    tmp_path: Path,
) -> None:
    write_inbox(tmp_path / "inbox")
    before = papers_in(small_index_dir)
    result = run_cli(["ingest", "inbox", "--strict", "--index", str(small_index_dir)])
    assert result.exit_code != 0
    assert "Strict mode" in result.stderr
    assert "rejected inbox/mixed.jsonl:line 2" in flat(result.stderr)
    assert summary(result.stdout)["added"] == 0
    assert papers_in(small_index_dir) == before


def test_rebuild_with_nothing_readable_keeps_the_index(
    run_cli: RunCli,
    small_index_dir: Path,
    tmp_path: Path,
) -> None:
    (tmp_path / "empty.jsonl").write_text("")
    before = papers_in(small_index_dir)
    result = run_cli(["ingest", "--rebuild", "empty.jsonl", "--index", str(small_index_dir)])
    assert result.exit_code == 1
    assert summary(result.stdout)["index"] == 24
    assert papers_in(small_index_dir) == before


def test_rebuild_starts_over(run_cli: RunCli, small_index_dir: Path, tmp_path: Path) -> None:
    files = write_corpus(tmp_path / "corpus")
    result = run_cli(["ingest", "--rebuild", str(files["jsonl"]), "--index", str(small_index_dir)])
    assert result.exit_code == 0, result
    assert summary(result.stdout)["index"] == 2
    assert set(papers_in(small_index_dir)) == {"j-quokka", "j-tidal"}
    hits = search_json(run_cli, "language models", "--index", str(small_index_dir))["results"]
    assert {h["paper_id"] for h in hits} <= {"j-quokka", "j-tidal"}


def test_same_paper_in_two_files_is_merged(run_cli: RunCli, tmp_path: Path) -> None:
    files = write_corpus(tmp_path / "corpus")
    (tmp_path / "more.csv").write_text(
        "title,abstract,year\n"
        f'"ORIGAMI folding planner for deployable space-structures","{ORIGAMI}",2022\n',
        encoding="utf-8",
    )
    result = run_cli(["ingest", str(files["daily"]), "more.csv", "--index", "idx"])
    assert result.exit_code == 0, result
    counts = summary(result.stdout)
    assert (counts["added"], counts["merged"], counts["index"]) == (2, 1, 2)
    years = {p.title: p.year for p in papers_in(tmp_path / "idx").values()}
    assert years["Origami Folding Planner for Deployable Space Structures"] == 2022


def test_bundled_seeds_make_425_papers(run_cli: RunCli, bundled_index_dir: Path) -> None:
    result = run_cli(["stats", "--json", "--index", str(bundled_index_dir)])
    assert result.exit_code == 0, result
    stats = json.loads(result.stdout)
    assert stats["papers"] == 425
    assert sum(stats["sources"].values()) == 425
    assert set(stats["sources"]) == {p.name for p in SEEDS.glob("*.txt")}
    assert len(read_paths([SEEDS]).papers) == 493


def test_a_running_ingest_blocks_another(
    run_cli: RunCli, small_index_dir: Path, tmp_path: Path
) -> None:
    files = write_corpus(tmp_path / "corpus")
    with (small_index_dir / "ingest.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = run_cli(["ingest", str(files["jsonl"]), "--index", str(small_index_dir)])
    stderr = assert_clean_error(result, 1)
    assert "Another ingest is running" in stderr and "--wait" in stderr
    assert len(papers_in(small_index_dir)) == 24


@pytest.mark.parametrize(
    ("env", "built", "asked"),
    [
        ({"ASSISTANT_CHUNK_TOKENS": "96"}, "chunks of 128", "chunks of 96"),
        (
            {"ASSISTANT_EMBEDDING_MODEL": "openai:text-embedding-3-small"},
            "'all-MiniLM-L6-v2-q8'",
            "'openai:text-embedding-3-small'",
        ),
    ],
)
def test_model_mismatch_is_a_clear_error(
    run_cli: RunCli,
    small_index_dir: Path,
    env: dict[str, str],
    built: str,
    asked: str,
) -> None:
    for args in (["search", "language models"], ["ingest", str(SEEDS)]):
        result = run_cli([*args, "--index", str(small_index_dir)], env=env)
        stderr = assert_clean_error(result, 1)
        assert built in stderr and asked in stderr
        assert "--rebuild" in stderr
        assert result.stdout == ""
    assert len(papers_in(small_index_dir)) == 24


def test_rebuild_under_new_settings(run_cli: RunCli, small_index_dir: Path, tmp_path: Path) -> None:
    files = write_corpus(tmp_path / "corpus")
    env = {"ASSISTANT_CHUNK_TOKENS": "96"}
    index = str(small_index_dir)
    result = run_cli(["ingest", "--rebuild", str(files["bibtex"]), "--index", index], env=env)
    assert result.exit_code == 0, result
    stats = json.loads(run_cli(["stats", "--json", "--index", index], env=env).stdout)
    assert (stats["papers"], stats["chunk_tokens"]) == (2, 96)
    hits = search_json(run_cli, "bee dance", "--index", index, env=env)["results"]
    assert hits[0]["title"].startswith("Honeybee")
    assert_clean_error(run_cli(["search", "bees", "--index", index]), 1)  # 128 is now the other


def test_ingest_writes_only_into_the_index_folder(run_cli: RunCli, tmp_path: Path) -> None:
    write_corpus(tmp_path / "corpus")
    (tmp_path / "home").mkdir()

    def snapshot() -> dict[str, tuple[int, int]]:
        return {
            str(p.relative_to(tmp_path)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in tmp_path.rglob("*")
            if p.relative_to(tmp_path).parts[0] not in ("idx", "home")
        }

    before = snapshot()
    # Without ASSISTANT_MODEL_CACHE_DIR, the derived int8 model goes into the user's cache
    # (never into the index: an index on a small volume holds only the index).
    env: dict[str, str | None] = {
        "HOME": str(tmp_path / "home"),
        "ASSISTANT_MODEL_CACHE_DIR": None,
        "XDG_CACHE_HOME": None,
    }
    result = run_cli(["ingest", "corpus", "--index", "idx"], env=env)
    assert result.exit_code == 0, result
    assert search_json(run_cli, "coral reefs", "--index", "idx", env=env)["results"]
    assert snapshot() == before
    assert (tmp_path / "idx" / "catalog.sqlite").is_file()
    assert not list((tmp_path / "idx").rglob("all-MiniLM-L6-v2-q8.onnx"))
    models = Path(".cache/literature-assistant/models")
    assert (tmp_path / "home" / models / "all-MiniLM-L6-v2-q8.onnx").is_file()
    # In the home folder only that model cache and onnxruntime's own telemetry id file may
    # appear (onnxruntime >= 1.2x writes ~/.cache/Microsoft/DeveloperTools/.onnxruntime/
    # whatever the application does).
    written = [p.relative_to(tmp_path / "home") for p in (tmp_path / "home").rglob("*")]
    onnx_cache = Path(".cache/Microsoft/DeveloperTools/.onnxruntime")
    assert all(
        any(p == kept or p in kept.parents or kept in p.parents for kept in (onnx_cache, models))
        for p in written
    ), written


# --- search -------------------------------------------------------------------------------


def test_search_json_shape_k_and_snippets(run_cli: RunCli, small_index_dir: Path) -> None:
    data = search_json(
        run_cli,
        "efficient training of language models",
        "--k",
        "5",
        "--index",
        str(small_index_dir),
    )
    assert data["query"] == "efficient training of language models"
    assert {"query", "results", "confidence", "covered", "filters", "notes"} <= set(data)
    hits = data["results"]
    assert [h["rank"] for h in hits] == [1, 2, 3, 4, 5]
    assert all(list(h) == HIT_KEYS for h in hits)
    assert len({h["paper_id"] for h in hits}) == 5  # papers, not chunks
    papers = papers_in(small_index_dir)
    for hit in hits:
        paper = papers[hit["paper_id"]]
        assert hit["title"] == paper.title
        assert hit["snippet"] in split_sentences(paper.abstract)
        assert isinstance(hit["score"], float)

    everything = search_json(
        run_cli, "language models", "--k", "50", "--index", str(small_index_dir)
    )["results"]
    ids = [h["paper_id"] for h in everything]
    assert len(ids) == len(set(ids)) == 24  # every paper at most once, even with k > corpus


def test_search_table_output(run_cli: RunCli, small_index_dir: Path) -> None:
    target = list(papers_in(small_index_dir).values())[3]
    result = run_cli(["search", target.title, "--k", "3", "--index", str(small_index_dir)])
    assert result.exit_code == 0, result
    assert re.search(r"^\s*1\s+[\d.]+\s+" + re.escape(target.title[:30]), result.stdout, re.M)
    assert target.paper_id in result.stdout
    assert len(re.findall(r"^\s*[123]\s+[\d.]+\s", result.stdout, re.M)) == 3


def test_queries_file_plain_lines_and_jsonl(
    run_cli: RunCli, small_index_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "q.txt").write_text(
        "graph reasoning\n\n"
        + json.dumps({"question": "speech recognition", "id": 7})
        + "\n"
        + json.dumps({"query": "image generation"})
        + "\n",
        encoding="utf-8",
    )
    result = run_cli(
        ["search", "--queries-file", "q.txt", "--k", "2", "--index", str(small_index_dir)]
    )
    assert result.exit_code == 0, result
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["query"] for r in lines] == [
        "graph reasoning",
        "speech recognition",
        "image generation",
    ]
    assert all(len(r["results"]) == 2 for r in lines)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('graph reasoning\n{"question": "speech\n', "q.jsonl:2: malformed JSON"),
        ('{"question": "speech"}\n{"answer": "no question"}\n', "q.jsonl:2: no 'question' field"),
    ],
)
def test_queries_file_bad_line(
    run_cli: RunCli,
    small_index_dir: Path,
    tmp_path: Path,
    content: str,
    message: str,
) -> None:
    (tmp_path / "q.jsonl").write_text(content, encoding="utf-8")
    result = run_cli(["search", "--queries-file", "q.jsonl", "--index", str(small_index_dir)])
    assert message in assert_clean_error(result, 2)
    assert result.stdout == ""


def test_titles_and_acronyms_find_their_paper_first(
    run_cli: RunCli,
    bundled_index_dir: Path,
    tmp_path: Path,
) -> None:
    papers = papers_in(bundled_index_dir)
    by_title = {p.title: p for p in papers.values()}
    longlora = next(p for t, p in by_title.items() if t.startswith("LongLoRA"))
    chosen = [p for i, p in enumerate(papers.values()) if i % 60 == 7]  # 7 titles across sources
    queries = ["LongLoRA", *(p.title for p in chosen)]
    (tmp_path / "q.txt").write_text("\n".join(queries) + "\n", encoding="utf-8")
    result = run_cli(
        ["search", "--queries-file", "q.txt", "--k", "3", "--index", str(bundled_index_dir)]
    )
    assert result.exit_code == 0, result
    results = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["query"] for r in results] == queries
    expected = [longlora.paper_id, *(p.paper_id for p in chosen)]
    assert [r["results"][0]["paper_id"] for r in results] == expected
    snippet = results[0]["results"][0]["snippet"]
    assert "LongLoRA" in snippet and snippet in split_sentences(longlora.abstract)


def expected_ids(index_dir: Path, keep: Callable[[Paper], bool]) -> set[str]:
    return {pid for pid, p in papers_in(index_dir).items() if keep(p)}


@pytest.mark.parametrize(
    ("flags", "keep"),
    [
        (["--since", "2022"], lambda p: p.year is not None and p.year >= 2022),
        (["--until", "2020"], lambda p: p.year is not None and p.year <= 2020),
        (["--since", "2020", "--until", "2021"], lambda p: p.year in (2020, 2021)),
        (["--author", "hopper"], lambda p: any("Hopper" in a for a in p.authors)),
        (["--venue", "insect"], lambda p: p.venue == "Journal of Insect Behavior"),
        (["--where", "track=findings"], lambda p: p.extra.get("track") == "findings"),
        (["--where", "year=2019"], lambda p: p.year == 2019),
        (["--source", "papers.bib"], lambda p: p.source == "papers.bib"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else "",
)
def test_filters_restrict_results(
    run_cli: RunCli, meta_index_dir: Path, flags: list[str], keep: Callable[[Paper], bool]
) -> None:
    wanted = expected_ids(meta_index_dir, keep)
    assert 0 < len(wanted) < 8
    data = search_json(
        run_cli, "neural networks for science", "--k", "20", *flags, "--index", str(meta_index_dir)
    )
    assert {h["paper_id"] for h in data["results"]} == wanted
    assert data["filters"]


def test_source_filter_on_the_bundled_corpus(run_cli: RunCli, bundled_index_dir: Path) -> None:
    source = "003_c3f67c3aa293290b.txt"
    data = search_json(
        run_cli,
        "large language models",
        "--k",
        "30",
        "--source",
        source,
        "--index",
        str(bundled_index_dir),
    )
    papers = papers_in(bundled_index_dir)
    assert len(data["results"]) == 30
    assert all(papers[h["paper_id"]].source == source for h in data["results"])


def test_year_in_the_question_is_a_filter(
    run_cli: RunCli, meta_index_dir: Path, small_index_dir: Path
) -> None:
    data = search_json(
        run_cli, "neural networks since 2023", "--k", "20", "--index", str(meta_index_dir)
    )
    assert "Filtered by year >= 2023 (from the question)." in data["notes"]
    assert data["filters"] == "year >= 2023"
    assert data["query"] == "neural networks since 2023"
    papers = papers_in(meta_index_dir)
    assert {h["paper_id"] for h in data["results"]} == {
        pid for pid, p in papers.items() if p.year and p.year >= 2023
    }
    # on a corpus without years the phrase is ignored, with a note, rather than emptying results
    plain = search_json(
        run_cli, "language models since 2023", "--k", "5", "--index", str(small_index_dir)
    )
    assert len(plain["results"]) == 5
    assert any(n.startswith("Ignored 'year >= 2023'") for n in plain["notes"])


# --- papers, stats, config ----------------------------------------------------------------


def test_papers_list_and_source_filter(run_cli: RunCli, bundled_index_dir: Path) -> None:
    index = str(bundled_index_dir)
    everything = json.loads(run_cli(["papers", "--json", "--limit", "0", "--index", index]).stdout)
    assert everything["count"] == len(everything["papers"]) == 425
    assert len({p["paper_id"] for p in everything["papers"]}) == 425

    unique, _ = merge_duplicates(read_paths([SEEDS]).papers)
    per_source = collections.Counter(p.source for p in unique)
    source = "003_c3f67c3aa293290b.txt"
    one = json.loads(
        run_cli(["papers", "--json", "--limit", "0", "--source", source, "--index", index]).stdout
    )
    assert one["count"] == len(one["papers"]) == per_source[source]
    assert {p["source"] for p in one["papers"]} == {source}

    table = run_cli(["papers", "--index", index])
    assert table.exit_code == 0
    assert "425 papers (showing 50; --limit 0 for all)" in flat(table.stdout)


def test_papers_show(run_cli: RunCli, small_index_dir: Path) -> None:
    paper = list(papers_in(small_index_dir).values())[5]
    index = str(small_index_dir)
    text = run_cli(["papers", "show", paper.paper_id, "--index", index])
    assert text.exit_code == 0, text
    assert flat(paper.title) in flat(text.stdout) and flat(paper.abstract) in flat(text.stdout)
    as_json = json.loads(
        run_cli(["papers", "show", paper.paper_id, "--json", "--index", index]).stdout
    )
    assert Paper(**as_json) == paper

    missing = run_cli(["papers", "show", "t:0000000000000000", "--index", index])
    stderr = assert_clean_error(missing, 2)
    assert "t:0000000000000000" in stderr and "assistant papers" in stderr


def test_stats(run_cli: RunCli, small_index_dir: Path) -> None:
    data = json.loads(run_cli(["stats", "--json", "--index", str(small_index_dir)]).stdout)
    assert data["papers"] == 24
    assert data["chunks"] >= 24
    assert (data["embedding_model"], data["chunk_tokens"]) == ("all-MiniLM-L6-v2-q8", 128)
    assert data["sources"] == {"small.txt": 24}
    text = run_cli(["stats", "--index", str(small_index_dir)])
    assert text.exit_code == 0
    assert re.search(r"papers:\s+24\b", text.stdout)
    assert "all-MiniLM-L6-v2-q8" in text.stdout


def test_config_masks_secrets(run_cli: RunCli, tmp_path: Path) -> None:
    (tmp_path / "conf.toml").write_text('llm_api_key = "sk-file-secret-42"\n')
    for env in (
        {"OPENAI_API_KEY": "sk-secret-env-123456"},
        {"ASSISTANT_LLM_API_KEY": "sk-secret-env-123456"},
        {"ASSISTANT_CONFIG_FILE": "conf.toml"},
    ):
        text = run_cli(["config"], env=env)
        data = run_cli(["config", "--json"], env=env)
        assert text.exit_code == data.exit_code == 0
        for output in (text.stdout + text.stderr, data.stdout + data.stderr):
            assert "sk-secret" not in output and "sk-file-secret" not in output
        assert json.loads(data.stdout)["llm_api_key"] == "**********"
        assert "llm_api_key" in text.stdout and "**********" in text.stdout
    assert json.loads(run_cli(["config", "--json"]).stdout)["llm_api_key"] is None
    web = {"ASSISTANT_WEB_TOKEN": "web-secret-token-77"}
    shown = run_cli(["config"], env=web).stdout + run_cli(["config", "--json"], env=web).stdout
    assert "web-secret-token-77" not in shown and "web_token" in shown


def test_settings_precedence(run_cli: RunCli, tmp_path: Path) -> None:
    (tmp_path / "conf.toml").write_text('top_k = 7\nindex_dir = "from-file"\nanswer_papers = 3\n')

    def config(env: dict[str, str]) -> dict:
        result = run_cli(["config", "--json"], env=env)
        assert result.exit_code == 0, result
        return json.loads(result.stdout)

    defaults = config({})
    assert (defaults["top_k"], defaults["index_dir"], defaults["answer_papers"]) == (10, "index", 6)
    from_file = config({"ASSISTANT_CONFIG_FILE": "conf.toml"})
    assert (from_file["top_k"], from_file["index_dir"], from_file["answer_papers"]) == (
        7,
        "from-file",
        3,
    )
    env_over_file = config(
        {
            "ASSISTANT_CONFIG_FILE": "conf.toml",
            "ASSISTANT_TOP_K": "9",
            "ASSISTANT_INDEX_DIR": "from-env",
        }
    )
    assert (env_over_file["top_k"], env_over_file["index_dir"]) == (9, "from-env")
    assert env_over_file["answer_papers"] == 3

    # ./assistant.toml is read when ASSISTANT_CONFIG_FILE is not set
    shutil.copy(tmp_path / "conf.toml", tmp_path / "assistant.toml")
    assert config({})["top_k"] == 7

    # a flag beats the environment (and the config file)
    env = {"ASSISTANT_INDEX_DIR": "from-env"}
    flagged = json.loads(run_cli(["stats", "--json", "--index", "from-flag"], env=env).stdout)
    assert flagged["index_dir"] == "from-flag"
    assert (tmp_path / "from-flag").is_dir() and not (tmp_path / "from-env").exists()
    unflagged = json.loads(run_cli(["stats", "--json"], env=env).stdout)
    assert unflagged["index_dir"] == "from-env"


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "code", "message"),
    [
        (["search"], {}, 2, "Give either a QUERY or --queries-file."),
        (["search", "   "], {}, 2, "The query is empty."),
        (["search", "x", "--method", "magic"], {}, 2, "Unknown --method 'magic'."),
        (["search", "x", "--where", "venue"], {}, 2, "--where 'venue' is not KEY=VALUE."),
        (["ingest", "missing.jsonl"], {}, 2, "missing.jsonl: no such file or folder"),
        (["ingest", "[/x].jsonl"], {}, 2, "[/x].jsonl: no such file or folder"),
        (["ingest", ".", "--format", "xml"], {}, 2, "unknown format 'xml'"),
        (["config"], {"ASSISTANT_CONFIG_FILE": "nope.toml"}, 2, "Config file nope.toml does not"),
        (["config"], {"ASSISTANT_TOP_K": "many"}, 2, "Invalid settings"),
        (["stats"], {"ASSISTANT_CHUNK_TOKENS": "5"}, 2, "Invalid settings"),
    ],
)
def test_errors_are_a_message_and_a_hint(
    run_cli: RunCli,
    tmp_path: Path,
    args: list[str],
    env: dict[str, str],
    code: int,
    message: str,
) -> None:
    result = run_cli([*args, "--index", "idx"] if args[0] != "config" else args, env=env)
    assert message in assert_clean_error(result, code)
    # refused before any work (a search on an empty folder would first build the corpus)
    assert not (tmp_path / "idx" / "catalog.sqlite").exists() or not papers_in(tmp_path / "idx")


# --- first run ----------------------------------------------------------------------------


def test_first_search_builds_the_bundled_corpus(run_cli: RunCli, tmp_path: Path) -> None:
    """A first run with no index configured fills the default index from the bundled corpus."""
    result = run_cli(["search", "LongLoRA", "--json", "--k", "3"], timeout=900)
    assert result.exit_code == 0, result
    stderr = flat(result.stderr)
    assert "is empty: building it from the bundled corpus" in stderr
    assert "Indexed 425 papers" in stderr
    data = json.loads(result.stdout)
    assert data["results"][0]["title"].startswith("LongLoRA")
    assert len(papers_in(tmp_path / "index")) == 425
    again = run_cli(["search", "LongLoRA", "--json"])
    assert "bundled corpus" not in again.stderr  # built once
