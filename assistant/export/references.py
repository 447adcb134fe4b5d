"""Reference lines: ``[n] Title (year). link`` for answers, drafts and conversations.

One format, with two options for conversation transcripts, which have always shown the paper's
id and its link, and a full stop after the title whatever it ends with.
"""

from __future__ import annotations

from typing import Literal, Protocol

__all__ = ["Referenced", "Where", "reference_line"]

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
    year = f" ({ref.year})" if ref.year else ""
    stop = "." if always_stop or year or not ref.title.endswith((".", "?", "!")) else ""
    if where == "id_and_link":
        place = ref.paper_id + (f" {ref.link}" if ref.link else "")
    else:
        place = ref.link or ref.paper_id
    return f"[{ref.n}] {ref.title}{year}{stop} {place}"
