"""Untrusted text never drives the terminal (issue 21, case 2).

Titles, abstracts, authors, venues, ids, file names and the model's output hold escape sequences
(clear screen, window title, hidden text, OSC 8 links), C0/C1 controls and bidirectional
overrides. Each command runs as the real CLI with its stdout and stderr on a pseudo-terminal, so
rich sees a terminal and colours its output; the only escape sequences allowed in what it prints
are rich's own (colours, and the spinner's cursor moves). Titles and length limits at ingest:
tests/test_untrusted_titles.py.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import shutil
import struct
import subprocess
import sys
import termios
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fake_openai import FakeOpenAI, FakeReply

from assistant.cli.render_base import TerminalStream, console, terminal_line, terminal_safe

CLEAR = "\x1b[2J"
RETITLE = "\x1b]0;pwned\x07"
HIDDEN = "\x1b[8m"
LINK = "\x1b]8;;http://evil.example/\x1b\\"
LINK_END = "\x1b]8;;\x1b\\"
RLO = "\u202e"
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"

# The file's name is untrusted too: it is each paper's source, shown by papers, stats, ingest.
CORPUS_NAME = "papers\x1b]0;x\x07.jsonl"
HOSTILE_ID = f"evil{CLEAR}id"
LONG_TITLE = "Overlong " * 150  # 1,350 characters: the ingest report names file and line
RECORDS: list[dict[str, Any]] = [
    {
        "id": "sparse",
        "title": f"Sparse attention{CLEAR} for long{RETITLE} context models",
        "abstract": f"We study sparse attention for long context models.{HIDDEN} Hidden text "
        "here.\x1b[0m Sparse attention extends the context window of language models cheaply. "
        f"{LINK}Click here{LINK_END} for the details.",
        "authors": [f"Alice{CLEAR} Smith", f"Bob {RLO}Jones"],
        "venue": f"NeurIPS{RETITLE} Workshop",
        "year": 2023,
    },
    {
        "id": "graph",
        "title": f"Graph networks {RLO}for molecules\u202c and proteins",
        "abstract": "Graph neural networks \x9b31m predict molecular properties.\x07 They "
        "also use sparse attention \u2066over atoms\u2069 for long context.",
        "authors": ["Carol Isolate\u200f"],
        "venue": "ICML\u061c",
        "year": 2022,
    },
    {
        "id": HOSTILE_ID,
        "title": "Retrieval augmented generation with sparse attention",
        "abstract": "Retrieval augmented generation grounds answers in documents. Sparse "
        "attention makes long context affordable for language models.",
        "year": 2024,
    },
    {
        "id": "moe",
        "title": "Mixture of experts for scaling language models",
        "abstract": "A mixture of experts routes each token to a few experts. It scales model "
        "capacity without scaling compute.",
        "year": 2021,
    },
    {
        "id": "contrastive",
        "title": "Contrastive learning of sentence embeddings",
        "abstract": "Contrastive learning pulls paraphrases together in embedding space. "
        "Sentence embeddings improve semantic search.",
        "year": 2021,
    },
    {
        "id": "long",
        "title": LONG_TITLE,
        "abstract": "A record whose title is far too long for any real paper.",
        "year": 2020,
    },
]


# --- running the CLI on a pseudo-terminal ---------------------------------------------------------


@dataclass
class TerminalRun:
    exit_code: int
    output: str  # stdout and stderr as the terminal received them


def run_on_terminal(
    args: list[str],
    cwd: Path,
    model_cache: Path,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 180,
) -> TerminalRun:
    """The real ``assistant`` with stdout and stderr on a pseudo-terminal of 200 columns;
    ``stdin`` (if given) is a pipe holding that text, else stdin is empty."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    full_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ASSISTANT_", "OPENAI_")) and k not in ("NO_COLOR", "FORCE_COLOR")
    }
    full_env.update(
        TERM="xterm-256color", COLUMNS="200", ASSISTANT_MODEL_CACHE_DIR=str(model_cache)
    )
    full_env.update(env or {})
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant", *args],
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env=full_env,
        cwd=cwd,
        close_fds=True,
    )
    os.close(slave)
    if proc.stdin is not None:
        proc.stdin.write((stdin or "").encode())
        proc.stdin.close()
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            if time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(f"assistant {args} did not end in {timeout} s")
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every process holding the terminal has closed it
                break
            if not data:
                break
            chunks.append(data)
        proc.wait(timeout=30)
    finally:
        os.close(master)
    return TerminalRun(proc.returncode, b"".join(chunks).decode("utf-8", errors="replace"))


# Every escape sequence, well formed or not, and the C1 introducers of CSI, OSC and DCS.
_ANY_ESCAPE = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]?|[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)?|[ -/]*[0-~]?)|[\x90\x9b\x9d]"
)
# rich's spinner (on stderr while a model is asked): hide/show the cursor, erase the line, go up.
_RICH_CURSOR = {"\x1b[?25l", "\x1b[?25h", "\x1b[2K", "\x1b[1A"}


def _harmless_sgr(params: str) -> bool:
    """An SGR (colour, bold, dim...) that does not conceal text (``8``)."""
    numbers = [int(p) if p.isdigit() else 0 for p in params.split(";")] if params else [0]
    i = 0
    while i < len(numbers):
        if numbers[i] in (38, 48, 58):  # a colour: 5;n or 2;r;g;b follows
            i += 3 if numbers[i + 1 : i + 2] == [5] else 5
            continue
        if numbers[i] == 8:
            return False
        i += 1
    return True


def foreign_escapes(output: str) -> list[str]:
    """The escape sequences in ``output`` that rich did not emit for its own styling."""
    bad = []
    for match in _ANY_ESCAPE.finditer(output):
        sequence = match.group()
        sgr = re.fullmatch(r"\x1b\[([0-9;]*)m", sequence)
        if sgr is not None and _harmless_sgr(sgr.group(1)):
            continue
        if sequence not in _RICH_CURSOR:
            bad.append(sequence)
    return bad


def visible(output: str) -> str:
    """What the terminal shows: the output without escape sequences and carriage returns."""
    return _ANY_ESCAPE.sub("", output).replace("\r", "")


def assert_safe(run: TerminalRun) -> str:
    """No foreign escape sequence, bidi control or C1 control reached the terminal, nor the text
    inside the OSC sequences (removed whole); returns the visible text."""
    assert foreign_escapes(run.output) == [], run.output[-3000:]
    assert not any(c in run.output for c in BIDI), run.output[-3000:]
    assert not re.search(r"[\x80-\x9f]", run.output), run.output[-3000:]
    shown = visible(run.output)
    assert "pwned" not in shown and "evil.example" not in shown, shown
    return shown


# --- the index and the commands ------------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile_template(
    tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path
) -> tuple[Path, TerminalRun]:
    """An index of RECORDS, ingested by the CLI on a terminal (with its output)."""
    folder = tmp_path_factory.mktemp("hostile")
    source = folder / CORPUS_NAME
    source.write_text("".join(json.dumps(r) + "\n" for r in RECORDS), encoding="utf-8")
    run = run_on_terminal(
        ["ingest", str(source), "--index", str(folder / "index")], folder, model_cache_dir
    )
    assert run.exit_code == 0, run.output
    return folder / "index", run


@pytest.fixture
def hostile_index(hostile_template: tuple[Path, TerminalRun], tmp_path: Path) -> Path:
    """This test's own copy of that index."""
    target = tmp_path / "index"
    shutil.copytree(hostile_template[0], target)
    return target


def test_the_ingest_report_on_a_terminal_is_safe(
    hostile_template: tuple[Path, TerminalRun],
) -> None:
    _, run = hostile_template
    shown = assert_safe(run)
    assert "papers.jsonl:line 6: title of 1,349 characters cut to" in shown  # the name, cleaned
    assert "(1 titles cut)" in shown


# (arguments, words that must stay visible); {index} is the index folder.
COMMANDS: dict[str, tuple[list[str], list[str]]] = {
    "search": (
        ["search", "sparse attention long context", "--index", "{index}"],
        ["Sparse attention for long context models", "Graph networks <U+202E>for molecules"],
    ),
    "papers": (["papers", "--index", "{index}"], ["evilid", "Sparse attention for long"]),
    "papers show": (
        ["papers", "show", "sparse", "--index", "{index}"],
        ["Alice Smith", "Bob <U+202E>Jones", "NeurIPS Workshop", "Hidden text here."],
    ),
    "papers show graph": (
        ["papers", "show", "graph", "--index", "{index}"],
        ["<U+009B>31m predict", "properties.\u2407 They", "<U+2066>over atoms<U+2069>"],
    ),
    "similar": (["similar", "graph", "--index", "{index}"], ["Sparse attention for long"]),
    "ask": (
        ["ask", "How does sparse attention extend the context window?", "--index", "{index}"],
        ["References", "Sparse attention for long context models"],
    ),
    "cite": (
        ["cite", "Sparse attention extends the context window", "--index", "{index}"],
        ["Sparse attention for long context models"],
    ),
    "related-work": (
        ["related-work", "sparse attention for long context", "--index", "{index}"],
        ["References", "Sparse attention for long context models"],
    ),
    "stats": (["stats", "--index", "{index}"], ["papers.jsonl"]),
    "an error echoing input": (
        ["search", "x", "--where", f"nokey=v{CLEAR}{RETITLE}a{RLO}", "--index", "{index}"],
        ["Error", "nokey=va<U+202E>"],
    ),
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_no_escape_sequence_from_the_papers_reaches_the_terminal(
    command: str, hostile_index: Path, tmp_path: Path, model_cache_dir: Path
) -> None:
    args, words = COMMANDS[command]
    run = run_on_terminal(
        [a.replace("{index}", str(hostile_index)) for a in args], tmp_path, model_cache_dir
    )
    shown = assert_safe(run)
    for word in words:
        assert word in shown, run.output
    if command == "search":  # rich saw a terminal: it coloured its output
        assert re.search(r"\x1b\[[0-9;]*m", run.output)


def test_chat_and_the_answer_log_are_safe(
    hostile_index: Path, tmp_path: Path, model_cache_dir: Path
) -> None:
    question = f"How does sparse attention{CLEAR} extend the context{RETITLE} window?"
    chat = run_on_terminal(
        ["chat", "--index", str(hostile_index)], tmp_path, model_cache_dir, stdin=question + "\n"
    )
    assert chat.exit_code == 0, chat.output
    assert "Sparse attention for long context models" in assert_safe(chat)
    logs = run_on_terminal(["logs", "--index", str(hostile_index)], tmp_path, model_cache_dir)
    assert "How does sparse attention extend the context window?" in assert_safe(logs)


def test_a_streamed_answer_and_its_reasoning_are_safe(
    hostile_index: Path, tmp_path: Path, model_cache_dir: Path, fake_llm: FakeOpenAI
) -> None:
    # Escape sequences split across stream chunks are removed whole, not left half.
    fake_llm.queue(
        FakeReply.chunks(
            [
                "Sparse attention \x1b[",
                "2J extends the context ",
                "window\x1b]0;own",
                "ed\x07 [1]. It is ",
                f"{RLO}reversed {HIDDEN}hidden\x1b[0m text [1].",
            ],
            reasoning=f"I think{CLEAR} about {RETITLE}sparse attention.",
        )
    )
    env = {"OPENAI_BASE_URL": fake_llm.url, "ASSISTANT_LLM_MODEL": "fake-model"}
    run = run_on_terminal(
        ["ask", "How does sparse attention extend the context window?", "--show-reasoning"]
        + ["--index", str(hostile_index)],
        tmp_path,
        model_cache_dir,
        env=env,
    )
    assert run.exit_code == 0, run.output
    shown = assert_safe(run)
    assert "Sparse attention  extends the context window [1]." in shown
    assert "<U+202E>reversed hidden text [1]." in shown
    assert "I think about sparse attention." in shown
    assert "2J" not in shown and "0;own" not in shown and "owned" not in shown


# --- the function itself -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"a{CLEAR}b", "ab"),
        (f"a{RETITLE}b", "ab"),
        (f"a{HIDDEN}b\x1b[0m", "ab"),
        (f"{LINK}link{LINK_END}", "link"),
        ("a\x1b(Bb\x1bcc", "abc"),  # a charset switch and a terminal reset
        ("a\x1b", "a\u241b"),  # a lone ESC is shown
        ("a\x1b]0;never ended", "a0;never ended"),  # an unterminated OSC loses its introducer
        ("a\x9b31mb", "a<U+009B>31mb"),  # C1 CSI: shown, so it introduces nothing
        (f"a{RLO}b\u2066c\u200f", "a<U+202E>b<U+2066>c<U+200F>"),
        ("bell\x07 nul\x00 del\x7f cr\r!", "bell\u2407 nul\u2400 del\u2421 cr\u240d!"),
        ("two\r\nlines\tand a tab", "two\nlines\tand a tab"),
        ("Ünïcödé, “quotes” — 中文", "Ünïcödé, “quotes” — 中文"),
    ],
)
def test_terminal_safe(text: str, expected: str) -> None:
    assert terminal_safe(text) == expected


def test_terminal_line_makes_one_line() -> None:
    assert terminal_line(f"A\n[4] Forged{CLEAR}\tTitle ") == "A [4] Forged Title"


def test_a_stream_holds_a_split_sequence_until_it_is_whole() -> None:
    stream = TerminalStream()
    pieces = ["ab\x1b", "[2", "J cd \x1b]0;ti", "tle\x1b", "\\ef", " \x1b[3"]
    written = "".join(stream.feed(p) for p in pieces)
    assert written == "ab cd ef "
    assert stream.flush() == "3"  # an unfinished sequence at the end loses its introducer
    endless = TerminalStream()  # an OSC that never ends does not swallow the answer
    out = endless.feed("\x1b]0;") + "".join(endless.feed("word ") for _ in range(200))
    assert out.count("word") > 50 and "\x1b" not in out


def test_streaming_stays_fast() -> None:
    tokens = ["The", " model", " writes", " plain", " words", " [1].", "\n"] * 3_000
    started = time.perf_counter()
    stream = TerminalStream()
    written = "".join(stream.feed(t) for t in tokens)
    assert written == "".join(tokens)
    assert time.perf_counter() - started < 0.5  # ~20 ms: one regex scan a token


def test_the_console_cleans_text_it_did_not_get_as_a_string() -> None:
    from rich.table import Table
    from rich.text import Text

    out = console()
    table = Table()
    table.add_column("title")
    table.add_row(Text(f"built elsewhere{CLEAR}{RETITLE}{RLO}"))
    with out.capture() as captured:
        out.print(Text(f"a{HIDDEN}b"))
        out.print(table)
    text = captured.get()
    assert "\x1b" not in text and RLO not in text
    assert "ab" in text and "built elsewhere" in text
