"""Related work: a draft section on a topic from the retrieved papers, grouped by approach.

The draft's plan (:mod:`assistant.generation.draft_plan`) groups the papers ``search`` returns
into themes named by a phrase their papers share, surveys apart, and represents each paper by
its contribution sentence (:mod:`assistant.text.contribution`). Offline, the plan is the
draft. With a language model, the ``related_work`` prompt gets the plan as an outline after
the sources and writes the prose; its citations are checked as ``ask``'s are, its length is
capped, and a reply that ignores the outline (no ``###`` section and no paper cited) gives
way to the offline draft, with a note. A wider search (``related_work_pool`` papers)
finds the papers that look as relevant as the draft's and were left out; the draft says how
many. Every cited paper gets a BibTeX entry with a stable key, and nothing is drafted when
retrieval says the corpus does not cover the topic (the model is not even asked).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from assistant.export.references import reference_line
from assistant.generation.answer import (
    CitationRegistry,
    Mode,
    llm_answer,
    nearest_lines,
    paper_link,
    retrieved_papers,
)
from assistant.generation.attribution import CitationSupport
from assistant.generation.draft_plan import DraftPlan, PlannedPaper, plan_draft
from assistant.generation.pipeline import Retrieved, run_answer
from assistant.records import Paper, SearchResult
from assistant.retrieval.retriever import RetrievalOptions, Retriever
from assistant.text.quoting import quote_text

if TYPE_CHECKING:
    from assistant.generation.evidence import SourceSelector
    from assistant.index.paper_index import PaperIndex
    from assistant.llm.base import ChatModel, TokenFn
    from assistant.llm.prompts import Prompt
    from assistant.settings import Settings

__all__ = [
    "DRAFT_NOTE",
    "LEFT_OUT_SHARE",
    "LeftOutPaper",
    "Reference",
    "RelatedWork",
    "RelatedWorkSteps",
    "Theme",
    "related_work",
]

DRAFT_NOTE = (
    "> Extractive draft: no language model was used. The papers are grouped by approach, each "
    "heading a phrase its papers share, surveys first; each paper is represented by the "
    "sentence of its abstract that states its contribution. Rewrite it in your own words before "
    "use."
)
#: A paper of the wider search is reported as left out when its retrieval score is at least
#: this share of the score the draft's last paper would have in that search (the k-th best).
LEFT_OUT_SHARE = 0.8


# --- results ----------------------------------------------------------------------------------


class Reference(BaseModel):
    """A numbered entry of a draft's reference list."""

    n: int
    paper_id: str
    title: str
    year: int | None = None
    link: str | None = None
    bibkey: str
    zotero_link: str | None = None
    title_only: bool = False

    def line(self) -> str:
        """``[n] Title (year). link`` (see :func:`assistant.export.references.reference_line`)."""
        return reference_line(self)


class Theme(BaseModel):
    """One ``###`` section of a draft and the reference numbers it cites."""

    heading: str
    papers: list[int] = Field(default_factory=list)
    kind: str | None = Field(
        default=None,
        description="Offline drafts: 'surveys', 'approach', 'single' (one paper) or 'other'.",
    )


class LeftOutPaper(BaseModel):
    """A paper that looks as relevant as the draft's own but is not in it."""

    paper_id: str
    title: str
    year: int | None = None
    score: float


class RelatedWork(BaseModel):
    """A draft related-work section (Markdown) with its references and BibTeX."""

    topic: str
    covered: bool
    mode: Mode
    markdown: str = Field(description="The section (or why there is none), without references.")
    themes: list[Theme] = Field(default_factory=list)
    references: list[Reference] = Field(default_factory=list, description="Cited papers only.")
    bibtex: str = ""
    grounded: bool = True
    confidence: float = 1.0
    notes: list[str] = Field(default_factory=list)
    removed_citations: list[int] = Field(default_factory=list)
    uncited_sentences: int = 0
    uncited: list[str] = Field(default_factory=list, description="The sentences citing nothing.")
    nearest: list[str] = Field(default_factory=list, description="'Title (id)' when not covered.")
    usage: dict[str, float | int | str | None] = Field(default_factory=dict)
    llm_error: str | None = None
    support: list[CitationSupport] = Field(
        default_factory=list, description="Each citation and the abstract sentence it rests on."
    )
    left_out: list[LeftOutPaper] = Field(
        default_factory=list,
        description="Papers of the wider search that look as relevant as the draft's, left out.",
    )

    def document(self) -> str:
        """The Markdown file: the section, then its references."""
        if not self.references:
            return self.markdown.rstrip() + "\n"
        refs = "\n".join(f"- {r.line()} (BibTeX: `{r.bibkey}`)" for r in self.references)
        return f"{self.markdown.rstrip()}\n\n**References**\n\n{refs}\n"

    def public_json(self) -> dict[str, object]:
        """The ``--json`` shape."""
        return {
            "topic": self.topic,
            "covered": self.covered,
            "mode": self.mode,
            "markdown": self.markdown,
            "themes": [t.model_dump() for t in self.themes],
            "references": [
                r.model_dump(include={"n", "paper_id", "title", "year", "bibkey"})
                for r in self.references
            ],
            "bibtex": self.bibtex,
            "grounded": self.grounded,
            "confidence": self.confidence,
            "notes": self.notes,
            "removed_citations": self.removed_citations,
            "nearest": self.nearest,
            "usage": self.usage,
            "llm_error": self.llm_error,
            "support": [s.model_dump() for s in self.support],
            "left_out": [p.model_dump() for p in self.left_out],
        }


# --- drafting ---------------------------------------------------------------------------------

_BRACKETED_NUMBER = re.compile(r"\[(\s*\d+(?:\s*[,;–-]\s*\d+)*\s*)\]")


def _markdown_title(title: str) -> str:
    title = title.replace("[", "(").replace("]", ")")
    return re.sub(r"([*_`\\])", r"\\\1", title)


def related_work(
    index: PaperIndex,
    topic: str,
    settings: Settings,
    options: RetrievalOptions | None = None,
    client: ChatModel | None = None,
    on_token: TokenFn | None = None,
) -> RelatedWork:
    """A draft related-work section on ``topic`` from the retrieved papers, grouped by approach.

    The papers are ``search``'s top ``options.k``, grouped into named themes, each represented
    by its contribution sentence. Offline that is the draft; with a language model, the
    ``related_work`` prompt writes the prose from it (streamed to ``on_token``) and its
    citations are checked; if the model fails, or ignores the outline, the offline draft is
    given (with ``llm_error`` set, or a note). ``left_out`` lists the papers of a wider search
    that look as relevant and are not in the draft. Nothing is drafted when the corpus does
    not cover the topic.
    """
    steps = RelatedWorkSteps(index, topic, settings, on_token)
    return run_answer(index, topic, settings, steps, options, client)


class RelatedWorkSteps:
    """``related-work``'s steps of the answer pipeline (:mod:`~assistant.generation.pipeline`)."""

    noun = "topic"
    example = 'E.g. assistant related-work "long context"'
    plan: DraftPlan  # made with the retrieval, for both drafts

    def __init__(
        self, index: PaperIndex, topic: str, settings: Settings, on_token: TokenFn | None
    ) -> None:
        self.index = index
        self.topic = topic
        self.settings = settings
        self.on_token = on_token
        self.left_out: list[LeftOutPaper] = []

    def default_options(self, settings: Settings) -> RetrievalOptions:
        return RetrievalOptions(k=12)

    def unanswerable(self, found: Retrieved) -> RelatedWork | None:
        result = found.result
        papers = retrieved_papers(result)
        if not papers or not result.covered:
            lines = [
                "The indexed papers do not appear to cover this topic (retrieval confidence "
                f"{result.confidence:.2f}), so no related-work section was drafted."
            ]
            nearest = nearest_lines(result.results)
            if nearest:
                lines.append("The nearest papers, which do not seem to address it:")
                lines.extend(f"- {line}" for line in nearest)
            return RelatedWork(
                topic=self.topic,
                covered=False,
                mode=found.mode,
                markdown="\n".join(lines),
                confidence=result.confidence,
                notes=list(result.notes),
                nearest=nearest,
            )
        self.plan = plan_draft(self.index, self.topic, papers)
        pool = self.settings.related_work_pool
        self.left_out = _left_out(Retriever(self.index), self.topic, found.options, result, pool)
        return None

    def offline(self, found: Retrieved, failure: str | None) -> RelatedWork:
        draft = _extractive_draft(self.topic, found.result, self.plan, self.left_out)
        draft.llm_error = failure
        return draft

    def with_model(self, model: ChatModel, found: Retrieved) -> RelatedWork:
        from assistant.generation.evidence import SourceSelector

        index, topic = self.index, self.topic
        selector = SourceSelector(index, topic, self.settings)
        draft = _related_work_with_model(
            topic, found.result, self.plan, model, self.on_token, selector, index
        )
        if _follows_outline(draft):
            draft.left_out = self.left_out
            draft.notes.extend(_left_out_notes(self.left_out, found.options.k))
            return draft
        fallback = self.offline(found, None)
        fallback.notes.insert(0, IGNORED_OUTLINE_NOTE)
        fallback.usage = draft.usage
        return fallback


IGNORED_OUTLINE_NOTE = (
    "The model's draft did not follow the outline (no ### section and no paper cited), so the "
    "offline draft is given instead."
)


def _left_out(
    retriever: Retriever,
    topic: str,
    options: RetrievalOptions,
    result: SearchResult,
    pool: int,
) -> list[LeftOutPaper]:
    """The papers of a wider search (``pool`` papers, by relevance alone) not in the draft
    whose score is at least LEFT_OUT_SHARE of the k-th best score there."""
    if pool <= options.k:
        return []
    wider = retriever.search(topic, replace(options, k=pool, diversity=False)).results
    if len(wider) <= options.k:
        return []
    kth = wider[options.k - 1].score
    if kth <= 0:  # the draft already reaches papers that score below the average
        return []
    floor = LEFT_OUT_SHARE * kth
    included = {hit.paper_id for hit in result.results}
    return [
        LeftOutPaper(paper_id=hit.paper_id, title=hit.title, year=hit.year, score=hit.score)
        for hit in wider
        if hit.paper_id not in included and hit.score >= floor
    ]


def _left_out_notes(left_out: list[LeftOutPaper], k: int) -> list[str]:
    if not left_out:
        return []
    more = f"--k {min(30, k + len(left_out))}" if k < 30 else "search"
    return [
        f"{len(left_out)} more paper(s) look as relevant as the draft's and were left out "
        f"(--json lists them; {more} draws on more)."
    ]


def _references(papers: list[tuple[int, Paper]]) -> tuple[list[Reference], str]:
    from assistant.export.bibtex import assign_keys, entry

    ordered = sorted(papers, key=lambda item: item[0])
    keys = assign_keys(p for _n, p in ordered)
    references = [
        Reference(
            n=n,
            paper_id=p.paper_id,
            title=p.title,
            year=p.year,
            link=paper_link(p),
            bibkey=keys[p.paper_id],
            zotero_link=p.extra.get("zotero_link") or None,
            title_only=not p.has_abstract,
        )
        for n, p in ordered
    ]
    return references, "\n".join(entry(p, keys[p.paper_id]) for _n, p in ordered)


def _draft_line(planned: PlannedPaper) -> str:
    """``- *Title* (year): “contribution sentence” [n]``; a paper without an abstract says so."""
    paper = planned.paper
    year = f" ({paper.year})" if paper.year else ""
    title = f"*{_markdown_title(paper.title)}*{year}"
    if not paper.abstract.strip():
        return f"- {title}: no abstract is indexed, only its title [{planned.n}]"
    return f"- {title}: “{quote_text(planned.contribution)}” [{planned.n}]"


def _extractive_draft(
    topic: str, result: SearchResult, plan: DraftPlan, left_out: list[LeftOutPaper]
) -> RelatedWork:
    sections: list[str] = [DRAFT_NOTE]
    themes: list[Theme] = []
    for theme in plan.themes:
        heading = theme.heading + (" (one paper)" if theme.kind == "single" else "")
        lines = [_draft_line(p) for p in theme.papers]
        themes.append(Theme(heading=heading, papers=[p.n for p in theme.papers], kind=theme.kind))
        sections.append(f"### {heading}\n\n" + "\n".join(lines))
    references, bibtex = _references(plan.numbered())
    return RelatedWork(
        topic=topic,
        covered=True,
        mode="extractive",
        markdown="\n\n".join(sections) + "\n",
        themes=themes,
        references=references,
        bibtex=bibtex,
        confidence=result.confidence,
        notes=list(result.notes) + _left_out_notes(left_out, len(plan.numbered())),
        left_out=left_out,
    )


def _outline(plan: DraftPlan, numbers: dict[str, int], sentences: bool = True) -> str:
    """The plan as the model reads it: each theme's heading, then its papers' numbers (the
    sources'), each with its contribution sentence when ``sentences`` (data, like the
    abstracts they come from)."""
    from assistant.llm.prompts import as_data

    blocks = []
    for theme in plan.themes:
        heading = f"### {as_data(theme.heading)}"
        cited = [(numbers[p.paper.paper_id], p) for p in theme.papers]
        if not sentences:
            blocks.append(heading + "\nPapers: " + ", ".join(f"[{n}]" for n, _p in cited))
            continue
        lines = [heading]
        for n, p in cited:
            said = as_data(p.contribution) if p.paper.abstract.strip() else "(title only)"
            lines.append(f"- [{n}]: {said}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _with_outline(base: Prompt, outline: str) -> Prompt:
    """The prompt with the outline after the sources (braces kept literal)."""
    escaped = outline.replace("{", "{{").replace("}", "}}")
    block = f"</sources>\n\n<outline>\n{escaped}\n</outline>"
    return replace(base, template=base.template.replace("</sources>", block, 1))


def _outline_prompt(
    topic: str, plan: DraftPlan, numbers: dict[str, int], selector: SourceSelector | None
) -> Prompt:
    """The prompt with the outline: with each paper's contribution sentence when the sources
    still fit beside it in the model's context, else only the papers' numbers (the sentences
    are in the abstracts anyway)."""
    from assistant.generation.evidence import estimate_tokens
    from assistant.llm.prompts import format_sources, load_prompt

    base = load_prompt("related_work")
    full = _with_outline(base, _outline(plan, numbers))
    if selector is None:
        return full
    sources = estimate_tokens(format_sources(plan.numbered()))
    if selector.budget(full, {"topic": topic}, "related_work") >= sources:
        return full
    return _with_outline(base, _outline(plan, numbers, sentences=False))


def _follows_outline(draft: RelatedWork) -> bool:
    """Whether the model took up the outline at all: a ``###`` section, or a citation of one
    of its papers. A reply with neither is a text of its own, not a draft from the plan (one
    with sections but few citations is marked as ``ask``'s answers are)."""
    return bool(draft.themes) or bool(draft.references)


def _related_work_with_model(
    topic: str,
    result: SearchResult,
    plan: DraftPlan,
    model: ChatModel,
    on_token: TokenFn | None,
    selector: SourceSelector | None = None,
    index: PaperIndex | None = None,
) -> RelatedWork:
    # The sources keep their retrieval order (the best paper is [1]); the outline cites them so.
    numbers = {hit.paper_id: n for n, hit in enumerate(result.results, start=1)}
    registry = CitationRegistry(numbers)
    template = _outline_prompt(topic, plan, numbers, selector)
    answer = llm_answer(
        model,
        topic,
        result,
        registry,
        max_papers=len(result.results),
        on_token=on_token,
        prompt_name="related_work",
        prompt_values={"topic": topic},
        selector=selector,
        template=template,
    )
    if index is not None:  # the cited abstracts checked; unsupported citations marked
        from assistant.generation.attribution import support_answer

        answer = support_answer(index, answer, registry.paper_for)
    papers = {p.paper_id: p for _n, p in plan.numbered()}
    references, bibtex = _references([(c.n, papers[c.paper_id]) for c in answer.citations])
    return RelatedWork(
        topic=topic,
        covered=True,
        mode="llm",
        markdown=answer.answer.strip() + "\n",
        themes=_themes_of(answer.answer),
        references=references,
        bibtex=bibtex,
        grounded=answer.grounded,
        confidence=result.confidence,
        notes=result.notes + answer.notes,
        removed_citations=answer.removed_citations,
        uncited_sentences=answer.uncited_sentences,
        uncited=answer.uncited,
        support=answer.support,
        usage=answer.usage,
    )


def _themes_of(markdown: str) -> list[Theme]:
    """The ``###`` sections of a Markdown draft and the citation numbers under each."""
    themes: list[Theme] = []
    for line in markdown.splitlines():
        stripped = line.strip()
        if stripped.startswith("### "):
            themes.append(Theme(heading=stripped[4:].strip()))
        elif themes:
            for match in _BRACKETED_NUMBER.finditer(stripped):
                for n in (int(x) for x in re.findall(r"\d+", match.group(1))):
                    if n not in themes[-1].papers:
                        themes[-1].papers.append(n)
    return themes
