"""Slash commands typed in a chat: ``/help``, ``/sources``, ``/filter``, ``/export``, ...

:func:`handle_command` parses a command line and runs it on a :class:`ChatSession`
(:meth:`ChatSession.handle_command` calls it). Nothing here prints: each command returns a
:class:`CommandResult`.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from assistant.chat.transcripts import EXPORT_KINDS, _reference_line
from assistant.errors import AssistantError
from assistant.retrieval.filters import SearchFilters, check_filters, no_match_message

if TYPE_CHECKING:
    from assistant.chat.turns import Turn
    from assistant.generation.answer import Citation
    from assistant.generation.attribution import CitationSupport
    from assistant.index.paper_index import PaperIndex


class ChatSession(Protocol):
    """What the commands drive: :class:`assistant.chat.session.ChatSession` provides it."""

    session_id: str | None
    filters: SearchFilters
    index: PaperIndex
    turns: list[Turn]

    def set_filters(self, filters: SearchFilters) -> None: ...

    def reset(self) -> None: ...

    def cited(self) -> list[Citation]: ...

    def export(self, kind: str, path: Path, force: bool = False) -> tuple[Path, int]: ...


CommandKind = Literal[
    "help", "sources", "similar", "export", "filter", "reset", "quit", "unknown", "error"
]

HELP_LINES = [
    "/sources                 the papers cited so far, with their numbers and the",
    "                         abstract sentence each citation rests on",
    "/similar N               papers like [N], a paper of the last answer (filters apply)",
    "/export md|bib|json FILE save the chat (Markdown, JSON) or its papers (BibTeX);",
    "                         --force replaces a file the assistant did not write",
    "/filter                  show the filters of the next questions; set them with",
    "                         since|until|year YEAR, author|venue NAME, source FILE,",
    "                         where KEY=VALUE, or clear",
    "/reset                   forget the conversation; numbering restarts at [1]",
    "/help                    this list",
    "/quit, /exit             leave (or Ctrl-D); every answer is already saved",
]


@dataclass
class CommandResult:
    """The outcome of a slash command: a one-line message and optional lines to show."""

    kind: CommandKind
    message: str = ""
    lines: list[str] = field(default_factory=list)
    path: Path | None = None

    @property
    def ok(self) -> bool:
        return self.kind not in ("unknown", "error")

    @property
    def quit(self) -> bool:
        return self.kind == "quit"


def handle_command(chat: ChatSession, line: str) -> CommandResult:
    """Run a slash command (``/sources``, ``/export``, ``/filter``, ``/reset``, ...) on ``chat``."""
    try:
        words = shlex.split(line.strip())
    except ValueError:
        words = line.strip().split()
    if not words:
        return CommandResult("unknown", "Empty command. Type /help for the commands.")
    name, args = words[0].lower(), words[1:]
    try:
        if name in ("/quit", "/exit", "/q"):
            return CommandResult("quit", "Bye.")
        if name in ("/help", "/h", "/?"):
            return CommandResult("help", "Commands:", list(HELP_LINES))
        if name == "/sources":
            return _sources(chat)
        if name == "/similar":
            return _similar_command(chat, args)
        if name == "/export":
            return _export_command(chat, args)
        if name in ("/filter", "/filters"):
            return _filter_command(chat, args)
        if name in ("/reset", "/new", "/clear"):
            chat.reset()
            kept = (
                f" Filters kept: {chat.filters.describe()}." if not chat.filters.is_empty() else ""
            )
            return CommandResult(
                "reset",
                "Started a new conversation: history and citation numbers cleared." + kept,
            )
    except AssistantError as exc:
        return CommandResult("error", exc.message + (f" {exc.hint}" if exc.hint else ""))
    return CommandResult(
        "unknown", f"Unknown command {words[0]}. Type /help for the list of commands."
    )


#: Of each paper, the citations whose evidence ``/sources`` quotes (the others are counted).
EVIDENCE_SHOWN = 3
_STATEMENT_WORDS = 10


def _sources(chat: ChatSession) -> CommandResult:
    """The cited papers, each with the abstract sentences its citations rest on."""
    cited = chat.cited()
    if not cited:
        return CommandResult("sources", "No paper cited yet.")
    count = f"{len(cited)} paper{'s' if len(cited) != 1 else ''} cited so far:"
    support: dict[str, list[CitationSupport]] = {}
    for turn in chat.turns:
        for s in turn.answer.support:
            known = support.setdefault(s.paper_id, [])
            if all((s.sentence, s.evidence) != (k.sentence, k.evidence) for k in known):
                known.append(s)
    lines = []
    for citation in cited:
        lines.append(_reference_line(citation))
        rests_on = support.get(citation.paper_id, [])
        lines.extend(_evidence_line(s) for s in rests_on[:EVIDENCE_SHOWN])
        if len(rests_on) > EVIDENCE_SHOWN:
            lines.append(f"    … and {len(rests_on) - EVIDENCE_SHOWN} more citation(s)")
    return CommandResult("sources", count, lines)


def _evidence_line(support: CitationSupport) -> str:
    """``    “evidence” ← “statement…”`` and, when unsupported, the mark and the score."""
    from assistant.generation.attribution import UNSUPPORTED_MARK

    if support.evidence == support.sentence:  # a quote (extractive answer) rests on itself
        return f"    “{support.evidence}”"
    words = support.sentence.split()
    statement = " ".join(words[:_STATEMENT_WORDS]) + ("…" if len(words) > _STATEMENT_WORDS else "")
    verdict = "" if support.supported else f" {UNSUPPORTED_MARK} (support {support.score:.2f})"
    return f"    “{support.evidence}” ← “{statement}”{verdict}"


def _similar_command(chat: ChatSession, args: list[str]) -> CommandResult:
    usage = "Usage: /similar N, with N the number [N] of a paper of the last answer."
    number = args[0].strip("[]") if len(args) == 1 else ""
    if not number.isdigit():
        return CommandResult("error", usage)
    if not chat.turns:
        return CommandResult("error", f"No answer yet: ask a question first. {usage}")
    n = int(number)
    last = chat.turns[-1].answer
    # The last answer's papers first; a number is the paper's for the whole conversation.
    known = [*last.sources, *last.citations]
    for turn in reversed(chat.turns[:-1]):
        known.extend([*turn.answer.citations, *turn.answer.sources])
    paper_id = next((c.paper_id for c in known if c.n == n), None)
    if paper_id is None:
        return CommandResult(
            "error", f"No paper [{n}] in this conversation. /sources lists the numbers."
        )
    from assistant.retrieval.retriever import RetrievalOptions
    from assistant.retrieval.similar import similar_papers

    result = similar_papers(chat.index, paper_id, RetrievalOptions(k=5, filters=chat.filters))
    return CommandResult("similar", f"[{n}] {result.summary()}", result.lines())


def _export_command(chat: ChatSession, args: list[str]) -> CommandResult:
    usage = "Usage: /export md|bib|json FILE [--force]"
    force = "--force" in args
    args = [arg for arg in args if arg != "--force"]
    if not args or len(args) > 2:
        return CommandResult("error", usage)
    kind = EXPORT_KINDS.get(args[0].lower())
    if kind is None:
        return CommandResult("error", f"Cannot export as {args[0]!r}. {usage}")
    path = Path(args[1]) if len(args) == 2 else Path(f"chat-{chat.session_id or 'new'}.{kind}")
    written, count = chat.export(kind, path, force)
    what = {"md": "conversation", "bib": "BibTeX", "json": "conversation"}[kind]
    plural = count != 1
    noun = f"entr{'ies' if plural else 'y'}" if kind == "bib" else f"turn{'s' * plural}"
    detail = f"{count} {noun}"
    return CommandResult("export", f"Wrote the {what} ({detail}) to {written}.", path=written)


def _filter_command(chat: ChatSession, args: list[str]) -> CommandResult:
    usage = (
        "Use: /filter since YEAR | until YEAR | year YEAR | author NAME | venue NAME | "
        "source FILE | where KEY=VALUE | clear"
    )
    if not args:
        return CommandResult("filter", f"Filters: {chat.filters.describe() or 'none'}.")
    key, rest = args[0].lower(), " ".join(args[1:]).strip()
    if key in ("clear", "off", "none", "reset"):
        chat.set_filters(SearchFilters())
        return CommandResult("filter", "Filters cleared.")
    if not rest:
        return CommandResult("error", f"/filter {key} needs a value. {usage}")
    change: dict[str, Any]
    if key in ("since", "from", "until", "to", "year"):
        if not re.fullmatch(r"\d{4}", rest):
            return CommandResult("error", f"'{rest}' is not a year (e.g. 2023). {usage}")
        year = int(rest)
        change = {
            "since": {"year_from": year},
            "from": {"year_from": year},
            "until": {"year_to": year},
            "to": {"year_to": year},
            "year": {"year_from": year, "year_to": year},
        }[key]
    elif key in ("author", "venue", "source"):
        change = {key: rest}
    elif key == "where":
        name, sep, value = rest.partition("=")
        if not sep or not name.strip():
            return CommandResult("error", f"'{rest}' is not KEY=VALUE. {usage}")
        change = {"metadata": {**chat.filters.metadata, name.strip(): value.strip()}}
    else:
        return CommandResult("error", f"Unknown filter '{args[0]}'. {usage}")
    wanted = chat.filters.model_copy(update=change)
    check_filters(wanted, chat.index.catalog)  # an error line; the filters stay as they were
    chat.set_filters(wanted)
    why = no_match_message(chat.filters, chat.index.catalog)
    return CommandResult("filter", f"Filters: {chat.filters.describe()}.", [why] if why else [])
