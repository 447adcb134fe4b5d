"""Does the index cover a question at all? The signals behind an honest "not covered".

Two parts:
- ``coverage_features``: how well the best papers match what the question is about, as numbers
  that mean the same on a corpus of 400 papers or 60,000: the best chunk's cosine and how far it
  stands above the query's own top 200 (a z-score), the same for BM25, the share of the
  question's specific words (IDF-weighted) and of its two-word phrases found in one of the best
  papers, and in one of their sentences. ``bench/coverage_fit.py`` fits a model over them on the
  tuning parts of two corpora and reports it on the held-out parts; it does not beat the model in
  use (docs/benchmarks.md), so the confidence still comes from ``coverage_probability``.
- ``confidence_features`` / ``coverage_probability``: the model in use (fitted on the dev set).
- ``missing_origin``: "which paper introduced X?" when the index holds papers that use X but not
  the paper that introduced it: X is named in the question and in no indexed title.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assistant.index.bm25 import LexicalIndex
    from assistant.index.catalog import Catalog
    from assistant.records import Paper, SearchResult
    from assistant.retrieval.signals import Signals

# Coverage model: logistic regression on three features (see confidence_features), fitted with
# balanced classes on bench/devset.jsonl; leave-one-out there: 92% of unanswerable questions
# flagged, 1% of answerable ones. Below the threshold a query counts as not covered.
CONFIDENCE_BIAS = -3.46
CONFIDENCE_DENSE = 6.06
CONFIDENCE_MATCHED = 4.04
CONFIDENCE_UNKNOWN = -4.18
COVERAGE_THRESHOLD = 0.3
# A floor on the best chunk's cosine, for the default model (all-MiniLM-L6-v2): below it no
# indexed paper is close in meaning, whatever the words shared. It holds across corpora where the
# model above does not (e.g. LLM questions over biomedical abstracts): 0.38 is below the 3rd
# percentile of answerable questions on the tuning parts of both the bundled corpus and SciFact
# (bench/heldout.py, "cross-corpus" rows). Other models have other cosine scales: no floor.
MIN_BEST_COSINE = 0.38
FLOOR_MODELS = ("all-MiniLM-L6-v2",)
# A question that names a thing (a coined name, an acronym: "ChartQA", "IEMOCAP") with a word no
# indexed paper uses is about something the index does not hold, unless the match is strong
# anyway: below this confidence it counts as not covered. Names alone are not enough (claims
# often spell a gene or a drug in a way no abstract does), hence the confidence bound, chosen on
# the tuning parts (bench/heldout.py) with answerable questions flagged <= 5% on both corpora.
NAMED_CHECK_BELOW = 0.5

# Features a candidate model reads (bench/coverage_fit.py fits and reports one on them).
FEATURES = (
    "best_dense",
    "dense_z",
    "lexical_z",
    "matched",
    "unknown",
    "sentence_matched",
    "phrase_matched",
)
TOP_PAPERS = 3
# Best candidates searched for the paper that introduced a named thing.
ORIGIN_CANDIDATES = 20
_COMPOUND = re.compile(r"[-_.']")


def _idf_weights(lexical: LexicalIndex, words: Sequence[str]) -> dict[str, float]:
    return {t: lexical.idf(t) if lexical.knows(t) else lexical.max_idf() for t in set(words)}


def _bigrams(tokens: Sequence[str]) -> set[tuple[str, str]]:
    plain = [t for t in tokens if not _COMPOUND.search(t)]
    return {(a, b) for a, b in zip(plain, plain[1:], strict=False) if a != b}


SentencesFn = Callable[["Paper"], list[tuple[str, frozenset[str]]]]


def coverage_features(
    signals: Signals,
    lexical: LexicalIndex,
    sentences_of: SentencesFn,
    text: str,
    result: SearchResult,
) -> list[float]:
    """The features of FEATURES for a search just run (its signals and its top papers)."""
    analyzer = lexical.analyzer
    dense_mean, dense_spread = signals.dense_stats
    dense_z = (signals.best_dense - dense_mean) / dense_spread if signals.dense else 0.0
    lexical_mean, lexical_spread = signals.lexical_stats
    best_lexical = max(signals.lexical.values(), default=0.0)
    lexical_z = (best_lexical - lexical_mean) / lexical_spread if signals.lexical else 0.0

    query_tokens = analyzer.tokens(text)
    words = [t for t in query_tokens if not _COMPOUND.search(t)]
    if not words:
        return [signals.best_dense, dense_z, lexical_z, 0.0, 0.0, 0.0, 0.0]
    idf = _idf_weights(lexical, words)
    total = sum(idf.values()) or 1.0
    unknown = sum(v for t, v in idf.items() if not lexical.knows(t)) / total
    phrases = _bigrams(query_tokens)
    phrase_weight = {p: idf.get(p[0], 0.0) + idf.get(p[1], 0.0) for p in phrases}
    phrase_total = sum(phrase_weight.values()) or 1.0

    matched = sentence_matched = phrase_matched = 0.0
    papers: list[Paper] = [hit.paper for hit in result.results[:TOP_PAPERS] if hit.paper]
    for paper in papers:
        paper_tokens = analyzer.tokens(f"{paper.title} {paper.abstract}")
        present = set(paper_tokens)
        matched = max(matched, sum(v for t, v in idf.items() if t in present) / total)
        if phrases:
            found = _bigrams(paper_tokens) | _bigrams(analyzer.tokens(paper.title))
            share = sum(w for p, w in phrase_weight.items() if p in found) / phrase_total
            phrase_matched = max(phrase_matched, share)
        for _sentence, sentence_words in sentences_of(paper):
            share = sum(v for t, v in idf.items() if t in sentence_words) / total
            sentence_matched = max(sentence_matched, share)
    return [
        signals.best_dense,
        dense_z,
        lexical_z,
        matched,
        unknown,
        sentence_matched,
        phrase_matched,
    ]


# "Which paper introduced X?", "the X paper", "(Smith et al., 2023)", "the original X".
_ORIGIN = re.compile(
    r"\b(?:which|what)\s+(?:paper|work|study|article)\b[^?]*?\b(?:introduc|propos|present|releas)"
    r"|\bthe\s+(?:original\s+)?[\w.-]+(?:\s+[\w.-]+)?\s+paper\b"
    r"|\bin\s+the\s+original\b"
    r"|\b(?:which|what)\s+(?:paper|work|study|article)\s*,?\s*['\"\u2018\u201c]"
    r"|\bet\s+al\.?,?\s*\(?\d{4}",
    re.I,
)
# Named things: coined or capitalised words that are not the sentence's first, acronyms, each
# with the capitalised words or the number that follow it ("Switch Transformer", "Llama 2").
_WORD = re.compile(r"(?<![\w.-])[A-Za-z][\w]*(?:-[\w]+)*")
_COMMON = frozenset(
    [
        "which",
        "what",
        "how",
        "in",
        "the",
        "a",
        "an",
        "did",
        "does",
        "do",
        "is",
        "are",
        "was",
        "were",
        "paper",
        "work",
        "study",
        "introduced",
        "proposed",
        "original",
        "who",
        "when",
        "where",
        "why",
        "and",
        "or",
        "of",
        "on",
        "for",
        "with",
        "by",
        "to",
        "from",
        "its",
        "their",
    ]
)
_INTRODUCES = re.compile(
    r"\b(?:we|this paper|this work)\s+(?:\w+\s+){0,2}?(?:introduce|propose|present|release|"
    r"develop|build|create|call|name|dub)",
    re.I,
)


def _is_name(word: str, first: bool) -> bool:
    if word.lower() in _COMMON:
        return False
    coined = any(c.isupper() for c in word[1:]) or (
        any(c.isdigit() for c in word) and word[0].isalpha() and "-" in word
    )
    capital = word[0].isupper() and not first
    return coined or capital or (word.isupper() and len(word) >= 3)


_QUOTED = re.compile(
    r"(['\"\u2018\u201c])([A-Z][^'\"\u2019\u201d]*\s[^'\"\u2019\u201d]+)['\"\u2019\u201d]"
)
_AUTHORS = re.compile(
    r"\b[A-Z][\w-]+\s+et\s+al\.?|\bby\s+[A-Z][\w-]+(?:(?:,\s*|\s+and\s+)[A-Z][\w-]+)*"
)


def named_things(text: str) -> list[str]:
    """Names in a question, in order; a name runs on over capitalised words and a number.

    Authors ("Smith et al.", "by Hinton, Vinyals and Dean") are not names of things.
    """
    text = _AUTHORS.sub(lambda m: " " * len(m.group()), text)
    out: list[str] = [m.group(2) for m in _QUOTED.finditer(text)]
    matches = list(_WORD.finditer(text))
    i = 0
    while i < len(matches):
        word = matches[i].group()
        if not _is_name(word, first=i == 0):
            i += 1
            continue
        end = matches[i].end()
        j = i + 1
        while (
            j < len(matches)
            and text[end : matches[j].start()] == " "
            and (matches[j].group()[0].isupper() and matches[j].group().lower() not in _COMMON)
        ):
            end = matches[j].end()
            j += 1
        number = re.match(r" \d+(?:\.\d+)?\b", text[end:])
        if number:
            end += number.end()
        out.append(text[matches[i].start() : end])
        i = j
    return out


def _mentions(name: str, text: str) -> bool:
    return re.search(r"(?<![\w-])" + re.escape(name) + r"(?![\w])", text, re.I) is not None


def unknown_name(text: str, lexical: LexicalIndex) -> str | None:
    """The first thing the question names that has a word no indexed paper uses, if any."""
    analyzer = lexical.analyzer
    for name in named_things(text):
        words = [t for t in analyzer.tokens(name) if not _COMPOUND.search(t)]
        if any(not lexical.knows(t) for t in words):
            return name
    return None


def asks_for_origin(text: str) -> bool:
    """Whether the question asks for the paper that introduced a named thing (a regex, cheap:
    a search reads no candidate's record unless this holds)."""
    return _ORIGIN.search(text) is not None and bool(named_things(text))


def missing_origin(text: str, papers: Sequence[Paper]) -> tuple[str, list[Paper]] | None:
    """(the name, papers that mention it) when the question asks for the paper that introduced
    a named thing and none of ``papers`` (the best candidates) is that paper: no title names it
    and no abstract sentence introduces it. None otherwise."""
    if not asks_for_origin(text):
        return None
    names = named_things(text)
    from assistant.ingest.chunking import split_sentences

    main = names[0]
    for paper in papers:
        if _mentions(main, paper.title):
            return None
        for sentence in split_sentences(paper.abstract):
            if _mentions(main, sentence) and _INTRODUCES.search(sentence):
                return None
    return main, [p for p in papers if _mentions(main, f"{p.title} {p.abstract}")]


def confidence_features(
    lexical: LexicalIndex,
    text: str,
    signals: Signals,
    catalog: Catalog,
    paper_words: Callable[[Paper], set[str]] | None = None,
) -> tuple[float, float, float]:
    """Features of 'the corpus covers this query'.

    (best dense cosine; share of the query's IDF mass found in the best paper of any signal,
    dense, BM25 or another; share of that mass carried by words the corpus never uses).
    """
    best_dense = signals.best_dense
    words = {t for t in lexical.analyzer.tokens(text) if not _COMPOUND.search(t)}
    if not words:
        return best_dense, 0.0, 0.0
    idf = {t: lexical.idf(t) if lexical.knows(t) else lexical.max_idf() for t in words}
    total = sum(idf.values()) or 1.0
    unknown = sum(v for t, v in idf.items() if not lexical.knows(t)) / total
    tops = signals.tops()  # the best paper of each signal
    matched = 0.0
    for paper in catalog.get_papers(tops).values():
        present = (
            paper_words(paper)
            if paper_words is not None
            else set(lexical.analyzer.tokens(f"{paper.title} {paper.abstract}"))
        )
        matched = max(matched, sum(v for t, v in idf.items() if t in present) / total)
    return best_dense, matched, unknown


def closeness_cap(best_dense: float, embedder_name: str) -> float | None:
    """The most confidence the best cosine allows: None when it is above the floor (or the
    model has none); else a value below COVERAGE_THRESHOLD, lower the farther below it is."""
    if not embedder_name.startswith(FLOOR_MODELS) or best_dense >= MIN_BEST_COSINE:
        return None
    return COVERAGE_THRESHOLD * max(best_dense, 0.0) / MIN_BEST_COSINE * 0.999


def coverage_probability(best_dense: float, matched: float, unknown: float) -> float:
    """Logistic model of 'the corpus covers this query' (fitted on the dev questions)."""
    logit = (
        CONFIDENCE_BIAS
        + CONFIDENCE_DENSE * best_dense
        + CONFIDENCE_MATCHED * matched
        + CONFIDENCE_UNKNOWN * unknown
    )
    return 1.0 / (1.0 + math.exp(-logit))
