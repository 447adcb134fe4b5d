"""The result budget of the MCP tools: every result and every error within
``Settings.mcp_result_chars`` characters.

:func:`bounded` is the one way out of a tool call: a result's JSON or an error's text, cut to
the budget whatever produced it (a tool, the argument check, a bug). A result is cut in steps:
long texts (snippets, abstracts, answers, drafts) first, then, as a last resort, every long
string (titles, names, venues, BibTeX entries: an index may hold a paper with a megabyte-long
title), then the last papers of the result's list, then the last items of any list; the result
then says what was left out and how to get it (``truncated``). No ``mcp`` import.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from assistant.ingest.text import clip

CLIPPED = ("snippet", "abstract", "sentence", "answer", "markdown", "justification", "summary")
_LIMITS = (1500, 800, 400, 200, 100)
#: A string other than the CLIPPED texts longer than _ABSURD_OVER is cut to _ABSURD_TO first.
_ABSURD_OVER, _ABSURD_TO = 2000, 500
#: Any string longer than these is cut, after the CLIPPED texts, while the result is too long.
_LAST_RESORT_LIMITS = (300, 120, 60)
#: Links are left out rather than cut (a cut link leads nowhere).
_LINKS = ("link", "url")
#: Room kept for ``truncated`` itself.
_NOTE_ROOM = 400


def size(data: Any) -> int:
    return len(dumps(data))


def dumps(data: Any) -> str:
    """The JSON text of a result (compact: an agent's context is the budget)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def bounded(status: str, payload: Any, budget: int, list_key: str | None = None) -> tuple[str, Any]:
    """A tool call's outcome within ``budget``: (``"ok"``, result dict) or (``"error"``, text)."""
    if status == "error":
        return status, fit_error(str(payload), budget)
    return status, fit(payload, budget, list_key)


def fit_error(text: str, budget: int) -> str:
    """An error's text within ``budget`` characters: the message is cut, the hint kept."""
    if len(text) <= budget:
        return text
    message, sep, hint = text.partition("\nHint: ")
    hint = clip(hint, budget // 2) if sep else ""
    room = budget - len(sep) - len(hint)
    return clip(message, room) + sep + hint


def _clip_all(
    value: Any, limit: int, which: Callable[[str], bool], key: str = "", over: int = 0
) -> tuple[Any, set[str]]:
    """``value`` with the strings under the keys ``which`` accepts cut to ``limit`` when longer
    than ``over`` (default: ``limit``); a link is left out instead. Also returns the keys whose
    text was cut (``key``: the key ``value`` is under)."""
    over = over or limit
    if isinstance(value, str):
        if len(value) > over and which(key):
            return clip(value, limit), {key}
        return value, set()
    cut: set[str] = set()
    if isinstance(value, dict):
        out = {}
        for name, item in value.items():
            long_link = name in _LINKS and isinstance(item, str) and len(item) > over
            if long_link and which(name):
                cut.add(name)
                continue
            out[name], sub = _clip_all(item, limit, which, name, over)
            cut |= sub
        return out, cut
    if isinstance(value, list):
        items = [_clip_all(item, limit, which, key, over) for item in value]
        return [i for i, _ in items], cut.union(*(c for _, c in items))
    return value, cut


def _text(key: str) -> bool:
    return key in CLIPPED


def _field(key: str) -> bool:
    return key not in CLIPPED


def _any(key: str) -> bool:
    return True


def _drop_last(items: Any, fits: Any) -> int:
    """Drop the last items of the list ``items`` (keeping one) until ``fits()``; how many."""
    dropped = 0
    while isinstance(items, list) and len(items) > 1 and not fits():
        items.pop()
        dropped += 1
    return dropped


def fit(data: dict[str, Any], budget: int, list_key: str | None = None) -> dict[str, Any]:
    """``data`` within ``budget`` characters of JSON: texts cut, then every long string, then
    the last items of ``list_key`` (then of any list) dropped; ``truncated`` says what was left
    out and how to get it."""
    if size(data) <= budget:
        return data

    def fits() -> bool:
        return size(data) <= budget - _NOTE_ROOM

    cut: list[str] = []
    # No title, name or BibTeX entry is this long: such a string goes first.
    data, names = _clip_all(data, _ABSURD_TO, _field, over=_ABSURD_OVER)
    for limit in _LIMITS:
        data, changed = _clip_all(data, limit, _text)
        if changed and not cut:
            cut.append("long texts cut (get_paper gives a whole abstract)")
        if fits():
            break
    for limit in _LAST_RESORT_LIMITS:
        if fits():
            break
        data, changed = _clip_all(data, limit, _any)
        names |= changed
    if names:
        shown = ", ".join(sorted(names)[:6]) + (", ..." if len(names) > 6 else "")
        cut.append(f"long fields cut or left out ({shown})")
    dropped = _drop_last(data.get(list_key), fits) if list_key else 0
    if dropped:
        cut.append(f"the last {dropped} {list_key} left out (ask for fewer)")
    for key, items in data.items():
        if key != list_key and (dropped := _drop_last(items, fits)):
            cut.append(f"the last {dropped} {key} left out")
    if not fits():  # a result of many fields: nothing of it fits
        data = {}
        cut = ["the result was too large to show; ask for fewer papers or shorter texts"]
    data["truncated"] = clip(
        f"Cut to fit {budget} characters (ASSISTANT_MCP_RESULT_CHARS): " + "; ".join(cut) + ".",
        _NOTE_ROOM - 20,
    )
    return data
