"""Reading the CLI's output in the tests that drive a real model (server or in-process)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def retrieved_ids(run_cli: Any, index_dir: Path, query: str, k: int) -> set[str]:
    """The papers ``search`` finds for ``query`` (what an answer may cite)."""
    done = run_cli(["search", query, "--k", str(k), "--json", "--index", str(index_dir)])
    assert done.exit_code == 0, done.stderr
    return {hit["paper_id"] for hit in json.loads(done.stdout)["results"]}


def without_marks(text: str) -> str:
    """Stdout without the marks appended after a stream (each quotes a sentence's start)."""
    return "\n".join(
        line for line in text.splitlines() if not line.startswith("[citation needed] “")
    )


def failure_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Error:")]
