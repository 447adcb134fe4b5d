"""The noun phrases a set of papers shares: candidates for a theme's heading.

A phrase is a run of one to four words inside a clause (no punctuation or bracket in it) that
neither starts nor ends with a function word, a verb or a word every abstract uses ("novel",
"approach", "results"), and has no function word inside but "of" ("mixture of experts").
Phrases are compared by their stemmed words with hyphens dropped, so "fine-tuning",
"finetuning" and "Fine-Tuning" are one phrase, and a phrase is shown as the papers write it
most often. An acronym defined in a text ("low-rank adaptation (LoRA)") stands for its
expansion wherever it occurs, so "LoRA" alone counts for "low-rank adaptation".
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from assistant.index.terms import STOPWORDS

__all__ = [
    "Phrase",
    "GENERIC_WORDS",
    "PhraseTable",
    "display_phrase",
    "phrase_key",
    "phrases_in",
]

MAX_WORDS = 4
_CLAUSE = re.compile(r"[,.;:!?()\[\]{}\"“”‘’]|\s[-–—]\s|\s'|'\s")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-'][A-Za-z0-9]+)*|[0-9]+[A-Za-z][A-Za-z0-9-]*")
# Words no heading starts or ends with: what every abstract says about itself, quantities and
# evaluations, and verbs of reporting (a corpus's own verbs are added: the words after "we").
GENERIC_WORDS = frozenset(
    """
    approach approaches method methods framework frameworks technique techniques strategy
    strategies paper papers work works study studies result results performance problem
    problems task tasks way ways set sets type types kind kinds number numbers amount
    variety range use uses application applications setting settings scenario scenarios
    novel new existing various different proposed recent several many multiple simple
    effective significant comprehensive extensive first second third two three four five
    specific general overall key main important better best well good high low large small
    current previous prior state-of-the-art art sota based using via across within while
    without toward towards further also however thus therefore moreover furthermore e.g i.e
    etc et al paper's our their its this these those such other others same own whole full
    real real-world end-to-end able capable impressive remarkable promising substantial
    notable strong robust wide diverse like one ones lot lots part parts propose proposes
    show shows achieve achieves achieved improve improves improved demonstrate demonstrates
    enable enables enabled leverage leverages leveraging outperform outperforms require
    requires allow allows make makes made introduce introduces present presents provide
    provides develop develops study studied evaluate evaluates explore explores investigate
    investigates find finds found remain remains become becomes need needs help helps offer
    offers lead leads led yield yields reach reaches reduce reduces increase increases
    employ employs apply applies consider considers obtain obtains exhibit exhibits perform
    performs include includes including conduct conducts address addresses gpu gpus cpu cpus
    tpu tpus api apis ai ml exploring improving enhancing mitigating rethinking revisiting
    unlocking unleashing leveraging boosting evaluating benchmarking bridging harnessing
    investigating analyzing analysing advancing accelerating teaching making using
    democratizing empowering aligning measuring probing preserving integrating exploiting
    assessing examining uncovering unveiling unraveling tackling addressing reducing
    achieving enabling towards toward beyond lm lms llm llms plm plms mllm mllms lmm lmms
    vlm vlms nlp
    """.split()  # noqa: SIM905 - a word list, easier to read as text
)
_INSIDE = frozenset({"of"})
# Acronyms papers use without defining them (stemmed), as the words they stand for.
_COMMON_ACRONYMS = {
    "llm": ("larg", "languag", "model"),
    "lm": ("languag", "model"),
    "plm": ("pretrain", "languag", "model"),
    "mllm": ("multimod", "larg", "languag", "model"),
    "lmm": ("larg", "multimod", "model"),
    "vlm": ("visionlanguag", "model"),
    "nlp": ("natur", "languag", "process"),
}
_ACRONYM = re.compile(r"([A-Za-z][A-Za-z0-9 '-]{2,80}?)\s*\(\s*([A-Z][A-Za-z0-9-]{1,11})s?\s*\)")


@cache
def _stemmer() -> Any:
    import snowballstemmer

    return snowballstemmer.stemmer("english")


def _stem_word(word: str) -> str:
    if re.fullmatch(r"[A-Z]{2,}s", word):  # LLMs: the acronym's plural
        word = word[:-1]
    word = word.lower().replace("-", "").replace("'", "")
    stem: str = _stemmer().stemWord(word) if word.isalpha() else word
    return stem


def phrase_key(words: Sequence[str]) -> tuple[str, ...]:
    """The words of a phrase as compared: lower-cased, hyphens dropped, stemmed."""
    return tuple(_stem_word(w) for w in words)


# Words ending so are adjectives (a heading ends on its noun); the nouns among them.
_ADJECTIVE_END = re.compile(r"(?:ive|ous|ical|able|ible|less|ful|al|ic)$")
_NOUNS_LIKE_ADJECTIVES = frozenset(
    """
    retrieval proposal signal interval trial material journal tutorial removal survival
    animal hospital capital terminal manual arrival withdrawal referral rehearsal rival
    logic music topic clinic graphic metric rhetoric arithmetic objective archive
    representative detective initiative narrative alternative
    """.split()  # noqa: SIM905 - a word list, easier to read as text
)


def _last_ok(word: str) -> bool:
    """Whether a phrase may end on ``word``: a noun, not an adjective or a past participle."""
    lowered = word.lower().split("-")[-1]
    if lowered.endswith("ed") or lowered in {"better", "larger", "smaller", "higher", "lower"}:
        return False
    return lowered in _NOUNS_LIKE_ADJECTIVES or not _ADJECTIVE_END.search(lowered)


def _single_ok(word: str) -> bool:
    """Whether one word can be a heading: a name or an acronym (LoRA, StarCoder, GPT), not a
    common noun ("inference", "representation"), which says too little alone."""
    if re.fullmatch(r"[IVXivx]+", word):
        return False
    acronym = any(
        (len(part) > 1 and part.isupper()) or any(c.isupper() for c in part[1:])
        for part in word.split("-")
    )
    return acronym


def _edge_ok(word: str, verbs: frozenset[str]) -> bool:
    lowered = word.lower()
    return (
        lowered not in STOPWORDS
        and lowered not in GENERIC_WORDS
        and lowered not in verbs
        and not lowered.endswith("ly")
        and len(lowered) > 1
        and not lowered[0].isdigit()
    )


def phrases_in(text: str, verbs: frozenset[str] = frozenset()) -> list[tuple[tuple[str, ...], str]]:
    """Every candidate phrase of ``text``: ``(key, surface form)``, in order, repeats kept."""
    found: list[tuple[tuple[str, ...], str]] = []
    for clause in _CLAUSE.split(text):
        for words in _runs(clause):
            found.extend(_phrases_of_run(words, verbs))
    return found


def _runs(clause: str) -> list[list[str]]:
    """The clause's runs of words that only spaces separate ("Task 1 System" is two runs)."""
    runs: list[list[str]] = []
    end = -1
    for match in _WORD.finditer(clause):
        if runs and not clause[end : match.start()].strip():
            runs[-1].append(match.group())
        else:
            runs.append([match.group()])
        end = match.end()
    return runs


def _phrases_of_run(words: list[str], verbs: frozenset[str]) -> list[tuple[tuple[str, ...], str]]:
    """The candidate phrases within one run of words."""
    found: list[tuple[tuple[str, ...], str]] = []
    for start in range(len(words)):
        if not _edge_ok(words[start], verbs):
            continue
        for end in range(start + 1, min(start + MAX_WORDS, len(words)) + 1):
            run = words[start:end]
            last = run[-1]
            inside = run[1:-1]
            if any(w.lower() in STOPWORDS and w.lower() not in _INSIDE for w in inside):
                break
            if any(w.lower() in verbs for w in inside):
                break
            if not _edge_ok(last, verbs) or not _last_ok(last):
                continue
            if len(run) == 1 and not _single_ok(last):
                continue
            found.append((phrase_key(run), " ".join(run)))
    return found


def display_phrase(forms: Counter[str]) -> str:
    """How a phrase is shown: its most frequent spelling, lower-cased but for the parts with a
    capital after their first letter (acronyms, LoRA, LLaMA), first letter up."""
    spellings: Counter[str] = Counter()
    for form, n in forms.items():
        spellings[" ".join(_shown_word(word) for word in form.split())] += n
    text = max(spellings.items(), key=lambda kv: (kv[1], kv[0]))[0]
    return text[:1].upper() + text[1:]


def _shown_word(word: str) -> str:
    return "-".join(
        part if any(c.isupper() for c in part[1:]) else part.lower() for part in word.split("-")
    )


@dataclass
class Phrase:
    """A phrase of a set of documents: where it occurs and how it is written."""

    key: tuple[str, ...]
    weights: dict[int, float] = field(default_factory=dict)  # document -> strongest place
    forms: Counter[str] = field(default_factory=Counter)
    acronym: str | None = None

    @property
    def documents(self) -> set[int]:
        return set(self.weights)

    def heading(self) -> str:
        if not self.forms:
            return self.acronym or " ".join(self.key)
        text = display_phrase(self.forms)
        return f"{text} ({self.acronym})" if self.acronym else text


class PhraseTable:
    """The phrases of numbered documents, each given as weighted parts (title, abstract...)."""

    def __init__(self, documents: Sequence[Sequence[tuple[str, float]]]) -> None:
        verbs = _corpus_verbs(text for parts in documents for text, _w in parts)
        self.verbs = verbs
        acronyms = _acronyms(text for parts in documents for text, _w in parts)
        self.phrases: dict[tuple[str, ...], Phrase] = {}
        for doc, parts in enumerate(documents):
            for text, weight in parts:
                for key, surface in phrases_in(text, verbs):
                    target = acronyms.get(key, (key, None))[0] if len(key) == 1 else key
                    phrase = self.phrases.setdefault(target, Phrase(target))
                    if target == key:
                        phrase.forms[surface] += 1
                    phrase.weights[doc] = max(phrase.weights.get(doc, 0.0), weight)
        for expansion, acronym in acronyms.values():
            if expansion in self.phrases and acronym:
                self.phrases[expansion].acronym = acronym
        self._expansions = {key: expansion for key, (expansion, _a) in acronyms.items()}

    def expanded(self, key: tuple[str, ...]) -> tuple[str, ...]:
        """The phrase's words with each acronym replaced by the words it stands for (the papers'
        own definitions first), and compounds also as their parts."""
        words: list[str] = []
        for word in key:
            words.extend(self._expansions.get((word,), _COMMON_ACRONYMS.get(word, (word,))))
        return tuple(words)

    def __iter__(self) -> Iterator[Phrase]:
        return iter(self.phrases.values())


def _corpus_verbs(texts: Iterable[str]) -> frozenset[str]:
    """Words these texts use as verbs: the word right after "we" or "which"/"that" + word."""
    verbs: set[str] = set()
    for text in texts:
        for match in re.finditer(r"\b(?:we|We|they|it|which|that)\s+([a-z]+)\b", text):
            word = match.group(1)
            if word not in STOPWORDS and not word.endswith("ing"):
                verbs.add(word)
    return frozenset(verbs)


def _acronyms(texts: Iterable[str]) -> dict[tuple[str, ...], tuple[tuple[str, ...], str]]:
    """Acronym key -> (expansion key, acronym as written), for "long words (LW)" in ``texts``."""
    found: dict[tuple[str, ...], tuple[tuple[str, ...], str]] = {}
    for text in texts:
        for match in _ACRONYM.finditer(text):
            acronym = re.sub(r"(?<=[A-Z])s$", "", match.group(2))  # ViTs, LLMs: one ViT
            words = _WORD.findall(match.group(1))
            expansion = _expansion(words, acronym)
            if expansion:
                found[phrase_key([acronym])] = (phrase_key(expansion), acronym)
    return found


def _expansion(words: list[str], acronym: str) -> list[str] | None:
    """The trailing words whose initials (and hyphenated parts' initials) spell ``acronym``;
    function words may be skipped ("Patronizing and Condescending Language (PCL)")."""
    letters = [c.lower() for c in acronym if c.isalpha() and c.isupper()] or [
        c.lower() for c in acronym if c.isalpha()
    ]
    for size in range(1, min(len(words), MAX_WORDS + 1) + 1):
        tail = words[-size:]
        content = [w for w in tail if w.lower() not in STOPWORDS]
        initials = [p[0].lower() for w in content for p in w.split("-") if p]
        if initials == letters or [w[0].lower() for w in content] == letters:
            if _edge_ok(tail[0], frozenset()) and _edge_ok(tail[-1], frozenset()):
                return tail
            return None
    return None
