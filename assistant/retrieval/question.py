"""Reading a literature-search question: the request around it is not what it is about.

Researchers write "Could you suggest research that explores ...", "Is there any paper that
...", "Are there any studies on ...", "Where can I find ...", "I'm looking for a paper on ...".
The request (and the kind of document asked for: research, studies, a paper, work) says nothing
about the subject, yet it moves the question's vector towards any text that talks about
research in general and gives BM25 words such as "research" and "studies". Retrieval scores
what follows it. Measured on the LitSearch questions at 59k papers (docs/benchmarks.md,
"LitSearch at 59k papers"); questions without such a frame ("Which paper ...", keywords) are
left as they are.
"""

from __future__ import annotations

import re

_ASK = (
    r"(?:could|can|would|will)\s+you\s+(?:please\s+)?(?:suggest|recommend|point(?:\s+me)?"
    r"(?:\s+to(?:wards)?)?|direct\s+me\s+to(?:wards)?|refer\s+me\s+to|provide(?:\s+me)?"
    r"(?:\s+with)?|give\s+me|find(?:\s+me)?|share|list|name|tell\s+me\s+about)"
)
_THERE = r"(?:is|are)\s+there\s+(?:any|a|an|some)?"
_HAVE = r"(?:have|has)\s+(?:any|there\s+been\s+any)?"
_WHERE = r"where\s+(?:can|could|might|may|should)\s+i\s+(?:find|look\s+for|read\s+about)"
_LOOKING = (
    r"i\s*(?:'m|\s+am)\s+(?:looking\s+for|searching\s+for|exploring|researching|interested\s+in)"
    r"|i\s+(?:would\s+like|want|need)\s+to\s+(?:find|understand|know|learn\s+about|read\s+about)"
)
_WHAT = (
    r"what\s+(?:research|studies|work|papers|literature)\s+(?:has|have|is|are)\s+(?:been\s+)?"
    r"(?:conducted|done|published|available)?\s*(?:on|about|regarding|into)?"
)
_REQUEST = re.compile(rf"^\s*(?:{_ASK}|{_THERE}|{_HAVE}|{_WHERE}|{_LOOKING}|{_WHAT})\b", re.I)
#: What the request asks for, right after it: "a recent study that", "research papers on".
_DOCUMENT = re.compile(
    r"^\s*(?:(?:some|any|a|an|the|recent|relevant|good|scholarly|foundational|influential|key|"
    r"notable|seminal|specific|existing|prior|previous|other|new|latest)\s+)*"
    r"(?:research(?:\s+papers?|\s+works?)?|stud(?:y|ies)|papers?|works?|articles?|literature|"
    r"publications?|resources?|references?)?(?:\s+(?:available|published))?"
    r"\s*(?:that|which|who|where|on|about|regarding|into|in|for|exploring|investigating|"
    r"discussing|examining|describing|detailing|addressing|focused\s+on|focusing\s+on|"
    r"dealing\s+with|related\s+to|concerning)?\b",
    re.I,
)
#: Fewer words than this left: the frame was the question (kept whole).
MIN_WORDS = 3


def without_request(question: str) -> str:
    """``question`` without the request at its start ("Could you suggest research that"), or
    as it is when it has none (or when almost nothing would be left)."""
    text = question.strip()
    request = _REQUEST.match(text)
    if request is None:
        return text
    rest = text[request.end() :]
    document = _DOCUMENT.match(rest)
    if document is not None:
        rest = rest[document.end() :]
    rest = re.sub(r"\?\s*$", "", rest.strip(" ,:;"))
    return rest if len(rest.split()) >= MIN_WORDS else text
