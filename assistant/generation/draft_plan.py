"""The plan of a related-work draft: its themes, in reading order, each paper numbered once and
represented by its contribution sentence.

The offline draft is this plan written out; a language model gets it as the outline to write
prose from (:mod:`assistant.generation.related_work`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from assistant.generation.themes import ThemeGroup, group_by_approach
from assistant.records import Paper
from assistant.text.contribution import contribution_sentence

if TYPE_CHECKING:
    import numpy as np

    from assistant.index.paper_index import PaperIndex

__all__ = ["DraftPlan", "PlannedPaper", "PlannedTheme", "plan_draft"]


@dataclass(frozen=True)
class PlannedPaper:
    """A paper of the draft: its number, and the sentence that stands for it."""

    n: int
    paper: Paper
    contribution: str


@dataclass
class PlannedTheme:
    """A section of the draft."""

    heading: str
    kind: str  # "surveys", "approach", "single" or "other"
    papers: list[PlannedPaper] = field(default_factory=list)


@dataclass
class DraftPlan:
    """The themes of a draft, in reading order; papers numbered in that order from 1."""

    themes: list[PlannedTheme]

    def numbered(self) -> list[tuple[int, Paper]]:
        return [(p.n, p.paper) for theme in self.themes for p in theme.papers]


def plan_draft(index: PaperIndex, topic: str, papers: Sequence[Paper]) -> DraftPlan:
    """Group ``papers`` (in retrieval order) into themes and number them in reading order."""
    contributions = [contribution_sentence(p.title, p.abstract).sentence for p in papers]
    vectors = _paper_vectors(index, papers)
    groups: list[ThemeGroup] = group_by_approach(index, papers, vectors, contributions, topic)
    themes: list[PlannedTheme] = []
    n = 0
    for group in groups:
        theme = PlannedTheme(heading=group.heading, kind=group.kind)
        for i in group.members:
            n += 1
            theme.papers.append(PlannedPaper(n, papers[i], contributions[i]))
        themes.append(theme)
    return DraftPlan(themes)


def _paper_vectors(index: PaperIndex, papers: Sequence[Paper]) -> np.ndarray:
    """Each paper's mean chunk vector (unit length); papers without vectors are embedded."""
    import numpy as np

    means = index.dense.paper_means([p.paper_id for p in papers])
    missing = [p for p in papers if p.paper_id not in means]
    if missing:
        embedded = index.embedder.embed([f"{p.title}. {p.abstract}" for p in missing])
        means.update(zip((p.paper_id for p in missing), embedded, strict=True))
    vectors = np.stack([np.asarray(means[p.paper_id], dtype=np.float32) for p in papers])
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)
