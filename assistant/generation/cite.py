"""Cite: the retrieved papers that support a claim, best first, each with BibTeX.

Offline, papers are ranked by their abstract sentence closest to the claim (the embedding
model's cosine); with a language model, the ``cite`` prompt judges which numbered sources
support it. Either way every paper offered is a retrieved one with a stable BibTeX key, and
nothing is offered when retrieval says the corpus does not cover the claim (the model is not
even asked).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from assistant.errors import LLMError
from assistant.generation.answer import (
    NEAREST_SHOWN,
    CitationRegistry,
    Mode,
    paper_link,
    retrieved_papers,
)
from assistant.generation.citations import normalise_citations
from assistant.generation.pipeline import Retrieved, run_answer
from assistant.llm.prompts import format_sources
from assistant.records import Paper
from assistant.retrieval.retriever import RetrievalOptions
from assistant.text.sentences import SentenceScorer

if TYPE_CHECKING:
    from assistant.generation.evidence import SourceSelector
    from assistant.index.paper_index import PaperIndex
    from assistant.llm.base import ChatModel, LLMReply
    from assistant.settings import Settings

__all__ = [
    "CITE_EXTRACTIVE_NOTE",
    "SUPPORT_MIN_SIMILARITY",
    "CiteJudgement",
    "CiteResult",
    "CiteSteps",
    "CitedPaper",
    "cite_claim",
    "parse_cite_reply",
]

#: Offline, a paper counts as support when its best sentence is at least this close to the claim
#: (cosine of all-MiniLM-L6-v2 vectors; unrelated sentences of the same field sit near 0.3-0.45).
SUPPORT_MIN_SIMILARITY = 0.5

CITE_EXTRACTIVE_NOTE = (
    "Extractive mode: papers are ranked by how closely their best abstract sentence matches the "
    "claim, which is not a judgement that they support it; read each sentence. For a model's "
    "judgement set ASSISTANT_LLM_MODEL and OPENAI_BASE_URL (or OPENAI_API_KEY)."
)


# --- results ----------------------------------------------------------------------------------


class CitedPaper(BaseModel):
    """A paper offered for a claim, with its sentence closest to the claim."""

    rank: int
    paper_id: str
    title: str
    year: int | None = None
    sentence: str = Field(description="The abstract sentence closest to the claim.")
    score: float = Field(description="Cosine similarity of that sentence to the claim.")
    bibkey: str
    justification: str | None = Field(default=None, description="The model's reason, if any.")
    link: str | None = None

    def public_json(self) -> dict[str, object]:
        return self.model_dump(
            include={
                "rank",
                "paper_id",
                "title",
                "year",
                "sentence",
                "score",
                "bibkey",
                "justification",
            }
        )


class CiteResult(BaseModel):
    """The papers that support a claim (best first) and their BibTeX entries."""

    claim: str
    supported: bool
    mode: Mode
    summary: str = Field(default="", description="One line: the verdict and why.")
    papers: list[CitedPaper] = Field(default_factory=list, description="Supporting papers.")
    nearest: list[CitedPaper] = Field(
        default_factory=list, description="When nothing supports it: the closest papers."
    )
    bibtex: str = Field(default="", description="Entries of the supporting papers.")
    confidence: float = 1.0
    notes: list[str] = Field(default_factory=list)
    removed_citations: list[int] = Field(
        default_factory=list, description="Source numbers the model gave that match no source."
    )
    usage: dict[str, float | int | str | None] = Field(default_factory=dict)
    llm_error: str | None = None

    def public_json(self) -> dict[str, object]:
        """The ``--json`` shape."""
        return {
            "claim": self.claim,
            "supported": self.supported,
            "mode": self.mode,
            "summary": self.summary,
            "papers": [p.public_json() for p in self.papers],
            "bibtex": self.bibtex,
            "nearest": [p.public_json() for p in self.nearest],
            "confidence": self.confidence,
            "notes": self.notes,
            "removed_citations": self.removed_citations,
            "usage": self.usage,
            "llm_error": self.llm_error,
        }


# --- cite -------------------------------------------------------------------------------------

_SOURCE_LINE = re.compile(
    r"^\s*(?:[-*•]\s*|\d+[.)]\s*)?\**((?:\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\]\s*)+)\**\s*[:.\-–—]?\s*(.*)$"
)
_NONE_LINE = re.compile(r"^\s*(?:[-*•]\s*)?\**NONE\**\s*[:.\-–—]?\s*(.*)$", re.IGNORECASE)


class CiteJudgement(BaseModel):
    """The model's reading of the cite prompt's reply."""

    supporting: list[tuple[int, str]] = Field(default_factory=list)
    removed: list[int] = Field(default_factory=list)
    none_reason: str | None = None


def parse_cite_reply(text: str, valid: set[int]) -> CiteJudgement:
    """Read ``[n] justification`` and ``NONE: reason`` lines, in the model's order.

    Numbers that match no source are dropped and listed in ``removed``. Raises LLMError when no
    line has either form (the reply cannot be used).
    """
    judgement = CiteJudgement()
    kept: set[int] = set()
    readable = False
    for line in text.splitlines():
        match = _SOURCE_LINE.match(line)
        if match is not None:
            readable = True
            justification = match.group(2).strip()
            for number in (int(n) for n in re.findall(r"\d+", match.group(1))):
                if number not in valid:
                    if number not in judgement.removed:
                        judgement.removed.append(number)
                elif number not in kept:
                    kept.add(number)
                    judgement.supporting.append((number, justification))
            continue
        none = _NONE_LINE.match(line)
        if none is not None:
            readable = True
            judgement.none_reason = none.group(1).strip() or "no source supports the claim"
    if not readable:
        raise LLMError(
            "The model's reply to the cite prompt has no '[n] ...' or 'NONE: ...' line.",
            hint="Try again, or another model.",
        )
    return judgement


def cite_claim(
    index: PaperIndex,
    claim: str,
    settings: Settings,
    options: RetrievalOptions | None = None,
    client: ChatModel | None = None,
) -> CiteResult:
    """The retrieved papers that support ``claim``, best first, each with BibTeX.

    Offline, papers are ranked by their sentence closest to the claim (those below
    :data:`SUPPORT_MIN_SIMILARITY` are not offered as support). With a language model, the
    ``cite`` prompt decides which numbered sources support it, in the model's order; if the
    model fails, the offline ranking is given with ``llm_error`` set.
    """
    return run_answer(index, claim, settings, CiteSteps(index, claim, settings), options, client)


class CiteSteps:
    """``cite``'s steps of the answer pipeline (:mod:`~assistant.generation.pipeline`)."""

    noun = "claim"
    example = 'E.g. assistant cite "LoRA reduces memory."'
    out: CiteResult  # made with the retrieval; the model's answer or the offline one fills it

    def __init__(self, index: PaperIndex, claim: str, settings: Settings) -> None:
        self.index = index
        self.claim = claim
        self.settings = settings
        self.papers: list[Paper] = []
        self.best: dict[str, tuple[str, float]] = {}
        self.ranking: list[Paper] = []  # the offline ranking: closest sentence first

    def default_options(self, settings: Settings) -> RetrievalOptions:
        return RetrievalOptions(k=5)

    def unanswerable(self, found: Retrieved) -> CiteResult | None:
        result = found.result
        self.papers = papers = retrieved_papers(result)
        out = CiteResult(
            claim=self.claim, supported=False, mode=found.mode, confidence=result.confidence
        )
        out.notes.extend(result.notes)
        self.out = out
        if not papers:
            out.summary = "No indexed paper matches this claim."
            return out
        scorer = SentenceScorer(self.index, self.claim)
        best, _vectors = scorer.best_by_cosine(papers)
        self.best = best
        position = {p.paper_id: i for i, p in enumerate(papers)}
        self.ranking = sorted(
            papers,
            key=lambda p: (
                -best[p.paper_id][1],
                -scorer.overlap(best[p.paper_id][0]),
                position[p.paper_id],
            ),
        )
        if not result.covered:
            out.summary = (
                "Not supported: the indexed papers do not appear to address this claim "
                f"(retrieval confidence {result.confidence:.2f}), so none is offered as support."
            )
            return _finish_cite(out, [], self.ranking[:NEAREST_SHOWN], best, {})
        return None

    def with_model(self, model: ChatModel, found: Retrieved) -> CiteResult:
        from assistant.generation.evidence import SourceSelector

        selector = SourceSelector(self.index, self.claim, self.settings)
        return _cite_with_model(
            self.out, self.claim, self.papers, self.ranking, self.best, model, selector
        )

    def offline(self, found: Retrieved, failure: str | None) -> CiteResult:
        out = self.out
        if failure is None:
            out.notes.append(CITE_EXTRACTIVE_NOTE)
        else:
            out.llm_error = failure
            out.mode = "extractive"
        return _cite_offline(out, self.ranking, self.best)


def _cite_offline(
    out: CiteResult, offline: list[Paper], best: dict[str, tuple[str, float]]
) -> CiteResult:
    """The offline verdict: papers whose best sentence is close enough, most similar first."""
    supporting = [p for p in offline if best[p.paper_id][1] >= SUPPORT_MIN_SIMILARITY]
    if not supporting:
        top = best[offline[0].paper_id][1]
        out.summary = (
            "Not supported: no abstract sentence is close enough to the claim (best similarity "
            f"{top:.2f} < {SUPPORT_MIN_SIMILARITY}), so none is offered as support."
        )
        return _finish_cite(out, [], offline[:NEAREST_SHOWN], best, {})
    out.summary = (
        f"{_papers_phrase(len(supporting))} with a sentence close to the claim, most similar "
        "first (an offline ranking: check that each sentence supports it)."
    )
    return _finish_cite(out, supporting, [], best, {})


def _papers_phrase(n: int) -> str:
    return f"{n} paper" if n == 1 else f"{n} papers"


def _cite_with_model(
    out: CiteResult,
    claim: str,
    papers: list[Paper],
    offline: list[Paper],
    best: dict[str, tuple[str, float]],
    model: ChatModel,
    selector: SourceSelector | None = None,
) -> CiteResult:
    from assistant.generation.evidence import send_with_budget
    from assistant.llm.base import CallOptions
    from assistant.llm.prompts import load_prompt

    registry = CitationRegistry()
    prompt = load_prompt("cite")

    def send(numbered: list[tuple[int, Paper]], sources: str) -> LLMReply:
        messages = prompt.messages(claim=claim, sources=sources)
        # Streamed though nothing is printed, so that the first-token deadline holds.
        return model.stream(messages, lambda _text: None, CallOptions(purpose="cite"))

    if selector is None:
        numbered = [(registry.number(p), p) for p in papers]
        reply = send(numbered, format_sources(numbered))
    else:
        values = {"claim": claim}
        reply, numbered, source_notes = send_with_budget(
            selector, papers, registry, prompt, values, "cite", send
        )
        out.notes.extend(source_notes)
    by_number = dict(numbered)
    judgement = parse_cite_reply(normalise_citations(reply.text), set(by_number))
    out.usage = reply.usage.model_dump() if reply.usage is not None else {}
    out.removed_citations = judgement.removed
    if judgement.removed:
        out.notes.append(
            "Removed source numbers that match no retrieved paper: "
            + ", ".join(f"[{n}]" for n in judgement.removed)
        )
    supporting = [by_number[n] for n, _why in judgement.supporting]
    reasons = {by_number[n].paper_id: why for n, why in judgement.supporting}
    if not supporting:
        reason = judgement.none_reason or "it named no retrieved paper"
        out.summary = f"Not supported: the model found no supporting paper ({reason})."
        return _finish_cite(out, [], offline[:NEAREST_SHOWN], best, {})
    verb = "supports" if len(supporting) == 1 else "support"
    out.summary = (
        f"{_papers_phrase(len(supporting))} {verb} the claim according to the model "
        f"({reply.model}), strongest first."
    )
    return _finish_cite(out, supporting, [], best, reasons)


def _finish_cite(
    out: CiteResult,
    supporting: list[Paper],
    nearest: list[Paper],
    best: dict[str, tuple[str, float]],
    reasons: dict[str, str],
) -> CiteResult:
    from assistant.export.bibtex import assign_keys, entry

    keys = assign_keys([*supporting, *nearest])

    def cited(rank: int, paper: Paper) -> CitedPaper:
        sentence, score = best[paper.paper_id]
        return CitedPaper(
            rank=rank,
            paper_id=paper.paper_id,
            title=paper.title,
            year=paper.year,
            sentence=sentence,
            score=round(score, 4),
            bibkey=keys[paper.paper_id],
            justification=reasons.get(paper.paper_id),
            link=paper_link(paper),
        )

    out.papers = [cited(rank, p) for rank, p in enumerate(supporting, start=1)]
    out.nearest = [cited(rank, p) for rank, p in enumerate(nearest, start=1)]
    out.supported = bool(out.papers)
    out.bibtex = "\n".join(entry(p, keys[p.paper_id]) for p in supporting)
    return out
