"""Sentence splitting and chunking of abstracts into pieces that fit the embedding window.

Every sentence of every abstract lands in at least one chunk; a sentence longer than the
window is cut into word runs (a word longer than the window, between characters) rather than
truncated, so that every word piece is embedded. The paper's title is prefixed to each chunk's
embedded text so that every chunk carries its paper's subject. A paper without an abstract is
one chunk of its venue, item type, tags and keywords (:func:`paper_sentences`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assistant.records import Paper

# Bump when chunking changes in a way that changes embedded text (part of the index fingerprint).
CHUNKER_VERSION = 1

_ABBREVIATIONS = {
    "e.g",
    "i.e",
    "et al",
    "etc",
    "vs",
    "fig",
    "figs",
    "eq",
    "eqs",
    "sec",
    "no",
    "dr",
    "mr",
    "mrs",
    "ms",
    "prof",
    "al",
    "approx",
    "resp",
    "cf",
    "ref",
    "refs",
    "tab",
    "u.s",
    "st",
    "inc",
}
# A sentence ends at . ! or ? (optionally followed by a closing quote or bracket) and whitespace
# before an upper-case letter, a digit, a quote or a bracket; also "end.Next" (a missing space).
_BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[A-Z0-9\"'(\[])|(?<=[a-z]{3}[.!?])(?=[A-Z][a-z])")


def split_sentences(text: str) -> list[str]:
    """Split an abstract into sentences, keeping abbreviations and decimals intact."""
    text = " ".join(text.split())
    if not text:
        return []
    sentences: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        candidate = text[start : match.start()].rstrip()
        last_word = candidate.rsplit(" ", 1)[-1].rstrip(".!?").lower()
        tail = candidate[-6:].lower()
        if last_word in _ABBREVIATIONS or tail.endswith(("et al.", " e.g.", " i.e.")):
            continue
        if len(last_word) == 1 and last_word.isalpha():  # an initial: "J. Smith"
            continue
        end = match.end() if text[match.start() : match.end()].strip() else match.start()
        piece = text[start:end].strip()
        if piece:
            sentences.append(piece)
        start = end
    rest = text[start:].strip()
    if rest:
        sentences.append(rest)
    return sentences


@dataclass(frozen=True)
class Chunk:
    """A run of consecutive sentences of one paper."""

    paper_id: str
    ordinal: int
    first_sentence: int
    last_sentence: int  # inclusive
    text: str  # the sentences themselves

    @property
    def chunk_id(self) -> str:
        return f"{self.paper_id}#{self.ordinal}"


def paper_sentences(paper: Paper) -> list[str]:
    """The sentences a paper is chunked from: its abstract's, or for a paper without an
    abstract, one made of what else describes it (:func:`title_only_text`)."""
    if paper.has_abstract:
        return split_sentences(paper.abstract)
    return [title_only_text(paper)]


def title_only_text(paper: Paper) -> str:
    """What stands in for a missing abstract in the index (never shown as one): the venue, the
    item type, the tags and keywords, else the title again, so that the paper's one chunk is
    found by its subject. Papers with an abstract never use it: their chunks are as before."""
    parts = [paper.venue or "", paper.extra.get("item_type", "")]
    terms = [paper.extra.get(key, "") for key in ("tags", "keywords")]
    listed = "; ".join(term for term in terms if term)
    if listed:
        parts.append(f"Keywords: {listed}")
    return ". ".join(part for part in parts if part) or paper.title


def embedded_text(title: str, chunk_text: str) -> str:
    """What the model embeds for a chunk: its paper's title, then the chunk."""
    return f"{title}. {chunk_text}" if title else chunk_text


def precounted(
    count_tokens: Callable[[Sequence[str]], list[int]], texts: Sequence[str]
) -> Callable[[Sequence[str]], list[int]]:
    """``count_tokens`` with the counts of ``texts`` taken in one call: the tokenizer works on
    a long list in parallel, and a paper's title and sentences are then looked up."""
    distinct = list(dict.fromkeys(texts))
    known = dict(zip(distinct, count_tokens(distinct), strict=True))

    def count(batch: Sequence[str]) -> list[int]:
        missing = [t for t in batch if t not in known]
        if missing:
            known.update(zip(missing, count_tokens(missing), strict=True))
        return [known[t] for t in batch]

    return count


def chunk_paper(
    paper_id: str,
    title: str,
    sentences: Sequence[str],
    count_tokens: Callable[[Sequence[str]], list[int]],
    max_tokens: int,
    overlap: int = 1,
) -> list[Chunk]:
    """Group sentences into chunks of at most ``max_tokens`` word pieces, title included.

    Consecutive chunks share ``overlap`` sentences, so a statement spread over a boundary is
    still embedded together with its neighbour.
    """
    if not sentences:
        return []
    title_cost = count_tokens([title + "."])[0] if title else 2
    budget = max(16, max_tokens - title_cost)  # [CLS]/[SEP] are counted in title_cost
    pieces: list[tuple[int, str, int]] = []  # (sentence index, text, tokens without specials)
    for index, (sentence, n) in enumerate(
        zip(sentences, count_tokens(list(sentences)), strict=True)
    ):
        cost = n - 2
        if cost <= budget:
            pieces.append((index, sentence, cost))
            continue
        for part in _split_long(sentence, budget, count_tokens):
            pieces.append((index, part, count_tokens([part])[0] - 2))

    chunks: list[Chunk] = []
    start = 0
    while start < len(pieces):
        used = 0
        end = start
        while end < len(pieces) and (end == start or used + pieces[end][2] <= budget):
            used += pieces[end][2]
            end += 1
        text = " ".join(p[1] for p in pieces[start:end])
        chunks.append(Chunk(paper_id, len(chunks), pieces[start][0], pieces[end - 1][0], text))
        if end >= len(pieces):
            break
        start = max(end - overlap, start + 1)
    return chunks


def _split_long(
    sentence: str, budget: int, count_tokens: Callable[[Sequence[str]], list[int]]
) -> list[str]:
    """Cut an over-long sentence into word runs that each fit the budget; a single word longer
    than the budget (a run of Chinese text has no spaces) is cut between characters."""
    words: list[str] = []
    for word in sentence.split():
        words.extend(_split_word(word, budget, count_tokens))
    parts: list[str] = []
    start = 0
    while start < len(words):
        # The longest run words[start:end] that fits, found by bisection: a run's count only
        # grows with its length, so this is the greedy cut with log(n) counts instead of n.
        low, high = start + 1, len(words)  # one word always fits (_split_word made it so)
        while low < high:
            middle = (low + high + 1) // 2
            if count_tokens([" ".join(words[start:middle])])[0] - 2 <= budget:
                low = middle
            else:
                high = middle - 1
        parts.append(" ".join(words[start:low]))
        start = low
    return parts


def _split_word(
    word: str, budget: int, count_tokens: Callable[[Sequence[str]], list[int]]
) -> list[str]:
    """``word`` in pieces of at most ``budget`` word pieces each: the longest prefix that fits,
    found by bisection, then the rest."""
    if len(word) <= budget:  # a word piece holds at least one character
        return [word]
    pieces: list[str] = []
    while count_tokens([word])[0] - 2 > budget:
        low, high = 1, len(word)  # the prefix word[:low] fits (one character always does)
        while low < high:
            middle = (low + high + 1) // 2
            if count_tokens([word[:middle]])[0] - 2 <= budget:
                low = middle
            else:
                high = middle - 1
        pieces.append(word[:low])
        word = word[low:]
    return [*pieces, word] if word else pieces
