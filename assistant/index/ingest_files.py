"""Files and folders of papers into the index: the readers' records, a window at a time.

Two passes over the files: the first counts the papers and finds the rejects without keeping
anything, so that ``strict`` can refuse before any change and progress knows the total; the
second streams the papers into the index a window at a time (:class:`~.ingest_run.IngestRun`):
memory does not grow with input. A Zotero library comes in through :mod:`.zotero_sync`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.index.paper_index import INGEST_WINDOW, PaperIndex
from assistant.records import IngestReport

if TYPE_CHECKING:
    from assistant.index.ingest_run import ProgressFn
    from assistant.records import Paper

__all__ = ["ingest_files"]


def ingest_files(
    index: PaperIndex,
    paths: Sequence[str | Path],
    fmt: str | None = None,
    rebuild: bool = False,
    strict: bool = False,
    wait: bool = False,
    progress: ProgressFn | None = None,
    replace_demo: bool = False,
) -> IngestReport:
    """Read papers from files or folders into the index (see :func:`assistant.api.ingest_paths`)."""
    from assistant.ingest.readers import FieldLimits, read_paths

    files = [Path(p) for p in paths]
    limit = index.settings.max_abstract_chars
    limits = FieldLimits.of(index.settings)
    checked = read_paths(
        files, fmt, sink=_discard, window=INGEST_WINDOW, max_abstract_chars=limit, limits=limits
    )
    if (strict and checked.rejects) or not checked.count:
        # nothing to index: never empty the index, even with --rebuild
        return IngestReport(rejected=len(checked.rejects), rejects=checked.rejects)
    with index.ingesting(
        rebuild, wait, progress, total=checked.count, replace_demo=replace_demo
    ) as run:
        read_paths(
            files, fmt, sink=run.add, window=INGEST_WINDOW, max_abstract_chars=limit, limits=limits
        )
    report = run.report
    report.rejected = len(checked.rejects)
    report.rejects = checked.rejects
    report.truncated = checked.truncated
    return report


def _discard(papers: list[Paper]) -> None:
    """A sink for a pass that only counts."""
