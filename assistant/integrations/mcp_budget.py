"""The result budget of the MCP tools: a result's JSON within ``Settings.mcp_result_chars``.

Long texts (snippets, abstracts, answers, drafts) are cut first, step by step, then the last
papers of the result's list are dropped; the result then says what was left out and how to
get it (``truncated``). No ``mcp`` import.
"""

from __future__ import annotations

import json
from typing import Any

from assistant.ingest.text import clip

CLIPPED = ("snippet", "abstract", "sentence", "answer", "markdown", "justification", "summary")
_LIMITS = (1500, 800, 400, 200, 100)


def size(data: Any) -> int:
    return len(dumps(data))


def dumps(data: Any) -> str:
    """The JSON text of a result (compact: an agent's context is the budget)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _clip_all(value: Any, limit: int) -> tuple[Any, bool]:
    """``value`` with the strings under the CLIPPED keys cut to ``limit`` characters."""
    changed = False
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in CLIPPED and isinstance(item, str) and len(item) > limit:
                out[key], changed = clip(item, limit), True
            else:
                out[key], sub = _clip_all(item, limit)
                changed |= sub
        return out, changed
    if isinstance(value, list):
        items = [_clip_all(item, limit) for item in value]
        return [i for i, _ in items], any(c for _, c in items)
    return value, False


def fit(data: dict[str, Any], budget: int, list_key: str | None = None) -> dict[str, Any]:
    """``data`` within ``budget`` characters of JSON: texts cut, then the last items of
    ``list_key`` dropped; ``truncated`` then says what was left out and how to get it."""
    if size(data) <= budget:
        return data
    cut: list[str] = []
    for limit in _LIMITS:
        data, changed = _clip_all(data, limit)
        if changed and not cut:
            cut.append("long texts cut (get_paper gives a whole abstract)")
        if size(data) <= budget - 200:
            break
    items = data.get(list_key) if list_key else None
    dropped = 0
    while isinstance(items, list) and len(items) > 1 and size(data) > budget - 200:
        items.pop()
        dropped += 1
    if dropped:
        cut.append(f"the last {dropped} {list_key} left out (ask for fewer)")
    data["truncated"] = (
        f"Cut to fit {budget} characters (ASSISTANT_MCP_RESULT_CHARS): " + "; ".join(cut) + "."
    )
    return data
