"""What every command shares: --debug state, settings, error contract, progress bar, the index.

Command modules import this, :mod:`assistant.cli.options` and :mod:`assistant.cli.render`, never
:mod:`assistant.cli.root`. The library (pydantic-settings, chromadb...) is imported inside the
functions, so that ``assistant --help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer

from assistant.cli import render

if TYPE_CHECKING:
    from assistant.index.paper_index import PaperIndex
    from assistant.settings import Settings

# Set by the root callback from --debug (or ASSISTANT_DEBUG): errors are raised with their
# traceback instead of being printed as one message.
state: dict[str, Any] = {"debug": False}


def settings(**overrides: Any) -> Settings:
    """The effective settings: flags (``overrides``; None means not given) over the rest."""
    from assistant.settings import load_settings

    return load_settings(**overrides)


def llm_settings(
    model: str | None, base_url: str | None, extractive: bool, **overrides: Any
) -> Settings:
    """Settings for a command that may use the LLM; ``--extractive`` turns the LLM off."""
    loaded = settings(llm_model=model, llm_base_url=base_url, **overrides)
    if extractive:
        loaded = loaded.model_copy(
            update={"llm_model": None, "llm_base_url": None, "llm_api_key": None}
        )
    return loaded


@contextmanager
def errors() -> Iterator[None]:
    """Print library errors as one message plus a hint on stderr, with a non-zero exit."""
    from assistant.errors import AssistantError

    try:
        yield
    except AssistantError as exc:
        if state["debug"]:
            raise
        render.print_error(exc)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        render.message("Interrupted.")
        raise typer.Exit(130) from None


def progress_bar(description: str) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """A rich progress bar (on stderr) with rate and time left; returns (update, close)."""
    from rich import progress as bar

    progress = bar.Progress(
        bar.TextColumn("{task.description}"),
        bar.BarColumn(),
        bar.MofNCompleteColumn(),
        bar.TextColumn("{task.fields[rate]}"),
        bar.TimeElapsedColumn(),
        bar.TextColumn("left"),
        bar.TimeRemainingColumn(),
        console=render.console(stderr=True),
        transient=True,
    )
    task = progress.add_task(description, total=None, rate="")
    started = False

    def update(done: int, total: int) -> None:
        nonlocal started
        if not started:
            progress.start()
            started = True
        elapsed = progress.tasks[0].elapsed or 0.0
        rate = f"{done / elapsed:.1f} papers/s" if elapsed > 0 and done else ""
        progress.update(task, completed=done, total=total, rate=rate)

    def close() -> None:
        if started:
            progress.stop()

    return update, close


def open_index(loaded: Settings, rebuild: bool = False) -> PaperIndex:
    from assistant.api import open_index as open_paper_index

    return open_paper_index(loaded, rebuild=rebuild)


def ensure_corpus(index: PaperIndex) -> None:
    """First run: build the index from the bundled corpus, with a progress bar."""
    from assistant.api import ensure_corpus as build_corpus

    if index.catalog.count_papers() > 0:
        return
    err = render.console(stderr=True)
    render.building_corpus(err, index.dir)
    update, close = progress_bar("Embedding")
    try:
        report = build_corpus(index, progress=update)
    finally:
        close()
    if report is not None:
        render.message(f"Indexed {report.added} papers in {report.seconds:.1f} s.", err)
