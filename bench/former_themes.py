"""The related-work draft's themes before issue 24, kept to measure the new ones against
(bench/related_work.py): the papers' vectors clustered by average linkage at 0.6, each group
named by its three most distinctive words ("PEFT, singular and trainable")."""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import TYPE_CHECKING

from assistant.index.bm25 import WORD
from assistant.records import Paper

if TYPE_CHECKING:
    import numpy as np

    from assistant.index.paper_index import PaperIndex

#: Average-linkage similarity above which two groups of papers are one theme.
THEME_SIMILARITY = 0.6
MIN_THEMES, MAX_THEMES = 2, 5


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


def theme_heading(words: list[str]) -> str:
    """A section heading from a theme's words (``A, b and c``); "Other work" for none."""
    if not words:
        return "Other work"
    text = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
    return text[0].upper() + text[1:]
