"""The files the assistant writes for the user: ``--out``, ``--bib``, ``--ris``, ``--csl-json``,
chat ``/export``. Written atomically, and never over a file the assistant did not write unless
the user says so.

The assistant keeps a record of the files it wrote (each one's resolved path and sha256) in the
user's state folder: ``$XDG_STATE_HOME/literature-assistant/written-files.json``, by default
``~/.local/state/literature-assistant/``. A file whose content is still what the assistant wrote
there may be replaced (the same command run again); a file the user changed since, or one the
assistant never wrote, is replaced only with ``force`` (the CLI's ``--force``, or a yes on a
terminal). An empty file holds nothing to lose and is replaced. A path through a symlink writes
the file the link points to; the link stays a link.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

from assistant.checked_files import sha256_of, write_atomically
from assistant.errors import AssistantError, UsageError

RECORD_NAME = "written-files.json"
# The most recent files remembered; an older one is then treated as the user's (asks first).
RECORD_LIMIT = 2000
FORCE_HINT = "Add --force to replace it, or choose another file name."


def state_dir() -> Path:
    """The user's state folder for the assistant (XDG_STATE_HOME, else ~/.local/state)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "literature-assistant"


def resolved(path: Path) -> Path:
    """The file a path names: ``~`` expanded, absolute, through any symlinks."""
    return path.expanduser().resolve()


def _written_in_place(path: Path) -> bool:
    """A device, a pipe or a descriptor (``/dev/stdout``, ``/dev/fd/3``): written as it is, not
    replaced (there is no file to lose, and a new one in its place would not be read)."""
    expanded = path.expanduser().absolute()
    if expanded.parts[1:2] in (("dev",), ("proc",)) and expanded.parts[1:3] != ("dev", "shm"):
        return True
    return expanded.exists() and not expanded.is_file() and not expanded.is_dir()


def replace_reason(path: Path) -> str | None:
    """Why writing ``path`` would need the user's consent, or None when it may be written.

    None for a file that does not exist, an empty one, a device or pipe (``/dev/stdout``), or a
    file whose content is what the assistant last wrote there. A folder is a usage error.
    """
    if _written_in_place(path):
        return None
    target = resolved(path)
    if not target.exists():
        return None
    if target.is_dir():
        raise UsageError(f"{path} is a folder.", hint="Give a file name.")
    if target.stat().st_size == 0:
        return None
    recorded = _read_record().get(str(target))
    if recorded is None:
        return "was not written by the assistant"
    if recorded != sha256_of(target):
        return "was changed since the assistant wrote it"
    return None


def overwrite_refused(path: Path, reason: str, hint: str = FORCE_HINT) -> UsageError:
    """The error for an existing file that is not replaced without consent."""
    return UsageError(f"{path} already exists and {reason}: not replaced.", hint=hint)


def write_output_file(
    path: Path, text: str, *, force: bool = False, make_parents: bool = False
) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically and remember it; returns the file written.

    Without ``force``, an existing file the assistant did not write (or that changed since) is
    refused with :func:`overwrite_refused`. On any failure the existing file is untouched; a
    full disk is said as such; another failure is a :class:`UsageError` naming the file.
    """
    from assistant.disk_space import disk_full_error, is_disk_full

    data = text.encode("utf-8")
    if not force:
        reason = replace_reason(path)
        if reason is not None:
            raise overwrite_refused(path, reason)
    target = resolved(path)
    try:
        if _written_in_place(path):
            with path.expanduser().open("wb") as handle:
                handle.write(data)
            return path
        if make_parents:
            target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(
            target, data, f"the file {target.name}", elsewhere="write the file to another disk"
        )
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full_error(
                f"the file {path}", target.parent, len(data), "write the file to another disk"
            ) from exc
        raise UsageError(
            f"Cannot write {path}: {exc.strerror or exc}.", hint="Choose another file name."
        ) from exc
    _remember(target, hashlib.sha256(data).hexdigest())
    return target


def _record_file() -> Path:
    return state_dir() / RECORD_NAME


def _read_record() -> dict[str, str]:
    try:
        data = json.loads(_record_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        return {}
    return {str(k): str(v) for k, v in files.items()}


def _remember(target: Path, digest: str) -> None:
    """Add ``target`` to the record (most recent last). A record that cannot be written only
    means that the next write to that file asks first."""
    files = _read_record()
    files.pop(str(target), None)
    files[str(target)] = digest
    kept = dict(list(files.items())[-RECORD_LIMIT:])
    record = _record_file()
    text = json.dumps({"version": 1, "files": kept}, ensure_ascii=False, indent=0)
    with contextlib.suppress(OSError, AssistantError):
        record.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(record, text.encode("utf-8"), "the record of written files")
