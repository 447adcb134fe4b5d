"""The MCP tools' arguments: one pydantic model per tool, whose JSON schema is the tool's input
schema. Every string has a maximum length, so an over-long argument is refused, naming the
field and its limit, before anything runs; unknown arguments are errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

if TYPE_CHECKING:
    from assistant.retrieval.filters import SearchFilters

# --- arguments ----------------------------------------------------------------------------------

# Every string argument has a maximum length, checked (by pydantic) before the tool runs; an
# argument over it is an error that names the field, its limit and the length given.
QUERY_CHARS = 2_000  # a search query, a question, a topic
CLAIM_CHARS = 4_000  # a sentence (or a few) of a draft
PAPER_REF_CHARS = 1_000  # a paper_id, DOI, arXiv id or exact title (ingest cuts titles there)
PAPER_TEXT_CHARS = 25_000  # a title and an abstract (abstracts are cut at 20,000 by default)
FILTER_CHARS = 300  # a venue or an author's name


Query = Annotated[str, StringConstraints(min_length=1, max_length=QUERY_CHARS)]
Claim = Annotated[str, StringConstraints(min_length=1, max_length=CLAIM_CHARS)]
PaperRef = Annotated[str, StringConstraints(min_length=1, max_length=PAPER_REF_CHARS)]
PaperText = Annotated[str, StringConstraints(min_length=1, max_length=PAPER_TEXT_CHARS)]
Since = Annotated[
    int | None,
    Field(
        ge=1000,
        le=2100,
        description="Only papers published in this year or later (a year, 1000-2100).",
    ),
]
Until = Annotated[
    int | None,
    Field(
        ge=1000, le=2100, description="Only papers published up to this year (a year, 1000-2100)."
    ),
]
Venue = Annotated[
    str | None,
    Field(
        max_length=FILTER_CHARS,
        description="Only papers whose venue contains this text (any case; at most "
        f"{FILTER_CHARS} characters).",
    ),
]
Author = Annotated[
    str | None,
    Field(
        max_length=FILTER_CHARS,
        description=f"Only papers with an author matching this name (at most {FILTER_CHARS} "
        "characters).",
    ),
]


Collection = Annotated[
    str | None,
    Field(
        max_length=FILTER_CHARS,
        description="Only papers in this Zotero collection or its sub-collections (its name or "
        f"path, any case; at most {FILTER_CHARS} characters).",
    ),
]
Tag = Annotated[
    str | None,
    Field(
        max_length=FILTER_CHARS,
        description=f"Only papers with this tag or keyword (any case; at most {FILTER_CHARS} "
        "characters).",
    ),
]


class Args(BaseModel):
    """Base of the tools' arguments: unknown arguments are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class FilteredArgs(Args):
    """The paper filters, declared once, of the tools that search. A tool's arguments are
    ``class XArgs(FilteredArgs, _X)``: its own fields (``_X``) come first, as the schema and the
    hint of a bad argument list them (and no docstring: it would be the schema's description)."""

    since: Since = None
    until: Until = None
    venue: Venue = None
    author: Author = None
    collection: Collection = None
    tag: Tag = None

    def search_filters(self) -> SearchFilters:
        """The filters given, as the library takes them."""
        from assistant.retrieval.filters import SearchFilters

        return SearchFilters(
            year_from=self.since,
            year_to=self.until,
            venue=self.venue,
            author=self.author,
            collection=self.collection,
            tag=self.tag,
        )


class _Search(Args):
    query: Query = Field(
        description="What to look for: keywords, a question or a description (at most "
        f"{QUERY_CHARS} characters)."
    )
    k: int = Field(default=5, ge=1, le=50, description="How many papers to return (1-50).")


class SearchArgs(FilteredArgs, _Search):
    pass


class PaperArgs(Args):
    paper_id: PaperRef = Field(
        description="The paper's paper_id as search_papers returns it (a DOI, an arXiv id or "
        f"the exact title also work; at most {PAPER_REF_CHARS} characters)."
    )


class _Ask(Args):
    question: Query = Field(
        description=f"The question, in natural language (at most {QUERY_CHARS} characters)."
    )


class AskArgs(FilteredArgs, _Ask):
    pass


class _Cite(Args):
    claim: Claim = Field(
        description="The claim or sentence that needs a citation (at most "
        f"{CLAIM_CHARS} characters)."
    )
    k: int = Field(default=5, ge=1, le=20, description="Most papers to return (1-20).")


class CiteArgs(FilteredArgs, _Cite):
    pass


class _Related(Args):
    topic: Query = Field(
        description="The topic of the section, e.g. 'long-context LLMs' (at most "
        f"{QUERY_CHARS} characters)."
    )
    k: int = Field(default=10, ge=2, le=30, description="Papers to draw on (2-30).")


class RelatedArgs(FilteredArgs, _Related):
    pass


class _Similar(Args):
    paper: PaperRef | None = Field(
        default=None,
        description="An indexed paper: its paper_id (from search_papers), DOI, arXiv id or exact "
        f"title (at most {PAPER_REF_CHARS} characters). Give this or text.",
    )
    text: PaperText | None = Field(
        default=None,
        description="Instead of paper: the title (first line) and abstract of a paper that is "
        f"not indexed (at most {PAPER_TEXT_CHARS} characters).",
    )
    k: int = Field(default=5, ge=1, le=50, description="How many papers to return (1-50).")


class SimilarArgs(FilteredArgs, _Similar):
    pass


class NoArgs(Args):
    pass
