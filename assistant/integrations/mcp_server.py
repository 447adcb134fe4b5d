"""The index as a Model Context Protocol server over stdio (the official ``mcp`` SDK, 1.x or 2.x).

The tools are :data:`assistant.integrations.mcp_tools.TOOLS`; this module serves them with the
SDK's low-level server (2.x takes its handlers in the constructor, 1.x by decorators; the tools,
their errors and budgets are the same on both). A call's arguments are checked against the
tool's pydantic model here (not by the SDK's JSON-schema check, which gives no hint), so that
every failure comes back as a tool error (``isError``) with a message and a hint: bad
arguments, an unknown paper id or tool, an error of the library
(:class:`~assistant.errors.AssistantError` carries its hint) and even a bug. The server never
stops on a tool's failure. Each result is one JSON text (also given as ``structuredContent``)
and each error text is within ``Settings.mcp_result_chars``; an argument is never echoed whole
(a one-megabyte query is named by its length).

Only this module imports ``mcp``, inside its functions, and only ``assistant mcp`` imports it.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from assistant.errors import AssistantError, UsageError
from assistant.ingest.text import clip
from assistant.integrations.mcp_budget import bounded, dumps
from assistant.integrations.mcp_tools import TOOLS, ToolContext, ToolSpec

if TYPE_CHECKING:
    from mcp.types import CallToolResult

    from assistant.index.paper_index import PaperIndex
    from assistant.settings import Settings

SERVER_NAME = "literature-assistant"
_BY_NAME = {tool.name: tool for tool in TOOLS}


def _require_mcp() -> None:
    try:
        import mcp  # noqa: F401
    except ImportError as exc:
        raise AssistantError(
            "The MCP server needs the 'mcp' package, which is not installed.",
            hint="pip install 'literature-assistant[mcp]' (or pip install 'mcp>=1.30,<3').",
        ) from exc


def instructions(index: PaperIndex) -> str:
    """What the server tells an agent when it connects."""
    papers = index.catalog.count_papers()
    low, high = index.catalog.year_range()
    years = f", {low}-{high}" if low else ""
    return (
        f"Tools over an index of {papers} paper titles and abstracts{years}. Start with "
        "search_papers (paper ids, titles, snippets); get_paper for a whole abstract and BibTeX; "
        "ask for a cited answer; find_citation for papers supporting a claim; related_work for "
        "a draft section; similar_papers for papers like one. Only cite papers these tools "
        "return; when a result says covered=false or close=false, the index does not have it."
    )


def error_text(exc: BaseException) -> str:
    """The text of a tool error: what went wrong, then ``Hint:`` what to do."""
    if isinstance(exc, AssistantError):
        return f"Error: {exc.message}" + (f"\nHint: {exc.hint}" if exc.hint else "")
    return (
        f"Error: unexpected {type(exc).__name__}: {exc}\n"
        "Hint: this is a bug in the assistant (the server keeps running); try other arguments, "
        "and report it with the arguments that caused it."
    )


#: Longest argument value or name quoted back in an error (a longer one is described).
_QUOTED_CHARS = 60


def _quoted(value: Any) -> str:
    """``value`` as an error quotes it: its repr when short, else what it is and how long."""
    text = repr(value)
    if len(text) <= _QUOTED_CHARS:
        return text
    if isinstance(value, str | list | dict):
        return f"a {type(value).__name__} of length {len(value):,}"
    return f"a {type(value).__name__}"


def _problem(error: Any) -> str:
    """One argument's problem, never quoting more than a few dozen characters of it."""
    parts = [str(part) for part in error["loc"]]
    name = ".".join(p if len(p) <= _QUOTED_CHARS else clip(p, _QUOTED_CHARS) for p in parts)
    name = name or "arguments"
    given = error.get("input")
    if error["type"] == "string_too_long":
        limit = error.get("ctx", {}).get("max_length")
        return f"{name}: at most {limit} characters (got {len(given):,})"
    quoted = error["type"] not in ("missing", "extra_forbidden")
    detail = f" (got {_quoted(given)})" if quoted else ""
    return f"{name}: {clip(str(error['msg']), 200)}{detail}"


def argument_error(tool: ToolSpec, exc: ValidationError) -> UsageError:
    """Bad arguments as a usage error whose hint says what each wrong argument takes."""
    properties = tool.args.model_json_schema().get("properties", {})
    problems, hints = [], []
    for error in exc.errors():
        problems.append(_problem(error))
        described = properties.get(str(error["loc"][0]), {}) if error["loc"] else {}
        if described.get("description"):
            hints.append(f"{error['loc'][0]}: {described['description']}")
        elif error["type"] == "extra_forbidden":
            hints.append(f"{tool.name} takes {', '.join(properties) or 'no arguments'}.")
    return UsageError(
        f"Invalid arguments for {tool.name}: " + "; ".join(problems) + ".",
        hint=" ".join(dict.fromkeys(hints)) or "See the tool's input schema.",
    )


def run_tool(context: ToolContext, name: str, arguments: dict[str, Any] | None) -> tuple[str, Any]:
    """Call a tool: (``"ok"``, result dict) or (``"error"``, error text), either within the
    result budget (:func:`~assistant.integrations.mcp_budget.bounded`). Never raises."""
    budget = context.settings.mcp_result_chars
    tool = _BY_NAME.get(name)
    try:
        if tool is None:
            raise UsageError(
                f"Unknown tool {_quoted(name)}.", hint=f"The tools are {', '.join(_BY_NAME)}."
            )
        try:
            args = tool.args.model_validate(arguments or {})
        except ValidationError as exc:
            raise argument_error(tool, exc) from exc
        return bounded("ok", tool.handler(context, args), budget, tool.list_key)
    except Exception as exc:  # noqa: BLE001 - a tool's failure is the agent's to read
        return bounded("error", error_text(exc), budget)


def build_server(index: PaperIndex, settings: Settings) -> Any:
    """The MCP server over ``index`` (not yet running), on the SDK installed (1.x or 2.x).

    The SDK's objects are made from their wire form (camelCase keys), which both majors accept
    (2.x names the attributes in snake_case but validates by alias).
    """
    _require_mcp()
    import inspect

    from mcp import types
    from mcp.server.lowlevel import Server

    from assistant import __version__

    context = ToolContext(index, settings)
    definitions = [
        types.Tool.model_validate(
            {
                "name": tool.name,
                "title": tool.title,
                "description": tool.description,
                "inputSchema": tool.args.model_json_schema(),
                "annotations": {"title": tool.title, "readOnlyHint": True, "openWorldHint": False},
            }
        )
        for tool in TOOLS
    ]

    def result(name: str, arguments: dict[str, Any] | None) -> CallToolResult:
        status, payload = run_tool(context, name, arguments)
        if status == "error":
            return types.CallToolResult.model_validate(
                {"content": [{"type": "text", "text": payload}], "isError": True}
            )
        return types.CallToolResult.model_validate(
            {"content": [{"type": "text", "text": dumps(payload)}], "structuredContent": payload}
        )

    described = instructions(index)
    server_class: Any = Server
    if "on_call_tool" in inspect.signature(Server.__init__).parameters:
        # SDK 2.x: handlers are given to the constructor and receive (context, params).
        async def on_list_tools(_ctx: Any, _params: Any) -> Any:
            return types.ListToolsResult.model_validate({"tools": definitions})

        async def on_call_tool(_ctx: Any, params: Any) -> CallToolResult:
            return result(params.name, params.arguments)

        return server_class(
            SERVER_NAME,
            version=__version__,
            instructions=described,
            on_list_tools=on_list_tools,
            on_call_tool=on_call_tool,
        )

    # SDK 1.x: handlers are registered by decorators.
    server = server_class(SERVER_NAME, __version__, instructions=described)

    @server.list_tools()
    async def list_tools() -> list[Any]:
        return definitions

    # Arguments are validated by run_tool, which answers with hints.
    @server.call_tool(validate_input=False)
    async def call_tool(name: str, arguments: dict[str, Any] | None) -> CallToolResult:
        return result(name, arguments)

    return server


def serve(index: PaperIndex, settings: Settings) -> None:
    """Serve ``index`` over stdio until the client closes standard input."""
    _require_mcp()
    import anyio

    server = build_server(index, settings)
    anyio.run(_serve_stdio, server)


async def _serve_stdio(server: Any) -> None:
    import io

    import anyio
    from mcp.server.stdio import stdio_server

    # Standard output carries the protocol: anything else printed goes to standard error.
    protocol = sys.stdout
    sys.stdout = sys.stderr
    try:
        out = anyio.wrap_file(io.TextIOWrapper(protocol.buffer, encoding="utf-8"))
        async with stdio_server(stdout=out) as (read, write):
            await server.run(read, write, server.create_initialization_options())
    finally:
        sys.stdout = protocol
