"""Follow-up questions rewritten into standalone search questions.

With a language model the ``condense`` prompt rewrites a follow-up using the history; offline a
deterministic rewrite is used: references to a numbered paper, such as "the second one", "[2]"
or "that paper", restrict retrieval to that paper, and other follow-ups get the previous
question's key terms appended.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from assistant.chat.turns import Turn
from assistant.errors import LLMError
from assistant.generation.answer import Citation
from assistant.llm.prompts import as_data, title_as_data

if TYPE_CHECKING:
    from assistant.llm.base import ChatModel

RewriteMethod = Literal["none", "llm", "offline"]

HISTORY_TURNS = 6
HISTORY_ANSWER_CHARS = 1500
MAX_CONDENSED_CHARS = 500
MAX_APPENDED_TERMS = 8


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


# --- rewriting with the model -------------------------------------------------------------------


def history_text(
    turns: list[Turn], max_turns: int = HISTORY_TURNS, max_chars: int = HISTORY_ANSWER_CHARS
) -> str:
    """The last turns, for the ``condense`` prompt: questions, answers and numbered sources."""
    blocks = []
    for turn in turns[-max_turns:]:
        answer = " ".join(turn.answer.answer.split())
        if len(answer) > max_chars:
            answer = answer[: max_chars - 1] + "…"
        lines = [f"User: {as_data(turn.question)}", f"Assistant: {as_data(answer)}"]
        cited = sorted(turn.answer.citations, key=lambda c: c.n)
        if cited:
            lines.append("Sources:")
            lines.extend(f"[{c.n}] {title_as_data(c.title)}" for c in cited)
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


def rewrite_follow_up(question: str, turns: list[Turn], client: ChatModel | None) -> Rewrite:
    """The standalone search question for a follow-up to ``turns``.

    With a model client, the ``condense`` prompt rewrites it; if that call fails, the offline
    rewrite is used and its note says so. Without one, the offline rewrite is used.
    """
    if client is None:
        return offline_rewrite(question, turns)
    from assistant.llm.prompts import load_prompt

    messages = load_prompt("condense").messages(
        history=history_text(turns), question=as_data(question)
    )
    try:
        reply = client.complete(messages)
    except LLMError as exc:
        fallback = offline_rewrite(question, turns)
        reason = exc.message.rstrip(".")
        fallback.note = (
            f"Could not rewrite the follow-up with the model ({reason}); "
            "used the offline rewrite." + (f" {fallback.note}" if fallback.note else "")
        )
        return fallback
    condensed = clean_condensed(reply.text)
    if condensed is None:
        fallback = offline_rewrite(question, turns)
        fallback.note = "The model's rewrite of the follow-up was unusable; used the offline one."
        return fallback
    return Rewrite(question=question, standalone=condensed, method="llm")
