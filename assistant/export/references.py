"""Reference lines: ``[n] Title (year). link`` for answers, drafts and conversations (and the
``zotero://`` link of a paper from a Zotero library; ``(no abstract)`` for a title-only paper).

One format, with two options for conversation transcripts, which have always shown the paper's
id and its link, and a full stop after the title whatever it ends with. A title is written on one
line with its bracketed numbers as ``(n)``, so that it cannot forge a reference entry.
"""

from __future__ import annotations

from typing import Literal, Protocol

from assistant.ingest.text import clean_line
from assistant.text.quoting import quote_text

__all__ = ["Referenced", "Where", "reference_line", "reference_title"]

#: ``link_or_id``: the link, else the id; ``id_and_link``: the id, then the link if any.
Where = Literal["link_or_id", "id_and_link"]


class Referenced(Protocol):
    """A numbered paper (a citation or a draft's reference)."""

    @property
    def n(self) -> int: ...

    @property
    def paper_id(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def year(self) -> int | None: ...

    @property
    def link(self) -> str | None: ...


def reference_line(
    ref: Referenced, *, where: Where = "link_or_id", always_stop: bool = False
) -> str:
    """``[n] Title (year). where``.

    The full stop after the title (or year) is left out when there is no year and the title
    already ends with ``.``, ``?`` or ``!``, unless ``always_stop``.
    """
    title = reference_title(ref.title)
    year = f" ({ref.year})" if ref.year else ""
    stop = "." if always_stop or year or not title.endswith((".", "?", "!")) else ""
    # A paper from Zotero: its link opens the user's own item; one without an abstract is
    # marked, as its citation rests on its title alone.
    links = [link for link in (ref.link, getattr(ref, "zotero_link", None)) if link]
    if where == "id_and_link":
        place = " ".join([ref.paper_id, *links])
    else:
        place = " ".join(links) or ref.paper_id
    mark = " (no abstract)" if getattr(ref, "title_only", False) else ""
    return f"[{ref.n}] {title}{year}{stop}{mark} {clean_line(place)}"


def reference_title(title: str) -> str:
    """``title`` on one line (control characters and newlines made spaces), its bracketed
    numbers shown as ``(n)``: ``"[3] A\n[4] B"`` -> ``"(3) A (4) B"``."""
    return quote_text(clean_line(title))
