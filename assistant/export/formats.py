"""The reference formats the commands write: BibTeX, RIS and CSL-JSON, under one name each."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

from assistant.records import Paper

if TYPE_CHECKING:
    from assistant.index.catalog import Catalog

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


def papers_by_id(catalog: Catalog, ids: Iterable[str]) -> list[Paper]:
    """The indexed papers with these ids, in the given order (ids not indexed are left out)."""
    wanted = list(ids)
    found = catalog.get_papers(wanted)
    return [found[pid] for pid in wanted if pid in found]
