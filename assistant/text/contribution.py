"""What a paper contributes: the abstract sentence where it says what it proposes, shows or finds.

Abstracts are written in a few rhetorical moves: background, the gap, the paper's own
contribution (what it proposes, studies or asks), method, results and conclusions (Swales'
"create a research space" model; argumentative zoning). A sentence's move is read from the
cue phrases that scientific writing shares across fields, never from topic words, so the same
rules serve biomedical abstracts (SciFact), NLP papers (ACL) and the bundled LLM papers:

* the paper speaking of itself ("we", "this paper", "the present study", "here we", "our
  results", a structured abstract's OBJECTIVE/CONCLUSIONS) with a verb of proposing, studying
  or finding;
* conclusions ("these findings indicate", "in conclusion");
* the paper's own name, taken from its title ("LongLoRA: ...");
* against: background and gap phrasing ("recent years", "has been widely", "remains
  unclear", "existing methods"), method and setup details ("were randomized", "we used"), and
  links or availability notes.

A sentence that states the contribution scores highest; among equals the earlier wins (a
proposal comes before its results). Measured on hand-labelled abstracts of the three corpora,
tuning and held-out parts (``python bench/contribution_sentences.py``, docs/benchmarks.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.ingest.chunking import split_sentences
from assistant.ingest.text import clip

__all__ = [
    "Contribution",
    "abstract_sentences",
    "contribution_scores",
    "contribution_sentence",
]

# A contribution stands in lists, drafts and prompts: an abstract with no sentence end (one
# giant "sentence") must not stand there whole.
MAX_SENTENCE_CHARS = 600

# A sentence glued to the next one with no space ("disabilities.A line scan", "VICs.In
# addition", "(n = 7).To assess"), as some abstract sources join them.
_GLUED = re.compile(
    r"(?:(?<=[a-z]{2}[.!?])|(?<=[)\]%][.!?]))(?=[A-Z])|(?<=[A-Za-z0-9]{2}[.!?])(?=[A-Z][a-z])"
)


def abstract_sentences(abstract: str) -> list[str]:
    """The abstract's sentences (:func:`split_sentences`, then glued sentences apart); each one
    is a piece of the whitespace-normalised abstract."""
    sentences: list[str] = []
    for sentence in split_sentences(abstract):
        start = 0
        for match in _GLUED.finditer(sentence):
            piece = sentence[start : match.start()].strip()
            if piece:
                sentences.append(piece)
            start = match.start()
        rest = sentence[start:].strip()
        if rest:
            sentences.append(rest)
    return sentences


def _words(*alternatives: str) -> str:
    return r"\b(?:" + "|".join(alternatives) + r")\b"


_I = re.IGNORECASE
# The paper speaking of itself.
_SELF = re.compile(
    _words(
        r"we",
        r"(?:this|the present|the current|our) (?:paper|work|study|article|report|review|survey|"
        r"note|thesis|chapter|letter|investigation|analysis|research|project|proposal|"
        r"contribution|technical report|tutorial|position paper|book)",
        r"our (?:approach|method|model|system|framework|results?|findings?|data|analys[ie]s|"
        r"experiments?|evaluation|contributions?|goal|aim|technique|algorithm|tool|pipeline)",
        # A few French self-references (TALN papers of the ACL Anthology).
        r"nous",
        r"(?:cet|cette|ce) (?:article|travail|étude|papier|contribution)",
    ),
    _I,
)
_PROPOSE = re.compile(
    _words(
        r"propos(?:e|es|ed|ing)",
        r"present(?:s|ed|ing)?",
        r"introduc(?:e|es|ed|ing)",
        r"describ(?:e|es|ed|ing)",
        r"develop(?:s|ed|ing)?",
        r"design(?:s|ed)?",
        r"buil[dt]s?",
        r"creat(?:e|es|ed)",
        r"construct(?:s|ed)?",
        r"devis(?:e|es|ed)",
        r"formulat(?:e|es|ed)",
        r"defin(?:e|es|ed)",
        r"offer(?:s|ed)?",
        r"provid(?:e|es|ed)",
        r"contribut(?:e|es|ed)",
        r"report(?:s|ed)?",
        r"outlin(?:e|es|ed)",
        r"releas(?:e|es|ed)",
        r"open-sourc(?:e|es|ed)",
        r"proposons|présentons|décrivons|introduisons|propose|présente|décrit",
    ),
    _I,
)
_STUDY = re.compile(
    _words(
        r"investigat(?:e|es|ed|ing)",
        r"stud(?:y|ies|ied)",
        r"examin(?:e|es|ed)",
        r"explor(?:e|es|ed)",
        r"evaluat(?:e|es|ed)",
        r"analy[sz](?:e|es|ed)",
        r"assess(?:es|ed)?",
        r"compar(?:e|es|ed)",
        r"test(?:s|ed)?",
        r"characteri[sz](?:e|es|ed)",
        r"benchmark(?:s|ed)?",
        r"address(?:es|ed)?",
        r"tackl(?:e|es|ed)",
        r"focus(?:es|ed)?",
        r"aim(?:s|ed)?",
        r"s(?:eek|eeks|ought)",
        r"ask(?:s|ed)?",
        r"revisit(?:s|ed)?",
        r"challeng(?:e|es|ed)",
        r"argu(?:e|es|ed)",
        r"hypothesi[sz](?:e|es|ed)",
        r"conduct(?:s|ed)?",
        r"extend(?:s|ed)?",
        r"étudions|explorons|analysons|évaluons|étudie|explore|analyse",
    ),
    _I,
)
_FIND = re.compile(
    _words(
        r"show(?:s|ed|n)?",
        r"demonstrat(?:e|es|ed)",
        r"f(?:ind|inds|ound)",
        r"reveal(?:s|ed)?",
        r"identif(?:y|ies|ied)",
        r"observ(?:e|es|ed)",
        r"discover(?:s|ed)?",
        r"confirm(?:s|ed)?",
        r"prov(?:e|es|ed)",
        r"establish(?:es|ed)?",
        r"conclud(?:e|es|ed)",
        r"suggest(?:s|ed)?",
        r"indicat(?:e|es|ed)",
        r"uncover(?:s|ed)?",
        r"montrons|montre",
    ),
    _I,
)
_CONCLUSION = re.compile(
    r"^(?:in (?:conclusion|summary|sum)|to conclude|overall|taken together|collectively|"
    r"altogether|conclusions?|interpretation)\b"
    r"|\b(?:these|our|the|this|such|present) (?:results?|findings?|data|observations?|"
    r"experiments?|studies|analys[ie]s|evidence|work) (?:\S+ ){0,6}?(?:suggest|indicate|show|"
    r"demonstrate|reveal|establish|support|define|highlight|provide|imply|identify|"
    r"underscore|point)",
    _I,
)
_AIM = re.compile(
    r"\b(?:the|our) (?:aim|purpose|goal|objective|object|intent|focus)s? (?:of|in|is|was)\b"
    r"|^(?:objectives?|purpose|aims?|goal|scope|research question)\b",
    _I,
)
_RESULT = re.compile(
    _words(
        r"outperform(?:s|ed|ing)?",
        r"state-of-the-art",
        r"significantly",
        r"improv(?:e|es|ed|ement|ements)",
        r"achiev(?:e|es|ed)",
        r"surpass(?:es|ed)?",
        r"competitive",
        r"superior",
        r"gains?",
        r"effective(?:ness)?",
        r"associated with",
    ),
    _I,
)
_BACKGROUND = re.compile(
    r"^(?:recent(?:ly)?|in (?:the )?recent (?:years|decades|times)|over the (?:past|last)|"
    r"nowadays|currently|traditionally|historically|with the (?:rapid|advent|development|"
    r"growth|rise|success|emergence|increasing|proliferation)|the (?:rapid|recent|growing)|"
    r"despite|although|though|while|whereas|however|yet|unfortunately|background|introduction|"
    r"context|rationale|motivation)\b"
    + r"|"
    + _words(
        r"(?:has|have) (?:been|become|attracted|emerged|shown|gained|achieved|demonstrated|"
        r"led|drawn|made|seen|received|proven|revolutionized|transformed)",
        r"remains? (?:unclear|unknown|challenging|an open|largely|poorly|unexplored|limited|"
        r"elusive|difficult|underexplored)",
        r"little is known",
        r"(?:is|are) (?:not|poorly) (?:well )?understood",
        r"few (?:studies|works|methods)",
        r"(?:previous|prior|existing|current|conventional|traditional) (?:work|works|studies|"
        r"research|methods|approaches|models|systems|techniques|benchmarks)",
        r"(?:is|are) (?:a|an|one of the) (?:\w+ )?(?:key|important|crucial|fundamental|central|"
        r"critical|challenging|promising|popular|essential|major|common)",
        r"plays? an? (?:important|key|crucial|vital|central|critical|major) role",
        r"widely (?:used|adopted|studied|applied|recognized|believed)",
        r"it is (?:well )?known",
        r"(?:suffer|struggle)s? (?:from|with)",
    ),
    _I,
)
_METHOD = re.compile(
    r"^(?:methods?|materials|design|setting|participants|patients|subjects|measurements|"
    r"main outcome|data sources|study selection|interventions?)\b"
    + r"|"
    + _words(
        r"(?:was|were) (?:randomi[sz]ed|enrolled|recruited|included|collected|measured|"
        r"analy[sz]ed|assessed|obtained|performed|used|treated|stimulated|administered|"
        r"reviewed|followed|estimated|calculated|classified|divided)",
        r"we (?:use|used|employ|employed|apply|applied|adopt|adopted|train|trained|fine-tune|"
        r"fine-tuned|collect|collected|annotate|annotated|extract|extracted|measured|recruited)",
        r"(?:specifically|concretely|in particular),",
    ),
    _I,
)
_AVAILABILITY = re.compile(
    r"https?://|\bwww\.|\bgithub\b|\bavailable (?:at|from|online|upon|on)\b"
    r"|\b(?:code|codes|data|dataset|datasets|models?|resources?|weights|checkpoints|demo)"
    r"(?: and [\w-]+)*,? (?:is|are|will be|have been) (?:publicly |freely |openly )?"
    r"(?:available|released|open-sourced|accessible)",
    _I,
)
_FINDING_HEADER = re.compile(r"^(?:results?|findings|measurements and main results)\b", _I)
_TITLE_NAME = re.compile(r"^\s*([^:]{2,40}?)\s*:\s+\S")


@dataclass(frozen=True)
class Contribution:
    """The sentence that stands for a paper, and where it sits in its abstract."""

    sentence: str
    position: int
    score: float


# Weights chosen on the tuning part of the labelled abstracts (bench/contribution_sentences.py).
# A sentence scores by its strongest move, plus bonuses and penalties.
_MOVES = {
    "propose": 5.0,  # we propose / this paper presents
    "announce": 4.5,  # in this paper, we <do something> / here we <...>
    "conclusion": 4.5,  # these results indicate / in conclusion
    "study": 4.0,  # we investigate / this study examines
    "find": 4.0,  # we show / we found
    "aim": 3.5,  # the purpose of this study was
    "result": 1.5,  # outperforms / significantly improves
}
_BONUSES = {
    "here": 1.0,  # "here we", "in this paper, we": the paper turns to itself
    "name": 1.5,  # the paper's own name, from its title
    "finding_header": 0.5,
    "background": -2.0,
    "method": -1.5,
    "availability": -6.0,
    "title_overlap": 1.0,
}
_OPENING = -0.5
#: Of the sentences scoring within this of the best, the earliest stands for the paper (its
#: proposal comes before its results).
EARLIER_MARGIN = 0.5
_HERE = re.compile(
    r"\bhere,? we\b|^(?:in|with) (?:this|the present|the current) (?:paper|work|study|article|"
    r"report|note|survey|review)\b|^(?:this|the present) (?:paper|work|study|article|report|"
    r"note|survey|review)\b",
    _I,
)


def _paper_name(title: str) -> str | None:
    """The name a title gives its system ("LongLoRA" in "LongLoRA: Efficient ..."), if any."""
    match = _TITLE_NAME.match(title)
    if not match:
        return None
    name = match.group(1).strip()
    return name if len(name.split()) <= 4 else None


_CONTENT = re.compile(r"[A-Za-z][A-Za-z0-9-]{3,}")


def _title_words(title: str) -> set[str]:
    return {w.lower() for w in _CONTENT.findall(title)}


def contribution_scores(sentences: Sequence[str], title: str = "") -> list[float]:
    """How strongly each sentence states the paper's own contribution (higher: more)."""
    name = _paper_name(title)
    name_pattern = re.compile(r"\b" + re.escape(name) + r"\b", _I) if name else None
    title_words = _title_words(title)
    scores = []
    for position, sentence in enumerate(sentences):
        own = bool(_SELF.search(sentence))
        named = bool(name_pattern and name_pattern.search(sentence))
        verbs = _SELF.sub(" ", sentence)  # "this study" is no verb of studying
        moves = {
            "propose": (own or named) and bool(_PROPOSE.search(verbs)),
            "announce": own and bool(_HERE.search(sentence)),
            "conclusion": bool(_CONCLUSION.search(sentence)),
            "study": own and bool(_STUDY.search(verbs)),
            "find": own and bool(_FIND.search(verbs)),
            "aim": bool(_AIM.search(sentence)),
            "result": bool(_RESULT.search(sentence)),
        }
        score = max((_MOVES[m] for m, on in moves.items() if on), default=0.0)
        if position == 0 and not score and not own:
            score = _OPENING  # an abstract opens on its background unless it says otherwise
        bonuses = {
            "here": bool(_HERE.search(sentence)),
            "name": named,
            "finding_header": bool(_FINDING_HEADER.search(sentence)),
            "background": not own and bool(_BACKGROUND.search(sentence)),
            "method": bool(_METHOD.search(sentence)),
            "availability": bool(_AVAILABILITY.search(sentence)),
        }
        score += sum(_BONUSES[b] for b, on in bonuses.items() if on)
        if title_words:
            shared = title_words & {w.lower() for w in _CONTENT.findall(sentence)}
            score += _BONUSES["title_overlap"] * len(shared) / len(title_words)
        scores.append(score)
    return scores


def contribution_sentence(title: str, abstract: str, min_words: int = 5) -> Contribution:
    """The abstract sentence that says what the paper contributes (the title when there is none).

    Sentences under ``min_words`` words are skipped unless every sentence is that short.
    """
    sentences = abstract_sentences(abstract)
    candidates = [i for i, s in enumerate(sentences) if len(s.split()) >= min_words] or list(
        range(len(sentences))
    )
    if not candidates:
        return Contribution(sentence=title, position=-1, score=0.0)
    scores = contribution_scores(sentences, title)
    top = max(scores[i] for i in candidates)
    best = min(i for i in candidates if scores[i] >= top - EARLIER_MARGIN)
    sentence = clip(sentences[best], MAX_SENTENCE_CHARS)
    return Contribution(sentence=sentence, position=best, score=scores[best])


_ABOUT_A_PAPER = re.compile(
    r"^\s*what\s+(?:is|are|was)\s+(?!the\s+(?:best|difference|effect|impact|role|relation))"
    r"[^?.,;]{1,60}\??\s*$"
    r"|\bwhat\s+(?:does|do|did)\b.*\b(?:propose|introduce|present|contribute|do|show|find|"
    r"achieve|offer|add)\b"
    r"|\b(?:which|what)\s+(?:paper|papers|work|works|study|studies|method|model|approach|system|"
    r"framework|article|technique)\b.*\b(?:propos|introduc|present|describ|develop|show|found|"
    r"find|report|demonstrat|contribut)"
    r"|\bcontributions?\s+of\b|\bwhat\s+is\s+new\s+(?:in|about)\b",
    re.IGNORECASE,
)


def asks_what_paper_does(question: str) -> bool:
    """Whether a question asks what a paper (or a named method) is, does or contributes:
    "What is LongLoRA?", "What does X propose?", "Which paper introduces ...?"."""
    return bool(_ABOUT_A_PAPER.search(question))
