"""Typed records passed between the library's parts and printed by the CLI."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Paper(BaseModel):
    """One paper: a title and an abstract with whatever metadata its source had."""

    paper_id: str
    title: str
    abstract: str
    year: int | None = None
    authors: list[str] = Field(default_factory=list)
    venue: str | None = None
    doi: str | None = None
    arxiv_id: str | None = None
    url: str | None = None
    source: str | None = Field(default=None, description="File name the paper was read from.")
    extra: dict[str, str] = Field(default_factory=dict, description="Other metadata fields.")

    @property
    def citation_key(self) -> str | None:
        """The paper's key in the user's library (BibTeX key, CSL-JSON id, RIS ID), if any.

        Kept in ``extra["bibkey"]`` by the readers; BibTeX, RIS and CSL-JSON written by the
        assistant use it (see :func:`assistant.export.bibtex.assign_keys`).
        """
        return self.extra.get("bibkey") or None

    @property
    def has_abstract(self) -> bool:
        """False for a title-only paper (kept with an empty abstract, indexed by its title,
        venue, tags and keywords): nothing may be quoted or claimed from its abstract."""
        return bool(self.abstract.strip())


class Reject(BaseModel):
    """A record that could not be read, with where it was and why."""

    path: str
    location: str | None = Field(default=None, description="'line 12', 'entry smith2020', ...")
    reason: str

    def describe(self) -> str:
        where = f"{self.path}:{self.location}" if self.location else self.path
        return f"{where}: {self.reason}"


class ReadResult(BaseModel):
    """Papers read from some input, and the records rejected on the way."""

    papers: list[Paper] = Field(default_factory=list)
    rejects: list[Reject] = Field(default_factory=list)
    count: int = Field(default=0, description="Papers read (also those streamed to a sink).")
    truncated: list[Reject] = Field(
        default_factory=list, description="Papers kept with an over-long field cut."
    )


class IngestReport(BaseModel):
    """What an ingest run changed in the index."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    duplicates_merged: int = 0
    chunks_embedded: int = 0
    seconds: float = 0.0
    rejects: list[Reject] = Field(default_factory=list)
    truncated: list[Reject] = Field(
        default_factory=list,
        description="Fields cut to their limit (max_abstract_chars...), and where.",
    )


class SearchHit(BaseModel):
    """One paper in a search result."""

    rank: int
    paper_id: str
    title: str
    year: int | None = None
    score: float
    snippet: str = Field(description="The sentence of the paper that best matches the query.")
    paper: Paper | None = Field(default=None, exclude=True)


class SearchResult(BaseModel):
    """The papers found for a query, best first, with retrieval's confidence."""

    query: str
    results: list[SearchHit] = Field(default_factory=list)
    confidence: float = Field(
        default=1.0, description="Estimated probability that the corpus covers the query."
    )
    covered: bool = Field(
        default=True, description="False when the corpus likely does not cover it."
    )
    filters: str | None = Field(default=None, description="The filters applied, described.")
    notes: list[str] = Field(default_factory=list, description="Remarks on how the query ran.")
