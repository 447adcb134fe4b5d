"""Shared fixtures: isolated settings, real indexes (built once, copied per test), CLI, fake LLM.

Indexes use the real ONNX embedding and real Chroma. Building them is the slow part, so each
corpus is built once per session into a template folder and every test gets its own copy.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fake_openai import FakeOpenAI

if TYPE_CHECKING:
    from assistant.index.paper_index import PaperIndex

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "assistant" / "data" / "seeds"
SMALL_CORPUS_PAPERS = 24

# A suite run as a background job of a non-interactive shell starts with SIGINT ignored, and a
# child keeps an ignored signal ignored: the tests that stop a CLI child with SIGINT need it live.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def model_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for the derived int8 model, so that each new index does not derive it again."""
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(autouse=True)
def _isolated_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model_cache_dir: Path
) -> None:
    """No ASSISTANT_*/OPENAI_* variable or assistant.toml of the developer leaks into a test."""
    for name in list(os.environ):
        if name.startswith(("ASSISTANT_", "OPENAI_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ASSISTANT_MODEL_CACHE_DIR", str(model_cache_dir))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))  # the written-files record
    monkeypatch.chdir(tmp_path)


def small_corpus_text(n: int = SMALL_CORPUS_PAPERS) -> str:
    """The first ``n`` distinct papers of the bundled corpus, as a Daily Papers dump."""
    from assistant.ingest.dedup import merge_duplicates
    from assistant.ingest.readers import read_paths

    papers, _ = merge_duplicates(read_paths([SEEDS]).papers)
    blocks = [f"{p.title}\n\n{p.abstract}" for p in papers[:n]]
    return "new\n\nDaily Papers\n\n" + "\n\n".join(blocks) + "\n"


def _settings(index_dir: Path):  # noqa: ANN202 - keeps pydantic out of import time
    from assistant.settings import Settings

    return Settings(index_dir=index_dir)


@pytest.fixture(scope="session")
def small_corpus_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Daily Papers dump of 24 bundled papers."""
    path = tmp_path_factory.mktemp("corpus") / "small.txt"
    path.write_text(small_corpus_text(), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def _small_template(tmp_path_factory: pytest.TempPathFactory, small_corpus_file: Path) -> Path:
    from assistant.api import ingest_paths, open_index

    folder = tmp_path_factory.mktemp("small-index-template")
    index = open_index(_settings(folder))
    ingest_paths(index, [small_corpus_file])
    index.close()
    return folder


@pytest.fixture(scope="session")
def _bundled_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from assistant.api import ensure_corpus, open_index

    folder = tmp_path_factory.mktemp("bundled-index-template")
    index = open_index(_settings(folder))
    ensure_corpus(index)
    index.close()
    return folder


@pytest.fixture
def small_index_dir(_small_template: Path, tmp_path: Path) -> Path:
    """This test's own copy of an index of the 24-paper corpus."""
    target = tmp_path / "small-index"
    shutil.copytree(_small_template, target)
    return target


@pytest.fixture
def bundled_index_dir(_bundled_template: Path, tmp_path: Path) -> Path:
    """This test's own copy of an index of the whole bundled corpus (425 papers)."""
    target = tmp_path / "bundled-index"
    shutil.copytree(_bundled_template, target)
    return target


@pytest.fixture(scope="module")
def read_only_index_dir(
    _bundled_template: Path,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Path:
    """One copy of the bundled index for a whole test module whose tests only read it."""
    target = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1]) / "index"
    shutil.copytree(_bundled_template, target)
    return target


@pytest.fixture(scope="module")
def read_only_index(read_only_index_dir: Path) -> Iterator[PaperIndex]:
    """That copy, opened once for the module."""
    from assistant.api import open_index

    opened = open_index(_settings(read_only_index_dir))
    yield opened
    opened.close()


@pytest.fixture
def fake_llm() -> Iterator[FakeOpenAI]:
    """A real OpenAI-compatible HTTP server on loopback with scripted replies."""
    with FakeOpenAI() as server:
        yield server


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(tmp_path: Path):  # noqa: ANN201
    """Run the real ``assistant`` command in a subprocess: ``run_cli(args, input=, env=)``."""

    def run(
        args: list[str],
        input: str | None = None,
        env: dict[str, str | None] | None = None,
        timeout: float = 180,
    ) -> CliResult:
        """``env`` adds variables; a None value removes one."""
        full_env = {
            k: v for k, v in os.environ.items() if not k.startswith(("ASSISTANT_", "OPENAI_"))
        }
        full_env["COLUMNS"] = "200"
        full_env["ASSISTANT_MODEL_CACHE_DIR"] = os.environ["ASSISTANT_MODEL_CACHE_DIR"]
        for name, value in (env or {}).items():
            if value is None:
                full_env.pop(name, None)
            else:
                full_env[name] = value
        proc = subprocess.run(
            [sys.executable, "-m", "assistant", *args],
            input=input,
            capture_output=True,
            text=True,
            env=full_env,
            cwd=tmp_path,
            timeout=timeout,
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return run


@pytest.fixture(scope="session")
def smollm_server(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """llama.cpp's OpenAI-compatible server with SmolLM2-135M on a free loopback port, for the
    whole session (tests/llama_server.py); skipped only when the ``local-llm`` extra is not
    installed. A server that is installed but does not start is an error, not a skip."""
    from llama_server import LlamaServer, Unavailable

    try:
        server = LlamaServer.start(log=tmp_path_factory.mktemp("llama-server") / "server.log")
    except Unavailable as exc:
        pytest.skip(f"no real model server: {exc}")
    try:
        yield server
    finally:
        server.stop()
