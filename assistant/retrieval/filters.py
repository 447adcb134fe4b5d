"""Search filters: given as flags, or recognised in the question itself ("since 2023")."""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

from assistant.records import Paper


class SearchFilters(BaseModel):
    """Restrictions on which papers may be returned; all given ones must hold."""

    year_from: int | None = None
    year_to: int | None = None
    venue: str | None = Field(default=None, description="Substring of the venue, any case.")
    author: str | None = Field(default=None, description="Substring of an author's name.")
    source: str | None = Field(default=None, description="Source file name the paper came from.")
    metadata: dict[str, str] = Field(
        default_factory=dict, description="Other fields: key=value, exact (case-insensitive)."
    )

    def is_empty(self) -> bool:
        return not (
            self.year_from
            or self.year_to
            or self.venue
            or self.author
            or self.source
            or self.metadata
        )

    def merged(self, other: SearchFilters) -> SearchFilters:
        """These filters with ``other``'s set values added (``other`` wins on conflicts)."""
        data = self.model_dump()
        for key, value in other.model_dump().items():
            if key == "metadata":
                data["metadata"] = {**data["metadata"], **value}
            elif value is not None:
                data[key] = value
        return SearchFilters(**data)

    def matches(self, paper: Paper) -> bool:
        if self.year_from is not None and (paper.year is None or paper.year < self.year_from):
            return False
        if self.year_to is not None and (paper.year is None or paper.year > self.year_to):
            return False
        if self.venue and (not paper.venue or self.venue.lower() not in paper.venue.lower()):
            return False
        if self.author:
            wanted = self.author.lower()
            if not any(wanted in name.lower() for name in paper.authors):
                return False
        if self.source and paper.source != self.source:
            return False
        for key, value in self.metadata.items():
            have = getattr(paper, key, None) if key in Paper.model_fields else paper.extra.get(key)
            if have is None or str(have).lower() != value.lower():
                return False
        return True

    def describe(self) -> str:
        parts = []
        if self.year_from and self.year_to and self.year_from == self.year_to:
            parts.append(f"year {self.year_from}")
        else:
            if self.year_from:
                parts.append(f"year >= {self.year_from}")
            if self.year_to:
                parts.append(f"year <= {self.year_to}")
        if self.venue:
            parts.append(f"venue ~ {self.venue}")
        if self.author:
            parts.append(f"author ~ {self.author}")
        if self.source:
            parts.append(f"source = {self.source}")
        parts.extend(f"{k} = {v}" for k, v in self.metadata.items())
        return ", ".join(parts)


_YEAR = r"((?:19|20)\d\d)"
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(
            rf"\b(?:published\s+)?(?:since|after|from)\s+{_YEAR}\b(?:\s+on(?:wards?)?)?", re.I
        ),
        "from",
    ),
    (re.compile(rf"\b(?:published\s+)?(?:before|until|up to|prior to)\s+{_YEAR}\b", re.I), "to"),
    (
        re.compile(
            rf"\b(?:published\s+)?(?:between|from)\s+{_YEAR}\s+(?:and|to|-)\s+{_YEAR}\b", re.I
        ),
        "range",
    ),
    (re.compile(rf"\b(?:published\s+)?in\s+{_YEAR}\b", re.I), "in"),
    (re.compile(rf"\b{_YEAR}\s+papers\b", re.I), "in"),
]
_AUTHOR = re.compile(
    r"\b(?:papers?|work|articles?|studies)\s+(?:written\s+)?by\s+"
    r"([A-Z][\w'\-]+(?:\s+[A-Z][\w'\-]+)?)",
)


def parse_query_filters(question: str) -> tuple[str, SearchFilters]:
    """Pull year and author restrictions out of a question.

    Returns the question with those phrases removed, and the filters found.
    """
    filters = SearchFilters()
    text = question
    for pattern, kind in sorted(_PATTERNS, key=lambda p: p[1] != "range"):
        match = pattern.search(text)
        if not match:
            continue
        if kind == "range":
            low, high = sorted((int(match.group(1)), int(match.group(2))))
            filters.year_from, filters.year_to = low, high
        elif kind == "from" and filters.year_from is None:
            filters.year_from = int(match.group(1)) + (
                1 if "after" in match.group(0).lower() else 0
            )
        elif kind == "to" and filters.year_to is None:
            filters.year_to = int(match.group(1)) - (
                0 if "until" in match.group(0).lower() or "up to" in match.group(0).lower() else 1
            )
        elif kind == "in" and filters.year_from is None and filters.year_to is None:
            filters.year_from = filters.year_to = int(match.group(1))
        else:
            continue
        text = text[: match.start()] + text[match.end() :]
    author = _AUTHOR.search(text)
    if author:
        filters.author = author.group(1)
        text = text[: author.start()] + "papers" + text[author.end() :]
    cleaned = re.sub(r"\s+([?.!,;:])", r"\1", " ".join(text.split())).strip(" ,") or question
    return cleaned, filters
