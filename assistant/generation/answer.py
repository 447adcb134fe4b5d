"""Cited answers: extractive (offline) or written by an LLM, with every citation checked.

Papers are numbered per answer (or per conversation, through a :class:`CitationRegistry`), the
model only ever sees numbered abstracts as data, and any citation that matches no retrieved
paper is removed and reported before the answer is shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from assistant.generation.citations import (
    UNCITED_MARK,
    AuthorIndex,
    CitationStreamFilter,
    CitationSupport,
    check_citations,
)
from assistant.ingest.chunking import split_sentences
from assistant.llm.base import TokenFn
from assistant.llm.prompts import format_sources
from assistant.records import Paper, SearchHit, SearchResult
from assistant.text.quoting import quote_text

if TYPE_CHECKING:
    import numpy as np

    from assistant.generation.evidence import SourceSelector
    from assistant.index.paper_index import PaperIndex
    from assistant.llm.base import ChatModel, LLMReply
    from assistant.llm.prompts import Prompt

__all__ = [
    "EXTRACTIVE_NOTE",
    "NEAREST_SHOWN",
    "Answer",
    "Citation",
    "CitationRegistry",
    "Mode",
    "abstention",
    "extractive_answer",
    "llm_answer",
    "no_match_answer",
    "nearest_lines",
    "paper_link",
    "retrieved_papers",
]

Mode = Literal["llm", "extractive"]

EXTRACTIVE_NOTE = (
    "Extractive mode: no language model is configured, so the answer quotes the retrieved "
    "abstracts. For written answers set ASSISTANT_LLM_MODEL and OPENAI_BASE_URL (a local server "
    "such as Ollama needs no key) or OPENAI_API_KEY."
)


class Citation(BaseModel):
    """A numbered reference to a paper."""

    n: int
    paper_id: str
    title: str
    year: int | None = None
    link: str | None = None
    zotero_link: str | None = Field(
        default=None, description="zotero://select/... : the item in the user's Zotero."
    )
    title_only: bool = Field(
        default=False, description="The paper has no abstract: only its title is known."
    )


class Answer(BaseModel):
    """One answer with its citations and how it was produced."""

    question: str
    standalone_question: str | None = None
    answer: str
    mode: Mode
    abstained: bool = False
    grounded: bool = True
    citations: list[Citation] = Field(default_factory=list)
    usage: dict[str, float | int | str | None] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    removed_citations: list[int] = Field(default_factory=list)
    uncited_sentences: int = 0
    uncited: list[str] = Field(default_factory=list, description="The sentences citing nothing.")
    reasoning: str = Field(default="", description="The model's reasoning (never the answer).")
    confidence: float = 1.0
    sources: list[Citation] = Field(default_factory=list, description="Papers retrieved.")
    llm_error: str | None = Field(default=None, description="Why the model failed, if it did.")
    support: list[CitationSupport] = Field(
        default_factory=list, description="Each citation and the abstract sentence it rests on."
    )
    no_match: str | None = Field(
        default=None, description="Why no indexed paper passes the filters, when none does."
    )

    def public_json(self) -> dict[str, object]:
        """The ``--json`` shape."""
        return {
            "question": self.question,
            "answer": self.answer,
            "mode": self.mode,
            "abstained": self.abstained,
            "grounded": self.grounded,
            "citations": [c.model_dump(include={"n", "paper_id", "title"}) for c in self.citations],
            "usage": self.usage,
            "notes": self.notes,
            "removed_citations": self.removed_citations,
            "standalone_question": self.standalone_question,
            "confidence": self.confidence,
            "llm_error": self.llm_error,
            "no_match": self.no_match,
            "support": [s.model_dump() for s in self.support],
        }


def paper_link(paper: Paper) -> str | None:
    """The best link for a paper: its URL, DOI or arXiv page."""
    if paper.url:
        return paper.url
    if paper.doi:
        return f"https://doi.org/{paper.doi}"
    if paper.arxiv_id:
        return f"https://arxiv.org/abs/{paper.arxiv_id}"
    return None


class CitationRegistry:
    """Stable numbers for papers: a paper keeps its number for the whole conversation."""

    def __init__(self, numbers: dict[str, int] | None = None) -> None:
        self.numbers: dict[str, int] = dict(numbers or {})
        self.papers: dict[str, Paper] = {}

    def number(self, paper: Paper) -> int:
        self.papers[paper.paper_id] = paper
        if paper.paper_id not in self.numbers:
            self.numbers[paper.paper_id] = max(self.numbers.values(), default=0) + 1
        return self.numbers[paper.paper_id]

    def citation(self, paper: Paper) -> Citation:
        return Citation(
            n=self.number(paper),
            paper_id=paper.paper_id,
            title=paper.title,
            year=paper.year,
            link=paper_link(paper),
            zotero_link=paper.extra.get("zotero_link") or None,
            title_only=not paper.has_abstract,
        )

    def paper_for(self, n: int) -> Paper | None:
        for pid, number in self.numbers.items():
            if number == n:
                return self.papers.get(pid)
        return None


# --- answering ------------------------------------------------------------------------------------

#: How many of the nearest papers are listed when the corpus does not cover a request.
NEAREST_SHOWN = 3


def retrieved_papers(result: SearchResult) -> list[Paper]:
    """The papers of the hits, in rank order."""
    return [hit.paper for hit in result.results if hit.paper is not None]


def nearest_lines(hits: Sequence[SearchHit]) -> list[str]:
    """``Title (id)`` of the first :data:`NEAREST_SHOWN` hits."""
    return [f"{hit.title} ({hit.paper_id})" for hit in hits[:NEAREST_SHOWN]]


def no_match_answer(question: str, why: str, mode: Mode) -> Answer:
    """Say that the filters leave no paper, and why (rather than "not covered")."""
    return Answer(
        question=question,
        answer=f"{why} Change or clear the filters to draw on the other papers.",
        mode=mode,
        abstained=True,
        grounded=True,
        confidence=0.0,
        no_match=why,
    )


def abstention(question: str, result: SearchResult, mode: Mode) -> Answer:
    """Say plainly that the corpus does not cover the question, listing the nearest papers."""
    nearest = nearest_lines(result.results)
    lines = [
        "The indexed papers do not appear to address this question "
        f"(retrieval confidence {result.confidence:.2f}), so there is nothing to cite."
    ]
    if nearest:
        lines.append("The nearest papers, which do not seem to answer it:")
        lines.extend(f"- {line}" for line in nearest)
    return Answer(
        question=question,
        answer="\n".join(lines),
        mode=mode,
        abstained=True,
        grounded=True,
        confidence=result.confidence,
    )


#: How much the retrieval score (relative to the best) weighs against a paper's best sentence
#: when choosing the extractive answer's first paper (chosen on the tuning lookups).
LEAD_SCORE_WEIGHT = 0.5
#: How far below the first quote's relevance a further quote may be.
QUOTE_MARGIN = 0.35
#: Papers quoted: those whose retrieval score is at least this share of the best one's. Chosen
#: on the bundled tuning part (bench/heldout.py): a lookup's answer cited 3.05 papers, 38% of
#: them right; now about 1.2, 80% right, with the same recall; topic answers: precision 0.79
#: -> 0.94, recall 0.61 -> 0.57.
QUOTE_SCORE_SHARE = 0.7


def quoted_papers(hits: Sequence[SearchHit]) -> list[SearchHit]:
    """The hits an extractive answer quotes: the best, and those scoring at least
    QUOTE_SCORE_SHARE of it (all of them when the best score is not positive)."""
    top = max((h.score for h in hits), default=0.0)
    if top <= 0 or QUOTE_SCORE_SHARE <= 0:
        return list(hits)
    return [h for h in hits if h.score >= QUOTE_SCORE_SHARE * top]


def _lead_paper(
    hits: Sequence[SearchHit],
    candidates: Sequence[tuple[int, int, str]],
    scores: Sequence[float],
    rank_bonus: float,
) -> int:
    """The rank of the paper the answer starts from: best ``LEAD_SCORE_WEIGHT x score / top
    score + its best sentence's relevance`` (without the rank bonus)."""
    top = max((h.score for h in hits), default=0.0) or 1.0
    best: dict[int, float] = {}
    for (rank, _position, _text), score in zip(candidates, scores, strict=True):
        value = float(score) - rank_bonus / (rank + 1)
        best[rank] = max(best.get(rank, value), value)
    if not best:
        return 0
    return max(best, key=lambda r: LEAD_SCORE_WEIGHT * hits[r].score / top + best[r])


#: Added to the relevance of a paper's contribution sentence when the question asks what a
#: paper does (:func:`assistant.text.contribution.asks_what_paper_does`); the first paper is
#: chosen before it, so it only changes which of a paper's sentences are quoted.
CONTRIBUTION_BONUS = 0.15
#: Quotes: sentences of QUOTE_MIN_WORDS words or more, QUOTES_PER_PAPER at most from a paper,
#: scored cosine + QUOTE_LEXICAL_WEIGHT * word overlap + QUOTE_RANK_BONUS / (paper rank + 1), then
#: picked by QUOTE_RELEVANCE * score - QUOTE_REDUNDANCY * (cosine with the closest quote taken).
QUOTE_MIN_WORDS, QUOTES_PER_PAPER = 5, 2
QUOTE_LEXICAL_WEIGHT, QUOTE_RANK_BONUS = 0.25, 0.12
QUOTE_RELEVANCE, QUOTE_REDUNDANCY = 0.7, 0.3
#: An extractive answer's most quotes, and the best retrieved papers it quotes from.
MAX_QUOTES, MAX_QUOTED_PAPERS = 5, 5


def _contribution_marks(
    hits: Sequence[SearchHit], candidates: Sequence[tuple[int, int, str]]
) -> np.ndarray:
    """1.0 for each candidate holding its paper's contribution sentence, else 0.0."""
    import numpy as np

    from assistant.text.contribution import contribution_sentence

    chosen = {
        rank: contribution_sentence(hit.paper.title, hit.paper.abstract).sentence
        for rank, hit in enumerate(hits)
        if hit.paper is not None
    }
    return np.asarray(
        [1.0 if chosen.get(rank, "\0") in text else 0.0 for rank, _p, text in candidates]
    )


def extractive_answer(
    index: PaperIndex,
    question: str,
    result: SearchResult,
    registry: CitationRegistry,
    max_sentences: int = MAX_QUOTES,
    max_papers: int = MAX_QUOTED_PAPERS,
) -> Answer:
    """Quote the retrieved abstracts' sentences that best answer the question, each cited."""
    import numpy as np

    from assistant.text.contribution import asks_what_paper_does
    from assistant.text.sentences import SentenceScorer

    retrieved = [h for h in result.results[:max_papers] if h.paper is not None]
    hits = quoted_papers(retrieved)
    candidates: list[tuple[int, int, str]] = []  # (paper rank, sentence position, text)
    for rank, hit in enumerate(hits):
        assert hit.paper is not None
        for position, sentence in enumerate(split_sentences(hit.paper.abstract)):
            if len(sentence.split()) >= QUOTE_MIN_WORDS:
                candidates.append((rank, position, sentence))
    title_only = [h.paper for h in hits if h.paper is not None and not h.paper.has_abstract]
    if not candidates and not title_only:
        return Answer(question=question, answer="", mode="extractive", abstained=True)
    if not candidates:  # only papers without an abstract match: their titles
        named = [registry.citation(p) for p in title_only[:TITLE_ONLY_SHOWN]]
        titles = [title_only_line(p, c.n) for p, c in zip(title_only, named, strict=False)]
        return _extractive(question, titles, named, result, retrieved, registry)
    relevance, sentence_vectors = SentenceScorer(index, question).relevance(
        candidates, lexical_weight=QUOTE_LEXICAL_WEIGHT, rank_bonus=QUOTE_RANK_BONUS
    )
    scores = np.asarray(relevance)
    # The first sentence comes from the paper whose retrieval score and best sentence agree
    # most (a lookup's paper is often second by score but first by its sentence); the rest by
    # relevance without redundancy.
    lead = _lead_paper(hits, candidates, relevance, rank_bonus=QUOTE_RANK_BONUS)
    if asks_what_paper_does(question):  # then a paper's contribution sentence says it best
        scores = scores + CONTRIBUTION_BONUS * _contribution_marks(hits, candidates)
    first_pool = [i for i, c in enumerate(candidates) if c[0] == lead] or list(
        range(len(candidates))
    )
    chosen = [max(first_pool, key=lambda i: scores[i])]
    per_paper = {candidates[chosen[0]][0]: 1}
    while len(chosen) < min(max_sentences, len(candidates)):
        best_i, best_value = -1, float("-inf")
        for i in range(len(candidates)):
            if i in chosen or per_paper.get(candidates[i][0], 0) >= QUOTES_PER_PAPER:
                continue
            redundancy = max(float(sentence_vectors[i] @ sentence_vectors[j]) for j in chosen)
            value = QUOTE_RELEVANCE * scores[i] - QUOTE_REDUNDANCY * redundancy
            if value > best_value:
                best_i, best_value = i, value
        if best_i < 0 or scores[best_i] < scores[chosen[0]] - QUOTE_MARGIN:
            break
        chosen.append(best_i)
        per_paper[candidates[best_i][0]] = per_paper.get(candidates[best_i][0], 0) + 1
    head, rest = chosen[0], sorted(chosen[1:], key=lambda i: (candidates[i][0], candidates[i][1]))
    lines = []
    cited: list[Citation] = []
    for i in [head, *rest]:
        rank, _position, text = candidates[i]
        paper = hits[rank].paper
        assert paper is not None
        citation = registry.citation(paper)
        if citation.n not in {c.n for c in cited}:
            cited.append(citation)
        lines.append(f"“{quote_text(text)}” [{citation.n}]")
    for paper in title_only[:TITLE_ONLY_SHOWN]:
        citation = registry.citation(paper)
        cited.append(citation)
        lines.append(title_only_line(paper, citation.n))
    return _extractive(question, lines, cited, result, retrieved, registry)


#: Papers without an abstract named (by title) after an extractive answer's quotes.
TITLE_ONLY_SHOWN = 2


def title_only_line(paper: Paper, n: int) -> str:
    """An extractive answer's line for a paper found by its title alone: it names the paper,
    marked, and quotes nothing (there is no abstract to quote)."""
    return f"Title only, no abstract indexed: “{quote_text(paper.title)}” [{n}]"


def _extractive(
    question: str,
    lines: list[str],
    cited: list[Citation],
    result: SearchResult,
    retrieved: list[SearchHit],
    registry: CitationRegistry,
) -> Answer:
    """An extractive answer of these lines, citing ``cited``, every retrieved paper a source."""
    return Answer(
        question=question,
        answer="\n".join(lines),
        mode="extractive",
        citations=cited,
        notes=[EXTRACTIVE_NOTE],
        confidence=result.confidence,
        sources=[registry.citation(h.paper) for h in retrieved if h.paper is not None],
    )


def llm_answer(
    client: ChatModel,
    question: str,
    result: SearchResult,
    registry: CitationRegistry,
    max_papers: int,
    on_token: TokenFn | None = None,
    prompt_name: str = "answer",
    prompt_values: dict[str, str] | None = None,
    selector: SourceSelector | None = None,
    template: Prompt | None = None,
) -> Answer:
    """Ask the model to answer from the numbered abstracts, then check its citations.

    ``selector`` (evidence first, under the model's context budget; see
    :mod:`assistant.generation.evidence`) formats the sources; without it abstracts go whole.

    ``on_token`` receives the answer only (citations rewritten as checked ``[n]``); when it has
    a ``reasoning`` method (see :class:`~assistant.llm.base.CallOptions`), that gets
    the model's reasoning as it streams. The reply's length cap is the one of ``prompt_name``;
    ``template``: the prompt to send instead of ``prompt_name``'s file (the same variables).
    """
    from assistant.generation.evidence import send_with_budget
    from assistant.llm.base import CallOptions
    from assistant.llm.prompts import load_prompt
    from assistant.llm.reply_reader import STOP_NOTES

    papers = [h.paper for h in result.results[:max_papers] if h.paper is not None]
    prompt = template or load_prompt(prompt_name)
    values = dict(prompt_values) if prompt_values else {"question": question}
    options = CallOptions(purpose=prompt_name, on_reasoning=getattr(on_token, "reasoning", None))

    def send(numbered: list[tuple[int, Paper]], sources: str) -> LLMReply:
        valid = {n for n, _ in numbered}
        authors = AuthorIndex((n, p.authors, p.year) for n, p in numbered)
        messages = prompt.messages(**values, sources=sources)
        if on_token is None:  # streamed all the same, so that the first-token deadline holds
            return client.stream(messages, _ignore, options)
        stream_filter = CitationStreamFilter(valid, on_token, authors)
        reply = client.stream(messages, stream_filter.feed, options)
        stream_filter.close()
        return reply

    source_notes: list[str] = []
    if selector is None:
        numbered = [(registry.number(p), p) for p in papers]
        reply = send(numbered, format_sources(numbered))
    else:
        reply, numbered, source_notes = send_with_budget(
            selector, papers, registry, prompt, values, prompt_name, send
        )
    papers = [p for _n, p in numbered]
    valid = {n for n, _ in numbered}
    authors = AuthorIndex((n, p.authors, p.year) for n, p in numbered)
    checked = check_citations(reply.text.strip(), valid, authors=authors)
    by_number = {n: p for n, p in numbered}
    citations = [registry.citation(by_number[n]) for n in checked.used]
    notes = list(source_notes)
    if reply.stopped in STOP_NOTES:
        notes.append(STOP_NOTES[reply.stopped])
    if checked.removed:
        notes.append(
            "Removed citations that match no retrieved paper: "
            + ", ".join(f"[{n}]" for n in checked.removed)
        )
    if checked.unmatched:
        notes.append(
            "Removed author-year citations that match no retrieved paper: "
            + "; ".join(f"({u})" for u in checked.unmatched)
        )
    if checked.uncited_sentences:
        notes.append(
            f"{checked.uncited_sentences} sentence(s) cite no paper; they are marked "
            f"{UNCITED_MARK}."
        )
    grounded = bool(citations)
    if not grounded:
        notes.append(
            "Not grounded: none of this answer's statements cites a retrieved paper. "
            "Treat it as unverified."
        )
    usage = reply.usage.model_dump() if reply.usage is not None else {}
    return Answer(
        question=question,
        answer=checked.text,
        mode="llm",
        grounded=grounded,
        citations=citations,
        usage=usage,
        notes=notes,
        removed_citations=checked.removed,
        uncited_sentences=checked.uncited_sentences,
        uncited=checked.uncited,
        reasoning=reply.reasoning,
        confidence=result.confidence,
        sources=[registry.citation(p) for p in papers],
    )


def _ignore(_text: str) -> None:
    """Streamed tokens nobody prints (``--json``, MCP, the library without a callback)."""
