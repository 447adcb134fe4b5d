"""What every command shares: --debug state, settings, error contract, progress bar, the index.

Command modules import this, :mod:`assistant.cli.options` and :mod:`assistant.cli.render`, never
:mod:`assistant.cli.root`. The library (pydantic-settings, chromadb...) is imported inside the
functions, so that ``assistant --help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
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
    progress = render.ProgressBar(description)
    return progress, progress.close


def open_index(loaded: Settings, rebuild: bool = False) -> PaperIndex:
    from assistant.api import open_index as open_paper_index

    index = open_paper_index(loaded, rebuild=rebuild)
    joined = index.shared.joined if index.shared is not None else None
    if joined is not None:  # a new member of a shared index: what it holds
        render.message(
            f"Joined the shared index on {render.escape(str(loaded.chroma_url))}: "
            f"{joined.held} papers (read in {joined.seconds:.1f} s into "
            f"{render.escape(str(index.dir))}, its local cache)."
        )
    return index


def ensure_corpus(index: PaperIndex) -> None:
    """Before a read command: the index must hold papers.

    A first run with no index configured (no --index, ASSISTANT_INDEX_DIR or config file
    setting) builds the bundled demo corpus into the default index, from its shipped vectors.
    Any other empty index is an error saying how to fill it. While an ingest runs, the papers
    it has committed are searched; with none committed yet, that is said.
    """
    from assistant.api import ensure_corpus as build_corpus
    from assistant.errors import AssistantError

    if index.catalog.count_papers() > 0:
        return
    where = str(index.dir)  # print_error escapes
    if index.ingest_running():
        raise AssistantError(
            f"The index in {where} has no paper yet: an ingest into it is running.",
            hint="Search again in a moment: papers can be searched as soon as each batch of "
            "them is committed.",
        )
    if index.shared is not None:  # never the demo into a shared index unless asked
        from assistant.index.demo import shared_index_empty

        raise shared_index_empty(index)
    if "index_dir" in index.settings.model_fields_set:
        raise AssistantError(
            f"The index in {where} is empty.",
            hint="Fill it with 'assistant ingest FILES...' (BibTeX, CSL-JSON, RIS, JSONL, CSV, "
            "Daily Papers dumps), or 'assistant ingest --bundled' for the demo corpus (425 "
            "papers); or check the folder name (--index, ASSISTANT_INDEX_DIR, the config file).",
        )
    err = render.console(stderr=True)
    render.building_corpus(err, index.dir)
    update, close = progress_bar("Indexing")
    try:
        report = build_corpus(index, progress=update)
    finally:
        close()
    if report is not None:
        render.message(
            f"Indexed {report.added} papers (the demo corpus) in {report.seconds:.1f} s. For "
            "your own papers: assistant ingest FILES (replaces the demo).",
            err,
        )


def open_for_answers(
    model: str | None,
    base_url: str | None,
    extractive: bool,
    index_dir: Path | None,
    chroma_url: str | None,
    **overrides: Any,
) -> tuple[Settings, PaperIndex]:
    """Settings and the index (the demo built on a first run) for a command that may use a
    model: ask, cite, related-work."""
    loaded = llm_settings(
        model, base_url, extractive, index_dir=index_dir, chroma_url=chroma_url, **overrides
    )
    index = open_index(loaded)
    ensure_corpus(index)
    return loaded, index


def write_text_file(path: Path, text: str) -> None:
    """Write an output file (--out, --bib); a failure is a usage error with a hint."""
    from assistant.errors import UsageError

    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(
            f"Cannot write {path}: {exc.strerror or exc}.", hint="Choose another file name."
        ) from exc
