"""Attribution: does the cited abstract say what the citing sentence says?

A citation ``[n]`` is valid when ``n`` is a retrieved paper (:mod:`.citations`); it is
*supported* when some sentence of paper ``n``'s abstract matches the citing sentence closely
enough. Each (answer sentence, cited paper) pair is scored against every sentence of that
abstract with :meth:`~assistant.text.sentences.SentenceScorer.cosine_and_overlap`:

    support = max over the abstract's sentences of
                  cosine(answer sentence as a query, abstract sentence)
                  + OVERLAP_WEIGHT * share of the answer sentence's idf mass in that sentence
              + ABSTRACT_OVERLAP_WEIGHT * share of that idf mass in the whole abstract

A sentence citing in several places ("A does x [1], while B does y [2].") is scored by the
clause before each citation instead, so that one clause cannot vouch for another's citation.
The best-scoring abstract sentence is the evidence; the citation is supported when its score
reaches :data:`SUPPORT_THRESHOLD`. The three constants were chosen on the tuning half of SciFact's
claims (claims against their supporting abstracts and against other abstracts retrieved for
them) and measured on the held-out half: ``bench/attribution.py``, docs/benchmarks.md. The
check is semantic closeness, not entailment: an abstract that contradicts a sentence on the
same point passes it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel

from assistant.generation.citations import UNCITED_MARK, UNSUPPORTED_MARK, CitationSupport
from assistant.ingest.chunking import split_sentences

if TYPE_CHECKING:
    from assistant.generation.answer import Answer
    from assistant.index.paper_index import PaperIndex
    from assistant.records import Paper

__all__ = [
    "ABSTRACT_OVERLAP_WEIGHT",
    "OVERLAP_WEIGHT",
    "SUPPORT_THRESHOLD",
    "UNSUPPORTED_MARK",
    "CitationSupport",
    "SupportCheck",
    "check_support",
    "evidence_sentences",
    "extractive_support",
    "pair_signals",
    "statement_text",
    "support_answer",
    "support_score",
]

#: Put right after a citation whose paper's abstract does not support the sentence.

# Chosen together on the SciFact tuning half (bench/attribution.py) for the all-MiniLM-L6-v2
# embedding (the default), as the most precise setting that keeps nine supported citations in
# ten passing: the mark is a warning, and should seldom fall on a right citation. (Maximising F1
# instead would weigh the abstract's overlap at 1.0 and flag a third of the right citations.)
#: Weight of the sentence's term overlap beside the cosine.
OVERLAP_WEIGHT = 0.5
#: Weight of the whole abstract's term overlap.
ABSTRACT_OVERLAP_WEIGHT = 0.0
#: Support score from which a citation counts as supported.
SUPPORT_THRESHOLD = 0.737

_CITATION_GROUP = re.compile(r"\[\s*\d+(?:\s*(?:[,;]|–|-)\s*\d+)*\s*\]")
_NUMBER = re.compile(r"\[(\d+)\]")
_MARKS = (UNCITED_MARK, UNSUPPORTED_MARK)
_MIN_CLAUSE_WORDS = 4
_CITATION_RUN = re.compile(rf"(?:\[\d+\](?:{re.escape(UNSUPPORTED_MARK)})?)+")
_LIST_MARKER = re.compile(r"^(?:[-*•]|\d{1,2}[.)])\s+")


class SupportCheck(BaseModel):
    """The answer text with unsupported citations marked, and every citation's support."""

    text: str
    support: list[CitationSupport]

    @property
    def unsupported(self) -> list[CitationSupport]:
        return [s for s in self.support if not s.supported]


def statement_text(sentence: str) -> str:
    """``sentence`` without its citations and marks, as it is scored."""
    for mark in _MARKS:
        sentence = sentence.replace(mark, " ")
    sentence = _CITATION_GROUP.sub(" ", sentence)
    sentence = re.sub(r"\s+([.,;:!?])", r"\1", " ".join(sentence.split()))
    return _LIST_MARKER.sub("", sentence).strip()


def evidence_sentences(paper: Paper) -> list[str]:
    """The sentences a paper can be cited for: its abstract's, else its title."""
    return split_sentences(paper.abstract) or ([paper.title] if paper.title else [])


def support_score(cosine: float, overlap: float, overlap_weight: float = OVERLAP_WEIGHT) -> float:
    """A sentence's part of the support score."""
    return cosine + overlap_weight * overlap


Signals = tuple[list[tuple[str, float, float]], float]
"""Of one (statement, paper) pair: each evidence sentence with its (cosine, overlap), and the
whole abstract's overlap."""


def pair_signals(index: PaperIndex, pairs: Sequence[tuple[str, Paper]]) -> list[Signals]:
    """For each ``(statement, paper)``: every evidence sentence with its (cosine, overlap),
    and the overlap of the whole abstract (see :data:`Signals`).

    Two embedding calls for all the pairs: the distinct statements (as queries), then the
    distinct papers' sentences (as passages).
    """
    from assistant.embeddings.base import embed_queries
    from assistant.text.sentences import SentenceScorer

    if not pairs:
        return []
    statements = list(dict.fromkeys(statement for statement, _paper in pairs))
    papers = {paper.paper_id: paper for _statement, paper in pairs}
    sentences = {pid: evidence_sentences(paper) for pid, paper in papers.items()}
    flat = [s for pid in papers for s in sentences[pid]]
    query_vectors = embed_queries(index.embedder, statements)
    sentence_vectors = index.embedder.embed(flat) if flat else None
    spans: dict[str, tuple[int, int]] = {}
    start = 0
    for pid in papers:
        spans[pid] = (start, start + len(sentences[pid]))
        start += len(sentences[pid])
    scorers = {
        s: SentenceScorer(index, s, query_vector=vector)
        for s, vector in zip(statements, query_vectors, strict=True)
    }
    out: list[Signals] = []
    for statement, paper in pairs:
        texts = sentences[paper.paper_id]
        low, high = spans[paper.paper_id]
        scorer = scorers[statement]
        whole = scorer.overlap(paper.abstract or paper.title)
        if not texts or sentence_vectors is None:
            out.append(([], whole))
            continue
        signals = scorer.cosine_and_overlap(texts, sentence_vectors[low:high])
        out.append(([(t, c, o) for t, (c, o) in zip(texts, signals, strict=True)], whole))
    return out


def _cited_numbers(sentence: str) -> list[int]:
    numbers: list[int] = []
    for match in _NUMBER.finditer(sentence):
        if int(match.group(1)) not in numbers:
            numbers.append(int(match.group(1)))
    return numbers


def _clauses(sentence: str) -> dict[int, str]:
    """Of a sentence citing in several places ("A does x [1], while B does y [2]."): each
    number's clause, the text since the previous citation (when it has words enough; else
    the number is scored with the whole sentence)."""
    runs = list(_CITATION_RUN.finditer(sentence))
    if len(runs) < 2:
        return {}
    clauses: dict[int, str] = {}
    start = 0
    for run in runs:
        clause = statement_text(sentence[start : run.start()]).strip(" ,;:")
        start = run.end()
        if len(clause.split()) < _MIN_CLAUSE_WORDS:
            continue
        for n in _cited_numbers(run.group(0)):
            clauses.setdefault(n, clause)
    return clauses


def _answer_sentences(text: str) -> list[list[str]]:
    """The sentences of each line of ``text`` (headings and empty lines have none)."""
    lines = []
    for line in text.split("\n"):
        stripped = line.strip()
        lines.append([] if not stripped or stripped.startswith("#") else split_sentences(stripped))
    return lines


def check_support(
    index: PaperIndex, text: str, paper_for: Callable[[int], Paper | None]
) -> SupportCheck:
    """Score every citation of a checked answer ``text`` against its paper (``paper_for(n)``)
    and mark the unsupported ones with :data:`UNSUPPORTED_MARK`."""
    lines = _answer_sentences(text)
    occurrences: list[tuple[int, int, int, str, Paper]] = []  # line, sentence, n, statement, paper
    pairs: list[tuple[str, Paper]] = []  # what is scored: the sentence, or the citation's clause
    for li, sentences in enumerate(lines):
        for si, sentence in enumerate(sentences):
            statement = statement_text(sentence)
            if not statement:
                continue
            clauses = _clauses(sentence)
            for n in _cited_numbers(sentence):
                paper = paper_for(n)
                if paper is not None:
                    occurrences.append((li, si, n, statement, paper))
                    pairs.append((clauses.get(n, statement), paper))
    signals = pair_signals(index, pairs)
    support: list[CitationSupport] = []
    unsupported: dict[tuple[int, int], list[int]] = {}
    for (li, si, n, statement, paper), (scored, whole) in zip(occurrences, signals, strict=True):
        best = max(scored, key=lambda t: support_score(t[1], t[2]), default=("", 0.0, 0.0))
        score = support_score(best[1], best[2]) + ABSTRACT_OVERLAP_WEIGHT * whole
        supported = score >= SUPPORT_THRESHOLD
        support.append(
            CitationSupport(
                n=n,
                paper_id=paper.paper_id,
                sentence=statement,
                evidence=best[0],
                score=round(score, 4),
                supported=supported,
            )
        )
        if not supported:
            unsupported.setdefault((li, si), []).append(n)
    if not unsupported:
        return SupportCheck(text=text, support=support)
    out_lines = text.split("\n")
    for li, sentences in enumerate(lines):
        if not any((li, si) in unsupported for si in range(len(sentences))):
            continue
        marked = []
        for si, sentence in enumerate(sentences):
            for n in unsupported.get((li, si), []):
                sentence = re.sub(rf"\[{n}\]", f"[{n}]{UNSUPPORTED_MARK}", sentence, count=1)
            marked.append(sentence)
        line = out_lines[li]
        out_lines[li] = line[: len(line) - len(line.lstrip())] + " ".join(marked)
    return SupportCheck(text="\n".join(out_lines), support=support)


def support_answer(
    index: PaperIndex, answer: Answer, paper_for: Callable[[int], Paper | None]
) -> Answer:
    """``answer`` (an LLM answer, citations checked) with its citations' support, the
    unsupported ones marked in its text and counted in a note."""
    if answer.mode != "llm" or answer.abstained or not answer.citations:
        return answer
    checked = check_support(index, answer.answer, paper_for)
    answer.answer = checked.text
    answer.support = checked.support
    missing = checked.unsupported
    if missing:
        answer.notes.append(
            f"{len(missing)} of {len(checked.support)} citation(s) are not supported by the "
            f"cited abstract (no sentence of it matches the statement); they are marked "
            f"{UNSUPPORTED_MARK}."
        )
    return answer


def extractive_support(answer: Answer) -> list[CitationSupport]:
    """An extractive answer's support: each quote rests on itself (quoted verbatim)."""
    by_number = {c.n: c.paper_id for c in answer.citations}
    out = []
    for line in answer.answer.splitlines():
        match = re.fullmatch(r"“(.+)” \[(\d+)\]", line.strip())
        if match and int(match.group(2)) in by_number:
            quote = match.group(1)
            n = int(match.group(2))
            out.append(
                CitationSupport(
                    n=n,
                    paper_id=by_number[n],
                    sentence=quote,
                    evidence=quote,
                    score=1.0,
                    supported=True,
                )
            )
    return out
