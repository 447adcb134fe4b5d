"""Evidence first: the sources given to a model, cut to fit its context window.

Each retrieved paper is given as ``[n] Title (year)``, then ``Key sentences:`` (its abstract's
sentences most relevant to the question, best first, scored by the one sentence scorer,
:class:`~assistant.text.sentences.SentenceScorer`), then ``Other sentences:`` (the rest, in
the abstract's order). Small models cite better when the evidence comes first.

The sources must fit the model's context (``llm_context_tokens``) beside the prompt and the
reply's length cap. Tokens are estimated cheaply, as characters / 4 (:func:`estimate_tokens`),
with a margin. Too long: the least relevant sentences go first (each paper keeps at least one),
then the lowest-ranked papers. If the server still answers that the prompt exceeds its context,
the call is made once more with half the papers (:func:`send_with_budget`).

With ``evidence_first`` off, abstracts are given whole, in their order; too long, the
lowest-ranked papers go first, then the last sentences of the one left.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from assistant.errors import LLMError
from assistant.ingest.chunking import split_sentences
from assistant.llm.prompts import NO_ABSTRACT_NOTE, as_data, title_as_data
from assistant.text.sentences import KEY_SENTENCES, ScoredSentences, scored_sentences

if TYPE_CHECKING:
    from assistant.index.paper_index import PaperIndex
    from assistant.llm.base import LLMReply
    from assistant.llm.prompts import Prompt
    from assistant.records import Paper
    from assistant.settings import Settings

__all__ = [
    "CHARS_PER_TOKEN",
    "SourceChoice",
    "SourceSelector",
    "estimate_tokens",
    "exceeds_context",
    "reply_cap",
    "send_with_budget",
]

#: The cheap token estimate: English text runs at about 4 characters per token.
CHARS_PER_TOKEN = 4
#: Tokens kept free beside the estimate: chat-template tokens, and the estimate's error.
MARGIN_TOKENS = 64
MARGIN_SHARE = 0.05


class Numbering(Protocol):
    """What numbers the sources (a :class:`~assistant.generation.answer.CitationRegistry`)."""

    def number(self, paper: Paper) -> int: ...


def estimate_tokens(text: str) -> int:
    """Tokens of ``text``, estimated as characters / 4 (rounded up)."""
    return -(-len(text) // CHARS_PER_TOKEN)


def reply_cap(settings: Settings, purpose: str) -> int:
    """The reply's length cap for ``purpose`` (the answer's when the purpose has none)."""
    caps = {
        "answer": settings.answer_max_tokens,
        "related_work": settings.related_work_max_tokens,
        "cite": settings.cite_max_tokens,
    }
    return caps.get(purpose, settings.answer_max_tokens)


@dataclass
class SourceChoice:
    """The papers given to the model and which of their sentences (positions) are kept."""

    papers: list[Paper]
    kept: dict[str, list[int]]
    scores: dict[str, list[float]]
    evidence_first: bool
    dropped_sentences: int = 0
    dropped_papers: int = 0
    sentences: dict[str, list[str]] = field(default_factory=dict)

    def block(self, n: int, paper: Paper) -> str:
        year = f" ({paper.year})" if paper.year else ""
        head = f"[{n}] {title_as_data(paper.title)}{year}"
        sentences = self.sentences[paper.paper_id]
        kept = sorted(self.kept[paper.paper_id])
        if not paper.has_abstract:
            return f"{head}\n{NO_ABSTRACT_NOTE}"
        if not sentences:
            return f"{head}\n{as_data(paper.abstract)}".rstrip()
        if not self.evidence_first:
            if len(kept) == len(sentences):  # uncut: the abstract as written
                return f"{head}\n{as_data(paper.abstract)}"
            return f"{head}\n" + as_data(" ".join(sentences[i] for i in kept))
        scores = self.scores[paper.paper_id]
        key = sorted(kept, key=lambda i: -scores[i])[:KEY_SENTENCES]
        lines = [head, "Key sentences: " + as_data(" ".join(sentences[i] for i in key))]
        others = [i for i in kept if i not in key]
        if others:
            lines.append("Other sentences: " + as_data(" ".join(sentences[i] for i in others)))
        return "\n".join(lines)

    def text(self, numbered: list[tuple[int, Paper]]) -> str:
        """The numbered sources, as the prompts expect them."""
        return "\n\n".join(self.block(n, paper) for n, paper in numbered)

    def note(self) -> str | None:
        """What was left out to fit the context, if anything."""
        if not self.dropped_sentences and not self.dropped_papers:
            return None
        parts = []
        if self.dropped_papers:
            parts.append(f"{self.dropped_papers} of the lowest-ranked paper(s)")
        if self.dropped_sentences:
            which = "less relevant" if self.evidence_first else "closing"
            parts.append(f"{self.dropped_sentences} {which} sentence(s)")
        return (
            "To fit the model's context (ASSISTANT_LLM_CONTEXT_TOKENS), the sources leave out "
            + " and ".join(parts)
            + "."
        )


class SourceSelector:
    """Chooses and formats the sources for one query over one index, under the settings'
    context budget."""

    def __init__(self, index: PaperIndex, query: str, settings: Settings) -> None:
        self.index = index
        self.query = query
        self.settings = settings

    def budget(self, prompt: Prompt, values: dict[str, str], purpose: str) -> int:
        """Tokens left for the sources: context - the prompt without them - the reply cap."""
        context = self.settings.llm_context_tokens
        fixed = estimate_tokens(prompt.render(**{**values, "sources": ""}))
        margin = MARGIN_TOKENS + int(MARGIN_SHARE * context)
        return context - fixed - reply_cap(self.settings, purpose) - margin

    def choose(
        self, papers: list[Paper], prompt: Prompt, values: dict[str, str], purpose: str
    ) -> SourceChoice:
        """The sources that fit the budget (at least one paper, even when it does not)."""
        ranked = self._ranked(papers)
        choice = SourceChoice(
            papers=[r.paper for r in ranked],
            kept={r.paper.paper_id: list(range(len(r.sentences))) for r in ranked},
            scores={r.paper.paper_id: r.scores for r in ranked},
            sentences={r.paper.paper_id: r.sentences for r in ranked},
            evidence_first=self.settings.evidence_first,
        )
        return _fit(choice, self.budget(prompt, values, purpose))

    def fewer(self, choice: SourceChoice) -> SourceChoice | None:
        """The first half of the papers (None when only one is left)."""
        if len(choice.papers) <= 1:
            return None
        keep = (len(choice.papers) + 1) // 2
        return SourceChoice(
            papers=choice.papers[:keep],
            kept=choice.kept,
            scores=choice.scores,
            sentences=choice.sentences,
            evidence_first=choice.evidence_first,
            dropped_sentences=choice.dropped_sentences,
            dropped_papers=choice.dropped_papers + len(choice.papers) - keep,
        )

    def _ranked(self, papers: list[Paper]) -> list[ScoredSentences]:
        if not self.settings.evidence_first:  # later sentences are the first to go
            split = [split_sentences(p.abstract) for p in papers]
            return [
                ScoredSentences(p, s, [-float(i) for i in range(len(s))])
                for p, s in zip(papers, split, strict=True)
            ]
        return scored_sentences(self.index, self.query, papers)


def _fit(choice: SourceChoice, budget: int) -> SourceChoice:
    """Drop sentences, then papers, until the sources' estimate is within ``budget``."""

    def tokens() -> int:
        numbered = list(enumerate(choice.papers, start=1))
        return estimate_tokens(choice.text(numbered))

    if choice.evidence_first:
        while tokens() > budget:
            pid, position = _least_relevant(choice)
            if pid is None:
                if not _drop_last_paper(choice):
                    break
                continue
            choice.kept[pid].remove(position)
            choice.dropped_sentences += 1
        return choice
    while tokens() > budget and _drop_last_paper(choice):
        pass
    last = choice.papers[-1].paper_id if choice.papers else None
    while last is not None and tokens() > budget and len(choice.kept[last]) > 1:
        choice.kept[last].pop()
        choice.dropped_sentences += 1
    return choice


def _least_relevant(choice: SourceChoice) -> tuple[str | None, int]:
    """The kept sentence with the lowest score among papers keeping more than one."""
    best: tuple[float, str, int] | None = None
    for paper in choice.papers:
        kept = choice.kept[paper.paper_id]
        if len(kept) <= 1:
            continue
        scores = choice.scores[paper.paper_id]
        for i in kept:
            if best is None or scores[i] < best[0]:
                best = (scores[i], paper.paper_id, i)
    return (None, -1) if best is None else (best[1], best[2])


def _drop_last_paper(choice: SourceChoice) -> bool:
    if len(choice.papers) <= 1:
        return False
    choice.papers.pop()
    choice.dropped_papers += 1
    return True


def exceeds_context(error: LLMError) -> bool:
    """True when the model's server refused the prompt as longer than its context window."""
    from assistant.llm.failures import says_context_exceeded

    return says_context_exceeded(error.message)  # not the hint: hints mention the context


#: ``send(numbered, sources_text)``: one call to the model with these sources.
SendFn = Callable[[list[tuple[int, "Paper"]], str], "LLMReply"]


def send_with_budget(
    selector: SourceSelector,
    papers: list[Paper],
    registry: Numbering,
    prompt: Prompt,
    values: dict[str, str],
    purpose: str,
    send: SendFn,
) -> tuple[LLMReply, list[tuple[int, Paper]], list[str]]:
    """Call ``send`` with the sources that fit; once more with half of them if the server
    says the prompt exceeds its context. Returns the reply, the numbered papers it saw, and
    notes on what was left out. A second failure raises (the caller falls back)."""
    choice = selector.choose(papers, prompt, values, purpose)
    retried = False
    while True:
        numbered = [(registry.number(p), p) for p in choice.papers]
        try:
            reply = send(numbered, choice.text(numbered))
        except LLMError as exc:
            smaller = None if retried or not exceeds_context(exc) else selector.fewer(choice)
            if smaller is None:
                raise
            choice, retried = smaller, True
            continue
        note = choice.note()
        return reply, numbered, [note] if note else []
