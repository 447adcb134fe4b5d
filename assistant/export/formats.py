"""The reference formats the commands write: BibTeX, RIS and CSL-JSON, under one name each.

Like all of :mod:`assistant.export`, it is given the papers: it reads no index.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from assistant.records import Paper

#: ``--bib``, ``--ris``, ``--csl-json``.
ExportFormat = Literal["bib", "ris", "csl-json"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("bib", "ris", "csl-json")
_NOUNS = {
    "bib": ("BibTeX entry", "BibTeX entries"),
    "ris": ("RIS record", "RIS records"),
    "csl-json": ("CSL-JSON item", "CSL-JSON items"),
}


def export_text(fmt: ExportFormat, papers: list[Paper], keys: dict[str, str] | None = None) -> str:
    """The papers in ``fmt``; ``keys`` (paper id -> citation key) default to ``assign_keys``."""
    if fmt == "bib":
        from assistant.export.bibtex import bibliography

        return bibliography(papers, keys)
    if fmt == "ris":
        from assistant.export.ris import ris_text

        return ris_text(papers, keys)
    from assistant.export.csl_json import csl_json

    return csl_json(papers, keys)


def describe(fmt: ExportFormat, count: int) -> str:
    """``1 RIS record``, ``3 BibTeX entries``..."""
    one, many = _NOUNS[fmt]
    return f"{count} {one if count == 1 else many}"
