"""What every command shares: --debug state, settings, error contract, progress bar, the index.

Command modules import this, :mod:`assistant.cli.options` and :mod:`assistant.cli.render`, never
:mod:`assistant.cli.root`. The library (pydantic-settings, chromadb...) is imported inside the
functions, so that ``assistant --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from assistant.cli import render

if TYPE_CHECKING:
    from assistant.errors import AssistantError
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
    except Exception as exc:
        full = None if state["debug"] else disk_full_of(exc)
        if full is None:
            raise
        render.print_error(full)
        raise typer.Exit(full.exit_code) from None


class OutputBroken(Exception):  # noqa: N818 - read as "the output is broken"
    """stdout cannot be written (a full disk, a closed pipe); raised by :class:`GuardedStdout`,
    so that this failure is not taken for one of the index or of a file."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class GuardedStdout:
    """``sys.stdout`` as :func:`guard_stdout` installs it: a failed write or flush raises
    :class:`OutputBroken`; everything else is the stream's own."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return int(self._stream.write(text))
        except OSError as exc:
            raise OutputBroken(exc) from exc

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            raise OutputBroken(exc) from exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def guard_stdout() -> None:
    """Tell stdout's write failures apart from the rest (see :func:`output_broken`)."""
    if sys.stdout is not None and not isinstance(sys.stdout, GuardedStdout):
        sys.stdout = GuardedStdout(sys.stdout)


def output_broken(exc: OutputBroken) -> int:
    """After stdout failed: a closed pipe (``| head``) is quiet, anything else one line on
    stderr. Returns the exit code (141, as a process ended by SIGPIPE, or 1). Nothing more can
    reach stdout, so it is pointed at /dev/null: Python's own last flush then cannot fail again.
    """
    import errno

    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno() if sys.__stdout__ else 1)
    if exc.error.errno == errno.EPIPE:
        return 141
    from assistant.errors import AssistantError

    reason = exc.error.strerror or str(exc.error)
    render.print_error(AssistantError(f"Cannot write the output: {reason}."))
    return 1


def disk_full_of(exc: BaseException) -> AssistantError | None:
    """The error to show for ``exc`` if it comes from a full disk (anywhere: a file, SQLite,
    Chroma), naming what could not be written and where; None otherwise.

    SQLite says "disk I/O error" when it cannot create its journal files on a full disk: that
    counts too when the index's disk has (almost) no space left.
    """
    from assistant.disk_space import disk_full_error, free_bytes, is_disk_full
    from assistant.errors import AssistantError

    if isinstance(exc, OutputBroken):
        return None
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    folder = Path(state["index_dir"]) if state.get("index_dir") is not None else None
    if not is_disk_full(exc):
        io_error = any("disk i/o error" in str(e).lower() for e in chain)
        free = free_bytes(folder) if folder is not None and io_error else None
        if free is None or free >= 1_000_000:
            return None
    named = [e.filename for e in chain if isinstance(e, OSError) and e.filename]
    if named:
        path = Path(str(named[0]))
        return disk_full_error(path.name, path.parent)
    server = state.get("chroma_url")
    if server and any(type(e).__module__.startswith("chromadb") for e in chain):
        return AssistantError(
            f"The disk of the Chroma server at {server} is full: {exc}",
            hint="Free some space on the server's disk (the folder of its --path), then run "
            "the command again.",
        )
    if folder is not None:
        return disk_full_error(
            "the index", folder, elsewhere="use an index folder on another disk (--index)"
        )
    return disk_full_error("the output", Path.cwd())


def progress_bar(description: str) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """A rich progress bar (on stderr) with rate and time left; returns (update, close)."""
    progress = render.ProgressBar(description)
    return progress, progress.close


def open_index(loaded: Settings, rebuild: bool = False) -> PaperIndex:
    from assistant.api import open_index as open_paper_index

    state["index_dir"], state["chroma_url"] = loaded.index_dir, loaded.chroma_url
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


def approve_outputs(force: bool, *paths: Path | None) -> bool:
    """Before the work: may the output files be written? True when existing ones may be replaced.

    A file the assistant did not write (or that was changed since) is replaced with ``--force``
    or, when stdin and stdout are a terminal, after a yes; otherwise it is a usage error.
    """
    from assistant.errors import UsageError
    from assistant.output_files import overwrite_refused, replace_reason

    if force:
        return True
    pending = [(path, reason) for path in paths if path and (reason := replace_reason(path))]
    if not pending:
        return False
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise overwrite_refused(*pending[0])
    for path, reason in pending:
        if not typer.confirm(f"{path} already exists and {reason}. Replace it?", err=True):
            raise UsageError(
                f"{path} was not replaced.", hint="Choose another file name, or add --force."
            )
    return True


def write_text_file(path: Path, text: str, force: bool = False) -> None:
    """Write an output file (--out, --bib...) atomically; see :func:`approve_outputs` for
    ``force``. A failure is a message naming the file (and a full disk as such)."""
    from assistant.output_files import write_output_file

    write_output_file(path, text, force=force)
