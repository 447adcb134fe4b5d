"""A full disk, named as such: recognising it in any layer's error, and the message that says so.

A write that fails for lack of space surfaces in many shapes: ``OSError`` errno 28 from Python,
SQLite's "database or disk is full", Chroma's ``InternalError`` wrapping that, onnxruntime's
"Protobuf serialization failed". :func:`is_disk_full` recognises them (through the chain of
causes); :func:`disk_full_error` is the one message: what could not be written, where, how much
space is free and, when known, how much was needed.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

from assistant.errors import AssistantError

# Lower-cased fragments of the messages other layers give a full disk (SQLite, Chroma's Rust
# core, the C library's strerror).
_FULL_DISK_MESSAGES = ("database or disk is full", "no space left on device", "disk quota exceeded")


def is_disk_full(exc: BaseException) -> bool:
    """True when ``exc``, or an error it was raised from, says the disk (or quota) is full."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if any(fragment in str(current).lower() for fragment in _FULL_DISK_MESSAGES):
            return True
        current = current.__cause__ or current.__context__
    return False


def free_bytes(folder: Path) -> int | None:
    """Free space on the disk of ``folder`` (or of its nearest existing parent), if known."""
    probe = Path(folder).absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        return shutil.disk_usage(probe).free
    except OSError:
        return None


def size_text(count: int) -> str:
    """A byte count as people read it: ``512 bytes``, ``48 KB``, ``22.8 MB``, ``1.4 GB``."""
    if count < 1000:
        return f"{count} bytes"
    for unit, scale in (("KB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12)):
        if count < scale * 1000 or unit == "TB":
            value = count / scale
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
    raise AssertionError("unreachable")


def disk_full_error(
    what: str, folder: Path, needed: int | None = None, elsewhere: str | None = None
) -> AssistantError:
    """The error for a write that failed on a full disk.

    ``what`` names the thing not written ("the BibTeX file rw.bib"), ``folder`` where it was to
    go, ``needed`` its size in bytes when known, ``elsewhere`` how to put it on another disk (a
    flag or setting), for the hint.
    """
    free = free_bytes(folder)
    space = [f"{size_text(free)} free" if free is not None else "free space unknown"]
    if needed is not None:
        space.append(f"about {size_text(needed)} needed")
    hint = "Free some space on that disk"
    hint += f", or {elsewhere}." if elsewhere else ", then run the command again."
    return AssistantError(
        f"The disk is full: cannot write {what} in {folder} ({'; '.join(space)}).", hint=hint
    )
