"""The tests that drive a real model (server or in-process): their limits, and reading the
CLI's output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def limits_env(first_token_s: int, answer_s: int, caps: dict[str, int]) -> dict[str, str]:
    """Deterministic replies within deadlines and per-command length caps."""
    return {
        "ASSISTANT_LLM_TEMPERATURE": "0",
        "ASSISTANT_LLM_FIRST_TOKEN_TIMEOUT": str(first_token_s),
        "ASSISTANT_LLM_ANSWER_TIMEOUT": str(answer_s),
        "ASSISTANT_ANSWER_MAX_TOKENS": str(caps["answer"]),
        "ASSISTANT_RELATED_WORK_MAX_TOKENS": str(caps["related_work"]),
        "ASSISTANT_CITE_MAX_TOKENS": str(caps["cite"]),
    }


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
