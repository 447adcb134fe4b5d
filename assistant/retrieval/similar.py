"""Papers like this one: the indexed papers closest to a given paper, by its vectors and its terms.

A paper is compared as a whole, not through its title:

- **dense**: the paper's vector is the mean of its chunk vectors (read from the dense cache for
  an indexed paper; a text is chunked and embedded as passages, as ingest does); every indexed
  paper is scored by the cosine of its own mean vector with it;
- **BM25**: the paper's :data:`DISTINCTIVE_TERMS` most distinctive terms (term frequency in its
  title, counted twice, and abstract times the index's IDF) are the query, each weighted by
  its frequency in the paper;
- **hybrid** (the default): both standardised against their own best papers (z-scores, as
  search fuses them) and added, BM25 weighted by :data:`LEXICAL_WEIGHT`.

The paper itself is left out. The cosine of mean vectors is the closeness every hit reports;
below :data:`CLOSE_THRESHOLD` a paper is not close, and when no hit is close the result says
so and still lists the nearest (docs/benchmarks.md, "Papers like this one").
"""

from __future__ import annotations

import difflib
import re
import weakref
from collections import Counter
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, Field

from assistant.errors import UsageError
from assistant.index.terms import WORD
from assistant.ingest.chunking import chunk_paper, embedded_text, split_sentences
from assistant.ingest.text import normalize_arxiv_id, normalize_doi, normalize_title
from assistant.records import Paper
from assistant.retrieval.filters import check_filters, no_match_message
from assistant.retrieval.retriever import RetrievalOptions, Retriever
from assistant.retrieval.signal_dense import server_mean_cosines
from assistant.retrieval.signal_lexical import weighted_bm25
from assistant.retrieval.signals import (
    CANDIDATES,
    FUSION_TOP,
    PaperAsk,
    Signals,
    fuse,
    paper_signals,
)

if TYPE_CHECKING:
    from assistant.index.bm25 import LexicalIndex
    from assistant.index.dense_cache import DenseCache
    from assistant.index.paper_index import PaperIndex

__all__ = [
    "CLOSE_THRESHOLD",
    "DISTINCTIVE_TERMS",
    "LEXICAL_WEIGHT",
    "SimilarHit",
    "SimilarResult",
    "SimilarTarget",
    "find_paper",
    "paper_from_text",
    "similar_papers",
]

#: Terms of the paper that make its BM25 query (tuned on the tuning half of the benchmark).
DISTINCTIVE_TERMS = 60
#: Weight of the BM25 z-score beside the dense one (tuned likewise: 0.3-0.7 are within noise).
LEXICAL_WEIGHT = 0.5
#: Cosine of mean vectors (all-MiniLM-L6-v2) below which a paper is not close to the given one:
#: a paper's nearest neighbour in its own field sits above it 96-99% of the time, the nearest
#: paper of another field (SciFact biomedicine against the ML/NLP demo corpus) below it 97-99%.
CLOSE_THRESHOLD = 0.5
_PARTS = re.compile(r"[-_.']")
#: Shared terms shown per hit.
SHARED_SHOWN = 6
#: Titles suggested when a title matches no indexed paper.
SUGGESTED = 3


class SimilarTarget(BaseModel):
    """The paper the others are compared with."""

    paper_id: str | None = Field(default=None, description="Its id, when it is indexed.")
    title: str
    year: int | None = None
    indexed: bool = Field(description="Whether its stored vectors were used (else embedded).")


class SimilarHit(BaseModel):
    """One indexed paper close to the given one."""

    rank: int
    paper_id: str
    title: str
    year: int | None = None
    score: float = Field(description="The ranking score (fused z-scores for hybrid).")
    similarity: float = Field(description="Cosine of the two papers' mean chunk vectors.")
    close: bool = Field(description="similarity >= the threshold.")
    shared_terms: list[str] = Field(
        default_factory=list, description="The given paper's distinctive words this one uses."
    )
    snippet: str = Field(
        default="", description="What it contributes: its abstract's contribution sentence."
    )
    paper: Paper | None = Field(default=None, exclude=True)


class SimilarResult(BaseModel):
    """The indexed papers closest to a given one, best first."""

    target: SimilarTarget
    method: str = "hybrid"
    results: list[SimilarHit] = Field(default_factory=list)
    close: bool = Field(default=False, description="Whether any hit is close.")
    best_similarity: float = 0.0
    threshold: float = CLOSE_THRESHOLD
    filters: str | None = None
    notes: list[str] = Field(default_factory=list)

    def lines(self) -> list[str]:
        """One line a hit, ``n. Title (year) [id], similarity 0.71`` (chat, plain text)."""
        out = []
        for hit in self.results:
            year = f" ({hit.year})" if hit.year else ""
            mark = "" if hit.close else ", not close"
            out.append(
                f"{hit.rank}. {hit.title}{year} [{hit.paper_id}], similarity "
                f"{hit.similarity:.2f}{mark}"
            )
        return out

    def summary(self) -> str:
        """One sentence: what was compared, and whether anything is close."""
        name = f"'{self.target.title}'"
        if not self.results:
            return f"No indexed paper to compare with {name}."
        if self.close:
            count = sum(hit.close for hit in self.results)
            return f"Papers like {name}: {count} of the {len(self.results)} shown are close."
        return (
            f"No indexed paper is close to {name} (best similarity {self.best_similarity:.2f}, "
            f"below {self.threshold:.2f}); the nearest are listed anyway."
        )


# --- which paper --------------------------------------------------------------------------------


def paper_from_text(text: str, name: str = "text") -> Paper:
    """A paper given by its text: the first line is its title when the text has more lines."""
    lines = [line.strip() for line in text.strip().splitlines()]
    if not lines or not any(lines):
        raise UsageError(
            f"The {name} is empty.", hint="Give the paper's title and abstract as plain text."
        )
    title, rest = lines[0], " ".join(line for line in lines[1:] if line)
    if not rest:  # one paragraph: no title of its own
        title, rest = (title[:80].rsplit(" ", 1)[0] + "…" if len(title) > 80 else title), title
    return Paper(paper_id="", title=title, abstract=rest)


def find_paper(index: PaperIndex, ref: str) -> Paper:
    """The indexed paper ``ref`` names: its id, DOI, arXiv id or title (any case, punctuation).

    Raises UsageError naming the closest titles when none matches.
    """
    ref = ref.strip()
    if not ref:
        raise UsageError("No paper given.", hint="Give a paper id, a title, or --text FILE.")
    catalog = index.catalog
    paper = catalog.get_paper(ref)
    if paper is not None:
        return paper
    keys = []
    if normalize_doi(ref).startswith("10."):
        keys.append("doi:" + normalize_doi(ref))
    arxiv = normalize_arxiv_id(ref)
    if arxiv and arxiv[:1].isdigit() and "." in arxiv:
        keys.append("arxiv:" + arxiv.lower())
    for paper_id in catalog.find_keys(keys).values():
        paper = catalog.get_paper(paper_id)
        if paper is not None:
            return paper
    # A title: the BM25 candidates for it, compared by normalised title.
    wanted = normalize_title(ref)
    candidates = catalog.get_papers(pid for pid, _ in index.lexical.search(ref, 20))
    ratios = sorted(
        (
            (difflib.SequenceMatcher(None, wanted, normalize_title(p.title)).ratio(), p)
            for p in candidates.values()
        ),
        key=lambda pair: (-pair[0], pair[1].paper_id),
    )
    if ratios and (ratios[0][0] >= 0.95 or normalize_title(ratios[0][1].title) == wanted):
        return ratios[0][1]
    close = [f"{p.title} ({p.paper_id})" for ratio, p in ratios[:SUGGESTED] if ratio >= 0.5]
    raise UsageError(
        f"No indexed paper has the id or title {ref!r}"
        + (f" (closest titles: {'; '.join(close)})." if close else "."),
        hint="'assistant search' finds a paper's id; --text FILE compares a paper that is not "
        "indexed.",
    )


# --- the signals --------------------------------------------------------------------------------

# Unit mean chunk vector of every paper, per dense cache (computed once per process and cache).
_MEANS: weakref.WeakKeyDictionary[DenseCache, tuple[int, np.ndarray]] = weakref.WeakKeyDictionary()


def paper_means(dense: DenseCache) -> np.ndarray:
    """Unit mean chunk vector of each paper, in ``dense.layout()`` order."""
    cached = _MEANS.get(dense)
    if cached is not None and cached[0] == len(dense):
        return cached[1]
    _papers, starts = dense.layout()
    matrix = dense.matrix()
    ends = np.append(starts[1:], len(matrix))
    blocks = []
    for lo in range(0, len(starts), 4096):  # a memory-mapped matrix is read a block at a time
        hi = min(lo + 4096, len(starts))
        first, last = int(starts[lo]), int(ends[hi - 1])
        rows = np.asarray(matrix[first:last], dtype=np.float32)
        blocks.append(np.add.reduceat(rows, starts[lo:hi] - first, axis=0))
    dim = matrix.shape[1]
    sums = np.concatenate(blocks) if blocks else np.zeros((0, dim), dtype=np.float32)
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    means = sums / np.maximum(norms, 1e-12)
    _MEANS[dense] = (len(dense), means)
    return means


def _target_vector(index: PaperIndex, paper: Paper, indexed: bool) -> np.ndarray | None:
    """The paper's mean chunk vector (stored when indexed, else embedded as passages)."""
    if indexed:
        found = index.dense.paper_means([paper.paper_id])
        if paper.paper_id in found:
            return found[paper.paper_id]
    settings = index.settings
    embedder = index.embedder
    chunks = chunk_paper(
        "text",
        paper.title,
        split_sentences(paper.abstract) or [paper.abstract],
        embedder.count_tokens,
        settings.chunk_tokens,
        settings.chunk_overlap_sentences,
    )
    texts = [embedded_text(paper.title, c.text) for c in chunks] or [paper.title]
    mean = np.asarray(embedder.embed(texts), dtype=np.float32).mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm > 0 else None


def distinctive_terms(lexical: LexicalIndex, paper: Paper, n: int) -> dict[str, float]:
    """The paper's ``n`` most distinctive analysed terms -> their frequency in it.

    Distinctive: frequency (title counted twice, as BM25 indexes it) times IDF; terms no
    indexed paper uses carry no weight.
    """
    analyzer = lexical.analyzer
    title = analyzer.bm25_terms(paper.title)
    counts = Counter(title + title + analyzer.bm25_terms(paper.abstract))
    weight = {term: tf * lexical.idf(term) for term, tf in counts.items()}
    chosen = sorted((t for t in weight if weight[t] > 0), key=lambda t: (-weight[t], t))[:n]
    return {term: float(counts[term]) for term in chosen}


def _surface_words(lexical: LexicalIndex, paper: Paper) -> dict[str, str]:
    """Analysed term -> the word as the paper writes it (its first occurrence); a compound's
    parts map to the parts ("linear" of "non-linear" to "linear")."""
    out: dict[str, str] = {}
    for word in WORD.findall(f"{paper.title} {paper.abstract}"):
        parts = _PARTS.split(word)
        for part in [*parts, word] if len(parts) > 1 else [word]:
            shown = part if any(c.isupper() for c in part[1:]) else part.lower()
            for term in lexical.analyzer.bm25_terms(part):
                out.setdefault(term, shown)
    return out


# --- the search ---------------------------------------------------------------------------------


def similar_papers(
    index: PaperIndex, paper: Paper | str, options: RetrievalOptions | None = None
) -> SimilarResult:
    """The indexed papers closest to ``paper``, best first, the paper itself left out.

    ``paper``: an indexed paper's id, DOI, arXiv id or title, or a :class:`Paper` (one not in
    the index is embedded; see :func:`paper_from_text`). ``options``: ``k``, ``method``
    (hybrid, dense or bm25) and ``filters`` as for search.
    """
    options = options or RetrievalOptions()
    check_filters(options.filters, index.catalog)
    target = find_paper(index, paper) if isinstance(paper, str) else paper
    indexed = bool(target.paper_id) and index.catalog.get_paper(target.paper_id) is not None
    result = SimilarResult(
        target=SimilarTarget(
            paper_id=target.paper_id if indexed else None,
            title=target.title,
            year=target.year,
            indexed=indexed,
        ),
        method=options.method,
    )
    if not options.filters.is_empty():
        result.filters = options.filters.describe()
    allowed = Retriever(index).allowed_papers(options.filters)
    excluded = _same_paper(index, target, indexed)
    if excluded - {target.paper_id}:
        shown = "; ".join(sorted(excluded - {target.paper_id}))
        result.notes.append(f"Left out the paper itself as indexed: {shown}.")
    terms = distinctive_terms(index.lexical, target, DISTINCTIVE_TERMS)
    signals, cosine = _signals(index, target, indexed, terms, options, allowed, excluded)
    if signals is None:
        result.notes.append("The index has no vectors to compare with.")
        return result
    candidates = max(CANDIDATES, options.k)
    scored = fuse(signals, options.method, candidates, lexical_weight=LEXICAL_WEIGHT)
    top = scored[: options.k]
    papers = index.catalog.get_papers(s.paper_id for s in top)
    surface = _surface_words(index.lexical, target)
    for s in top:
        found = papers.get(s.paper_id)
        if found is None:
            continue  # vectors left by a crashed ingest
        similarity = round(cosine(s.paper_id), 4)
        shared, snippet = _explain(index.lexical, found, terms)
        result.results.append(
            SimilarHit(
                rank=len(result.results) + 1,
                paper_id=found.paper_id,
                title=found.title,
                year=found.year,
                score=round(s.score, 4),
                similarity=similarity,
                close=similarity >= CLOSE_THRESHOLD,
                shared_terms=_shown_terms(shared, surface),
                snippet=snippet,
                paper=found,
            )
        )
    result.best_similarity = max((h.similarity for h in result.results), default=0.0)
    result.close = any(hit.close for hit in result.results)
    if not result.results and not options.filters.is_empty():
        why = no_match_message(options.filters, index.catalog)
        if why:
            result.notes.append(why)
    return result


def _same_paper(index: PaperIndex, target: Paper, indexed: bool) -> set[str]:
    """Ids of the indexed copies of the target: itself, and papers of the same title."""
    out = {target.paper_id} if indexed else set()
    wanted = normalize_title(target.title)
    if len(wanted) < 12:  # a short title ("Introduction") is no identity
        return out
    for pid, _ in index.lexical.search(target.title, 5):
        found = index.catalog.get_paper(pid)
        if found is not None and normalize_title(found.title) == wanted:
            out.add(pid)
    return out


def _signals(
    index: PaperIndex,
    target: Paper,
    indexed: bool,
    terms: dict[str, float],
    options: RetrievalOptions,
    allowed: set[str] | None,
    excluded: set[str],
) -> tuple[Signals | None, _Cosine]:
    """Per-paper dense and BM25 scores of the candidates, and the cosine of any paper."""
    from assistant.index.server_dense import ServerDense

    dense = index.dense
    if not len(dense):
        return None, _Cosine(None, {})
    vector = _target_vector(index, target, indexed)
    if vector is None:
        return None, _Cosine(None, {})
    if isinstance(dense, ServerDense):  # candidates: the papers of the chunks nearest to it
        lexical_top = index.lexical.top(weighted_bm25(index.lexical, terms), CANDIDATES)
        also = [pid for pid, _ in lexical_top]
        wanted = FUSION_TOP + len(excluded)
        cosines, paper_list, positions = server_mean_cosines(dense, vector, wanted, allowed, also)
    else:
        paper_list, _starts = dense.layout()
        positions = dense.positions()
        cosines = paper_means(dense) @ vector
    eligible = np.ones(len(paper_list), dtype=bool)
    if allowed is not None:
        eligible = np.fromiter((pid in allowed for pid in paper_list), dtype=bool)
    for pid in excluded:
        if pid in positions:
            eligible[positions[pid]] = False
    cosine = _Cosine(cosines, positions)
    ask = PaperAsk(
        index=index,
        terms=terms,
        cosines=cosines,
        paper_list=paper_list,
        positions=positions,
        eligible=eligible,
        allowed=allowed,
        excluded=excluded,
        pool=max(CANDIDATES, options.k),
        top=FUSION_TOP,
    )
    signals = paper_signals(options.method, ask)
    return signals, cosine


class _Cosine:
    """Cosine of the target's mean vector with an indexed paper's (0 for one without)."""

    def __init__(self, cosines: np.ndarray | None, positions: dict[str, int]) -> None:
        self._cosines = cosines
        self._positions = positions

    def __call__(self, paper_id: str) -> float:
        number = self._positions.get(paper_id)
        if self._cosines is None or number is None:
            return 0.0
        return float(self._cosines[number])


def _shown_terms(shared: list[str], surface: dict[str, str]) -> list[str]:
    """The first :data:`SHARED_SHOWN` shared terms as the paper writes them, words only (no
    numbers), each once (a compound's parts map to the compound)."""
    words: dict[str, str] = {}
    for term in shared:
        word = surface.get(term, term)
        if any(c.isalpha() for c in word):
            words.setdefault(word.lower(), word)
    return list(words.values())[:SHARED_SHOWN]


def _explain(lexical: LexicalIndex, paper: Paper, terms: dict[str, float]) -> tuple[list[str], str]:
    """The target's distinctive terms found in ``paper`` (most distinctive first), and the
    sentence that stands for the paper: its contribution sentence (the title without one)."""
    from assistant.text.contribution import contribution_sentence

    present = set(lexical.analyzer.bm25_terms(f"{paper.title} {paper.abstract}"))
    shared = [t for t in terms if t in present]  # terms keeps the distinctive order
    return shared, contribution_sentence(paper.title, paper.abstract).sentence
