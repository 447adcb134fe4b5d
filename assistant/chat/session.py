"""Conversations: follow-up questions, stable citation numbers, slash commands, exports.

A :class:`ChatSession` holds one conversation over an index. Each question is first rewritten
into a standalone search question using the history: with a language model through the
``condense`` prompt, offline by a deterministic rewrite (references to a numbered paper, such as
"the second one", "[2]" or "that paper", restrict retrieval to that paper). Answers come from
:func:`assistant.api.ask` with the conversation's :class:`CitationRegistry`, so a paper keeps its
number for the whole conversation, and every turn is saved as it completes (see
:mod:`assistant.chat.store`). Nothing here prints: results are returned as typed objects.
"""

from __future__ import annotations

import contextlib
import json
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from assistant.chat.store import SessionInfo, SessionStore, StoredTurn, new_session_id, now
from assistant.errors import AssistantError, LLMError, UsageError
from assistant.generation.answer import Answer, Citation, CitationRegistry
from assistant.retrieval.filters import SearchFilters

if TYPE_CHECKING:
    from assistant.generation.llm.openai_compatible import LLMClient
    from assistant.index.paper_index import PaperIndex
    from assistant.settings import Settings

TokenFn = Callable[[str], None]
RewriteMethod = Literal["none", "llm", "offline"]
CommandKind = Literal["help", "sources", "export", "filter", "reset", "quit", "unknown", "error"]
ExportKind = Literal["md", "bib", "json"]

HISTORY_TURNS = 6
HISTORY_ANSWER_CHARS = 1500
MAX_CONDENSED_CHARS = 500
MAX_APPENDED_TERMS = 8

HELP_LINES = [
    "/sources                 the papers cited so far, with their numbers",
    "/export md|bib|json FILE save the chat (Markdown, JSON) or its papers (BibTeX)",
    "/filter                  show the filters of the next questions; set them with",
    "                         since|until|year YEAR, author|venue NAME, source FILE,",
    "                         where KEY=VALUE, or clear",
    "/reset                   forget the conversation; numbering restarts at [1]",
    "/help                    this list",
    "/quit, /exit             leave (or Ctrl-D); every answer is already saved",
]

EXPORT_KINDS: dict[str, ExportKind] = {
    "md": "md",
    "markdown": "md",
    "bib": "bib",
    "bibtex": "bib",
    "json": "json",
}


@dataclass
class Rewrite:
    """What a question is searched as, and how that was decided."""

    question: str
    standalone: str
    method: RewriteMethod = "none"
    paper_ids: set[str] | None = None
    paper: Citation | None = None
    note: str | None = None
    answer_question: str | None = None

    @property
    def changed(self) -> bool:
        """True when retrieval searches for something other than the question as typed."""
        return _normal(self.standalone) != _normal(self.question)

    @property
    def to_answer(self) -> str:
        """The question given to the answerer (model or extractive)."""
        return self.answer_question or self.standalone


@dataclass
class Turn:
    """One question, what it was searched as, and its answer."""

    n: int
    question: str
    standalone_question: str | None
    answer: Answer
    created_at: str
    saved: bool = True


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


# --- offline follow-up rewriting ------------------------------------------------------------------

_ORDINALS = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
    "last": -1,
    "final": -1,
}
_NOUNS = r"(?:one|paper|source|reference|article|study|work|result|citation|item|entry)"
_ORDINAL_WORD = (
    r"(first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|last|final"
    r"|\d{1,2}(?:st|nd|rd|th))"
)
_ORDINAL_REF = re.compile(
    rf"\bthe\s+{_ORDINAL_WORD}(?:\s+{_NOUNS}s?\b|\s*(?=[?.!,;:]|$))", re.IGNORECASE
)
_NUMBER_REF = re.compile(
    r"\[\s*(\d{1,3})\s*\]"
    r"|\b(?:paper|source|reference|ref\.?|article|study|citation|item|number|no\.)\s*#?\s*(\d{1,3})\b"
    r"|(?<![\w#])#(\d{1,3})\b",
    re.IGNORECASE,
)
_THAT_PAPER = re.compile(
    r"\b(?:that|this|the\s+same|said)\s+(?:paper|article|study|work|one|method|model|approach|"
    r"technique|framework|system|preprint)\b"
    r"|\bthe\s+(?:paper|article|study|preprint)\b",
    re.IGNORECASE,
)
_IT = re.compile(r"\b(?:it|its|it's|itself)\b", re.IGNORECASE)
_IT_EXPLETIVE = re.compile(
    r"\b(?:is|was|isn't|wasn't)\s+it\s+(?:possible|true|feasible|worth|necessary|better|"
    r"common|known)\b|\bit\s+(?:is|was|seems|appears)\s+(?:possible|true|known|likely)\b",
    re.IGNORECASE,
)
_FOLLOW_UP_START = re.compile(
    r"^\s*(?:what\s+about|how\s+about|and\b|what\s+of|same\s+for|what\s+if|also\b|or\b)",
    re.IGNORECASE,
)
_PRONOUNS = re.compile(
    r"\b(?:they|them|their|theirs|these|those|this|he|she|his|her)\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"[A-Za-z0-9][\w\-^+.']*[\w+]|[A-Za-z0-9]")
_STOPWORD_TEXT = """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing done down during each else ever
    few for from further had has have having he her here hers herself him himself his how i if
    in into is isn it its itself just me more most my myself no nor not now of off on once one
    ones only or other our ours out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up very
    was we were what when where which while who whom why will with would you your yours use
    used uses using tell show give explain describe paper papers work study studies article
    source sources reference method methods approach model models one ones about find any kind
    way ways else many much get got say said like compare compared versus vs more less best
    better first second third fourth fifth last former latter
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def _normal(text: str) -> str:
    return " ".join(text.lower().split()).rstrip("?.! ")


def key_terms(text: str, limit: int = MAX_APPENDED_TERMS) -> list[str]:
    """The informative words of a question (no stopwords, no duplicates), in order."""
    terms: list[str] = []
    seen: set[str] = set()
    for word in _WORD.findall(text):
        lowered = word.lower().strip(".'")
        if len(lowered) < 2 or lowered in STOPWORDS or lowered in seen:
            continue
        seen.add(lowered)
        terms.append(word.strip(".'"))
        if len(terms) >= limit:
            break
    return terms


def _content_words(text: str) -> int:
    return len(key_terms(text, limit=100))


def _ordinal_value(word: str) -> int:
    lowered = word.lower()
    if lowered in _ORDINALS:
        return _ORDINALS[lowered]
    return int(re.match(r"\d+", lowered).group(0))  # type: ignore[union-attr]


def _last_cited(turns: list[Turn]) -> list[Citation]:
    """The references of the most recent answer that cited papers, as listed (by number)."""
    for turn in reversed(turns):
        if turn.answer.citations:
            return sorted(turn.answer.citations, key=lambda c: c.n)
    return []


def _top_paper(turns: list[Turn]) -> Citation | None:
    """The most recent answer's first (best) cited paper."""
    for turn in reversed(turns):
        if turn.answer.citations:
            return turn.answer.citations[0]
    return None


def _known_numbers(turns: list[Turn]) -> dict[int, Citation]:
    known: dict[int, Citation] = {}
    for turn in turns:
        for citation in [*turn.answer.sources, *turn.answer.citations]:
            known[citation.n] = citation
    return known


def _about_paper(question: str, paper: Citation, match: re.Match[str]) -> Rewrite:
    """Search for the question plus the paper's title, in that paper only.

    The answerer gets the question with the reference replaced by ``paper [n]`` (the title's
    words would outweigh the question's when choosing sentences).
    """
    phrase = match.group(0).strip()
    possessive = "'s" if phrase.lower() in ("its", "it's") else ""
    answer_question = (
        question[: match.start()] + f"paper [{paper.n}]{possessive}" + question[match.end() :]
    )
    return Rewrite(
        question=question,
        standalone=f"{question.strip()} — {paper.title}",
        method="offline",
        paper_ids={paper.paper_id},
        paper=paper,
        note=f"Taking '{phrase}' as [{paper.n}] {paper.title}.",
        answer_question=" ".join(answer_question.split()),
    )


def _names_something(question: str) -> bool:
    """True when the question names a specific thing (LongLoRA, GPT-4, BERT, a capitalised
    word after the first)."""
    for position, word in enumerate(_WORD.findall(question)):
        if word.lower() in STOPWORDS:
            continue
        if any(ch.isdigit() for ch in word) or any(ch.isupper() for ch in word[1:]):
            return True
        if position > 0 and word[0].isupper():
            return True
    return False


def offline_rewrite(question: str, turns: list[Turn]) -> Rewrite:
    """A deterministic standalone version of a follow-up question (no language model).

    References to a numbered paper ("the second one", "the 2nd paper", "[2]", "paper 2";
    "that paper" or "it" for the latest answer's top paper) restrict the search to that paper;
    other follow-ups ("what about X?", short questions, pronouns) get the previous standalone
    question's key terms appended. Anything else is left as it is.
    """
    unchanged = Rewrite(question=question, standalone=question)
    if not turns:
        return unchanged
    match = _NUMBER_REF.search(question)
    if match:
        n = int(next(g for g in match.groups() if g))
        paper = _known_numbers(turns).get(n)
        if paper is not None:
            return _about_paper(question, paper, match)
    match = _ORDINAL_REF.search(question)
    if match:
        listed = _last_cited(turns)
        position = _ordinal_value(match.group(1))
        if listed and (position == -1 or 1 <= position <= len(listed)):
            paper = listed[-1] if position == -1 else listed[position - 1]
            return _about_paper(question, paper, match)
    match = _THAT_PAPER.search(question)
    it = _IT.search(question)
    if match or (it and not _IT_EXPLETIVE.search(question) and _content_words(question) <= 4):
        paper = _top_paper(turns)
        if paper is not None:
            found = match or it
            assert found is not None
            return _about_paper(question, paper, found)
    previous = turns[-1].standalone_question or turns[-1].question
    follow_up = (
        _FOLLOW_UP_START.search(question)
        or _PRONOUNS.search(question)
        or (_content_words(question) <= 2 and not _names_something(question))
    )
    if not follow_up:
        return unchanged
    have = {t.lower() for t in key_terms(question, limit=100)}
    extra = [t for t in key_terms(previous, limit=100) if t.lower() not in have]
    extra = extra[:MAX_APPENDED_TERMS]
    if not extra:
        return unchanged
    return Rewrite(
        question=question,
        standalone=f"{question.strip()} {' '.join(extra)}",
        method="offline",
        note="Follow-up: added terms from the previous question.",
    )


# --- the conversation as text --------------------------------------------------------------------


def _as_data(text: str) -> str:
    """Conversation text cannot open or close the tags it sits in."""
    return text.replace("<", "‹").replace(">", "›")


def history_text(
    turns: list[Turn], max_turns: int = HISTORY_TURNS, max_chars: int = HISTORY_ANSWER_CHARS
) -> str:
    """The last turns, for the ``condense`` prompt: questions, answers and numbered sources."""
    blocks = []
    for turn in turns[-max_turns:]:
        answer = " ".join(turn.answer.answer.split())
        if len(answer) > max_chars:
            answer = answer[: max_chars - 1] + "…"
        lines = [f"User: {_as_data(turn.question)}", f"Assistant: {_as_data(answer)}"]
        cited = sorted(turn.answer.citations, key=lambda c: c.n)
        if cited:
            lines.append("Sources:")
            lines.extend(f"[{c.n}] {_as_data(c.title)}" for c in cited)
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def clean_condensed(text: str) -> str | None:
    """The standalone question from a ``condense`` reply: its first line, without labels."""
    for line in text.strip().splitlines():
        line = re.sub(
            r"^\s*(?:standalone|rewritten)?\s*(?:question|query)\s*:\s*", "", line, flags=re.I
        )
        line = line.strip().strip("\"'`“”‘’").strip()
        if line:
            return line if len(line) <= MAX_CONDENSED_CHARS else None
    return None


def cited_papers(turns: list[Turn]) -> list[Citation]:
    """Every paper cited in the conversation, once, by number."""
    by_id: dict[str, Citation] = {}
    for turn in turns:
        for citation in turn.answer.citations:
            by_id.setdefault(citation.paper_id, citation)
    return sorted(by_id.values(), key=lambda c: c.n)


def _reference_line(c: Citation) -> str:
    year = f" ({c.year})" if c.year else ""
    link = f" {c.link}" if c.link else ""
    return f"[{c.n}] {c.title}{year}. {c.paper_id}{link}"


def transcript_markdown(
    turns: list[Turn], session_id: str | None, created_at: str | None, filters: SearchFilters
) -> str:
    """The conversation as Markdown, with its references."""
    out = [f"# Conversation {session_id or '(not saved)'}", ""]
    meta = [f"{len(turns)} turn{'s' if len(turns) != 1 else ''}"]
    if created_at:
        meta.insert(0, f"started {created_at[:16].replace('T', ' ')} UTC")
    if not filters.is_empty():
        meta.append(f"filters: {filters.describe()}")
    out += [f"*{' · '.join(meta)}*", ""]
    for turn in turns:
        out += [f"## {turn.n}. {turn.question}", ""]
        if turn.standalone_question and _normal(turn.standalone_question) != _normal(turn.question):
            out += [f"*Searched for: {turn.standalone_question}*", ""]
        if turn.answer.llm_error:
            out += [
                f"*The language model failed ({turn.answer.llm_error}); extractive answer.*",
                "",
            ]
        text = turn.answer.answer.strip()
        if turn.answer.mode == "extractive" and not turn.answer.abstained:
            text = "\n".join(f"- {line}" for line in text.splitlines() if line.strip())
        out += [text, ""]
    cited = cited_papers(turns)
    if cited:
        out += ["## References", ""]
        out += [_reference_line(c) for c in cited]
        out.append("")
    return "\n".join(out)


def transcript_json(
    turns: list[Turn], session_id: str | None, created_at: str | None, filters: SearchFilters
) -> dict[str, object]:
    """The conversation as JSON: turns with questions, answers and citations."""
    return {
        "session_id": session_id,
        "created_at": created_at,
        "filters": filters.model_dump(exclude_defaults=True),
        "turns": [
            {
                "turn": turn.n,
                "question": turn.question,
                "standalone_question": turn.standalone_question,
                "answer": turn.answer.answer,
                "mode": turn.answer.mode,
                "abstained": turn.answer.abstained,
                "grounded": turn.answer.grounded,
                "citations": [c.model_dump() for c in turn.answer.citations],
                "notes": turn.answer.notes,
                "llm_error": turn.answer.llm_error,
                "created_at": turn.created_at,
            }
            for turn in turns
        ],
        "references": [c.model_dump() for c in cited_papers(turns)],
    }


def turns_from_store(stored: list[StoredTurn]) -> list[Turn]:
    """Saved turns as :class:`Turn` objects."""
    return [
        Turn(
            n=t.turn,
            question=t.question,
            standalone_question=t.standalone_question,
            answer=t.answer,
            created_at=t.created_at,
        )
        for t in stored
    ]


# --- the session -------------------------------------------------------------------------------


class ChatSession:
    """One conversation over an index; saved turn by turn when given a :class:`SessionStore`."""

    def __init__(
        self,
        index: PaperIndex,
        settings: Settings,
        *,
        filters: SearchFilters | None = None,
        store: SessionStore | None = None,
        client: LLMClient | None = None,
    ) -> None:
        self.index = index
        self.settings = settings
        self.filters = filters or SearchFilters()
        self.store = store
        self.session_id: str | None = None
        self.created_at: str | None = None
        self.turns: list[Turn] = []
        self.registry = CitationRegistry()
        self._client = client
        self._own_client = False

    @classmethod
    def resume(
        cls,
        index: PaperIndex,
        settings: Settings,
        store: SessionStore,
        session_id: str | None = None,
        *,
        filters: SearchFilters | None = None,
        client: LLMClient | None = None,
    ) -> ChatSession:
        """Reopen a saved session (the most recently updated one when no id is given).

        History, citation numbers and filters are restored; ``filters`` given here are added
        to the saved ones. Raises UsageError when there is no such session.
        """
        if session_id is None:
            info = store.latest()
            if info is None:
                raise UsageError(
                    f"No saved chat session in {store.path.parent} to continue.",
                    hint="Start one with 'assistant chat'.",
                )
        else:
            info = store.get(session_id)
        chat = cls(index, settings, filters=info.filters, store=store, client=client)
        if filters is not None and not filters.is_empty():
            chat.filters = info.filters.merged(filters)
        chat._load(info)
        return chat

    def _load(self, info: SessionInfo) -> None:
        assert self.store is not None
        self.session_id = info.id
        self.created_at = info.created_at
        self.turns = turns_from_store(self.store.turns(info.id))
        self.registry = CitationRegistry(self.store.numbers(info.id))

    # --- the model
    @property
    def uses_llm(self) -> bool:
        """True when answers are written by a language model."""
        return self._client is not None or self.settings.llm_configured

    @property
    def client(self) -> LLMClient | None:
        """The conversation's model client (created on first use), or None offline."""
        if self._client is None and self.settings.llm_configured:
            from assistant.generation.llm.openai_compatible import LLMClient

            self._client = LLMClient(self.settings)
            self._own_client = True
        return self._client

    def close(self) -> None:
        """Close the model client this session opened."""
        if self._own_client and self._client is not None:
            self._client.close()
            self._client = None
            self._own_client = False

    def __enter__(self) -> ChatSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- asking
    def rewrite(self, question: str) -> Rewrite:
        """The standalone search question for a follow-up (the question itself on turn one).

        With a model, the ``condense`` prompt rewrites it; if that call fails, the offline
        rewrite is used and its note says so.
        """
        if not self.turns:
            return Rewrite(question=question, standalone=question)
        client = self.client
        if client is None:
            return offline_rewrite(question, self.turns)
        from assistant.generation.prompts import load_prompt

        messages = load_prompt("condense").messages(
            history=history_text(self.turns), question=_as_data(question)
        )
        try:
            reply = client.complete(messages)
        except LLMError as exc:
            fallback = offline_rewrite(question, self.turns)
            reason = exc.message.rstrip(".")
            fallback.note = (
                f"Could not rewrite the follow-up with the model ({reason}); "
                "used the offline rewrite." + (f" {fallback.note}" if fallback.note else "")
            )
            return fallback
        condensed = clean_condensed(reply.text)
        if condensed is None:
            fallback = offline_rewrite(question, self.turns)
            fallback.note = (
                "The model's rewrite of the follow-up was unusable; used the offline one."
            )
            return fallback
        return Rewrite(question=question, standalone=condensed, method="llm")

    def ask(
        self, question: str, on_token: TokenFn | None = None, rewrite: Rewrite | None = None
    ) -> Turn:
        """Answer one question in the conversation and save the turn.

        The model (or the extractive answerer) is given the standalone question; retrieval
        searches for it too. Citation numbers come from the conversation's registry. If the
        turn fails or is interrupted, nothing of it is kept (numbers included).
        """
        from assistant.api import ask as ask_question
        from assistant.retrieval.retriever import RetrievalOptions

        if not question.strip():
            raise UsageError("The question is empty.", hint="Ask something, or /help.")
        rewrite = rewrite or self.rewrite(question)
        search_query = rewrite.standalone if rewrite.changed else None
        options = RetrievalOptions(
            k=max(self.settings.answer_papers, 5),
            filters=self.filters,
            paper_ids=rewrite.paper_ids,
        )
        numbers_before = dict(self.registry.numbers)
        try:
            answer = ask_question(
                self.index,
                rewrite.to_answer,
                self.settings,
                options,
                registry=self.registry,
                on_token=on_token,
                search_query=search_query,
                client=self.client,
            )
        except BaseException:
            self.registry.numbers = numbers_before
            raise
        answer.question = question
        answer.standalone_question = search_query
        turn = Turn(
            n=(self.turns[-1].n if self.turns else 0) + 1,
            question=question,
            standalone_question=search_query,
            answer=answer,
            created_at=now(),
        )
        self.turns.append(turn)
        self._save(turn)
        return turn

    def _save(self, turn: Turn) -> None:
        if self.store is None:
            turn.saved = False
            return
        if self.session_id is None:
            self.session_id = new_session_id()
            self.created_at = turn.created_at
        try:
            turn.n = self.store.save_turn(
                self.session_id,
                turn.question,
                turn.standalone_question,
                turn.answer,
                self.registry.numbers,
                self.filters,
            )
        except Exception as exc:  # noqa: BLE001 - a failed save must not end the chat
            turn.saved = False
            turn.answer.notes.append(f"This turn could not be saved: {exc}")

    # --- commands
    def handle_command(self, line: str) -> CommandResult:
        """Run a slash command (``/sources``, ``/export``, ``/filter``, ``/reset``, ...)."""
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
                return self._sources()
            if name == "/export":
                return self._export_command(args)
            if name in ("/filter", "/filters"):
                return self._filter_command(args)
            if name in ("/reset", "/new", "/clear"):
                self.reset()
                kept = (
                    f" Filters kept: {self.filters.describe()}."
                    if not self.filters.is_empty()
                    else ""
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

    def _sources(self) -> CommandResult:
        cited = self.cited()
        if not cited:
            return CommandResult("sources", "No paper cited yet.")
        count = f"{len(cited)} paper{'s' if len(cited) != 1 else ''} cited so far:"
        return CommandResult("sources", count, [_reference_line(c) for c in cited])

    def _export_command(self, args: list[str]) -> CommandResult:
        usage = "Usage: /export md|bib|json FILE"
        if not args or len(args) > 2:
            return CommandResult("error", usage)
        kind = EXPORT_KINDS.get(args[0].lower())
        if kind is None:
            return CommandResult("error", f"Cannot export as {args[0]!r}. {usage}")
        path = Path(args[1]) if len(args) == 2 else Path(f"chat-{self.session_id or 'new'}.{kind}")
        written, count = self.export(kind, path)
        what = {"md": "conversation", "bib": "BibTeX", "json": "conversation"}[kind]
        detail = (
            f"{count} entr{'ies' if count != 1 else 'y'}" if kind == "bib" else f"{count} turns"
        )
        return CommandResult("export", f"Wrote the {what} ({detail}) to {written}.", path=written)

    def _filter_command(self, args: list[str]) -> CommandResult:
        usage = (
            "Use: /filter since YEAR | until YEAR | year YEAR | author NAME | venue NAME | "
            "source FILE | where KEY=VALUE | clear"
        )
        if not args:
            return CommandResult("filter", f"Filters: {self.filters.describe() or 'none'}.")
        key, rest = args[0].lower(), " ".join(args[1:]).strip()
        if key in ("clear", "off", "none", "reset"):
            self.set_filters(SearchFilters())
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
            change = {"metadata": {**self.filters.metadata, name.strip(): value.strip()}}
        else:
            return CommandResult("error", f"Unknown filter '{args[0]}'. {usage}")
        self.set_filters(self.filters.model_copy(update=change))
        return CommandResult("filter", f"Filters: {self.filters.describe()}.")

    def set_filters(self, filters: SearchFilters) -> None:
        """Filters for the following turns (saved with the session)."""
        self.filters = SearchFilters(**filters.model_dump())
        if self.store is not None and self.session_id is not None:
            with contextlib.suppress(Exception):  # saved again with the next turn
                self.store.set_filters(self.session_id, self.filters)

    def reset(self) -> None:
        """Forget history and citation numbers; the next turn starts a new session."""
        self.turns = []
        self.registry = CitationRegistry()
        self.session_id = None
        self.created_at = None

    # --- sources and exports
    def cited(self) -> list[Citation]:
        """Every paper cited so far, with its conversation number."""
        return cited_papers(self.turns)

    def export(self, kind: str, path: Path) -> tuple[Path, int]:
        """Write the conversation (``md``, ``json``) or the cited papers' BibTeX (``bib``).

        Returns the path written and how many turns (or BibTeX entries) it holds.
        """
        from assistant.export.bibtex import bibliography

        fmt = EXPORT_KINDS.get(kind.lower())
        if fmt is None:
            raise UsageError(f"Cannot export as {kind!r}.", hint="Use md, bib or json.")
        if not self.turns:
            raise UsageError("Nothing to export yet.", hint="Ask a question first.")
        count = len(self.turns)
        if fmt == "md":
            text = transcript_markdown(self.turns, self.session_id, self.created_at, self.filters)
        elif fmt == "json":
            data = transcript_json(self.turns, self.session_id, self.created_at, self.filters)
            text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
        else:
            cited = self.cited()
            papers = self.index.catalog.get_papers(c.paper_id for c in cited)
            ordered = [papers[c.paper_id] for c in cited if c.paper_id in papers]
            if not ordered:
                raise UsageError("No paper cited yet: no BibTeX to write.", hint="Ask first.")
            text = bibliography(ordered)
            count = len(ordered)
        target = path.expanduser()
        try:
            if target.parent and not target.parent.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(
                f"Cannot write {target}: {exc.strerror or exc}", hint="Choose another file."
            ) from exc
        return target, count
