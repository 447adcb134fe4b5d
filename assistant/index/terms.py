"""Text analysis for the lexical index: stopwords, tokenising, stemming and coined names.

:class:`Analyzer` turns a title or abstract into the terms BM25 indexes and matches
(:meth:`Analyzer.bm25_terms`); ``WORD`` finds words as written, case kept. Changing what the
analyzer produces must bump ``TOKENIZER_VERSION`` so saved lexical indexes are rebuilt.
"""

from __future__ import annotations

import re

TOKENIZER_VERSION = 4

STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "also",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "via",
        "whether",
        "paper",
        "papers",
        "study",
        "studies",
        "work",
        "works",
        "propose",
        "proposed",
        "show",
        "shows",
        "showed",
        "approach",
        "approaches",
        "method",
        "methods",
        "using",
        "use",
        "used",
        "based",
        "new",
        "find",
        "found",
        "any",
        "there's",
        "what's",
        "which",
        "is",
        "are",
    ]
)

_TOKEN = re.compile(r"[a-z0-9]+(?:[-_.'][a-z0-9]+)*")
# A word as written: the case-keeping form of what _TOKEN finds in lower-cased text.
WORD = re.compile(r"[A-Za-z0-9]+(?:[-_.'][A-Za-z0-9]+)*")
_PARTS = re.compile(r"[-_.']")


def _mixed_case(part: str) -> bool:
    return any(c.isupper() for c in part[1:]) and any(c.islower() for c in part)


class Analyzer:
    """Lower-cases, splits compounds (keeping the whole), drops stopwords, Snowball-stems."""

    def __init__(self) -> None:
        import snowballstemmer

        self._stemmer = snowballstemmer.stemmer("english")
        self._cache: dict[str, str] = {}

    def _stem(self, word: str) -> str:
        stem = self._cache.get(word)
        if stem is None:
            stem = self._stemmer.stemWord(word) if word.isalpha() else word
            self._cache[word] = stem
        return stem

    def tokens(self, text: str) -> list[str]:
        out: list[str] = []
        for raw in _TOKEN.findall(text.lower()):
            raw = raw.replace("'s", "").strip("'")
            if not raw:
                continue
            parts = _PARTS.split(raw)
            if len(parts) > 1:
                out.append(raw.replace("'", ""))  # the compound itself: "zero-infinity"
                out.extend(self._stem(p) for p in parts if p and p not in STOPWORDS)
            elif raw not in STOPWORDS:
                out.append(self._stem(raw))
        return out

    def name_terms(self, text: str) -> list[str]:
        """Coined names written in mixed case ("SCoRe", "LongLoRA", "ZeRO-Infinity"), verbatim.

        Lower-casing turns "SCoRe" into the everyday word "score"; the verbatim form is rare, so
        a question that names a method reaches the paper that coined it. A name needs a part
        with a capital after its first letter and a small letter: "Zero-Shot" (title case),
        "LLMs" and "APIs" (a plural "s") are plain words, and "LoRAs" counts as "LoRA".
        """
        out: list[str] = []
        for word in WORD.findall(text):
            single = word[:-1] if word.endswith("s") and word[-2:-1].isupper() else word
            if any(_mixed_case(part) for part in _PARTS.split(single)):
                out.append(single)
        return out

    def bm25_terms(self, text: str) -> list[str]:
        """What BM25 indexes and matches: the analysed words, then the coined names."""
        return self.tokens(text) + self.name_terms(text)
