"""A sentence encoder from the Hugging Face hub, named ``hf:REPO[@REVISION]``, downloaded once.

``ASSISTANT_EMBEDDING_MODEL=hf:BAAI/bge-small-en-v1.5`` fetches, at first use, the files a
sentence encoder needs from the repo (``model.onnx`` or ``onnx/model.onnx`` with its external
data if any, ``tokenizer.json``, and the configs folder.py reads: ``config.json``,
``modules.json``, ``1_Pooling/config.json``, ``config_sentence_transformers.json``,
``sentence_bert_config.json``, ``tokenizer_config.json``) into the model cache
(``<ASSISTANT_MODEL_CACHE_DIR>/hub/OWNER--NAME/REVISION``). From then on it is a folder model
(folder.py): pooling, prefixes and longest input are read from those configs, and the same
settings override them.

- Checksummed: one API call (``/api/models/REPO/revision/REV?blobs=true``) lists the repo's files
  at a commit with each file's sha256 (LFS files) or git blob id (the others). Each download is
  checked against it, and its sha256 is recorded in ``hub-download.json`` beside the files, with
  the commit. At each load the files are checked against that record
  (:func:`~assistant.checked_files.is_intact`: hashed again only when a file's size or mtime
  changed).
- Offline afterwards: a complete, intact download is used without contacting the hub (``main``
  stays the commit first downloaded until the folder is removed). A damaged file is downloaded
  again, from the recorded commit.
- The hub's address is ``HF_ENDPOINT`` (default https://huggingface.co); ``HF_HUB_OFFLINE=1``
  forbids any request; ``HF_TOKEN`` opens private and gated repos (huggingface_hub reads it).

The index fingerprint (:func:`model_identity`) counts the repo, the sha256 of the model and of
its tokenizer, the pooling, the prefixes and the longest input, and shows ``hf:REPO@COMMIT``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from assistant.checked_files import is_intact, locked, record_verified, write_atomically
from assistant.disk_space import disk_full_error, free_bytes, is_disk_full, size_text
from assistant.embeddings.folder import FolderEmbedder, read_folder
from assistant.errors import AssistantError, UsageError

if TYPE_CHECKING:
    from assistant.settings import Settings

logger = logging.getLogger(__name__)

PREFIX = "hf:"
DEFAULT_ENDPOINT = "https://huggingface.co"
DEFAULT_REVISION = "main"
MANIFEST = "hub-download.json"
# Where a repo keeps its ONNX export, in the order folder.py looks for it.
MODEL_FILES = ("model.onnx", "onnx/model.onnx")
TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILES = (
    "config.json",
    "modules.json",
    "config_sentence_transformers.json",
    "sentence_bert_config.json",
    "tokenizer_config.json",
    "assistant-embedding.json",
)
POOLING_CONFIG = re.compile(r"[^/]*Pooling/config\.json")
REPO_NAME = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")
# The file list is one small request: a hub that has not answered in this time is not there.
API_TIMEOUT_SECONDS = 20.0
MOVE_HINT = "set ASSISTANT_MODEL_CACHE_DIR to a folder on another disk"


@dataclass(frozen=True)
class HubName:
    """What ``hf:REPO[@REVISION]`` names."""

    repo: str
    revision: str

    def __str__(self) -> str:
        return (
            PREFIX + self.repo + ("" if self.revision == DEFAULT_REVISION else "@" + self.revision)
        )


@dataclass(frozen=True)
class HubDownload:
    """A complete download in the model cache: where, from which commit, each file's sha256."""

    folder: Path
    repo: str
    commit: str
    model: str  # the model file's path in the repo
    files: dict[str, str]  # path in the repo -> sha256


def parse_name(name: str) -> HubName:
    """The repo and revision of ``hf:REPO[@REVISION]`` (revision ``main`` when not given)."""
    repo, at, revision = name[len(PREFIX) :].partition("@")
    if at and not revision:
        revision = " "  # "hf:REPO@" names no revision: refused below
    revision = revision or DEFAULT_REVISION
    if (
        not REPO_NAME.fullmatch(repo)
        or ".." in repo
        or "--" in repo
        or revision.startswith(".")  # its folder in the cache is named after it
        or any(c.isspace() or c == "\\" for c in revision)
    ):
        raise UsageError(
            f"{name!r} is not a hub model name.",
            hint="Write hf:OWNER/NAME as the model's page on huggingface.co names it, optionally "
            "with a branch, tag or commit: hf:BAAI/bge-small-en-v1.5@main.",
        )
    return HubName(repo, revision)


def hub_endpoint() -> str:
    """The hub's address: ``HF_ENDPOINT``, else https://huggingface.co (read at each call)."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def offline_mode() -> bool:
    """True when ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) forbids contacting the hub."""
    values = (os.environ.get("HF_HUB_OFFLINE"), os.environ.get("TRANSFORMERS_OFFLINE"))
    return any((value or "").strip().lower() in {"1", "true", "yes", "on"} for value in values)


def cache_folder(hub: HubName, settings: Settings) -> Path:
    """Where the repo's files are kept: ``<model cache>/hub/OWNER--NAME/REVISION``."""
    from assistant.embeddings.minilm_int8 import default_model_cache_dir

    root = Path(settings.model_cache_dir or default_model_cache_dir()).expanduser()
    return root / "hub" / hub.repo.replace("/", "--") / quote(hub.revision, safe="")


def local_model(name: str, settings: Settings) -> HubDownload:
    """The model's files in the cache: used as they are when complete and intact, else
    downloaded (the missing or damaged files only) under a lock, verified, then recorded."""
    hub = parse_name(name)
    folder = cache_folder(hub, settings)
    download = _read_manifest(folder, hub)
    if download is not None and not _damaged(download):
        return download
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with _download_lock(folder):
            download = _read_manifest(folder, hub)  # another process may have downloaded it
            damaged = _damaged(download) if download is not None else []
            if download is not None and not damaged:
                return download
            if offline_mode():
                raise _offline_error(hub, folder, damaged)
            for path in damaged:
                logger.warning(
                    "The cached file %s of %s is not the one downloaded (its bytes changed since): "
                    "downloading it again.",
                    folder / path,
                    hub,
                )
            return _download(hub, folder, download, damaged)
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full_error(f"the embedding model {hub}", folder, None, MOVE_HINT) from exc
        raise AssistantError(
            f"Cannot write the embedding model {hub} into {folder}: {exc.strerror or exc}.",
            hint="Set ASSISTANT_MODEL_CACHE_DIR to a writable folder.",
        ) from exc


def _read_manifest(folder: Path, hub: HubName) -> HubDownload | None:
    """The record of a complete download, or None (none yet, unreadable, another repo's)."""
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        files = {str(path): str(digest) for path, digest in data["files"].items()}
        download = HubDownload(folder, str(data["repo"]), str(data["commit"]), data["model"], files)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if download.repo != hub.repo or not {download.model, TOKENIZER_FILE} <= set(files):
        return None
    return download


def _damaged(download: HubDownload) -> list[str]:
    """The recorded files that are missing or whose bytes are not the ones downloaded."""
    return [p for p, digest in download.files.items() if not is_intact(download.folder / p, digest)]


def _download_lock(folder: Path) -> contextlib.AbstractContextManager[None]:
    """One download at a time per model folder (across processes)."""
    return locked(folder / ".download.lock")


def _download(
    hub: HubName, folder: Path, previous: HubDownload | None, damaged: list[str]
) -> HubDownload:
    """Fetch what is missing, check each file against the hub's checksum, record the result.

    A repair (``previous`` with ``damaged`` files) fetches those files from the recorded commit,
    so that the model stays the one first downloaded."""
    endpoint = hub_endpoint()
    commit, siblings = _repo_files(hub, previous.commit if previous else hub.revision, endpoint)
    model, wanted = _wanted_files(hub, siblings, endpoint)
    sums: dict[str, str] = {}
    fetch: list[str] = []
    for path in wanted:
        if previous is not None and path in previous.files and path not in damaged:
            kept: str | None = previous.files[path]  # checked intact a moment ago
        else:
            kept = None if path in damaged else _verified_sha256(folder / path, siblings[path])
        if kept is None:
            fetch.append(path)
        else:
            sums[path] = kept
    needed = sum(_size(siblings[path]) for path in fetch)
    free = free_bytes(folder)
    if free is not None and free < needed:
        raise disk_full_error(f"the embedding model {hub}", folder, needed, MOVE_HINT)
    if fetch:
        logger.warning(
            "Downloading the embedding model %s (%s, %d files) from %s into %s, once: later runs "
            "use this copy, offline.",
            hub,
            size_text(needed),
            len(fetch),
            endpoint,
            folder,
        )
    for left in folder.glob(".download-*"):  # an interrupted download's (this one holds the lock)
        shutil.rmtree(left, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=folder))
    try:
        for path in fetch:
            got = _fetch(hub, path, commit, staging, endpoint, folder)
            digest = _verified_sha256(got, siblings[path])
            if digest is None:
                raise AssistantError(
                    f"The file {path} of {hub} downloaded from {endpoint} does not have the "
                    "checksum the hub lists for it (damaged in transit, or the server sends "
                    "other bytes than it lists).",
                    hint="Run the command again to download it again; if this persists, check "
                    "HF_ENDPOINT and any proxy between you and the hub.",
                )
            target = folder / path
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(got, target)
            record_verified(target, digest)
            sums[path] = digest
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    record: dict[str, Any] = {"repo": hub.repo, "revision": hub.revision, "commit": commit}
    record |= {"endpoint": endpoint, "model": model, "files": sums}
    text = json.dumps(record, indent=1, sort_keys=True).encode()
    write_atomically(folder / MANIFEST, text, "the embedding model's download record", MOVE_HINT)
    return HubDownload(folder, hub.repo, commit, model, sums)


def _repo_files(hub: HubName, revision: str, endpoint: str) -> tuple[str, dict[str, Any]]:
    """The commit ``revision`` resolves to, and the repo's files at it (name -> sibling)."""
    from huggingface_hub import HfApi

    try:
        info = HfApi(endpoint=endpoint).model_info(
            hub.repo, revision=revision, files_metadata=True, timeout=API_TIMEOUT_SECONDS
        )
    except Exception as exc:
        raise _hub_error(exc, hub, endpoint) from exc
    if not info.sha or info.siblings is None:
        raise AssistantError(
            f"The hub at {endpoint} did not list the files of {hub.repo} at {revision!r}.",
            hint="Check that HF_ENDPOINT is a Hugging Face hub (or a full mirror of one).",
        )
    return str(info.sha), {sibling.rfilename: sibling for sibling in info.siblings}


def _wanted_files(hub: HubName, siblings: dict[str, Any], endpoint: str) -> tuple[str, list[str]]:
    """The model file, and every file to download (model, its external data, tokenizer, configs)."""
    model = next((path for path in MODEL_FILES if path in siblings), None)
    if model is None or TOKENIZER_FILE not in siblings:
        missing = (
            "ONNX weights (model.onnx or onnx/model.onnx)" if model is None else TOKENIZER_FILE
        )
        raise AssistantError(
            f"The hub model {hub.repo} ({endpoint}) has no {missing}, so it cannot run here.",
            hint="Export it yourself ('optimum-cli export onnx --model "
            f"{hub.repo} --task feature-extraction DIR') and set ASSISTANT_EMBEDDING_MODEL=DIR, "
            "or choose a repo that has ONNX weights (README: Your own embedding model).",
        )
    external = [p for p in siblings if p.startswith((model + "_data", model + ".data"))]
    configs = [p for p in siblings if p in CONFIG_FILES or POOLING_CONFIG.fullmatch(p)]
    return model, [model, *sorted(external), TOKENIZER_FILE, *sorted(configs)]


def _size(sibling: Any) -> int:
    lfs = getattr(sibling, "lfs", None)
    return int(getattr(sibling, "size", None) or (lfs["size"] if lfs else 0) or 0)


def _verified_sha256(path: Path, sibling: Any) -> str | None:
    """The sha256 of ``path`` when it has the checksum the hub lists (its LFS sha256, else its
    git blob id); None when it is absent or differs."""
    if not path.is_file():
        return None
    lfs = getattr(sibling, "lfs", None)
    blob_id = getattr(sibling, "blob_id", None)
    if not lfs and not blob_id:
        raise AssistantError(
            f"The hub lists no checksum for {sibling.rfilename}: its download cannot be checked.",
            hint="Check that HF_ENDPOINT is a Hugging Face hub (or a full mirror of one).",
        )
    sha256, blob = (
        hashlib.sha256(),
        hashlib.sha1(),
    )  # git names a blob by sha1("blob SIZE\0" + bytes)
    blob.update(b"blob %d\0" % path.stat().st_size)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha256.update(block)
            blob.update(block)
    matches = sha256.hexdigest() == lfs["sha256"] if lfs else blob.hexdigest() == blob_id
    return sha256.hexdigest() if matches else None


def _fetch(
    hub: HubName, path: str, commit: str, staging: Path, endpoint: str, folder: Path
) -> Path:
    """One file of the repo at ``commit``, downloaded into ``staging`` (no progress bars)."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.utils import tqdm as hub_tqdm

    class Quiet(hub_tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    try:
        got = hf_hub_download(
            hub.repo,
            path,
            revision=commit,
            local_dir=staging,
            endpoint=endpoint,
            tqdm_class=Quiet,
        )
    except Exception as exc:
        if is_disk_full(exc):
            raise disk_full_error(f"the embedding model {hub}", folder, None, MOVE_HINT) from exc
        raise _hub_error(exc, hub, endpoint) from exc
    return Path(str(got))


def cache_hint(hub: HubName) -> str:
    """The ways around an unreachable hub."""
    return (
        "Connect once: the model is then kept in the model cache and used offline. Or download "
        f"it on another machine ('hf download {hub.repo} --local-dir DIR'), copy the folder here "
        "and set ASSISTANT_EMBEDDING_MODEL to its path; or set HF_ENDPOINT to a hub mirror you "
        "can reach."
    )


def _hub_error(exc: Exception, hub: HubName, endpoint: str) -> AssistantError:
    """What a failed request to the hub means for the user, with the fix."""
    import httpx2
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(exc, GatedRepoError):
        return UsageError(
            f"The hub model {hub.repo} is gated: its terms must be accepted first.",
            hint=f"Accept them on {endpoint}/{hub.repo} and set HF_TOKEN to an access token.",
        )
    if isinstance(exc, RepositoryNotFoundError):
        return UsageError(
            f"There is no model {hub.repo} on the hub at {endpoint} (or it is private).",
            hint=f"Check the name: {endpoint}/{hub.repo} should be its page. For a private model "
            "set HF_TOKEN to an access token.",
        )
    if isinstance(exc, RevisionNotFoundError):
        return UsageError(
            f"The hub model {hub.repo} has no branch, tag or commit {hub.revision!r}.",
            hint=f"Name one that exists, or none: {PREFIX}{hub.repo} (its main branch).",
        )
    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        status = exc.response.status_code
        if status < 500 and status not in (408, 429):
            return AssistantError(
                f"The hub at {endpoint} refused to send {hub} (HTTP {status}).",
                hint="Check HF_ENDPOINT and HF_TOKEN.",
            )
    elif isinstance(exc, ValueError):  # an answer that is not JSON: not a hub
        return AssistantError(
            f"The address {endpoint} does not answer as a Hugging Face hub.",
            hint="Check HF_ENDPOINT (unset it for https://huggingface.co).",
        )
    elif not isinstance(exc, httpx2.TransportError | OSError):
        raise exc
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
    return AssistantError(
        f"Cannot reach the Hugging Face hub at {endpoint} to download the embedding model "
        f"{hub} ({reason}).",
        hint=cache_hint(hub),
    )


def _offline_error(hub: HubName, folder: Path, damaged: list[str]) -> AssistantError:
    state = (
        f"is damaged in the model cache ({', '.join(damaged)} in {folder}: not the bytes "
        "downloaded)"
        if damaged
        else f"is not in the model cache yet ({folder})"
    )
    return AssistantError(
        f"The embedding model {hub} {state}, and HF_HUB_OFFLINE forbids downloading it.",
        hint="Unset HF_HUB_OFFLINE for one run with a connection, or set "
        "ASSISTANT_EMBEDDING_MODEL to a folder holding the model.",
    )


def model_identity(name: str, settings: Settings) -> tuple[dict[str, str], str]:
    """What the index fingerprint counts of a hub model (repo, the sha256 of its model and
    tokenizer, pooling, prefixes, longest input), and the name it shows: ``hf:REPO@COMMIT``."""
    download = local_model(name, settings)
    model = read_folder(str(download.folder), settings)
    identity = {
        "embedding_model": PREFIX + download.repo,
        "embedding_model_sha256": download.files[download.model],
        "embedding_tokenizer_sha256": download.files[TOKENIZER_FILE],
        "embedding_pooling": model.pooling,
        "embedding_query_prefix": model.query_prefix,
        "embedding_passage_prefix": model.passage_prefix,
        "embedding_max_tokens": str(model.max_tokens),
    }
    return identity, f"{PREFIX}{download.repo}@{download.commit}"


def make_embedder(name: str, settings: Settings) -> FolderEmbedder:
    """The registry's entry for ``hf:REPO[@REVISION]``: the downloaded folder's model."""
    download = local_model(name, settings)
    embedder = FolderEmbedder(
        read_folder(str(download.folder), settings),
        batch_size=settings.embed_batch_size,
        threads=settings.embed_threads,
        runtime_dir=Path(settings.index_dir) / ".runtime",
    )
    embedder.name = name
    return embedder
