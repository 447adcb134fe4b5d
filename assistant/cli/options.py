"""The command-line options shared by several commands, each declared once.

Holds the ``Annotated`` option types (``--index``, ``--json``, ``--model``...), the paper
filters (``--since``, ``--until``, ``--venue``, ``--author``, ``--source``, ``--where``,
``--collection``, ``--tag``) and
:func:`with_filters`, which adds those filters to a command. Only typer is imported here.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from assistant.retrieval.filters import SearchFilters

IndexOpt = Annotated[
    Path | None,
    typer.Option(
        "--index",
        help="Index folder (default: ./index). Env: ASSISTANT_INDEX_DIR.",
        show_default=False,
    ),
]
ChromaOpt = Annotated[
    str | None,
    typer.Option(
        "--chroma-url",
        help="Use a Chroma server (http://host:port). Env: ASSISTANT_CHROMA_URL.",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "-m",
        "--model",
        help="LLM model, or gguf:PATH for a local model file (no server). "
        "Env: ASSISTANT_LLM_MODEL.",
    ),
]
BaseUrlOpt = Annotated[
    str | None,
    typer.Option("--base-url", help="OpenAI-compatible endpoint. Env: OPENAI_BASE_URL."),
]
ExtractiveOpt = Annotated[
    bool, typer.Option("--extractive", help="Work offline, without the LLM, even if configured.")
]
MethodOpt = Annotated[str, typer.Option("--method", help="hybrid, dense or bm25.")]


def check_method(method: str) -> None:
    """A --method value is one of the three (a usage error otherwise)."""
    from assistant.errors import UsageError

    if method not in ("hybrid", "dense", "bm25"):
        raise UsageError(f"Unknown --method {method!r}.", hint="Use hybrid, dense or bm25.")


RisOpt = Annotated[
    Path | None,
    typer.Option("--ris", help="Write the papers as RIS records to this file.", show_default=False),
]
CslJsonOpt = Annotated[
    Path | None,
    typer.Option(
        "--csl-json", help="Write the papers as CSL-JSON to this file.", show_default=False
    ),
]
ForceOpt = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Replace existing output files that the assistant did not write (or that were "
        "changed since).",
    ),
]
UsageOpt = Annotated[
    bool,
    typer.Option("-u", "--usage", help="Print the tokens used (and the cost, when known)."),
]

# The paper filters, in the order they appear in --help. Commands get them through
# with_filters, never as parameters of their own.
YearFromOpt = Annotated[int | None, typer.Option("--since", help="Only papers from this year on.")]
YearToOpt = Annotated[int | None, typer.Option("--until", help="Only papers up to this year.")]
VenueOpt = Annotated[
    str | None, typer.Option("--venue", help="Only papers whose venue contains this.")
]
AuthorOpt = Annotated[
    str | None, typer.Option("--author", help="Only papers with a matching author.")
]
SourceOpt = Annotated[
    str | None, typer.Option("--source", help="Only papers read from this file name.")
]
WhereOpt = Annotated[
    list[str] | None,
    typer.Option("--where", help="Other metadata, KEY=VALUE (repeatable)."),
]
CollectionOpt = Annotated[
    str | None,
    typer.Option(
        "--collection", help="Only papers in this Zotero collection (or its sub-collections)."
    ),
]
TagOpt = Annotated[
    str | None, typer.Option("--tag", help="Only papers with this tag (or keyword).")
]
FILTER_OPTIONS: dict[str, Any] = {
    "since": YearFromOpt,
    "until": YearToOpt,
    "venue": VenueOpt,
    "author": AuthorOpt,
    "source": SourceOpt,
    "where": WhereOpt,
    "collection": CollectionOpt,
    "tag": TagOpt,
}


@dataclass(frozen=True)
class FilterFlags:
    """The filter flags as given; :meth:`search_filters` checks and converts them."""

    since: int | None = None
    until: int | None = None
    venue: str | None = None
    author: str | None = None
    source: str | None = None
    where: list[str] = field(default_factory=list)
    collection: str | None = None
    tag: str | None = None

    def search_filters(self) -> SearchFilters:
        """The library's filters; a malformed ``--where`` or ``--since`` after ``--until`` raises
        :class:`UsageError` (keys no indexed paper has are the library's check, on the index).
        """
        # Not done at parse time: each command checks the filters at its own point (e.g. before
        # a first run spends a minute building the corpus), inside its error handling.
        from assistant.errors import UsageError
        from assistant.retrieval.filters import SearchFilters

        if self.since is not None and self.until is not None and self.since > self.until:
            raise UsageError(
                f"--since {self.since} is after --until {self.until}: no paper can match.",
                hint=f"Swap them: --since {self.until} --until {self.since}.",
            )
        metadata = {}
        for item in self.where:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise UsageError(
                    f"--where {item!r} is not KEY=VALUE.", hint="E.g. --where venue=ACL"
                )
            metadata[key.strip()] = value.strip()
        return SearchFilters(
            year_from=self.since,
            year_to=self.until,
            venue=self.venue,
            author=self.author,
            source=self.source,
            metadata=metadata,
            collection=self.collection,
            tag=self.tag,
        )


NO_FILTERS = FilterFlags()  # the default of a command's ``filters`` parameter (never used)


def with_filters(
    *names: str,
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command the filter options (all of them, or the ``names`` given), in one parameter.

    The command declares a parameter ``filters: FilterFlags``; in the signature typer reads, that
    parameter is replaced, at its place, by the filter options. The command is called with one
    :class:`FilterFlags` holding their values.
    """
    chosen = names or tuple(FILTER_OPTIONS)
    unknown = set(chosen) - set(FILTER_OPTIONS)
    if unknown:
        raise ValueError(f"unknown filter options: {sorted(unknown)}")

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        signature = inspect.signature(command, eval_str=True)
        params = list(signature.parameters.values())
        at = [p.name for p in params].index("filters")
        added = [
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=FILTER_OPTIONS[name]
            )
            for name in chosen
        ]
        rest = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params[at + 1 :]]
        new_params = [*params[:at], *added, *rest]

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> None:
            values = {name: kwargs.pop(name) for name in chosen}
            values["where"] = values.get("where") or []
            command(**kwargs, filters=FilterFlags(**values))

        wrapper.__signature__ = signature.replace(parameters=new_params)  # type: ignore[attr-defined]
        # typer also reads the annotations; functools.wraps shared the command's dict.
        wrapper.__annotations__ = {p.name: p.annotation for p in new_params}
        wrapper.__annotations__["return"] = None
        return wrapper

    return decorate
