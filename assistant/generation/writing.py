"""Writing help: find the papers that support a claim, and draft a related-work section.

Both work offline (ranking abstract sentences with the embedding model, clustering papers into
themes) and, with a language model configured, through the ``cite`` and ``related_work``
prompts. Either way every citation names a retrieved paper, every cited paper gets a BibTeX
entry with a stable key, and nothing is claimed when retrieval says the corpus does not cover
the claim or topic (the model is not even asked).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from assistant.errors import LLMError, UsageError
from assistant.generation.answer import Mode
from assistant.index.bm25 import WORD
from assistant.ingest.chunking import split_sentences
from assistant.records import Paper, SearchHit, SearchResult
from assistant.retrieval.retriever import RetrievalOptions, Retriever

if TYPE_CHECKING:
    import numpy as np

    from assistant.generation.llm.openai_compatible import LLMClient
    from assistant.index.paper_index import PaperIndex
    from assistant.settings import Settings

TokenFn = Callable[[str], None]

#: Offline, a paper counts as support when its best sentence is at least this close to the claim
#: (cosine of all-MiniLM-L6-v2 vectors; unrelated sentences of the same field sit near 0.3-0.45).
SUPPORT_MIN_SIMILARITY = 0.5
#: Average-linkage similarity above which two groups of papers are one theme.
THEME_SIMILARITY = 0.6
MIN_THEMES, MAX_THEMES = 2, 5
NEAREST_SHOWN = 3

CITE_EXTRACTIVE_NOTE = (
    "Extractive mode: papers are ranked by how closely their best abstract sentence matches the "
    "claim, which is not a judgement that they support it; read each sentence. For a model's "
    "judgement set ASSISTANT_LLM_MODEL and OPENAI_BASE_URL (or OPENAI_API_KEY)."
)
DRAFT_NOTE = (
    "> Extractive draft: no language model was used. The papers are grouped into themes by "
    "similarity and each is represented by a sentence quoted from its abstract. Rewrite it in "
    "your own words before use."
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


class Reference(BaseModel):
    """A numbered entry of a draft's reference list."""

    n: int
    paper_id: str
    title: str
    year: int | None = None
    link: str | None = None
    bibkey: str

    def line(self) -> str:
        year = f" ({self.year})" if self.year else ""
        stop = "" if not year and self.title.endswith((".", "?", "!")) else "."
        return f"[{self.n}] {self.title}{year}{stop} {self.link or self.paper_id}"


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
    nearest: list[str] = Field(default_factory=list, description="'Title (id)' when not covered.")
    usage: dict[str, float | int | str | None] = Field(default_factory=dict)
    llm_error: str | None = None

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
        }


# --- shared helpers ---------------------------------------------------------------------------


def _search(index: PaperIndex, text: str, options: RetrievalOptions) -> SearchResult:
    return Retriever(index).search(text, options)


def _papers(result: SearchResult) -> list[Paper]:
    return [hit.paper for hit in result.results if hit.paper is not None]


def _nearest_lines(hits: Sequence[SearchHit]) -> list[str]:
    return [f"{hit.title} ({hit.paper_id})" for hit in hits[:NEAREST_SHOWN]]


class _SentenceScorer:
    """Best sentence of each paper for one query: cosine first, then idf-weighted word overlap."""

    def __init__(self, index: PaperIndex, query: str) -> None:
        self.index = index
        self.query = query
        lexical = index.lexical
        self._terms = set(lexical.analyzer.tokens(query))
        self._idf_total = sum(lexical.idf(t) for t in self._terms) or 1.0

    def overlap(self, sentence: str) -> float:
        lexical = self.index.lexical
        shared = self._terms & set(lexical.analyzer.tokens(sentence))
        return sum(lexical.idf(t) for t in shared) / self._idf_total

    def best(
        self, papers: Sequence[Paper], extra: Sequence[str] = (), min_words: int = 1
    ) -> tuple[dict[str, tuple[str, float]], np.ndarray]:
        """``{paper_id: (sentence, cosine)}`` and the vectors of ``extra`` texts (same batch)."""
        candidates: list[tuple[str, str]] = []
        for paper in papers:
            sentences = (
                [s for s in split_sentences(paper.abstract) if len(s.split()) >= min_words]
                or split_sentences(paper.abstract)
                or [paper.title]
            )
            candidates.extend((paper.paper_id, s) for s in sentences)
        vectors = self.index.embedder.embed(
            [self.query, *extra, *(text for _pid, text in candidates)]
        )
        query = vectors[0]
        extra_vectors = vectors[1 : 1 + len(extra)]
        sims = vectors[1 + len(extra) :] @ query
        best: dict[str, tuple[str, float, float]] = {}
        for (pid, text), sim in zip(candidates, sims, strict=True):
            cosine = round(float(sim), 4)
            current = best.get(pid)
            if current is not None and cosine < current[1]:
                continue
            lexical = self.overlap(text)
            if current is None or cosine > current[1] or lexical > current[2]:
                best[pid] = (text, cosine, lexical)
        return {pid: (text, cosine) for pid, (text, cosine, _lex) in best.items()}, extra_vectors


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
    client: LLMClient | None = None,
) -> CiteResult:
    """The retrieved papers that support ``claim``, best first, each with BibTeX.

    Offline, papers are ranked by their sentence closest to the claim (those below
    :data:`SUPPORT_MIN_SIMILARITY` are not offered as support). With a language model, the
    ``cite`` prompt decides which numbered sources support it, in the model's order; if the
    model fails, the offline ranking is given with ``llm_error`` set.
    """
    if not claim.strip():
        raise UsageError("The claim is empty.", hint='E.g. assistant cite "LoRA reduces memory."')
    options = options or RetrievalOptions(k=5)
    result = _search(index, claim, options)
    papers = _papers(result)
    use_llm = client is not None or settings.llm_configured
    mode: Mode = "llm" if use_llm else "extractive"
    out = CiteResult(claim=claim, supported=False, mode=mode, confidence=result.confidence)
    out.notes.extend(result.notes)
    if not papers:
        out.summary = "No indexed paper matches this claim."
        return out
    scorer = _SentenceScorer(index, claim)
    best, _ = scorer.best(papers)
    position = {p.paper_id: i for i, p in enumerate(papers)}
    offline = sorted(
        papers,
        key=lambda p: (
            -best[p.paper_id][1],
            -scorer.overlap(best[p.paper_id][0]),
            position[p.paper_id],
        ),
    )
    if not result.covered:
        out.summary = (
            "Not supported: the indexed papers do not appear to address this claim (retrieval "
            f"confidence {result.confidence:.2f}), so none is offered as support."
        )
        return _finish_cite(out, [], offline[:NEAREST_SHOWN], best, {})
    if use_llm:
        try:
            return _cite_with_model(out, claim, papers, offline, best, settings, client)
        except LLMError as exc:
            out.llm_error = exc.one_line()
            out.mode = "extractive"
    else:
        out.notes.append(CITE_EXTRACTIVE_NOTE)
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
    settings: Settings,
    client: LLMClient | None,
) -> CiteResult:
    from assistant.generation.answer import CitationRegistry, format_sources
    from assistant.generation.llm.openai_compatible import LLMClient
    from assistant.generation.prompts import load_prompt

    registry = CitationRegistry()
    numbered = [(registry.number(p), p) for p in papers]
    by_number = dict(numbered)
    messages = load_prompt("cite").messages(claim=claim, sources=format_sources(numbered))
    active = client or LLMClient(settings)
    try:
        reply = active.complete(messages)
    finally:
        if client is None:
            active.close()
    judgement = parse_cite_reply(reply.text, set(by_number))
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
    from assistant.generation.answer import paper_link

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


# --- related work -----------------------------------------------------------------------------

_BRACKETED_NUMBER = re.compile(r"\[(\s*\d+(?:\s*[,;–-]\s*\d+)*\s*)\]")


def cluster_papers(
    vectors: np.ndarray,
    threshold: float = THEME_SIMILARITY,
    min_groups: int = MIN_THEMES,
    max_groups: int = MAX_THEMES,
) -> tuple[list[list[int]], list[int]]:
    """Average-linkage agglomerative clustering on the cosine similarity of unit ``vectors``.

    Groups merge while their average similarity is at least ``threshold`` or there are more
    than ``max_groups``. Papers left alone then join their closest group when there are at
    least ``min_groups`` groups of two or more; otherwise they are returned apart, as the
    second value ("other work"). Groups are sorted row numbers, ordered by their first row.
    """
    n = len(vectors)
    if n == 0:
        return [], []
    sim = vectors @ vectors.T
    groups: list[list[int]] = [[i] for i in range(n)]

    def linkage(a: list[int], b: list[int]) -> float:
        return float(sim[a][:, b].mean())

    while len(groups) > 1:
        value, i, j = max(
            (
                (linkage(groups[i], groups[j]), i, j)
                for i in range(len(groups))
                for j in range(i + 1, len(groups))
            ),
            key=lambda t: (t[0], -t[1], -t[2]),
        )
        if value < threshold and len(groups) <= max_groups:
            break
        groups[i] = sorted(groups[i] + groups[j])
        del groups[j]
    themes = [g for g in groups if len(g) > 1]
    singles = sorted(g[0] for g in groups if len(g) == 1)
    others: list[int] = []
    if themes and len(themes) >= min(min_groups, n // 2):
        for i in singles:
            target = max(themes, key=lambda g: (linkage([i], g), -g[0]))
            target.append(i)
            target.sort()
    elif themes:
        others = singles
    else:  # nothing alike: one theme per paper
        themes = [[i] for i in singles]
    return sorted(themes, key=lambda g: g[0]), others


def theme_terms(
    index: PaperIndex, groups: list[list[Paper]], count: int = 3, exclude: str = ""
) -> list[list[str]]:
    """The most distinctive words of each group (class-based tf-idf), as written in the text.

    A word scores by the share of the group's papers using it (titles count twice), its rarity
    in the corpus (idf) and how few groups use it. Words of ``exclude`` (the topic, which
    every group shares) are never used.
    """
    analyzer = index.lexical.analyzer
    lexical = index.lexical
    excluded = set(analyzer.tokens(exclude))
    surface: dict[str, Counter[str]] = {}
    doc_freq: list[Counter[str]] = []
    title_freq: list[Counter[str]] = []
    for group in groups:
        df: Counter[str] = Counter()
        in_titles: Counter[str] = Counter()
        for paper in group:
            seen: set[str] = set()
            for part, text in enumerate((paper.title, paper.abstract)):
                for word in WORD.findall(text):
                    word = re.sub(r"'s$", "", word)
                    tokens = analyzer.tokens(word)
                    if not tokens:
                        continue
                    term = tokens[0]
                    if len(term) < 3 or term in excluded or term[0].isdigit():
                        continue
                    surface.setdefault(term, Counter())[word] += 1
                    if part == 0 and term not in seen:
                        in_titles[term] += 1
                    seen.add(term)
            df.update(seen)
        doc_freq.append(df)
        title_freq.append(in_titles)
    groups_using: Counter[str] = Counter()
    for df in doc_freq:
        groups_using.update(df.keys())
    named: list[list[str]] = []
    for group, df, titles in zip(groups, doc_freq, title_freq, strict=True):
        shared = 2 if len(group) > 1 else 1

        def score(
            term: str, df: Counter[str] = df, titles: Counter[str] = titles, size: int = len(group)
        ) -> float:
            spread = math.log(1 + len(groups) / groups_using[term])
            return (df[term] + titles[term]) / size * lexical.idf(term) * spread

        ranked = sorted(df, key=lambda t: (df[t] < shared, -score(t), t))
        words: list[str] = []
        for term in ranked:
            word = _display_word(surface[term])
            lowered = word.lower()
            if not any(lowered in w.lower() or w.lower() in lowered for w in words):
                words.append(word)
            if len(words) == count:
                break
        named.append(words)
    return named


def _display_word(forms: Counter[str]) -> str:
    """The most frequent spelling; capitals are kept only inside a word (acronyms, LoRA)."""
    spellings: Counter[str] = Counter()
    for form, n in forms.items():
        spellings[form if any(c.isupper() for c in form[1:]) else form.lower()] += n
    return max(spellings.items(), key=lambda kv: (kv[1], kv[0]))[0]


def _heading(words: list[str]) -> str:
    if not words:
        return "Other work"
    text = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
    return text[0].upper() + text[1:]


def _markdown_title(title: str) -> str:
    title = title.replace("[", "(").replace("]", ")")
    return re.sub(r"([*_`\\])", r"\\\1", title)


def _quotable(sentence: str) -> str:
    """A sentence for the draft: bracketed numbers (the abstract's own references) become
    parenthesised, so every ``[n]`` in the draft is one of its citations."""
    return _BRACKETED_NUMBER.sub(r"(\1)", sentence)


def related_work(
    index: PaperIndex,
    topic: str,
    settings: Settings,
    options: RetrievalOptions | None = None,
    client: LLMClient | None = None,
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
    result = _search(index, topic, options)
    papers = _papers(result)
    use_llm = client is not None or settings.llm_configured
    mode: Mode = "llm" if use_llm else "extractive"
    if not papers or not result.covered:
        lines = [
            "The indexed papers do not appear to cover this topic (retrieval confidence "
            f"{result.confidence:.2f}), so no related-work section was drafted."
        ]
        nearest = _nearest_lines(result.results)
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
    llm_failure: str | None = None
    if use_llm:
        try:
            return _related_work_with_model(topic, result, papers, settings, client, on_token)
        except LLMError as exc:
            llm_failure = exc.one_line()
    draft = _extractive_draft(index, topic, result, papers)
    draft.llm_error = llm_failure
    return draft


def _references(papers: list[tuple[int, Paper]]) -> tuple[list[Reference], str]:
    from assistant.export.bibtex import assign_keys, entry
    from assistant.generation.answer import paper_link

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

    scorer = _SentenceScorer(index, topic)
    means = index.dense.paper_means([p.paper_id for p in papers])
    missing = [p for p in papers if p.paper_id not in means]
    best, embedded = scorer.best(
        papers, extra=[f"{p.title}. {p.abstract}" for p in missing], min_words=5
    )
    means.update(zip((p.paper_id for p in missing), embedded, strict=True))
    paper_vectors = np.stack([means[p.paper_id] for p in papers])
    groups, others = cluster_papers(paper_vectors)
    names = theme_terms(index, [[papers[i] for i in g] for g in groups], exclude=topic)
    headings = [_heading(words) for words in names]
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
            sentence = _quotable(best[paper.paper_id][0])
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
    settings: Settings,
    client: LLMClient | None,
    on_token: TokenFn | None,
) -> RelatedWork:
    from assistant.generation.answer import CitationRegistry, llm_answer
    from assistant.generation.llm.openai_compatible import LLMClient

    registry = CitationRegistry()
    active = client or LLMClient(settings)
    try:
        answer = llm_answer(
            active,
            topic,
            result,
            registry,
            max_papers=len(papers),
            on_token=on_token,
            prompt_name="related_work",
            prompt_values={"topic": topic},
        )
    finally:
        if client is None:
            active.close()
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
