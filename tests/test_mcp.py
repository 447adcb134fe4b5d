"""``assistant mcp``: a real MCP session with the SDK's own stdio client.

The server runs as a subprocess (``python -m assistant mcp --index <this test's index>``); the
test is the client (``mcp.client.stdio.stdio_client`` + ``ClientSession``). What is asked is
taken from the index itself (a paper's title, one of its sentences), and every answer is
checked against the index's catalog.

Each test runs twice: the server on this environment's SDK, and on the SDK's other major
version, from the Python that ``TEST_MCP1_PYTHON`` names (a second environment with
``mcp`` 1.x, which ``.ci/run`` makes; without it that half is skipped, except in CI).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp", reason="the 'mcp' extra is not installed (pip install -e '.[mcp]')")

import anyio  # noqa: E402
from mcp import ClientSession, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402
from mcp.types import CallToolResult, Tool  # noqa: E402

from assistant.index.catalog import Catalog  # noqa: E402
from assistant.ingest.chunking import split_sentences  # noqa: E402
from assistant.records import Paper  # noqa: E402

TOOLS = {
    "search_papers",
    "get_paper",
    "ask",
    "find_citation",
    "related_work",
    "similar_papers",
    "index_stats",
}
Session = Callable[[ClientSession], Awaitable[None]]
#: The SDK major version of this environment (the client's, and the first server's).
MCP_MAJOR = int(importlib.metadata.version("mcp").split(".")[0])
#: A Python whose environment has the ``mcp`` 1.x SDK (read before the tests clear variables).
MCP1_PYTHON = os.environ.get("TEST_MCP1_PYTHON")


@pytest.fixture(params=["this-sdk", "mcp-1.x"])
def server_python(request: pytest.FixtureRequest) -> str:
    """The Python the server runs on: this environment's, or one with the ``mcp`` 1.x SDK."""
    if request.param == "this-sdk":
        return sys.executable
    other = MCP1_PYTHON
    if not other:
        if os.environ.get("CI"):
            pytest.fail("TEST_MCP1_PYTHON is not set: .ci/run makes that environment")
        pytest.skip("no second environment with mcp 1.x (set TEST_MCP1_PYTHON)")
    version = subprocess.run(
        [other, "-c", "import importlib.metadata as m; print(m.version('mcp'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert version.startswith("1."), f"{other} has mcp {version}, not 1.x"
    return other


def is_error(result: CallToolResult) -> bool:
    """``isError`` (SDK 1.x) or ``is_error`` (2.x)."""
    return bool(getattr(result, "is_error", None) or getattr(result, "isError", None))


def structured(result: CallToolResult) -> Any:
    """``structuredContent`` (SDK 1.x) or ``structured_content`` (2.x)."""
    if hasattr(result, "structured_content"):
        return result.structured_content
    return result.structuredContent


def input_schema(tool: Tool) -> dict[str, Any]:
    """``inputSchema`` (SDK 1.x) or ``input_schema`` (2.x)."""
    return getattr(tool, "input_schema", None) or tool.inputSchema


def catalog_papers(index_dir: Path) -> dict[str, Paper]:
    catalog = Catalog(index_dir)
    try:
        return {p.paper_id: p for p in catalog.iter_papers()}
    finally:
        catalog.close()


def run_session(
    index_dir: Path,
    tmp_path: Path,
    body: Session,
    *args: str,
    env: dict[str, str] | None = None,
    python: str = sys.executable,
) -> str:
    """Start the server on ``index_dir``, run ``body`` in a client session; returns its stderr."""
    server_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("ASSISTANT_", "OPENAI_"))
    }
    server_env["ASSISTANT_MODEL_CACHE_DIR"] = os.environ["ASSISTANT_MODEL_CACHE_DIR"]
    server_env.update(env or {})
    params = StdioServerParameters(
        command=python,
        args=["-m", "assistant", "mcp", "--index", str(index_dir), *args],
        env=server_env,
        cwd=str(tmp_path),
    )
    log_path = tmp_path / "server-stderr.log"

    async def main() -> None:
        with anyio.fail_after(300), log_path.open("w") as log:
            async with stdio_client(params, errlog=log) as (read, write):  # noqa: SIM117
                # The read timeout: a timedelta in SDK 1.x, seconds in 2.x.
                timeout = timedelta(seconds=120) if MCP_MAJOR < 2 else 120.0
                async with ClientSession(
                    read,
                    write,
                    read_timeout_seconds=timeout,  # type: ignore[arg-type,unused-ignore]
                ) as session:
                    await session.initialize()
                    await body(session)

    anyio.run(main)
    return log_path.read_text()


def payload(result: CallToolResult) -> dict[str, Any]:
    """A successful result's JSON (its text and its structured content are the same)."""
    assert not is_error(result), result.content
    text = result.content[0].text  # type: ignore[union-attr]
    data = json.loads(text)
    assert data == structured(result)
    return data


def tool_error(result: CallToolResult) -> str:
    """A tool error's text: a message and a hint, no traceback."""
    assert is_error(result), result.content
    text = result.content[0].text  # type: ignore[union-attr]
    assert text.startswith("Error: ") and "\nHint: " in text, text
    assert "Traceback" not in text
    return text


def test_lists_and_calls_every_tool(
    small_index_dir: Path, tmp_path: Path, server_python: str
) -> None:
    papers = catalog_papers(small_index_dir)
    target = next(p for p in papers.values() if len(split_sentences(p.abstract)) >= 3)
    claim = split_sentences(target.abstract)[1]
    seen: dict[str, Any] = {}

    async def body(session: ClientSession) -> None:
        listed = (await session.list_tools()).tools
        seen["tools"] = {tool.name: tool for tool in listed}
        for name in sorted(TOOLS):
            seen[name] = None
        seen["search_papers"] = payload(
            await session.call_tool("search_papers", {"query": target.title, "k": 3})
        )
        top = seen["search_papers"]["papers"][0]["paper_id"]
        seen["get_paper"] = payload(await session.call_tool("get_paper", {"paper_id": top}))
        seen["ask"] = payload(await session.call_tool("ask", {"question": target.title + "?"}))
        seen["find_citation"] = payload(
            await session.call_tool("find_citation", {"claim": claim, "k": 3})
        )
        seen["related_work"] = payload(
            await session.call_tool("related_work", {"topic": target.title, "k": 4})
        )
        seen["similar_papers"] = payload(
            await session.call_tool("similar_papers", {"paper": target.paper_id, "k": 4})
        )
        seen["similar_text"] = payload(
            await session.call_tool(
                "similar_papers", {"text": f"{target.title}\n{target.abstract}", "k": 4}
            )
        )
        seen["index_stats"] = payload(await session.call_tool("index_stats", {}))

    run_session(small_index_dir, tmp_path, body, python=server_python)

    tools = seen["tools"]
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert len(tool.description or "") > 80, tool.name  # something an agent can act on
        assert input_schema(tool)["type"] == "object"
        assert input_schema(tool).get("additionalProperties") is False
    search_props = input_schema(tools["search_papers"])["properties"]
    assert search_props["k"]["type"] == "integer" and search_props["k"]["minimum"] == 1
    assert input_schema(tools["search_papers"])["required"] == ["query"]
    assert {"since", "until", "venue", "author"} <= set(search_props)

    found = seen["search_papers"]
    assert found["covered"] is True
    assert found["papers"][0]["paper_id"] == target.paper_id
    assert 1 <= len(found["papers"]) <= 3
    for hit in found["papers"]:
        assert hit["title"] == papers[hit["paper_id"]].title
        assert hit["snippet"] in papers[hit["paper_id"]].abstract

    record = seen["get_paper"]
    assert record["abstract"] == target.abstract and record["title"] == target.title
    assert record["bibtex"].startswith("@") and record["bibkey"] in record["bibtex"]

    answer = seen["ask"]
    assert answer["mode"] == "extractive" and answer["abstained"] is False
    assert answer["citations"] and all(c["paper_id"] in papers for c in answer["citations"])
    assert f"[{answer['citations'][0]['n']}]" in answer["answer"]

    cited = seen["find_citation"]
    assert cited["papers"][0]["paper_id"] == target.paper_id
    assert cited["papers"][0]["sentence"] == claim
    assert cited["papers"][0]["bibkey"] in cited["papers"][0]["bibtex"]

    draft = seen["related_work"]
    assert draft["covered"] is True and draft["references"]
    for ref in draft["references"]:
        assert ref["paper_id"] in papers and f"[{ref['n']}]" in draft["markdown"]
        assert ref["bibtex"].startswith("@")

    for key in ("similar_papers", "similar_text"):
        like = seen[key]
        ids = [hit["paper_id"] for hit in like["papers"]]
        assert len(ids) == 4 and target.paper_id not in ids and set(ids) <= set(papers)
        sims = [hit["similarity"] for hit in like["papers"]]
        assert all(-1 <= s <= 1 for s in sims)
    assert seen["similar_papers"]["paper"]["paper_id"] == target.paper_id
    # The text of an indexed paper finds the same neighbours as the paper itself.
    assert [h["paper_id"] for h in seen["similar_text"]["papers"]][:2] == [
        h["paper_id"] for h in seen["similar_papers"]["papers"]
    ][:2]

    stats = seen["index_stats"]
    assert stats["papers"] == len(papers) and stats["answers"] == "extractive (no model)"


def test_bad_arguments_are_tool_errors_with_hints(
    small_index_dir: Path, tmp_path: Path, server_python: str
) -> None:
    errors: dict[str, str] = {}
    after: dict[str, Any] = {}

    async def body(session: ClientSession) -> None:
        calls = {
            "unknown id": ("get_paper", {"paper_id": "no-such-paper-123"}),
            "k=0": ("search_papers", {"query": "language models", "k": 0}),
            "bad year": ("search_papers", {"query": "language models", "since": 99999}),
            "year as text": ("search_papers", {"query": "language models", "until": "soon"}),
            "inverted years": ("ask", {"question": "What is new?", "since": 2024, "until": 2020}),
            "missing argument": ("find_citation", {}),
            "unknown argument": ("search_papers", {"query": "x", "limit": 3}),
            "unknown tool": ("delete_everything", {}),
            "similar of nothing": ("similar_papers", {"k": 3}),
            "similar unknown": ("similar_papers", {"paper": "A Title No Paper Has At All"}),
            "empty query": ("search_papers", {"query": "   "}),
        }
        for label, (name, arguments) in calls.items():
            errors[label] = tool_error(await session.call_tool(name, arguments))
        after["search"] = payload(await session.call_tool("search_papers", {"query": "models"}))

    stderr = run_session(small_index_dir, tmp_path, body, python=server_python)

    assert "no-such-paper-123" in errors["unknown id"] and "search_papers" in errors["unknown id"]
    assert "k:" in errors["k=0"] and "1-50" in errors["k=0"]
    assert "since:" in errors["bad year"] and "99999" in errors["bad year"]
    assert "until:" in errors["year as text"] and "'soon'" in errors["year as text"]
    assert "year range is empty" in errors["inverted years"] and "Swap" in errors["inverted years"]
    assert "claim:" in errors["missing argument"]
    assert "limit" in errors["unknown argument"] and "takes query, k" in errors["unknown argument"]
    assert (
        "delete_everything" in errors["unknown tool"] and "search_papers" in errors["unknown tool"]
    )
    assert "paper or text" in errors["similar of nothing"]
    assert "A Title No Paper Has At All" in errors["similar unknown"]
    assert "empty" in errors["empty query"]
    # The server is alive and answers after all of them, and it never printed a traceback.
    assert after["search"]["papers"]
    assert "Traceback" not in stderr


def test_results_stay_within_the_budget(
    small_index_dir: Path, tmp_path: Path, server_python: str
) -> None:
    texts: dict[str, str] = {}

    async def body(session: ClientSession) -> None:
        for name, arguments in {
            "search": ("search_papers", {"query": "language models", "k": 20}),
            "paper": ("get_paper", {"paper_id": longest}),
        }.items():
            result = await session.call_tool(*arguments)
            payload(result)
            texts[name] = result.content[0].text  # type: ignore[union-attr]

    papers = catalog_papers(small_index_dir)
    longest = max(papers.values(), key=lambda p: len(p.abstract)).paper_id
    assert len(papers[longest].abstract) > 1200
    run_session(
        small_index_dir,
        tmp_path,
        body,
        env={"ASSISTANT_MCP_RESULT_CHARS": "1200"},
        python=server_python,
    )

    for text in texts.values():
        assert len(text) <= 1200, text
        assert "ASSISTANT_MCP_RESULT_CHARS" in json.loads(text)["truncated"]
    found = json.loads(texts["search"])
    assert 1 <= len(found["papers"]) < 20
    assert papers[longest].abstract.startswith(json.loads(texts["paper"])["abstract"][:-1])


# --- budgets: huge arguments, huge papers -------------------------------------------------------

MEGABYTE = 1_000_000
#: Each tool's string arguments, and the arguments that make the call otherwise valid.
STRING_ARGUMENTS: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "search_papers": ({"query": "language models"}, ("query", "venue", "author")),
    "get_paper": ({}, ("paper_id",)),
    "ask": ({"question": "What is new?"}, ("question", "venue", "author")),
    "find_citation": ({"claim": "Models improve."}, ("claim", "venue", "author")),
    "related_work": ({"topic": "language models"}, ("topic", "venue", "author")),
    "similar_papers": ({}, ("paper", "text", "venue", "author")),
}


def within_budget(result: CallToolResult, budget: int) -> str:
    """The result's text, checked against the budget (and its structured copy too)."""
    text = result.content[0].text  # type: ignore[union-attr]
    assert len(text) <= budget, (len(text), text[:300])
    if structured(result) is not None:
        assert len(json.dumps(structured(result), ensure_ascii=False)) <= budget + 200
    return text


def test_a_megabyte_argument_to_each_tool_gets_a_short_error(
    small_index_dir: Path, tmp_path: Path, server_python: str
) -> None:
    budget = 8000
    errors: dict[str, str] = {}
    after: dict[str, Any] = {}
    huge = "x" * MEGABYTE

    async def body(session: ClientSession) -> None:
        for tool, (valid, fields) in STRING_ARGUMENTS.items():
            for field in fields:
                result = await session.call_tool(tool, {**valid, field: huge})
                errors[f"{tool}.{field}"] = within_budget(result, budget)
                tool_error(result)
        # index_stats takes no argument: a megabyte-long name and a megabyte-long value
        for label, arguments in {"name": {huge: 1}, "value": {"verbose": huge}}.items():
            result = await session.call_tool("index_stats", arguments)
            errors[f"index_stats.{label}"] = within_budget(result, budget)
            tool_error(result)
        result = await session.call_tool(huge, {"query": huge})
        errors["unknown tool"] = within_budget(result, budget)
        tool_error(result)
        after["search"] = payload(await session.call_tool("search_papers", {"query": "models"}))

    run_session(small_index_dir, tmp_path, body, python=server_python)

    for label, text in errors.items():
        assert "x" * 100 not in text, label  # the value is never echoed back
        assert len(text) < 1000, (label, text)
    limits = {"query": 2000, "question": 2000, "topic": 2000, "claim": 4000, "venue": 300}
    for label, text in errors.items():
        field = label.split(".")[-1]
        if field in limits:
            assert f"{field}: at most {limits[field]} characters (got 1,000,000)" in text, text
    assert "paper_id: at most 1000 characters (got 1,000,000)" in errors["get_paper.paper_id"]
    assert "text: at most 25000 characters" in errors["similar_papers.text"]
    assert "index_stats takes no arguments" in errors["index_stats.name"]
    assert (
        "got a str of length 1,000,000" in errors["index_stats.value"]
        or "verbose" in (errors["index_stats.value"])
    )
    assert "Unknown tool" in errors["unknown tool"]
    assert after["search"]["papers"]  # the server still answers


def huge_title_paper(index_dir: Path) -> Paper:
    """A paper with a 1.3 MB title put straight into the index through the library (as an index
    built before ingest limited titles may hold one)."""
    from assistant.api import open_index
    from assistant.settings import Settings

    abstract = (
        "We study quokka-inspired gradient folding for sparse recurrent networks. "
        "Gradient folding halves the memory of backpropagation through time on long sequences. "
        "Experiments on three benchmarks show no loss in accuracy."
    )
    paper = Paper(
        paper_id="huge-title-2024",
        title="Quokka Gradient Folding " + "really " * 186_000 + "long",
        abstract=abstract,
        year=2024,
        authors=["Ada Lovelace", "Alan Turing"],
        venue="Workshop on Long Titles",
    )
    assert len(paper.title) > 1_300_000
    index = open_index(Settings(index_dir=index_dir))
    try:
        index.ingest([paper])
    finally:
        index.close()
    return paper


def test_a_paper_with_a_megabyte_title_stays_within_the_budget(
    small_index_dir: Path, tmp_path: Path, server_python: str
) -> None:
    paper = huge_title_paper(small_index_dir)
    claim = split_sentences(paper.abstract)[1]
    texts: dict[str, str] = {}

    async def body(session: ClientSession) -> None:
        calls = {
            "get_paper": {"paper_id": paper.paper_id},
            "find_citation": {"claim": claim, "k": 3},
            "search_papers": {"query": "quokka-inspired gradient folding", "k": 5},
            "similar_papers": {"paper": paper.paper_id, "k": 3},
            "ask": {"question": "What is quokka-inspired gradient folding?"},
            "related_work": {"topic": "quokka-inspired gradient folding", "k": 3},
        }
        for name, arguments in calls.items():
            result = await session.call_tool(name, arguments)
            texts[name] = within_budget(result, 8000)
            payload(result)

    run_session(small_index_dir, tmp_path, body, python=server_python)

    record = json.loads(texts["get_paper"])
    assert record["paper_id"] == paper.paper_id and record["abstract"] == paper.abstract
    assert record["title"].startswith("Quokka Gradient Folding really")
    assert len(record["title"]) < 600
    assert "title" in record["truncated"] and "bibtex" in record["truncated"]
    cited = json.loads(texts["find_citation"])
    assert cited["papers"][0]["paper_id"] == paper.paper_id
    assert cited["papers"][0]["sentence"] == claim
    assert "ASSISTANT_MCP_RESULT_CHARS" in cited["truncated"]
    found = json.loads(texts["search_papers"])
    assert found["papers"][0]["paper_id"] == paper.paper_id
    assert "title" in found["truncated"]
    like = json.loads(texts["similar_papers"])
    assert like["paper"]["paper_id"] == paper.paper_id and "truncated" in like
    answer = json.loads(texts["ask"])
    assert any(c["paper_id"] == paper.paper_id for c in answer["citations"])
