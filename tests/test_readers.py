"""Readers and text clean-up (assistant.ingest): formats, detection, bad input, ids, merging."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest

import assistant
from assistant.errors import UsageError
from assistant.ingest.dedup import merge_duplicates
from assistant.ingest.readers import FieldLimits, detect_format, read_file, read_paths
from assistant.ingest.readers.formats import FORMATS
from assistant.ingest.text import clean_text, latex_to_text, make_paper_id, normalize_title
from assistant.records import Paper, ReadResult

#: Records without an abstract rejected, as the tests of rejects expect (the setting
#: keep_papers_without_abstract=false; by default such a record is kept as a title-only paper).
DROP_NO_ABSTRACT = FieldLimits(keep_without_abstract=False)

SEEDS = Path(assistant.__file__).parent / "data" / "seeds"
LONG = (
    "We study the problem of reading paper abstracts from many formats. Our method reads each "
    "record, cleans its text and keeps its metadata. Experiments show that it works well on "
    "all the formats we tried, and that it rejects bad records with a clear reason."
)


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def reasons(result: ReadResult) -> list[str]:
    return [r.describe() for r in result.rejects]


def jline(**fields: object) -> str:
    return json.dumps(fields) + "\n"


# --- ids ------------------------------------------------------------------------------------


def test_clean_text_collapses_whitespace() -> None:
    assert clean_text("  a \n\t b  c ") == "a b c"
    assert clean_text("") == ""


def test_normalize_title() -> None:
    assert normalize_title("Über-BERT:  a  Study!") == "uber bert a study"
    assert normalize_title("  Attention Is All You Need ") == normalize_title(
        "attention is all you need."
    )
    assert normalize_title("Café  naïve—façade") == "cafe naive facade"


@pytest.mark.parametrize(
    ("latex", "text"),
    [
        ('{\\"U}ber {BERT}', "Über BERT"),
        ('{\\"u}', "ü"),
        ("\\'{e}", "é"),
        ("\\`a", "à"),
        ("\\~n", "ñ"),
        ("{\\ss}", "ß"),
        ("\\c{c}", "ç"),
        ("{\\o}", "ø"),
        ("Bal\\'azs", "Balázs"),
        ('na\\"{\\i}ve', "naïve"),
        ("Erd\\H{o}s and \\v{C}apek", "Erdős and Čapek"),
        ("Stra\\ss e", "Straße"),
        ("A \\& B", "A & B"),
        ("pages 1--10", "pages 1–10"),
        ("a---b", "a—b"),
        ("Fig.~1", "Fig. 1"),
        ("costs $O(n^2)$ time", "costs O(n^2) time"),
        ("\\emph{very} \\textbf{bold}", "very bold"),
        ("{{Nested {Braces}}}", "Nested Braces"),
        ("50\\% off \\$5", "50% off $5"),
        ("``quoted''", '"quoted"'),
        ("plain  text\n here", "plain text here"),
    ],
)
def test_latex_to_text(latex: str, text: str) -> None:
    assert latex_to_text(latex) == text


def test_make_paper_id_priority() -> None:
    title = "A Study of Things"
    assert (
        make_paper_id(record_id="mine-1", doi="10.1/X", arxiv_id="2101.00001", title=title)
        == "mine-1"
    )
    assert (
        make_paper_id(record_id=None, doi="10.1000/ABC.Def", arxiv_id="2101.00001", title=title)
        == "doi:10.1000/abc.def"
    )
    assert (
        make_paper_id(record_id="", doi="https://doi.org/10.1/X", arxiv_id=None, title=title)
        == "doi:10.1/x"
    )
    assert (
        make_paper_id(record_id=None, doi=None, arxiv_id="2101.00001v3", title=title)
        == "arxiv:2101.00001"
    )
    assert (
        make_paper_id(record_id=None, doi=None, arxiv_id="hep-th/9901001v2", title=title)
        == "arxiv:hep-th/9901001"
    )
    expected = "t:" + hashlib.sha1(b"a study of things").hexdigest()[:16]
    assert make_paper_id(record_id=None, doi=None, arxiv_id=None, title=title) == expected
    # Stable and insensitive to case, spacing and punctuation of the title.
    assert make_paper_id(record_id=None, doi=None, arxiv_id=None, title="a study of  things.") == (
        expected
    )
    assert expected == "t:b39dc06e57d24430"  # the same on every run and machine


# --- Daily Papers dump ------------------------------------------------------------------------


def test_seeds_hold_493_entries_of_425_papers() -> None:
    result = read_paths([SEEDS])
    assert result.rejects == []
    assert len(result.papers) == 493
    assert all(p.year is None and p.source and p.source.endswith(".txt") for p in result.papers)
    unique, merged = merge_duplicates(result.papers)
    assert len(unique) == 425
    assert merged == 493 - 425


def test_seed_headers_are_skipped() -> None:
    for path in sorted(SEEDS.glob("*.txt")):
        result = read_file(path)
        assert detect_format(path, path.read_text(encoding="utf-8")[:4000]) == "daily"
        titles = [p.title for p in result.papers]
        assert not any(
            t in ("new", "Subscribe", "Daily Papers") or "research community" in t for t in titles
        )
        assert all(len(p.abstract) > 200 for p in result.papers)


def test_daily_dump_title_without_abstract(tmp_path: Path) -> None:
    text = (
        "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\n"
        "byAK and the research community\n\nMar 14\n\n"
        f"First Paper Title\n\n{LONG}\n\n"
        "Orphan Title Without Abstract\n\n"
        f"Second Paper Title\n\n{LONG} Second.\n\n"
        "Trailing Title At The End\n"
    )
    path = write(tmp_path, "dump.txt", text)
    result = read_file(path)
    assert [p.title for p in result.papers] == ["First Paper Title", "Second Paper Title"]
    assert result.papers[0].source == "dump.txt"
    assert reasons(result) == [
        f"{path}:line 15: title with no abstract line after it",
        f"{path}:line 21: title with no abstract line after it",
    ]


def test_daily_dump_other_header_and_bom(tmp_path: Path) -> None:
    text = (
        "\ufeffnew\n\nSubscribe\n\nDaily Papers\n\nby AK and the research community\n\n"
        "Some other header line the page may grow one day\n\n"
        f"Only Paper\n\n{LONG}\n\n"
        f"{LONG} An abstract with no title.\n"
    )
    result = read_file(write(tmp_path, "d.txt", text))
    assert [p.title for p in result.papers] == ["Only Paper"]
    assert [(r.location, r.reason) for r in result.rejects] == [
        ("line 15", "abstract line with no title line before it")
    ]


# --- JSON Lines -------------------------------------------------------------------------------


def test_jsonl_plain_records(tmp_path: Path) -> None:
    lines = [
        jline(
            id="p1",
            title=" A  title ",
            abstract=LONG,
            year=2020,
            authors=["Ann Lee", "Bo Li"],
            venue="ACL",
            url="https://x.org/1",
            doi="10.1/ABC",
            pages=12,
            note="hello",
        ),
        "\n",
        jline(title="Second", abstract=LONG, authors="Ann Lee and Bo Li", year="1999"),
        jline(
            title="Third",
            abstract=LONG,
            authors="Ann Lee, Bo Li",
            year=3000,
            arxiv_id="2101.00001v2",
        ),
        jline(title="Fourth", abstract=LONG, year="n/a", doi="10.5/Q"),
    ]
    result = read_file(write(tmp_path, "papers.jsonl", "".join(lines)))
    assert result.rejects == []
    first, second, third, fourth = result.papers
    assert first.paper_id == "p1"
    assert first.title == "A title"
    assert (first.year, first.venue, first.doi) == (2020, "ACL", "10.1/ABC")
    assert first.url == "https://x.org/1"
    assert first.authors == ["Ann Lee", "Bo Li"]
    assert first.extra == {"pages": "12", "note": "hello"}
    assert first.source == "papers.jsonl"
    assert second.authors == ["Ann Lee", "Bo Li"] and second.year == 1999
    assert second.paper_id.startswith("t:")
    assert third.authors == ["Ann Lee", "Bo Li"] and third.year is None
    assert third.paper_id == "arxiv:2101.00001" and third.arxiv_id == "2101.00001v2"
    assert fourth.year is None and fourth.paper_id == "doi:10.5/q"


ARXIV_LINE = {
    "id": "0704.0001",
    "submitter": "Pavel Nadolsky",
    "authors": "C. Bal\\'azs, E. L. Berger, P. M. Nadolsky and C.-P. Yuan",
    "title": "Calculation of prompt diphoton production cross sections at Tevatron and\n"
    "  LHC energies",
    "comments": "37 pages, 15 figures",
    "journal-ref": "Phys.Rev.D76:013009,2007",
    "doi": "10.1103/PhysRevD.76.013009",
    "report-no": "ANL-HEP-PR-07-12",
    "categories": "hep-ph",
    "license": None,
    "abstract": "  A fully differential calculation in perturbative quantum chromodynamics is\n"
    "presented for the production of massive photon pairs at hadron colliders.\n",
    "versions": [
        {"version": "v1", "created": "Mon, 2 Apr 2007 19:18:42 GMT"},
        {"version": "v2", "created": "Tue, 24 Jul 2007 20:10:27 GMT"},
    ],
    "update_date": "2008-11-13",
    "authors_parsed": [["Balázs", "C.", ""], ["Berger", "E. L.", ""]],
}


def test_jsonl_arxiv_snapshot_line(tmp_path: Path) -> None:
    no_versions = {k: v for k, v in ARXIV_LINE.items() if k != "versions"}
    no_versions["id"] = "0704.0002"
    text = json.dumps(ARXIV_LINE) + "\n" + json.dumps(no_versions) + "\n"
    result = read_file(write(tmp_path, "arxiv-metadata-oai-snapshot.json", text))
    assert result.rejects == []
    paper, other = result.papers
    assert paper.paper_id == "arxiv:0704.0001"
    assert paper.arxiv_id == "0704.0001"
    assert paper.title.startswith("Calculation of prompt diphoton") and "\n" not in paper.title
    assert paper.abstract.startswith("A fully differential calculation")
    assert paper.year == 2007  # from versions[0].created, not update_date
    assert paper.authors == ["C. Balázs", "E. L. Berger", "P. M. Nadolsky", "C.-P. Yuan"]
    assert paper.doi == "10.1103/PhysRevD.76.013009"
    assert paper.venue == "Phys.Rev.D76:013009,2007"
    assert paper.url == "https://arxiv.org/abs/0704.0001"
    assert paper.extra["categories"] == "hep-ph"
    assert paper.extra["submitter"] == "Pavel Nadolsky"
    assert "license" not in paper.extra and "versions" not in paper.extra
    assert other.paper_id == "arxiv:0704.0002" and other.year == 2008  # from update_date


def test_jsonl_scifact_list_abstract(tmp_path: Path) -> None:
    record = {
        "doc_id": 4983,
        "title": "Microstructural development of human newborn cerebral white matter",
        "abstract": ["Alterations of the architecture occur.", "  We measured it.  "],
        "structured": False,
    }
    result = read_file(write(tmp_path, "corpus.jsonl", json.dumps(record) + "\n"))
    assert result.rejects == []
    (paper,) = result.papers
    assert paper.abstract == "Alterations of the architecture occur. We measured it."
    assert paper.paper_id == "4983"  # SciFact's doc_id is the record's own id
    assert "structured" not in paper.extra


def test_jsonl_bad_lines_keep_good_records(tmp_path: Path) -> None:
    text = (
        jline(title="Good one", abstract=LONG)
        + '{"title": "broken", "abstract": \n'
        + jline(title="No abstract", abstract="   ")
        + jline(title="", abstract=LONG)
        + "[1, 2]\n"
        + jline(title="Good two", abstract=LONG)
    )
    path = write(tmp_path, "mixed.jsonl", text)
    result = read_file(path, limits=DROP_NO_ABSTRACT)
    assert [p.title for p in result.papers] == ["Good one", "Good two"]
    got = reasons(result)
    assert got[0].startswith(f"{path}:line 2: malformed JSON (")
    assert got[1:] == [
        f"{path}:line 3: record has no abstract",
        f"{path}:line 4: record has no title",
        f"{path}:line 5: not a JSON object (a list)",
    ]


def test_json_array_document(tmp_path: Path) -> None:
    doc = [{"title": "One", "abstract": LONG}, {"title": "Two", "abstract": LONG}, 3]
    path = write(tmp_path, "papers.json", json.dumps(doc, indent=2))
    result = read_file(path)
    assert [p.title for p in result.papers] == ["One", "Two"]
    assert reasons(result) == [f"{path}:item 3: not a JSON object (a int)"]
    pretty = write(tmp_path, "one.json", json.dumps({"title": "P", "abstract": LONG}, indent=2))
    assert [p.title for p in read_file(pretty).papers] == ["P"]
    # A .json file of JSON lines whose first line is broken is still read line by line.
    lines = write(tmp_path, "lines.json", '{"title": \n' + jline(title="Q", abstract=LONG))
    result = read_file(lines)
    assert [p.title for p in result.papers] == ["Q"]
    assert reasons(result)[0].startswith(f"{lines}:line 1: malformed JSON")


# --- CSV / TSV --------------------------------------------------------------------------------


def test_csv_with_quoted_multiline_abstract(tmp_path: Path) -> None:
    text = (
        "\ufeffID,Title,Abstract,Authors,Year,DOI,Venue,Keywords\n"
        f'c1,First,"{LONG}\nSecond line of it.","Ann Lee; Bo Li",2021,10.1/Z,ICML,nlp\n'
        f"c2,Second,{LONG.replace(',', '')},Ann Lee and Bo Li,20x1,,,\n"
        ",No abstract,,,,,,\n"
    )
    path = write(tmp_path, "table.csv", text)
    result = read_file(path, limits=DROP_NO_ABSTRACT)
    first, second = result.papers
    assert first.paper_id == "c1" and first.title == "First"
    assert first.abstract.endswith("reason. Second line of it.")
    assert first.authors == ["Ann Lee", "Bo Li"]
    assert (first.year, first.doi, first.venue) == (2021, "10.1/Z", "ICML")
    assert first.extra == {"Keywords": "nlp"}
    assert second.authors == ["Ann Lee", "Bo Li"] and second.year is None
    assert reasons(result) == [f"{path}:line 5: record has no abstract"]


def test_tsv_and_semicolon_delimiters(tmp_path: Path) -> None:
    tsv = write(tmp_path, "t.tsv", f"title\tabstract\tauthors\nT1\t{LONG}\tA, B\n")
    (paper,) = read_file(tsv).papers
    assert paper.title == "T1" and paper.authors == ["A, B"]
    semi = write(tmp_path, "s.csv", f"Title;Abstract\nT2;{LONG.replace(';', '')}\n")
    result = read_file(semi)
    assert [p.title for p in result.papers] == ["T2"] and result.rejects == []


def test_csv_missing_columns_is_one_reject(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.csv", "name,summary\nx,y\nz,w\n")
    result = read_file(path)
    assert result.papers == []
    assert len(result.rejects) == 1
    reason = result.rejects[0].reason
    assert "'title'" in reason and "'abstract'" in reason
    assert "'name', 'summary'" in reason


# --- BibTeX -----------------------------------------------------------------------------------

BIB = r"""
This text outside entries is a comment.
@comment{ this is ignored, @article{fake, title={no}} }
@preamble{ "\newcommand{\noop}[1]{}" }
@string{ acl = "Proceedings of {ACL}" }

@article{muller2020,
  title = {{\"U}ber {BERT}: {N}ested {Braces {Work}}},
  author = {M{\"u}ller, J{\"o}rg and Garc\'{\i}a, Mar\'{\i}a and {Barnes and Noble}},
  abstract = {We show that $O(n^2)$ is \emph{enough} -- mostly.},
  year = 2020,
  journal = {Journal of {\LaTeX} Studies},
  doi = {10.1000/ABC\_1},
  eprint = {2001.01234v2},
  keywords = {bert, parsing},
}

@inproceedings{quoted21,
  title = "A {"}Quoted{"} Title with \c{c}a",
  booktitle = acl # " 2021",
  abstract = "Short abstract in quotes.",
  author = "Smith, John",
  year = "2021",
  eprint = "hep-th/9901001",
  archivePrefix = "arXiv"
}

@misc{notarxiv,
  title = {Bio paper},
  abstract = {Abstract.},
  eprint = {12345},
  archivePrefix = {PubMed},
}
"""


def test_bibtex_entries(tmp_path: Path) -> None:
    result = read_file(write(tmp_path, "refs.bib", BIB))
    assert result.rejects == []
    first, second, third = result.papers
    assert first.title == "Über BERT: Nested Braces Work"
    assert first.authors == ["Jörg Müller", "María García", "Barnes and Noble"]
    assert first.abstract == "We show that O(n^2) is enough – mostly."
    assert (first.year, first.doi, first.arxiv_id) == (2020, "10.1000/ABC_1", "2001.01234v2")
    assert first.paper_id == "doi:10.1000/abc_1"
    assert first.venue == "Journal of LaTeX Studies"
    assert first.extra["bibkey"] == "muller2020"
    assert first.extra["keywords"] == "bert, parsing"
    assert first.source == "refs.bib"
    assert second.title == 'A "Quoted" Title with ça'
    assert second.venue == "Proceedings of ACL 2021"
    assert second.authors == ["John Smith"]
    assert second.year == 2021
    assert second.paper_id == "arxiv:hep-th/9901001"
    assert third.arxiv_id is None and third.paper_id.startswith("t:")


def test_bibtex_malformed_entry_is_rejected_and_parsing_continues(tmp_path: Path) -> None:
    text = (
        "@article{good1, title={Good One}, abstract={An abstract.}}\n"
        "@article{broken,\n"
        "  title = {Unbalanced {braces},\n"
        "  abstract = {Never closed.}\n"
        "\n"
        "@article{good2, title={Good Two}, abstract={Another abstract.}}\n"
        "@article{noabs, title={No Abstract}}\n"
        "@article{good3, title={Good Three}, abstract={Third abstract.}}\n"
    )
    path = write(tmp_path, "broken.bib", text)
    result = read_file(path, limits=DROP_NO_ABSTRACT)
    assert [p.title for p in result.papers] == ["Good One", "Good Two", "Good Three"]
    got = reasons(result)
    assert got[0].startswith(f"{path}:entry broken (line 2): unbalanced braces")
    assert got[1] == f"{path}:entry noabs (line 7): record has no abstract"
    assert len(got) == 2


# --- detection and --format -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "head", "expected"),
    [
        ("a.bib", "anything", "bibtex"),
        ("a.txt", "\n  @article{key,\n title={x}}", "bibtex"),
        ("a.txt", "% refs\n@InProceedings{key,\n title={x}}", "bibtex"),
        ("a.jsonl", "", "jsonl"),
        ("a.ndjson", "{}", "jsonl"),
        ("a.json", '\n{"title": "x"}\n', "jsonl"),
        ("a.json", "hello", None),
        ("a.txt", '{"title": "x", "abstract": "y"}\n', "jsonl"),
        ("a.csv", "x,y", "csv"),
        ("a.tsv", "x\ty", "csv"),
        ("a.txt", "title\tabstract\tyear\n", "csv"),
        ("a.txt", "new\n\nSubscribe\n\nDaily Papers\n\nT\n\n" + LONG, "daily"),
        ("a.txt", "A Title Line\n\n" + LONG + "\n", "daily"),
        ("a.txt", "just some notes\nnothing else\n", None),
    ],
)
def test_detect_format(name: str, head: str, expected: str | None) -> None:
    assert detect_format(Path(name), head) == expected


def test_format_forcing(tmp_path: Path) -> None:
    notes = write(tmp_path, "notes.dat", "some notes\nand more\n")
    unknown = read_file(notes)
    assert unknown.papers == [] and "unknown format" in unknown.rejects[0].reason
    assert "--format" in unknown.rejects[0].reason
    # Unknown extensions are detected by content; known ones can be overridden by --format.
    by_content = write(tmp_path, "r.dat", jline(title="T", abstract=LONG))
    assert [p.title for p in read_file(by_content).papers] == ["T"]
    path = write(tmp_path, "records.csv", jline(title="T", abstract=LONG))
    assert read_file(path).papers == []  # read as CSV: no title/abstract header
    assert [p.title for p in read_file(path, "jsonl").papers] == ["T"]
    assert [p.title for p in read_paths([path], fmt="JSONL").papers] == ["T"]
    bib = write(tmp_path, "refs.txt", "@article{k, title={B}, abstract={A.}}\n")
    assert [p.title for p in read_file(bib, "bibtex").papers] == ["B"]
    # Forcing the wrong format gives rejects, not exceptions.
    assert read_file(bib, "jsonl").rejects


def test_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as missing:
        read_paths([tmp_path / "nope.jsonl"])
    assert missing.value.hint
    with pytest.raises(UsageError) as bad_format:
        read_paths([tmp_path], fmt="xml")
    assert "jsonl" in (bad_format.value.hint or "")
    assert set(FORMATS) == {"daily", "jsonl", "csv", "bibtex", "csl-json", "ris"}


def test_folders_recurse_sorted_and_skip_hidden(tmp_path: Path) -> None:
    write(tmp_path, "b.jsonl", jline(title="B", abstract=LONG))
    write(tmp_path, "a/z.csv", f"title,abstract\nAZ,{LONG.replace(',', '')}\n")
    write(tmp_path, "a/y.bib", "@article{k, title={AY}, abstract={A.}}")
    write(tmp_path, ".hidden.jsonl", jline(title="hidden", abstract=LONG))
    write(tmp_path, ".git/x.jsonl", jline(title="in hidden folder", abstract=LONG))
    write(tmp_path, "notes.md", "# not read")
    write(tmp_path, "c.JSONL", jline(title="C", abstract=LONG))
    result = read_paths([tmp_path])
    assert [p.title for p in result.papers] == ["AY", "AZ", "B", "C"]
    assert result.rejects == []
    empty = tmp_path / "empty"
    empty.mkdir()
    assert read_paths([empty]).rejects[0].reason.startswith("no files to read")


# --- bad input --------------------------------------------------------------------------------


def test_empty_files(tmp_path: Path) -> None:
    for name in ("e.jsonl", "e.csv", "e.bib", "e.txt"):
        path = write(tmp_path, name, "" if name != "e.txt" else "\n  \n")
        assert reasons(read_file(path)) == [f"{path}: file is empty"]


def test_binary_file(tmp_path: Path) -> None:
    path = write(tmp_path, "blob.jsonl", bytes(range(256)) * 8)
    result = read_file(path)
    assert result.papers == []
    assert result.rejects[0].reason.startswith("binary file (contains NUL bytes")


def test_nul_bytes_in_one_line_keep_the_others(tmp_path: Path) -> None:
    good = jline(title="Good", abstract=LONG).encode()
    path = write(tmp_path, "n.jsonl", good + b'{"title": "x\x00y"}\n' + good + good)
    result = read_file(path)
    assert len(result.papers) == 3
    assert reasons(result) == [
        f"{path}:line 2: contains NUL bytes (binary data at offset {len(good) + 12})"
    ]


def test_not_utf8_lines_keep_the_others(tmp_path: Path) -> None:
    good = jline(title="Good", abstract=LONG).encode()
    bad = '{"title": "Caf\u00e9", "abstract": "x"}\n'.encode("latin-1")
    path = write(tmp_path, "l.jsonl", good + bad + good)
    result = read_file(path)
    assert len(result.papers) == 2
    offset = len(good) + bad.index(b"\xe9")
    assert reasons(result) == [f"{path}:line 2: not UTF-8 text (byte 0xe9 at offset {offset})"]

    csv_path = write(
        tmp_path, "l.csv", b"title,abstract\nGood,Fine abstract.\nCaf\xe9,Bad.\nAlso good,Fine.\n"
    )
    result = read_file(csv_path)
    assert [p.title for p in result.papers] == ["Good", "Also good"]
    assert reasons(result) == [f"{csv_path}:line 3: not UTF-8 text (byte 0xe9 at offset 38)"]

    bib_path = write(
        tmp_path,
        "l.bib",
        b"@article{a, title={Caf\xe9}, abstract={x}}\n@article{b, title={B}, abstract={y}}\n",
    )
    result = read_file(bib_path)
    assert [p.title for p in result.papers] == ["B"]
    assert reasons(result) == [
        f"{bib_path}:entry a (line 1): line 1: not UTF-8 text (byte 0xe9 at offset 22)"
    ]

    daily = (
        ("A Title\n\n" + LONG + "\n\n").encode()
        + b"Caf\xe9 Title\n\n"
        + ("Last Title\n\n" + LONG + "\n").encode()
    )
    daily_path = write(tmp_path, "l.txt", daily)
    result = read_file(daily_path)
    assert [p.title for p in result.papers] == ["A Title", "Last Title"]
    assert result.rejects[0].location == "line 5"
    assert result.rejects[0].reason.startswith("not UTF-8 text (byte 0xe9")


def test_whole_file_not_utf8(tmp_path: Path) -> None:
    text = "titre,résumé\nCafé,Résumé très court.\nThé,Un résumé.\n"
    path = write(tmp_path, "latin.csv", text.encode("latin-1"))
    result = read_file(path)
    assert result.papers == []
    assert reasons(result) == [
        f"{path}: not UTF-8 text (byte 0xe9 at offset 7); "
        "convert it to UTF-8 (e.g. iconv -f latin1 -t utf-8)"
    ]
    utf16 = write(tmp_path, "u16.jsonl", jline(title="T", abstract=LONG).encode("utf-16"))
    assert read_file(utf16).rejects[0].reason.startswith("not UTF-8 text")


def test_bom_is_fine(tmp_path: Path) -> None:
    path = write(tmp_path, "bom.jsonl", b"\xef\xbb\xbf" + jline(title="T", abstract=LONG).encode())
    result = read_file(path)
    assert [p.title for p in result.papers] == ["T"] and result.rejects == []


# --- merging ----------------------------------------------------------------------------------


def test_merge_duplicates() -> None:
    a = Paper(paper_id="x", title="X", abstract="short", source="one.jsonl")
    b = Paper(paper_id="y", title="Y", abstract="why")
    c = Paper(
        paper_id="x",
        title="X again",
        abstract="a longer abstract",
        year=2020,
        authors=["A"],
        doi="10.1/x",
        source="two.jsonl",
        extra={"k": "v"},
    )
    d = Paper(paper_id="x", title="X", abstract="mid length", venue="V", year=1999)
    unique, merged = merge_duplicates([a, b, c, d])
    assert merged == 2
    assert [p.paper_id for p in unique] == ["x", "y"]
    x = unique[0]
    assert x.title == "X" and x.source == "one.jsonl"
    assert x.abstract == "a longer abstract"
    assert (x.year, x.authors, x.doi, x.venue) == (2020, ["A"], "10.1/x", "V")
    assert x.extra == {"k": "v", "sources": "one.jsonl; two.jsonl"}  # the files it came from
    assert a.abstract == "short" and a.year is None  # inputs untouched
    assert merge_duplicates([]) == ([], 0)


# --- speed ------------------------------------------------------------------------------------


def test_jsonl_is_fast(tmp_path: Path) -> None:
    count = 10_000
    lines = []
    for i in range(count):
        record = dict(ARXIV_LINE)
        record["id"] = f"0704.{i:05d}"
        lines.append(json.dumps(record))
    path = write(tmp_path, "big.jsonl", "\n".join(lines) + "\n")
    start = time.process_time()
    result = read_file(path)
    seconds = time.process_time() - start
    assert len(result.papers) == count and not result.rejects
    # The target is > 50k records/s; this loose bound only catches pathological slowness
    # (e.g. quadratic behaviour) without failing on a busy machine.
    assert count / seconds > 5_000


def test_gzip_compressed_files_are_read_and_found_in_folders(tmp_path: Path) -> None:
    import gzip

    records = [
        {"id": "2020.acl-main.1", "title": "Paper one", "abstract": "First one.", "year": 2020},
        {"title": "Paper two", "abstract": "Second abstract."},
    ]
    body = "\n".join(json.dumps(r) for r in records) + "\n{broken\n"
    (tmp_path / "papers.jsonl.gz").write_bytes(gzip.compress(body.encode()))
    (tmp_path / "refs.bib.gz").write_bytes(
        gzip.compress(b"@article{k, title={Paper three}, abstract={Third abstract.}, year={2021}}")
    )
    (tmp_path / "broken.jsonl.gz").write_bytes(b"not gzip at all")

    result = read_paths([tmp_path])
    assert sorted(p.title for p in result.papers) == ["Paper one", "Paper three", "Paper two"]
    assert {p.paper_id for p in result.papers} >= {"2020.acl-main.1"}
    reasons = {(Path(r.path).name, r.location): r.reason for r in result.rejects}
    assert ("papers.jsonl.gz", "line 3") in reasons  # the malformed line, in the plain text
    assert "cannot read the file" in reasons[("broken.jsonl.gz", None)], reasons


# --- streaming ------------------------------------------------------------------------------


def test_streaming_hands_on_windows_and_keeps_rejects(tmp_path: Path) -> None:
    lines = [jline(id=f"p{n}", title=f"Paper number {n}", abstract=LONG) for n in range(7)]
    lines.insert(3, "{not json\n")
    path = write(tmp_path, "papers.jsonl", "".join(lines))
    windows: list[list[str]] = []
    result = read_paths([path], sink=lambda ps: windows.append([p.paper_id for p in ps]), window=3)
    assert windows == [["p0", "p1", "p2"], ["p3", "p4", "p5"], ["p6"]]
    assert (result.papers, result.count) == ([], 7)
    assert [r.location for r in result.rejects] == ["line 4"]
    whole = read_paths([path])
    assert [p.paper_id for p in whole.papers] == [pid for w in windows for pid in w]
    assert whole.count == 7


def test_a_failing_sink_is_raised_not_turned_into_a_reject(tmp_path: Path) -> None:
    path = write(tmp_path, "papers.jsonl", jline(title="A paper", abstract=LONG))

    def full_disk(papers: list[Paper]) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        read_paths([path], sink=full_disk)
