"""The bundled demo corpus lives apart from the user's papers.

Built on its own only into the default index with no index configured; a configured empty index
says how to fill it; the first ingest of the user's papers replaces the demo (asked on a
terminal, said otherwise) unless --keep-demo; ``ingest --bundled`` adds it explicitly; a read
command during an ingest reads what is committed instead of failing on the ingest lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import CliResult

from assistant.index.catalog import Catalog

RunCli = Callable[..., CliResult]
DEMO_PAPERS = 425

OWN_PAPERS = [
    {
        "id": f"own-{n}",
        "title": title,
        "abstract": abstract,
        "year": 2024,
        "venue": "ACL",
    }
    for n, (title, abstract) in enumerate(
        [
            (
                "Incremental dependency parsing of Basque with transition systems",
                "We present a transition-based dependency parser for Basque. It handles "
                "free word order with a swap transition. It improves labelled attachment.",
            ),
            (
                "Morphological segmentation for Finnish speech recognition",
                "Finnish words are long and many. We segment them into morphs before "
                "recognition. The word error rate drops by a tenth.",
            ),
            (
                "A treebank of Old Icelandic sagas",
                "We annotate forty sagas with syntactic trees. The treebank supports parsing "
                "historical Icelandic. We release it under an open licence.",
            ),
        ]
    )
]


def own_papers_file(folder: Path) -> Path:
    path = folder / "mine.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in OWN_PAPERS), encoding="utf-8")
    return path


def papers_and_tag(index: Path) -> tuple[int, str | None]:
    catalog = Catalog(index)
    try:
        return catalog.count_papers(), catalog.get_meta("demo")
    finally:
        catalog.close()


@contextmanager
def ingest_lock_held(index: Path) -> Iterator[None]:
    """What a running ingest holds (another process's ingest, as far as the command knows)."""
    index.mkdir(parents=True, exist_ok=True)
    with (index / "ingest.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.mark.parametrize("configured_by", ["flag", "environment", "config file"])
def test_a_configured_empty_index_says_how_to_fill_it(
    run_cli: RunCli, tmp_path: Path, configured_by: str
) -> None:
    folder = tmp_path / "my-indx"  # a typo of the folder the user meant
    args, env = ["search", "parsing"], {}
    if configured_by == "flag":
        args += ["--index", str(folder)]
    elif configured_by == "environment":
        env["ASSISTANT_INDEX_DIR"] = str(folder)
    else:
        (tmp_path / "assistant.toml").write_text(f'index_dir = "{folder}"\n')
    result = run_cli(args, env=env)
    assert result.exit_code == 1, result.stderr
    assert f"Error: The index in {folder} is empty." in result.stderr
    hint = result.stderr.split("Hint:", 1)[1]
    assert "assistant ingest FILES" in hint and "assistant ingest --bundled" in hint
    assert papers_and_tag(folder)[0] == 0  # nothing was built into it
    assert not (tmp_path / "index").exists()  # nor into the default index


def test_every_read_command_refuses_a_configured_empty_index(
    run_cli: RunCli, tmp_path: Path
) -> None:
    folder = tmp_path / "empty"
    for args in (
        ["ask", "What is LongLoRA?"],
        ["cite", "Low-rank adapters can match full fine-tuning"],
        ["related-work", "long-context LLMs"],
    ):
        result = run_cli([*args, "--index", str(folder)])
        assert result.exit_code == 1, (args, result.stderr)
        assert "is empty" in result.stderr and "Hint:" in result.stderr
    assert papers_and_tag(folder)[0] == 0


def test_a_first_run_with_nothing_configured_builds_the_tagged_demo_into_the_default_index(
    run_cli: RunCli, tmp_path: Path
) -> None:
    result = run_cli(["search", "shifted sparse attention for long context", "--k", "3", "--json"])
    assert result.exit_code == 0, result.stderr
    assert "demo" in result.stderr and "assistant ingest FILES" in result.stderr
    hits = json.loads(result.stdout)["results"]
    assert "LongLoRA" in hits[0]["title"]
    assert papers_and_tag(tmp_path / "index") == (DEMO_PAPERS, "only")


def test_the_first_ingest_of_own_papers_replaces_the_demo_and_says_so(
    run_cli: RunCli, bundled_index_dir: Path, tmp_path: Path
) -> None:
    assert papers_and_tag(bundled_index_dir) == (DEMO_PAPERS, "only")
    mine = own_papers_file(tmp_path)
    result = run_cli(["ingest", str(mine), "--index", str(bundled_index_dir)])
    assert result.exit_code == 0, result.stderr
    assert f"Replaced the bundled demo corpus ({DEMO_PAPERS} papers)" in result.stderr
    assert "index: 3 papers" in result.stdout
    assert papers_and_tag(bundled_index_dir) == (3, "")
    found = run_cli(["search", "parsing", "--json", "--index", str(bundled_index_dir)])
    ids = {hit["paper_id"] for hit in json.loads(found.stdout)["results"]}
    assert ids <= {p["id"] for p in OWN_PAPERS}, ids
    # a second ingest of the user's papers replaces nothing
    again = run_cli(["ingest", str(mine), "--index", str(bundled_index_dir), "--json"])
    assert json.loads(again.stdout)["demo_removed"] == 0


def test_keep_demo_keeps_it_beside_the_users_papers(
    run_cli: RunCli, bundled_index_dir: Path, tmp_path: Path
) -> None:
    mine = own_papers_file(tmp_path)
    result = run_cli(["ingest", str(mine), "--keep-demo", "--index", str(bundled_index_dir)])
    assert result.exit_code == 0, result.stderr
    assert "Replaced" not in result.stderr
    assert papers_and_tag(bundled_index_dir) == (DEMO_PAPERS + 3, "kept")


def test_on_a_terminal_the_first_ingest_asks_before_replacing_the_demo(
    bundled_index_dir: Path, tmp_path: Path
) -> None:
    mine = own_papers_file(tmp_path)
    controller, terminal = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSISTANT_", "OPENAI_"))}
    env["ASSISTANT_MODEL_CACHE_DIR"] = os.environ["ASSISTANT_MODEL_CACHE_DIR"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant", "ingest", str(mine), "--index", str(bundled_index_dir)],
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    os.close(terminal)
    os.write(controller, b"n\n")  # no: keep the demo beside them
    out, err = proc.communicate(timeout=180)
    os.close(controller)
    assert proc.returncode == 0, err
    assert b"holds only the bundled demo corpus (425 papers). Replace it" in err
    assert papers_and_tag(bundled_index_dir) == (DEMO_PAPERS + 3, "kept")


def test_ingest_bundled_adds_the_demo_explicitly(run_cli: RunCli, tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    mine = own_papers_file(tmp_path)
    assert run_cli(["ingest", str(mine), "--index", str(folder)]).exit_code == 0
    result = run_cli(["ingest", "--bundled", "--index", str(folder)])
    assert result.exit_code == 0, result.stderr
    assert papers_and_tag(folder) == (DEMO_PAPERS + 3, "kept")
    fresh = tmp_path / "demo"
    assert run_cli(["ingest", "--bundled", "--index", str(fresh)]).exit_code == 0
    assert papers_and_tag(fresh) == (DEMO_PAPERS, "only")
    neither = run_cli(["ingest", "--index", str(fresh)])
    assert neither.exit_code == 2 and "--bundled" in neither.stderr


def test_a_search_while_a_first_ingest_runs_reads_the_committed_state(
    run_cli: RunCli, small_index_dir: Path, tmp_path: Path
) -> None:
    # The default index, not built yet, with an ingest running into it: no demo, no lock error.
    with ingest_lock_held(tmp_path / "index"):
        result = run_cli(["search", "parsing"])
    assert result.exit_code == 1
    assert "Another ingest" not in result.stderr
    assert "an ingest into it is running" in result.stderr and "Hint:" in result.stderr
    assert papers_and_tag(tmp_path / "index")[0] == 0
    # Papers committed by a first ingest (no saved lexical index or dense cache yet) are searched.
    for derived in (*small_index_dir.glob("lexical*"), *small_index_dir.glob("dense*")):
        derived.unlink()
    with ingest_lock_held(small_index_dir):
        found = run_cli(
            ["search", "ZeRO memory optimizer", "--json", "--index", str(small_index_dir)]
        )
    assert found.exit_code == 0, found.stderr
    assert json.loads(found.stdout)["results"]
