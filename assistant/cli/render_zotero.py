"""What ``ingest --zotero`` prints: each sync's rejects and cuts (stderr), then what it did.

Same rules as :mod:`assistant.cli.render`: results on stdout, messages on stderr.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.cli.render_base import console, escape, print_json
from assistant.cli.render_index import print_rejects

if TYPE_CHECKING:
    from assistant.index.zotero_sync import ZoteroSyncReport


def print_zotero_sync(report: ZoteroSyncReport, as_json: bool = False) -> None:
    """One sync: a JSON line, or the rejects (the first 50) and a summary line."""
    if as_json:
        print_json(report.model_dump(mode="json"))
        return
    print_rejects(report.rejects, report.truncated)
    title_only = (
        f" ({report.without_abstract} without abstract, indexed by title)"
        if report.without_abstract
        else ""
    )
    console().print(
        f"Zotero {escape(report.database)} ({escape(report.selection)}): {report.items} items; "
        f"read {report.read}{title_only}: added {report.added}, updated {report.updated}, "
        f"unchanged {report.unchanged}, deleted {report.deleted}, rejected {report.rejected}"
        + (f" ({report.duplicates_merged} duplicates merged)" if report.duplicates_merged else "")
        + f"; {report.chunks_embedded} chunks embedded in {report.seconds:.1f} s; "
        f"index: {report.index_papers} papers"
    )


def watching(database: str, interval: float) -> None:
    """Said once when --watch starts (stderr)."""
    console(stderr=True).print(
        f"[dim]Watching {escape(database)} for changes every {interval:g} s (Ctrl-C to stop).[/]",
        markup=True,
    )
