"""``assistant ingest --zotero [PATH]``: a Zotero library synced from its database.

Called by :func:`assistant.cli.index_commands.ingest`, which declares the options. It parses,
calls the library (:func:`assistant.api.ingest_zotero`, :func:`assistant.api.watch_zotero`)
and hands each report to :mod:`assistant.cli.render_zotero`. Ctrl-C and SIGTERM stop a sync
between two committed batches, or a watch between two looks, and say so.
"""

from __future__ import annotations

from pathlib import Path

import typer

from assistant.cli import common, render, render_zotero
from assistant.cli.interrupts import Terminated, sigterm_interrupts, stop_name


def ingest_zotero(
    zotero: bool,
    bundled: bool,
    paths: list[Path],
    collections: list[str],
    tags: list[str],
    libraries: list[str],
    watch: bool,
    interval: float | None,
    rebuild: bool,
    wait: bool,
    index_dir: Path | None,
    chroma_url: str | None,
    as_json: bool,
) -> None:
    """Sync once (or keep syncing with ``watch``) and print what each sync did."""
    from assistant.api import ingest_zotero as sync
    from assistant.api import watch_zotero
    from assistant.errors import UsageError

    if zotero and bundled:
        raise UsageError("Give --zotero or --bundled, not both.", hint="assistant ingest --zotero")
    if not zotero:
        given = [
            flag
            for flag, used in (
                ("--collection", collections),
                ("--tag", tags),
                ("--library", libraries),
                ("--watch", watch),
                ("--interval", interval is not None),
            )
            if used
        ]
        raise UsageError(
            f"{', '.join(given)} only {'go' if len(given) > 1 else 'goes'} with --zotero.",
            hint="assistant ingest --zotero --collection Thesis --tag to-read",
        )
    if len(paths) > 1:
        raise UsageError(
            "--zotero takes one path: Zotero's data folder or its zotero.sqlite.",
            hint="assistant ingest --zotero ~/Zotero (or no path for the default folder).",
        )
    if rebuild and watch:
        raise UsageError(
            "--rebuild and --watch do not go together (each look would empty the index).",
            hint="Run 'assistant ingest --zotero --rebuild' once, then --watch.",
        )
    settings = common.settings(index_dir=index_dir, chroma_url=chroma_url)
    if settings.chroma_url:
        raise UsageError(
            "A Zotero library is synced into a local index, not a shared one (a sync deletes "
            "the papers of deleted items, which a member of a shared index may not).",
            hint="Sync into a local index (no --chroma-url), then 'assistant publish' it.",
        )
    path = paths[0] if paths else None
    index = common.open_index(settings, rebuild=rebuild)
    held_before = index.catalog.count_papers()
    try:
        with sigterm_interrupts():
            if watch:
                poll = interval if interval is not None else settings.zotero_poll_seconds
                render_zotero.watching(str(path or settings.zotero_dir or "~/Zotero"), poll)
                watch_zotero(
                    index,
                    lambda report: render_zotero.print_zotero_sync(report, as_json),
                    path,
                    collections,
                    tags,
                    libraries,
                    interval=poll,
                )
                return
            update, close = common.progress_bar("Embedding")
            try:
                report = sync(
                    index, path, collections, tags, libraries, rebuild, wait, progress=update
                )
            finally:
                close()
    except KeyboardInterrupt as stopped:
        held = index.catalog.count_papers()
        render.message(
            f"{stop_name(stopped)}. The index holds {held} papers ({held - held_before:+d}); "
            "what was committed stays, and the next sync reads the items it did not finish."
        )
        raise typer.Exit(143 if isinstance(stopped, Terminated) else 130) from None
    render_zotero.print_zotero_sync(report, as_json)
