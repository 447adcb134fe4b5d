"""The ``similar`` command: the indexed papers closest to a given paper.

A plain function, registered on the app by :mod:`assistant.cli.root`; the library is imported
inside it and the result is printed by :mod:`assistant.cli.render`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from assistant.cli import common, render
from assistant.cli.options import (
    NO_FILTERS,
    ChromaOpt,
    FilterFlags,
    IndexOpt,
    JsonOpt,
    MethodOpt,
    check_method,
    with_filters,
)


def _read_text(path: Path) -> str:
    from assistant.errors import UsageError

    try:
        return sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"Cannot read {path}: {getattr(exc, 'strerror', None) or exc}.",
            hint="Give a UTF-8 text file with the paper's title on the first line, then its "
            "abstract ('-' reads standard input).",
        ) from exc


@with_filters()
def similar(
    paper: Annotated[
        str | None,
        typer.Argument(
            help="An indexed paper: its id, DOI, arXiv id or title.",
            metavar="ID|TITLE",
            show_default=False,
        ),
    ] = None,
    text: Annotated[
        Path | None,
        typer.Option(
            "--text",
            help="Instead of ID|TITLE: a text file with a paper's title (first line) and "
            "abstract, indexed or not ('-': standard input).",
            show_default=False,
        ),
    ] = None,
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=200, help="Papers to show.")] = 10,
    method: MethodOpt = "hybrid",
    filters: FilterFlags = NO_FILTERS,
    index_dir: IndexOpt = None,
    chroma_url: ChromaOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Find the indexed papers closest to a paper (by its vectors and its terms), best first."""
    with common.errors():
        from assistant.api import paper_from_text, similar_papers
        from assistant.errors import UsageError
        from assistant.retrieval.retriever import RetrievalOptions

        if (paper is None) == (text is None):
            raise UsageError(
                "Give either a paper (ID or TITLE) or --text FILE.",
                hint="assistant similar 2309.12307; assistant similar --text abstract.txt",
            )
        check_method(method)
        search_filters = filters.search_filters()  # before a first build
        target = paper_from_text(_read_text(text), str(text)) if text is not None else paper
        settings = common.settings(index_dir=index_dir, chroma_url=chroma_url)
        index = common.open_index(settings)
        common.ensure_corpus(index)
        options = RetrievalOptions(k=k, method=method, filters=search_filters)  # type: ignore[arg-type]
        assert target is not None
        result = similar_papers(index, target, options)
        if as_json:
            render.print_json(render.similar_json(result, settings.max_snippet_chars))
            return
        render.print_similar(result, settings.max_snippet_chars)
