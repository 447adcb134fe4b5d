"""Retrieval signals: each scores papers its own way; fusion, coverage and ``similar`` read them.

A signal is one module that declares a :class:`Signal` as ``SIGNAL`` (the modules of this package
named ``signal_*``: ``signal_lexical`` for BM25, ``signal_dense`` for the embedding vectors), or
one registered from elsewhere (:func:`register`). For a question (search) or a paper (``similar``)
it scores its own best ``pool`` candidates; the signals run in ``rank`` order, each given the
candidates of those before it to score too, and afterwards each scores the candidates of those
after it (:meth:`SignalRun.complete`), so that fusion sees every candidate's every score.

Fusion (:func:`fuse`): each signal is standardised against its own best :data:`FUSION_TOP`
papers for the query (z-scores) and the z-scores are added, each times its weight. Raw cosines
crowd together as a corpus grows and BM25 has no fixed scale; standardising keeps them comparable
from 425 to 59k papers (docs/benchmarks.md, "Retrieval quality as the corpus grows"). A method
that names one signal (``dense``, ``bm25``) ranks by its raw scores alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from assistant.registry import Registry

if TYPE_CHECKING:
    from assistant.index.paper_index import PaperIndex
    from assistant.retrieval.filters import SearchFilters

__all__ = [
    "CANDIDATES",
    "FUSION_TOP",
    "PaperAsk",
    "QueryAsk",
    "ScoredPaper",
    "Signal",
    "SignalRun",
    "SignalScores",
    "Signals",
    "fuse",
    "paper_signals",
    "query_signals",
    "register",
    "registered",
    "run_signals",
    "signals_for",
    "top_stats",
    "unregister",
]

#: Papers each signal's scores are standardised against (its best ones for the query).
FUSION_TOP = 200
#: Candidates each signal brings to the fusion (at least; ``k`` when more are asked for).
CANDIDATES = 100


@dataclass
class SignalScores:
    """One signal's scores of the candidate papers for one query."""

    scores: dict[str, float] = field(default_factory=dict)
    #: (mean, standard deviation) over its best FUSION_TOP papers
    stats: tuple[float, float] = (0.0, 1.0)
    #: its best score over every paper it may score (not only the candidates)
    best: float = 0.0


class Signals(dict[str, SignalScores]):
    """The scores of each signal that ran, by name.

    ``signals.dense`` is the ``dense`` signal's scores (empty when it did not run),
    ``signals.best_dense`` its best score and ``signals.dense_stats`` its (mean, spread).
    """

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if name.startswith("best_"):
            return self[name[5:]].best if name[5:] in self else 0.0
        if name.endswith("_stats"):
            return self[name[:-6]].stats if name[:-6] in self else (0.0, 1.0)
        return self[name].scores if name in self else {}

    def tops(self) -> set[str]:
        """The best candidate of each signal."""
        return {max(s.scores, key=lambda p: s.scores[p]) for s in self.values() if s.scores}


@dataclass
class QueryAsk:
    """A question to score papers against (a search)."""

    index: PaperIndex
    text: str
    allowed: set[str] | None  # None: every paper
    pool: int  # candidates wanted of each signal
    top: int = FUSION_TOP
    filters: SearchFilters | None = None  # those ``allowed`` came from (a server applies them)
    restricted: bool = False  # ``allowed`` holds fewer papers than the filters say


@dataclass
class PaperAsk:
    """A paper to score papers against (``similar``): its distinctive terms and the cosine of
    its mean vector with each candidate's (``cosines`` in ``paper_list`` order)."""

    index: PaperIndex
    terms: dict[str, float]
    cosines: np.ndarray
    paper_list: list[str]
    positions: dict[str, int]
    eligible: np.ndarray  # per position of paper_list: may be scored
    allowed: set[str] | None
    excluded: set[str]  # the paper itself, as indexed
    pool: int
    top: int = FUSION_TOP


class SignalRun(Protocol):
    """One signal's scoring of one query."""

    scores: SignalScores

    def complete(self, paper_ids: Iterable[str]) -> None:
        """Add the scores of ``paper_ids`` (other signals' candidates) where it has one."""


class Signal(Protocol):
    """A way to score papers; ``for_query``/``for_paper`` return None when it cannot (no
    vectors, say). ``others``: the candidates of the signals run before it."""

    name: str
    rank: int  # where it runs: lower first
    weight: float  # its weight in the fusion
    alone: str | None  # the method that ranks by this signal alone ("dense", "bm25"), if any

    def for_query(self, ask: QueryAsk, others: list[str]) -> SignalRun | None: ...

    def for_paper(self, ask: PaperAsk, others: list[str]) -> SignalRun | None: ...


_SIGNALS: Registry[Signal] = Registry(
    "assistant.retrieval", "SIGNAL", lambda module: module.startswith("signal_")
)


def register(signal: Signal) -> None:
    """Make ``signal`` known (replacing one of the same name)."""
    _SIGNALS.register(signal)


def unregister(name: str) -> None:
    """Forget the signal called ``name`` (if any)."""
    _SIGNALS.unregister(name)


def registered() -> list[Signal]:
    """The known signals in rank order (the package's ``signal_*`` modules loaded first)."""
    return _SIGNALS.all()


def signals_for(method: str) -> list[Signal]:
    """The signals a method uses: all for ``hybrid``, else the one it names."""
    known = registered()
    return known if method == "hybrid" else [s for s in known if s.alone == method]


def run_signals(
    signals: list[Signal], run: Callable[[Signal, list[str]], SignalRun | None]
) -> Signals:
    """Run each signal (``run(signal, others)``), then have each score the later ones'
    candidates."""
    runs: list[tuple[str, SignalRun]] = []
    for signal in signals:
        others = [pid for _name, done in runs for pid in done.scores.scores]
        found = run(signal, others)
        if found is not None:
            runs.append((signal.name, found))
    for i, (_name, done) in enumerate(runs):
        later = [pid for _n, after in runs[i + 1 :] for pid in after.scores.scores]
        missing = [pid for pid in dict.fromkeys(later) if pid not in done.scores.scores]
        if missing:
            done.complete(missing)
    return Signals((name, done.scores) for name, done in runs)


def query_signals(
    index: PaperIndex,
    text: str,
    method: str,
    k: int,
    allowed: set[str] | None,
    filters: SearchFilters | None = None,
    restricted: bool = False,
) -> Signals:
    """The signals of ``method`` for a question, each with its best ``max(CANDIDATES, k)``."""
    ask = QueryAsk(index, text, allowed, max(CANDIDATES, k), FUSION_TOP, filters, restricted)
    return run_signals(signals_for(method), lambda signal, others: signal.for_query(ask, others))


def paper_signals(method: str, ask: PaperAsk) -> Signals:
    """The signals of ``method`` for a paper (``similar``)."""
    return run_signals(signals_for(method), lambda signal, others: signal.for_paper(ask, others))


@dataclass
class ScoredPaper:
    paper_id: str
    score: float
    signals: dict[str, float] = field(default_factory=dict)  # each signal's raw score


def fuse(
    signals: Signals, method: str = "hybrid", candidates: int = CANDIDATES, **weights: float
) -> list[ScoredPaper]:
    """One ranking of papers, best first, from the signals ``method`` uses: the best
    ``candidates`` of each, scored by the weighted sum of their z-scores (by the raw score when
    the method names one signal). ``weights``: ``<signal>_weight=w`` overrides a signal's own.
    """
    known = {s.name: s for s in registered()}
    wanted = (
        [n for n in signals if n in known and known[n] in signals_for(method)]
        if method != "hybrid"
        else list(signals)
    )
    used = {name: signals[name] for name in wanted}
    pool: dict[str, None] = {}
    for one in used.values():
        pool.update(dict.fromkeys(sorted(one.scores, key=lambda p: -one.scores[p])[:candidates]))
    weight = {
        name: weights.get(f"{name}_weight", known[name].weight if name in known else 1.0)
        for name in used
    }
    scored = []
    for pid in pool:
        raw = {name: one.scores.get(pid, 0.0) for name, one in used.items()}
        if method != "hybrid":  # the one signal the method names
            score = next(iter(raw.values()), 0.0)
        else:
            score = sum(
                weight[name] * (raw[name] - one.stats[0]) / one.stats[1]
                for name, one in used.items()
            )
        scored.append(ScoredPaper(pid, score, raw))
    scored.sort(key=lambda s: (-s.score, s.paper_id))
    return scored


def top_stats(scores: np.ndarray, population: int, top: int | None = None) -> tuple[float, float]:
    """Mean and standard deviation of the best ``top`` (FUSION_TOP) of ``population`` scores.

    ``scores`` may hold only the positive ones (BM25): the rest of the top count as 0.
    """
    n = min(FUSION_TOP if top is None else top, population)
    if n <= 0:
        return 0.0, 1.0
    best = np.partition(scores, len(scores) - n)[-n:] if len(scores) > n else scores
    if len(best) < n:
        best = np.concatenate([best, np.zeros(n - len(best), dtype=np.float64)])
    spread = float(np.std(best))
    return float(np.mean(best)), spread if spread > 1e-6 else 1.0
