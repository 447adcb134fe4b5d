"""A made-up retrieval signal, declared in one module as a plugin would declare one.

The reader's favourite papers score 1, every other paper 0: fused with the others, a favourite
moves up any ranking it is a candidate of. Registered by the tests that use it.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from assistant.retrieval.signals import PaperAsk, QueryAsk, SignalScores, top_stats


class FavouritesRun:
    def __init__(self, favourites: set[str], allowed: set[str] | None, population: int, top: int):
        chosen = [p for p in sorted(favourites) if allowed is None or p in allowed]
        self.scores = SignalScores(
            scores=dict.fromkeys(chosen, 1.0),
            stats=top_stats(np.ones(len(chosen)), population, top),
            best=1.0 if chosen else 0.0,
        )

    def complete(self, paper_ids: Iterable[str]) -> None:
        """Every other paper scores 0: nothing to add."""


class Favourites:
    name = "favourites"
    rank = 30
    weight = 3.0
    alone = None

    def __init__(self) -> None:
        self.paper_ids: set[str] = set()

    def for_query(self, ask: QueryAsk, others: list[str]) -> FavouritesRun:
        population = ask.index.lexical.size if ask.allowed is None else len(ask.allowed)
        return FavouritesRun(self.paper_ids, ask.allowed, population, ask.top)

    def for_paper(self, ask: PaperAsk, others: list[str]) -> FavouritesRun:
        allowed = {p for p in self.paper_ids if p not in ask.excluded}
        if ask.allowed is not None:
            allowed &= ask.allowed
        return FavouritesRun(self.paper_ids, allowed, ask.index.lexical.size, ask.top)


SIGNAL = Favourites()
