"""Library entry points: each returns typed objects; the CLI only parses, calls and prints."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from assistant.errors import UsageError
from assistant.index import PaperIndex, ProgressFn
from assistant.models import IngestReport, SearchResult
from assistant.retrieval import RetrievalOptions, Retriever
from assistant.settings import Settings


def open_index(settings: Settings) -> PaperIndex:
    """Open or create the index the settings point at."""
    return PaperIndex(settings)


def ingest_paths(
    index: PaperIndex,
    paths: list[Path],
    fmt: str | None = None,
    rebuild: bool = False,
    strict: bool = False,
    wait: bool = False,
    progress: ProgressFn | None = None,
) -> IngestReport:
    """Read papers from files or folders and add them to the index.

    Rejected records are reported, not fatal, unless ``strict``: then nothing is ingested
    when any record is rejected.
    """
    from assistant.readers import read_paths

    result = read_paths(paths, fmt)
    if strict and result.rejects:
        return IngestReport(rejected=len(result.rejects), rejects=result.rejects)
    if not result.papers and not rebuild:
        report = IngestReport(rejected=len(result.rejects), rejects=result.rejects)
        return report
    report = index.ingest(result.papers, rebuild=rebuild, wait=wait, progress=progress)
    report.rejected = len(result.rejects)
    report.rejects = result.rejects
    return report


def ensure_corpus(index: PaperIndex, progress: ProgressFn | None = None) -> IngestReport | None:
    """Build the index from the bundled corpus if it is empty (a new user's first command)."""
    return index.ensure_bundled_corpus(progress=progress)


def search(
    index: PaperIndex, query: str, options: RetrievalOptions | None = None
) -> SearchResult:
    """Hybrid search over the index."""
    if not query.strip():
        raise UsageError("The query is empty.", hint="Give a question or keywords to search for.")
    return Retriever(index).search(query, options)


def search_many(
    index: PaperIndex,
    queries: list[str],
    options: RetrievalOptions | None = None,
    each: Callable[[SearchResult], None] | None = None,
) -> list[SearchResult]:
    """Run many queries with one loaded index."""
    retriever = Retriever(index)
    results = []
    for query in queries:
        result = retriever.search(query, options)
        if each is not None:
            each(result)
        results.append(result)
    return results
