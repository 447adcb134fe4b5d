"""Search filters: given as flags, or recognised in the question itself ("since 2023")."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from assistant.errors import UsageError
from assistant.records import Paper

if TYPE_CHECKING:
    from assistant.index.catalog import Catalog


class SearchFilters(BaseModel):
    """Restrictions on which papers may be returned; all given ones must hold."""

    year_from: int | None = None
    year_to: int | None = None
    venue: str | None = Field(default=None, description="Substring of the venue, any case.")
    author: str | None = Field(default=None, description="Substring of an author's name.")
    source: str | None = Field(default=None, description="Source file name the paper came from.")
    collection: str | None = Field(
        default=None,
        description="A Zotero collection (name or path, any case), sub-collections included.",
    )
    tag: str | None = Field(default=None, description="A tag or keyword of the paper, any case.")
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
            or self.collection
            or self.tag
        )

    def needs_records(self) -> bool:
        """True when the filters read more than the year and source (not a SQL or Chroma
        ``where`` on those two alone)."""
        return bool(self.venue or self.author or self.metadata or self.collection or self.tag)

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
        if self.collection and not in_collection(paper, self.collection):
            return False
        if self.tag and self.tag.strip().lower() not in paper_tags(paper):
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
        if self.collection:
            parts.append(f"collection = {self.collection}")
        if self.tag:
            parts.append(f"tag = {self.tag}")
        parts.extend(f"{k} = {v}" for k, v in self.metadata.items())
        return ", ".join(parts)


def paper_tags(paper: Paper) -> set[str]:
    """A paper's tags (Zotero's) and keywords (a .bib's or RIS's), lower-cased."""
    found: set[str] = set()
    for key, separators in (("tags", ";"), ("keywords", ";,")):
        text = paper.extra.get(key, "")
        for separator in separators[1:]:
            text = text.replace(separator, separators[0])
        found.update(t.strip().lower() for t in text.split(separators[0]) if t.strip())
    return found


def in_collection(paper: Paper, name: str) -> bool:
    """True when the paper is in the Zotero collection ``name`` (its name or its path, any
    case) or in one of its sub-collections."""
    wanted = name.strip().strip("/").lower()
    for path in paper.extra.get("zotero_collections", "").lower().split("; "):
        parts = path.split("/")
        if path == wanted or path.startswith(wanted + "/") or wanted in parts:
            return True
    return False


# --- filters that explain themselves ------------------------------------------------------------

#: Paper fields a ``key=value`` filter can name (``extra`` holds the other metadata keys).
FIELD_KEYS = tuple(name for name in Paper.model_fields if name != "extra")
_LISTED_KEYS = 30


def check_filters(filters: SearchFilters, catalog: Catalog | None = None) -> None:
    """Raise :class:`UsageError` for filters that cannot mean what was asked.

    An inverted year range; with ``catalog``, a ``key=value`` key that no indexed paper has,
    in its fields or its other metadata (the hint lists the keys there are).
    """
    inverted = inverted_range(filters)
    if inverted:
        assert filters.year_from is not None and filters.year_to is not None
        raise UsageError(
            f"The year range is empty: {inverted}.",
            hint=f"Swap the years: from {filters.year_to} until {filters.year_from}.",
        )
    unknown = [key for key in filters.metadata if key not in FIELD_KEYS]
    if not unknown or catalog is None:
        return
    have: set[str] = set()
    for paper in catalog.iter_papers():
        have.update(paper.extra)
        if all(key in have for key in unknown):
            return
    missing = next(key for key in unknown if key not in have)
    raise UsageError(
        f"Unknown filter key {missing!r}: no indexed paper has it, in its fields or its other "
        f"metadata, so {missing}={filters.metadata[missing]} would match nothing.",
        hint=known_keys_hint(missing, have),
    )


def known_keys_hint(key: str, extra_keys: Iterable[str]) -> str:
    """``Known keys: ...`` (the paper fields, then the other metadata keys), with a guess."""
    others = sorted(set(extra_keys) - set(FIELD_KEYS))
    listed = [*FIELD_KEYS, *others[:_LISTED_KEYS]]
    more = f" and {len(others) - _LISTED_KEYS} more" if len(others) > _LISTED_KEYS else ""
    close = difflib.get_close_matches(key.lower(), [*FIELD_KEYS, *others], n=1)
    guess = f"Did you mean {close[0]!r}? " if close else ""
    return f"{guess}Known keys: {', '.join(listed)}{more}."


def inverted_range(filters: SearchFilters) -> str | None:
    """Why the year range is empty (``from 2024 is after until 2020``), or None."""
    low, high = filters.year_from, filters.year_to
    if low is not None and high is not None and low > high:
        return f"from {low} is after until {high}"
    return None


def no_match_message(filters: SearchFilters, catalog: Catalog) -> str | None:
    """``No paper matches the filters (...): <why>.``, or None if some paper matches them."""
    why = why_nothing_matches(filters, catalog)
    return f"No paper matches the filters ({filters.describe()}): {why}." if why else None


def why_nothing_matches(filters: SearchFilters, catalog: Catalog) -> str | None:
    """Why no indexed paper passes ``filters`` ("none of the 425 indexed papers has a year"...).

    None when some paper passes them (or no filter is set). Each filter is tried on its own, so
    the reason names the ones that exclude everything.
    """
    if filters.is_empty():
        return None
    inverted = inverted_range(filters)
    if inverted:
        return f"the year range is empty ({inverted})"
    parts: dict[str, SearchFilters] = {}
    if filters.year_from is not None or filters.year_to is not None:
        parts["year"] = SearchFilters(year_from=filters.year_from, year_to=filters.year_to)
    for name in ("venue", "author", "source", "collection", "tag"):
        if getattr(filters, name):
            parts[name] = SearchFilters(**{name: getattr(filters, name)})
    for key, value in filters.metadata.items():
        parts[f"={key}"] = SearchFilters(metadata={key: value})
    matched = dict.fromkeys(parts, False)
    total, years, venues, authored, sources = 0, [], 0, 0, set()
    for paper in catalog.iter_papers():
        total += 1
        if paper.year is not None:
            years.append(paper.year)
        venues += bool(paper.venue)
        authored += bool(paper.authors)
        sources.add(paper.source or "")
        for name, part in parts.items():
            if not matched[name] and part.matches(paper):
                matched[name] = True
        if all(matched.values()) and filters.matches(paper):
            return None
    if not total:
        return "the index holds no paper"
    reasons = []
    for name in (n for n, ok in matched.items() if not ok):
        if name == "year":
            reasons.append(_why_year(filters, years, total))
        elif name == "venue":
            reasons.append(
                f"no indexed paper's venue contains {filters.venue!r}"
                if venues
                else f"none of the {total} indexed papers has a venue"
            )
        elif name == "author":
            reasons.append(
                f"no indexed paper has an author matching {filters.author!r}"
                if authored
                else f"none of the {total} indexed papers lists its authors"
            )
        elif name in ("collection", "tag"):
            value = getattr(filters, name)
            reasons.append(f"no indexed paper has the {name} {value!r}")
        elif name == "source":
            shown = ", ".join(sorted(sources)[:5]) + (" ..." if len(sources) > 5 else "")
            reasons.append(f"no indexed paper was read from {filters.source!r} (sources: {shown})")
        else:
            key = name[1:]
            reasons.append(f"no indexed paper has {key} = {filters.metadata[key]}")
    if not reasons:
        return "each filter matches some papers, but no paper matches all of them"
    return "; ".join(reasons)


def _why_year(filters: SearchFilters, years: list[int], total: int) -> str:
    if not years:
        return f"none of the {total} indexed papers has a year"
    low, high = filters.year_from, filters.year_to
    known = f"years {min(years)}-{max(years)}" if min(years) != max(years) else f"year {years[0]}"
    if len(years) < total:
        known += f", {len(years)} of the {total} papers have one"
    if low is not None and high is not None:
        wanted = f"from {low}" if low == high else f"from {low}-{high}"
    elif low is not None:
        wanted = f"from {low} or later"
    else:
        wanted = f"from {high} or earlier"
    return f"no indexed paper is {wanted} ({known})"


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
