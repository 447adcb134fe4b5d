"""Guards on a model's reply, for any model: reasoning split off, loops stopped, deadlines.

:class:`ThinkSplitter` separates ``<think>...</think>`` blocks (Qwen3, DeepSeek-R1 through
Ollama or llama.cpp) from the answer, also when a tag is split across stream chunks.
:class:`RepetitionGuard` notices a reply that loops (a repeated paragraph, or a run of words
seen three times) so the client can stop it. :class:`Deadlines` holds the first-token and
whole-reply deadlines of one call, across its retries. No I/O here, and no SDK.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

__all__ = ["Deadlines", "RepetitionGuard", "ThinkSplitter", "strip_reasoning"]

_OPEN_TAGS = ("<think>", "<thinking>")
_CLOSE_TAGS = ("</think>", "</thinking>")
_BLOCK = re.compile(r"<(think|thinking)>.*?(?:</\1>|\Z)", re.IGNORECASE | re.DOTALL)
_DANGLING_CLOSE = re.compile(r"^.*?</(?:think|thinking)>", re.IGNORECASE | re.DOTALL)


def strip_reasoning(text: str) -> tuple[str, str]:
    """``(answer, reasoning)`` of a whole reply: ``<think>`` blocks moved out of the answer.

    A reply that starts inside a block (the opening tag was in the chat template, as with some
    DeepSeek-R1 builds) has everything up to the first closing tag taken as reasoning.
    """
    reasoning: list[str] = []

    def take(match: re.Match[str]) -> str:
        inner = re.sub(r"^<[^>]+>|</[^>]+>$", "", match.group(0))
        reasoning.append(inner.strip())
        return ""

    answer = _BLOCK.sub(take, text)
    dangling = _DANGLING_CLOSE.match(answer)
    if dangling:
        reasoning.insert(0, re.sub(r"</[^>]+>$", "", dangling.group(0)).strip())
        answer = answer[dangling.end() :]
    return answer.strip(), "\n".join(r for r in reasoning if r)


class ThinkSplitter:
    """Splits streamed text into answer and reasoning pieces at ``<think>`` tags.

    ``feed`` returns ``(is_reasoning, text)`` pieces in order; a possible partial tag at the end
    of a chunk is held back until the next chunk (or :meth:`close`) decides it.
    """

    def __init__(self) -> None:
        self.inside = False
        self._pending = ""

    def feed(self, text: str) -> list[tuple[bool, str]]:
        buffer = self._pending + text
        self._pending = ""
        pieces: list[tuple[bool, str]] = []
        while buffer:
            tags = _CLOSE_TAGS if self.inside else _OPEN_TAGS
            lowered = buffer.lower()
            found = [(lowered.find(tag), tag) for tag in tags if tag in lowered]
            if found:
                at, tag = min(found)
                if at:
                    pieces.append((self.inside, buffer[:at]))
                self.inside = not self.inside
                buffer = buffer[at + len(tag) :]
                continue
            held = _partial_tag_suffix(lowered, tags)
            if len(buffer) > held:
                pieces.append((self.inside, buffer[: len(buffer) - held]))
            self._pending = buffer[len(buffer) - held :]
            break
        return pieces

    def close(self) -> list[tuple[bool, str]]:
        """What is still held back (a partial tag that never completed), as text."""
        pending, self._pending = self._pending, ""
        return [(self.inside, pending)] if pending else []


def _partial_tag_suffix(lowered: str, tags: tuple[str, ...]) -> int:
    """Length of the longest end of ``lowered`` that could begin one of ``tags``."""
    longest = 0
    for tag in tags:
        for size in range(min(len(tag) - 1, len(lowered)), 0, -1):
            if lowered.endswith(tag[:size]):
                longest = max(longest, size)
                break
    return longest


_WORD = re.compile(r"\S+")


class RepetitionGuard:
    """Notices a reply that has fallen into a loop.

    A loop is a paragraph (of at least ``min_paragraph_words`` words) that repeats an earlier
    one, or a run of ``ngram`` words seen for the ``max_repeats``-th time. :meth:`feed` returns
    True once the text loops; :attr:`kept` is then the text before the loop's first repeat.
    """

    def __init__(self, ngram: int = 10, max_repeats: int = 3, min_paragraph_words: int = 8) -> None:
        self.ngram = ngram
        self.max_repeats = max_repeats
        self.min_paragraph_words = min_paragraph_words
        self.text = ""
        self.looped_at: int | None = None
        self._words: list[tuple[str, int]] = []  # (normalised word, start offset)
        self._scanned = 0
        self._seen: dict[tuple[str, ...], list[int]] = {}
        self._paragraphs: dict[str, int] = {}
        self._paragraph_start = 0

    @property
    def kept(self) -> str:
        """The text up to the loop (all of it when there is none)."""
        return self.text if self.looped_at is None else self.text[: self.looped_at].rstrip()

    def feed(self, piece: str) -> bool:
        if self.looped_at is not None:
            return True
        self.text += piece
        # Only words followed by whitespace are complete; the last one may still grow.
        for match in _WORD.finditer(self.text, self._scanned):
            if match.end() == len(self.text):
                break
            self._scanned = match.end()
            word = re.sub(r"\W+", "", match.group(0).lower())
            if word:
                self._words.append((word, match.start()))
                if self._check_ngram():
                    return True
        return self._check_paragraphs()

    def _check_ngram(self) -> bool:
        if len(self._words) < self.ngram:
            return False
        window = self._words[-self.ngram :]
        key = tuple(w for w, _ in window)
        starts = self._seen.setdefault(key, [])
        starts.append(window[0][1])
        if len(starts) >= self.max_repeats:
            self.looped_at = starts[1]
            return True
        return False

    def _check_paragraphs(self) -> bool:
        while True:
            end = self.text.find("\n", self._paragraph_start)
            if end < 0:
                return False
            start, self._paragraph_start = self._paragraph_start, end + 1
            words = _WORD.findall(self.text[start:end].lower())
            if len(words) < self.min_paragraph_words:
                continue
            key = " ".join(re.sub(r"\W+", "", w) for w in words)
            if key in self._paragraphs:
                self.looped_at = start
                return True
            self._paragraphs[key] = start


class Deadlines:
    """The first-token and whole-reply deadlines of one call (its retries included).

    ``first_token`` None means only the whole-reply deadline applies. Call
    :meth:`started_answering` at the first token (a reply that is not streamed has none before
    it comes whole, so the first-token deadline bounds all of it). With ``per_attempt``, the
    first-token clock starts again at each :meth:`new_attempt` (a server that answered, if only
    to say "retry after 20 s", is not stalled); the whole-reply one never does.
    """

    def __init__(
        self,
        first_token: float | None,
        total: float,
        clock: Callable[[], float] = time.monotonic,
        per_attempt: bool = False,
    ) -> None:
        self.clock = clock
        self.first_token = first_token
        self.total = total
        self.per_attempt = per_attempt
        self.started = self.attempt_started = clock()
        self.answering = first_token is None

    def started_answering(self) -> None:
        self.answering = True

    def new_attempt(self) -> None:
        """An attempt (the first, or a retry) begins."""
        if self.per_attempt:
            self.attempt_started = self.clock()

    @property
    def kind(self) -> str:
        """Which deadline binds now: ``"first_token"`` or ``"answer"``."""
        if self.answering or self.first_token is None:
            return "answer"
        if self.attempt_started + self.first_token < self.started + self.total:
            return "first_token"
        return "answer"

    @property
    def seconds(self) -> float:
        """The binding deadline, in seconds (after the attempt's start for the first token)."""
        return self.first_token if self.kind == "first_token" and self.first_token else self.total

    def remaining(self) -> float:
        """Seconds left before the binding deadline (negative once it passed)."""
        start = self.attempt_started if self.kind == "first_token" else self.started
        return start + self.seconds - self.clock()

    def left_for_retry(self) -> tuple[float, float]:
        """(seconds left, the deadline they are left of) for a retry and its wait."""
        if self.per_attempt:
            return self.started + self.total - self.clock(), self.total
        return self.remaining(), self.seconds

    def elapsed(self) -> float:
        return self.clock() - self.started
