"""Themes of a draft: papers grouped by approach, each group named by a phrase its papers share.

Used by the related-work draft (:mod:`assistant.generation.draft_plan`). A researcher's
related-work section is organised by lines of work ("Low-rank adaptation", "Prompt tuning"),
with surveys apart from the methods; so are the themes here:

1. surveys, reviews, tutorials and position papers form their own section, first;
2. the other papers are clustered (average linkage) on two similarities, each standardised
   over the draft (the papers of one topic are all alike to the embedding model): their
   vectors' cosine, and the cosine of the noun phrases they use (:mod:`assistant.text.phrases`;
   weighted by where, title over contribution sentence over abstract, and by how rare their
   words are in the index), which carry the approach;
3. a cluster is named by a phrase that at least two of its papers use, one in its title or
   contribution sentence, and that they use more than the draft's other papers do (a cluster
   of more than half the papers is the topic itself, and one no phrase names is split into
   tighter parts); the best is the one its papers use most prominently, defined as an acronym
   and covering most of them; papers that do not use it stay only while they are fewer;
4. a paper left over joins the theme whose phrase it uses, or the closest theme if the heading
   stays shared by most of its papers; the rest are named by the phrases most of them share,
   else each is a section of its own (kind "single", marked in the draft) while there is room
   (one section per :data:`PAPERS_PER_SECTION` papers), else "Other related work".

So every heading but "Other related work" is a phrase that most of its papers use. Sections
come in reading order: surveys (the general view), the larger lines of work, single papers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from assistant.records import Paper
from assistant.text.phrases import GENERIC_WORDS, Phrase, PhraseTable, phrase_key

if TYPE_CHECKING:
    import numpy as np

    from assistant.index.paper_index import PaperIndex

__all__ = [
    "PAPERS_PER_SECTION",
    "OTHER_HEADING",
    "ThemeGroup",
    "group_by_approach",
    "is_survey",
]

#: A draft has at most one section (theme, surveys, single paper, other work) per this many
#: papers, and at least two sections.
PAPERS_PER_SECTION = 2
OTHER_HEADING = "Other related work"
#: Share of the phrases' similarity beside the vectors' (each standardised over the draft).
PHRASE_WEIGHT = 0.3
#: Clusters merge while their average similarity is this many standard deviations above the
#: mean similarity of two of the draft's papers.
CLUSTER_SIMILARITY = 0.0
#: A heading's phrase is used this many times more in its theme than in the whole draft.
MIN_LIFT = 1.5
#: A cluster of more than this share of the papers is the topic itself, not one line of work:
#: it is split.
MAX_THEME_SHARE = 0.5
#: A cluster no phrase names is split at this much higher a similarity.
SPLIT_STEP = 0.5
#: A lone paper joins a theme when its mean similarity with the theme's papers is this high
#: (same scale).
JOIN_SIMILARITY = 0.0
#: How much more a phrase the papers define an acronym for weighs: it names a line of work.
NAMED_BONUS = 1.5
#: What a mention only in the abstract counts for, naming a theme.
ABSTRACT_WEIGHT_FOR_NAMES = 0.25
#: Weights of where a phrase or word occurs in a paper.
TITLE_WEIGHT, CONTRIBUTION_WEIGHT, ABSTRACT_WEIGHT = 3.0, 2.0, 1.0

_SURVEY_TITLE = re.compile(
    r"\b(?:surveys?|overview|tutorial|primer|roadmap|position:|position paper|"
    r"(?:systematic|literature|critical|scoping|narrative) review|meta-analysis|"
    r"review of|a review|exhaustive review|guide to|landscape of|sok)\b",
    re.IGNORECASE,
)
_SURVEY_SELF = re.compile(
    r"\b(?:this|our|the present|in this) (?:survey|review|overview|tutorial|primer|position "
    r"paper|perspective|systematic review|meta-analysis)\b|\bwe survey\b"
    r"|\bwe review (?:the )?(?:literature|recent (?:advances|progress|work|research))",
    re.IGNORECASE,
)
_SURVEY_NOUNS = (
    "survey",
    "review",
    "overview",
    "tutorial",
    "guide",
    "primer",
    "position paper",
    "perspective",
)


def is_survey(paper: Paper) -> bool:
    """Whether the paper surveys, reviews or takes a position rather than proposing a method."""
    return bool(_SURVEY_TITLE.search(paper.title) or _SURVEY_SELF.search(paper.abstract))


@dataclass
class ThemeGroup:
    """One theme: its heading, its papers (row numbers) and what kind of theme it is."""

    heading: str
    members: list[int] = field(default_factory=list)
    kind: str = "approach"  # "surveys", "approach", "single" or "other"
    phrase: Phrase | None = None


def group_by_approach(
    index: PaperIndex,
    papers: Sequence[Paper],
    vectors: np.ndarray,
    contributions: Sequence[str],
    topic: str = "",
) -> list[ThemeGroup]:
    """The papers (rows of ``vectors``, unit length) grouped into named themes, in reading
    order: surveys, themes by size, single papers, the rest; at most one section per
    :data:`PAPERS_PER_SECTION` papers.

    ``contributions``: each paper's contribution sentence (weighs more than its abstract).
    """
    if not papers:
        return []
    surveys = [i for i, p in enumerate(papers) if is_survey(p)]
    methods = [i for i in range(len(papers)) if i not in set(surveys)]
    parts = [
        [(p.title, TITLE_WEIGHT), (c, CONTRIBUTION_WEIGHT), (p.abstract, ABSTRACT_WEIGHT)]
        for p, c in zip(papers, contributions, strict=True)
    ]
    table = PhraseTable(parts)
    namer = _Namer(index, table, topic, methods)
    phrases = _phrase_similarity(namer, len(papers))
    sim = _standardised(vectors @ vectors.T, methods) * (1 - PHRASE_WEIGHT) + PHRASE_WEIGHT * (
        _standardised(phrases, methods)
    )
    room = max(2, len(papers) // PAPERS_PER_SECTION) - (1 if surveys else 0)
    themes: list[ThemeGroup] = []
    alone: list[int] = []
    pending = _clusters(sim, methods, room, CLUSTER_SIMILARITY)
    while pending:
        cluster = pending.pop(0)
        too_wide = len(cluster) > max(3, MAX_THEME_SHARE * len(methods))
        theme, rest = (None, cluster) if too_wide else namer.theme(cluster, sim, MIN_LIFT)
        if theme is not None:
            themes.append(theme)
            alone.extend(rest)
        elif len(cluster) > 2:  # no phrase names it: its tighter parts may have one
            halves = _clusters(sim, cluster, len(cluster), CLUSTER_SIMILARITY + SPLIT_STEP)
            if len(halves) > 1:
                pending.extend(halves)
            else:
                alone.extend(cluster)
        else:
            alone.extend(cluster)
    themes = _merge_same_heading(themes)
    themes.sort(key=lambda t: (-len(t.members), min(t.members)))
    while True:  # at most ``room`` sections: else the smallest theme's papers are placed anew
        placed = [replace(t, members=list(t.members)) for t in themes]
        rest_groups = _place_alone(sorted(alone), placed, namer, sim, room - len(placed))
        if len(placed) + len(rest_groups) <= room or not themes:
            themes = placed
            break
        alone.extend(themes.pop().members)
    ordered: list[ThemeGroup] = []
    if surveys:
        ordered.append(
            ThemeGroup(_survey_heading([papers[i] for i in surveys]), surveys, "surveys")
        )
    ordered.extend(themes)
    ordered.extend(rest_groups)
    ordered = _merge_same_heading(ordered)  # two single papers named alike are one theme
    for theme in ordered:
        theme.members = _reading_order(theme.members, papers)
    return ordered


def _survey_heading(papers: Sequence[Paper]) -> str:
    """ "Surveys", "Surveys and reviews"...: the fewest survey nouns that cover the papers."""
    texts = [f"{p.title} {p.abstract}".lower() for p in papers]
    uses = {noun: {i for i, t in enumerate(texts) if noun in t} for noun in _SURVEY_NOUNS}
    chosen: list[str] = []
    covered: set[int] = set()
    while len(covered) < len(texts) and len(chosen) < 2:
        noun = max(_SURVEY_NOUNS, key=lambda n: (len(uses[n] - covered), -_SURVEY_NOUNS.index(n)))
        if not uses[noun] - covered:
            break
        chosen.append(noun)
        covered |= uses[noun]
    words = [n + "s" if len(papers) > 1 else n for n in chosen or ["survey"]]
    text = " and ".join(words)
    return text[:1].upper() + text[1:]


def _standardised(sim: np.ndarray, rows: list[int]) -> np.ndarray:
    """``sim`` as standard deviations from the mean over pairs of ``rows`` (scale-free: the
    papers of one topic are all alike to the embedding model, less so in their words)."""
    import numpy as np

    if len(rows) < 3:
        return sim
    block = sim[np.ix_(rows, rows)]
    pairs = block[np.triu_indices(len(rows), k=1)]
    spread = float(pairs.std()) or 1.0
    out: np.ndarray = (sim - float(pairs.mean())) / spread
    return out


def _phrase_similarity(namer: _Namer, n: int) -> np.ndarray:
    """Cosine of the papers' vectors over the candidate phrases (acronyms stand for their
    expansion), each weighted by where the paper uses it and how specific it is."""
    import numpy as np

    matrix = np.zeros((n, max(1, len(namer.phrases))), dtype=np.float32)
    for j, phrase in enumerate(namer.phrases):
        if len(phrase.weights) < 2:
            continue
        specificity = namer.specificity(phrase)
        for i, weight in phrase.weights.items():
            matrix[i, j] = weight * specificity
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    matrix /= np.where(norms == 0, 1.0, norms)
    similarity: np.ndarray = matrix @ matrix.T
    return similarity


def _clusters(sim: np.ndarray, rows: list[int], most: int, threshold: float) -> list[list[int]]:
    """Average-linkage clusters of ``rows``: merged while the linkage is at least
    ``threshold`` or there are more than ``most`` clusters of two or more."""
    groups = [[i] for i in rows]

    def linkage(a: list[int], b: list[int]) -> float:
        return float(sim[a][:, b].mean())

    while len(groups) > 1:
        value, a, b = max(
            (linkage(groups[a], groups[b]), a, b)
            for a in range(len(groups))
            for b in range(a + 1, len(groups))
        )
        if value < threshold and sum(len(g) > 1 for g in groups) <= most:
            break
        groups[a] = sorted(groups[a] + groups[b])
        del groups[b]
    return groups


class _Namer:
    """Names clusters by the phrases their papers share."""

    def __init__(
        self, index: PaperIndex, table: PhraseTable, topic: str, rows: Sequence[int]
    ) -> None:
        self.index = index
        self.table = table
        self.rows = set(rows)
        topic_words = phrase_key(re.findall(r"[A-Za-z][A-Za-z0-9'-]*", topic))
        topic_words += phrase_key(re.findall(r"[A-Za-z][A-Za-z0-9']*", topic))  # hyphen parts
        generic = set(phrase_key(sorted(GENERIC_WORDS)))
        self.phrases = [
            p
            for p in table
            if (words := set(table.expanded(p.key)) - generic) and not words <= set(topic_words)
        ]
        self._specificity: dict[tuple[str, ...], float] = {}

    def specificity(self, phrase: Phrase) -> float:
        if phrase.key not in self._specificity:
            self._specificity[phrase.key] = _specificity(self.index, phrase)
        return self._specificity[phrase.key]

    def value(self, phrase: Phrase, members: Sequence[int]) -> float:
        """How well ``phrase`` names these papers: where they use it, how specific it is."""
        weight = sum(_prominence(phrase.weights.get(i, 0.0)) for i in members)
        weight *= math.sqrt(self.specificity(phrase)) * (1 + 0.3 * (len(phrase.key) - 1))
        return weight * (NAMED_BONUS if phrase.acronym else 1.0)

    def theme(
        self, cluster: list[int], sim: np.ndarray, min_lift: float = 0.0
    ) -> tuple[ThemeGroup | None, list[int]]:
        """The cluster's theme (its best phrase used by at least two of its papers, at least
        ``min_lift`` times as much as by the draft's papers, with the papers that do not use it
        kept only while fewer) and the papers left out."""
        if len(cluster) < 2:
            return None, cluster
        best: tuple[float, Phrase] | None = None
        for phrase in self.phrases:
            users = [i for i in cluster if i in phrase.weights]
            if len(users) < 2 or all(phrase.weights[i] <= ABSTRACT_WEIGHT for i in users):
                continue  # one of the papers at least says it in its title or contribution
            lift = (len(users) / len(cluster)) / (
                len(phrase.documents & self.rows) / len(self.rows)
            )
            if lift < min_lift:
                continue  # the draft's other papers use it as much: not what these share
            coverage = len(users) / len(cluster)
            value = self.value(phrase, users) * coverage**2 * math.log(1 + lift)
            if best is None or (value, phrase.key) > (best[0], best[1].key):
                best = (value, phrase)
        if best is None:
            return None, cluster
        phrase = best[1]
        users = [i for i in cluster if i in phrase.weights]
        others = sorted(
            (i for i in cluster if i not in phrase.weights),
            key=lambda i: -_similarity(i, users, sim),
        )
        kept = others[: len(users) - 1]
        theme = ThemeGroup(phrase.heading(), sorted(users + kept), "approach", phrase)
        return theme, [i for i in others if i not in kept]


def _prominence(weight: float) -> float:
    """What a paper's use of a phrase counts for naming: in its title or contribution
    sentence, fully; only in its abstract, a quarter (every abstract mentions many things)."""
    return weight if weight > ABSTRACT_WEIGHT else ABSTRACT_WEIGHT_FOR_NAMES * weight


def _merge_same_heading(themes: list[ThemeGroup]) -> list[ThemeGroup]:
    merged: dict[str, ThemeGroup] = {}
    for theme in themes:
        if theme.heading in merged:
            kept = merged[theme.heading]
            kept.members.extend(theme.members)
            if kept.kind == "single":
                kept.kind = "approach"
        else:
            merged[theme.heading] = theme
    return list(merged.values())


def _place_alone(
    alone: list[int],
    themes: list[ThemeGroup],
    namer: _Namer,
    sim: np.ndarray,
    room: int,
) -> list[ThemeGroup]:
    """Papers in no theme: into a theme whose phrase they use, else the closest theme when
    close and its heading stays shared by most of its papers. The rest: themes of the phrases
    most of them share, then a marked theme of one per paper while there is room, else
    "Other related work". Returns the new groups (``themes`` grows in place)."""
    unplaced: list[int] = []
    for i in alone:
        using = [t for t in themes if t.phrase is not None and i in t.phrase.weights]
        if using:
            max(using, key=lambda t: _fit(i, t, sim)).members.append(i)
            continue
        for theme in sorted(themes, key=lambda t: -_similarity(i, t.members, sim)):
            phrase = theme.phrase
            sharing = sum(1 for m in theme.members if phrase and m in phrase.weights)
            close = _similarity(i, theme.members, sim) >= JOIN_SIMILARITY
            if close and sharing * 2 > len(theme.members) + 1:
                theme.members.append(i)
                break
        else:
            unplaced.append(i)
    groups: list[ThemeGroup] = []
    while len(unplaced) >= 2 and len(groups) < room - 1:
        found, unplaced = namer.theme(unplaced, sim, min_lift=0.0)
        if found is None:
            break
        groups.append(found)
    other = ThemeGroup(OTHER_HEADING, [], "other")
    named = [(i, [p for p in namer.phrases if i in p.weights]) for i in unplaced]
    singles = room - len(groups)  # all of them, else one section less: "Other" needs one
    if sum(1 for _i, own in named if own) < len(named) or len(named) > singles:
        singles -= 1
    for i, own in named:
        if own and singles > 0:
            phrase = max(own, key=lambda p: (namer.value(p, [i]), p.key))
            groups.append(ThemeGroup(phrase.heading(), [i], "single", phrase))
            singles -= 1
        else:
            other.members.append(i)
    return groups + ([other] if other.members else [])


def _fit(i: int, theme: ThemeGroup, sim: np.ndarray) -> tuple[float, float]:
    """How well paper ``i`` fits a theme whose phrase it uses: where it uses it, then how
    close it is to the theme's papers."""
    weight = theme.phrase.weights.get(i, 0.0) if theme.phrase else 0.0
    return weight, _similarity(i, theme.members, sim)


def _similarity(i: int, members: Sequence[int], sim: np.ndarray) -> float:
    others = [m for m in members if m != i]
    return float(sum(sim[i, m] for m in others) / len(others)) if others else 0.0


def _specificity(index: PaperIndex, phrase: Phrase) -> float:
    """The mean idf of the phrase's words in the index (rarer words name a narrower line)."""
    analyzer = index.lexical.analyzer
    words = [t for form, _n in phrase.forms.most_common(1) for t in analyzer.tokens(form)]
    idfs = [index.lexical.idf(t) for t in words]
    return max(0.1, sum(idfs) / len(idfs)) if idfs else 1.0


def _reading_order(members: list[int], papers: Sequence[Paper]) -> list[int]:
    """Oldest first when every paper has a year, else as retrieved (most relevant first)."""
    if all(papers[i].year for i in members):
        return sorted(members, key=lambda i: (papers[i].year or 0, i))
    return sorted(members)
