"""Source text quoted in answers, reference lists and prompts, unable to pass for a citation.

A numbered citation is ``[n]``, a group or a range of them (``[1, 2]``, ``[3-5]``); an abstract's
or a title's own bracketed numbers ("as shown in [7]") are written ``(7)`` wherever the text is
quoted, so that neither a reader nor the citation check (:mod:`assistant.generation.citations`)
takes them for the answer's own.
"""

from __future__ import annotations

import re

__all__ = ["NUMBERED_CITATION", "quote_text"]

#: ``[n]``, ``[n, m]``, ``[n-m]`` (also ``;`` and an en dash), spaces allowed inside.
NUMBERED_CITATION = re.compile(r"\[(\s*\d+(?:\s*(?:[,;]|–|-)\s*\d+)*\s*)\]")


def quote_text(text: str) -> str:
    """``text`` to quote in an answer, its bracketed numbers shown as ``(n)``.

    A source's own references ("as shown in [7]") would otherwise read, to the reader and to
    :func:`~assistant.generation.citations.check_citations`, as the answer's citations.
    """
    return NUMBERED_CITATION.sub(lambda m: f"({m.group(1).strip()})", text)
