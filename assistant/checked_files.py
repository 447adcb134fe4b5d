"""Files checked and written safely: a file's sha256, checked again only when its size or
modification time changed since it was last verified, and replacement by a temporary file,
fsync and rename."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verified_stamp(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def record_verified(path: Path, sha256: str) -> None:
    """Remember that ``path``, as it is now on disk (size, modification time), has ``sha256``."""
    info = path.stat()
    stamp = {"size": info.st_size, "mtime_ns": info.st_mtime_ns, "sha256": sha256}
    write_atomically(_verified_stamp(path), json.dumps(stamp).encode(), "a file's check stamp")


def is_intact(path: Path, sha256: str) -> bool:
    """True when ``path`` has the recorded ``sha256``. It is hashed only when its size or
    modification time is not the one last verified (a stamp beside it), so a normal start does
    not read a large file twice; a match is then remembered (unless the folder is read-only)."""
    try:
        info = path.stat()
    except OSError:
        return False
    try:
        stamp = json.loads(_verified_stamp(path).read_text())
        if stamp == {"size": info.st_size, "mtime_ns": info.st_mtime_ns, "sha256": sha256}:
            return True
    except (OSError, ValueError):
        pass
    if sha256_of(path) != sha256:
        return False
    from assistant.errors import AssistantError

    with contextlib.suppress(OSError, AssistantError):  # read-only: hashed again next time
        record_verified(path, sha256)
    return True


def write_atomically(path: Path, data: bytes, what: str, elsewhere: str | None = None) -> None:
    """Replace ``path`` with ``data`` in one step: a temporary file in the same folder, fsynced,
    then renamed over it. A reader sees the old file or the new one, never a part.

    On any failure (a full disk, an interruption) the temporary file is removed and ``path`` is
    as it was. A full disk raises :func:`~assistant.disk_space.disk_full_error` naming ``what``
    and the folder (``elsewhere``: how to write to another disk, for its hint); other
    ``OSError``s are raised as they are. An existing file keeps its permissions; a new one gets
    the process's umask, as ``open`` would give it.
    """
    from assistant.disk_space import disk_full_error, is_disk_full

    folder = path.parent
    tmp = folder / f".{path.name[:180]}.{secrets.token_hex(4)}.tmp"
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        mode = None
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            if mode is not None:
                os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full_error(what, folder, len(data), elsewhere) from exc
        raise
    sync_folder(folder)


def sync_folder(folder: Path) -> None:
    """fsync a folder, so that a rename into it survives a crash (best effort)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def locked(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_file`` (created if missing), across processes."""
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
