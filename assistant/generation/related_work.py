"""Related work: a draft section on a topic from the retrieved papers, grouped by theme.

Offline, the papers are clustered into themes named by their distinctive words
(:mod:`assistant.generation.themes`) and each is quoted once; with a language model the
``related_work`` prompt writes the prose and its citations are checked. Every cited paper gets
a BibTeX entry with a stable key, and nothing is drafted when retrieval says the corpus does
not cover the topic (the model is not even asked).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from assistant.errors import UsageError
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
from assistant.generation.citations import quote_text
from assistant.generation.fallback import answer_with_fallback, wants_model
from assistant.generation.themes import cluster_papers, theme_heading, theme_terms
from assistant.records import Paper, SearchResult
from assistant.retrieval.retriever import RetrievalOptions, Retriever
from assistant.retrieval.sentences import SentenceScorer

if TYPE_CHECKING:
    from assistant.generation.evidence import SourceSelector
    from assistant.generation.llm.base import ChatModel, TokenFn
    from assistant.index.paper_index import PaperIndex
    from assistant.settings import Settings

__all__ = ["DRAFT_NOTE", "Reference", "RelatedWork", "Theme", "related_work"]

DRAFT_NOTE = (
    "> Extractive draft: no language model was used. The papers are grouped into themes by "
    "similarity and each is represented by a sentence quoted from its abstract. Rewrite it in "
    "your own words before use."
)


# --- results ----------------------------------------------------------------------------------


class Reference(BaseModel):
    """A numbered entry of a draft's reference list."""

    n: int
    paper_id: str
    title: str
    year: int | None = None
    link: str | None = None
    bibkey: str

    def line(self) -> str:
        """``[n] Title (year). link`` (see :func:`assistant.export.references.reference_line`)."""
        return reference_line(self)


class Theme(BaseModel):
    """One ``###`` section of a draft and the reference numbers it cites."""

    heading: str
    papers: list[int] = Field(default_factory=list)


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
    """A draft related-work section on ``topic`` from the retrieved papers, grouped by theme.

    Offline, papers are clustered into themes named by their distinctive words and each is
    quoted once. With a language model, the ``related_work`` prompt writes the prose (streamed
    to ``on_token``) and its citations are checked; if the model fails, the offline draft is
    given with ``llm_error`` set. Nothing is drafted when the corpus does not cover the topic.
    """
    if not topic.strip():
        raise UsageError("The topic is empty.", hint='E.g. assistant related-work "long context"')
    options = options or RetrievalOptions(k=12)
    result = Retriever(index).search(topic, options)
    papers = retrieved_papers(result)
    mode: Mode = "llm" if wants_model(settings, client) else "extractive"
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
            topic=topic,
            covered=False,
            mode=mode,
            markdown="\n".join(lines),
            confidence=result.confidence,
            notes=list(result.notes),
            nearest=nearest,
        )

    def with_model(model: ChatModel) -> RelatedWork:
        from assistant.generation.evidence import SourceSelector

        selector = SourceSelector(index, topic, settings)
        return _related_work_with_model(topic, result, papers, model, on_token, selector, index)

    def without_model(failure: str | None) -> RelatedWork:
        draft = _extractive_draft(index, topic, result, papers)
        draft.llm_error = failure
        return draft

    return answer_with_fallback(settings, client, with_model, without_model)


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
        )
        for n, p in ordered
    ]
    return references, "\n".join(entry(p, keys[p.paper_id]) for _n, p in ordered)


def _extractive_draft(
    index: PaperIndex, topic: str, result: SearchResult, papers: list[Paper]
) -> RelatedWork:
    import numpy as np

    scorer = SentenceScorer(index, topic)
    means = index.dense.paper_means([p.paper_id for p in papers])
    missing = [p for p in papers if p.paper_id not in means]
    best, embedded = scorer.best_by_cosine(
        papers, extra=[f"{p.title}. {p.abstract}" for p in missing], min_words=5
    )
    means.update(zip((p.paper_id for p in missing), embedded, strict=True))
    paper_vectors = np.stack([means[p.paper_id] for p in papers])
    groups, others = cluster_papers(paper_vectors)
    names = theme_terms(index, [[papers[i] for i in g] for g in groups], exclude=topic)
    headings = [theme_heading(words) for words in names]
    if others:
        groups.append(others)
        headings.append("Other related work")
    numbers: dict[str, int] = {}
    sections: list[str] = [DRAFT_NOTE]
    themes: list[Theme] = []
    for group, heading in zip(groups, headings, strict=True):  # groups in retrieval order
        lines = []
        cited: list[int] = []
        for i in group:
            paper = papers[i]
            n = numbers.setdefault(paper.paper_id, len(numbers) + 1)
            cited.append(n)
            sentence = quote_text(best[paper.paper_id][0])
            lines.append(f"- *{_markdown_title(paper.title)}*: “{sentence}” [{n}]")
        themes.append(Theme(heading=heading, papers=cited))
        sections.append(f"### {heading}\n\n" + "\n".join(lines))
    by_id = {p.paper_id: p for p in papers}
    references, bibtex = _references([(n, by_id[pid]) for pid, n in numbers.items()])
    return RelatedWork(
        topic=topic,
        covered=True,
        mode="extractive",
        markdown="\n\n".join(sections) + "\n",
        themes=themes,
        references=references,
        bibtex=bibtex,
        confidence=result.confidence,
        notes=list(result.notes),
    )


def _related_work_with_model(
    topic: str,
    result: SearchResult,
    papers: list[Paper],
    model: ChatModel,
    on_token: TokenFn | None,
    selector: SourceSelector | None = None,
    index: PaperIndex | None = None,
) -> RelatedWork:
    registry = CitationRegistry()
    answer = llm_answer(
        model,
        topic,
        result,
        registry,
        max_papers=len(papers),
        on_token=on_token,
        prompt_name="related_work",
        prompt_values={"topic": topic},
        selector=selector,
    )
    if index is not None:  # the cited abstracts checked; unsupported citations marked
        from assistant.generation.attribution import support_answer

        answer = support_answer(index, answer, registry.paper_for)
    by_id = {p.paper_id: p for p in papers}
    references, bibtex = _references([(c.n, by_id[c.paper_id]) for c in answer.citations])
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
