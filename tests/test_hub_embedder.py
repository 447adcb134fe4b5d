"""A sentence encoder from the Hugging Face hub (``hf:REPO``), against a loopback hub.

The server below answers the requests the hub client makes (the file list of a revision, HEAD
and GET of ``/{repo}/resolve/{revision}/{path}`` with the hub's headers) and serves the bundled
MiniLM's files in the layout of sentence-transformers/all-MiniLM-L6-v2 on the hub. The CLI finds
it through ``HF_ENDPOINT``, as it would find huggingface.co or a mirror.
"""

from __future__ import annotations

import hashlib
import json
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest
from conftest import CliResult

from assistant.checked_files import sha256_of
from assistant.embeddings import MiniLMEmbedder, make_embedder, minilm_files
from assistant.embeddings.hub import MANIFEST, local_model
from assistant.embeddings.minilm import MINILM_FILES_SHA256
from assistant.errors import AssistantError, UsageError
from assistant.index.paper_index import PaperIndex
from assistant.ingest.chunking import embedded_text
from assistant.settings import Settings

RunCli = Callable[..., CliResult]
REPO_ID = "test/minilm"
MODEL = "hf:" + REPO_ID
COMMIT = hashlib.sha1(b"test/minilm at its first commit").hexdigest()
# The files a sentence encoder needs, as the bundled MiniLM's folder has them.
NEEDED = {
    "onnx/model.onnx",
    "tokenizer.json",
    "config.json",
    "modules.json",
    "config_sentence_transformers.json",
    "sentence_bert_config.json",
    "tokenizer_config.json",
    "1_Pooling/config.json",
}
TINY_CORPUS = [
    {
        "id": "reef",
        "title": "Coral Bleaching under Marine Heatwaves",
        "abstract": "Sea surface "
        "temperature anomalies drive mass bleaching of coral reefs across forty sites.",
    },
    {
        "id": "ash",
        "title": "Volcanic Ash Detection from Satellite Imagery",
        "abstract": "A "
        "convolutional network detects volcanic ash plumes in multispectral satellite images.",
    },
]


def minilm_repo() -> dict[str, bytes]:
    """The bundled MiniLM as the hub holds sentence-transformers/all-MiniLM-L6-v2 (ONNX export
    under onnx/), with files the encoder does not need (the README, the vocabulary)."""
    files = minilm_files()
    packaged = files["tokenizer.json"].parent
    repo = {"onnx/model.onnx": files["model.onnx"].read_bytes()}
    for name in sorted(NEEDED - {"onnx/model.onnx"}) + ["README.md", "vocab.txt"]:
        repo[name] = (packaged / name).read_bytes()
    return repo


class LoopbackHub:
    """A hub on 127.0.0.1 holding repos at one commit each; LFS files are listed by sha256,
    the others by git blob id. ``tamper``: paths served with other bytes than listed."""

    def __init__(self, repos: dict[str, dict[str, bytes]], lfs: set[str]) -> None:
        self.repos, self.lfs = repos, lfs
        self.tamper: set[str] = set()
        self.requests: list[tuple[str, str]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _HubHandler)
        self._server.hub = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Shut the server down: its port then refuses connections."""
        self._server.shutdown()
        self._server.server_close()

    def fetched(self) -> list[str]:
        """Paths of the files downloaded (GET) so far."""
        return [
            path.split("/resolve/", 1)[1].split("/", 1)[1]
            for m, path in self.requests
            if m == "GET" and "/resolve/" in path
        ]

    def sibling(self, repo: str, name: str) -> dict[str, Any]:
        data = self.repos[repo][name]
        entry: dict[str, Any] = {"rfilename": name, "size": len(data)}
        entry["blobId"] = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        if name in self.lfs:
            sha = hashlib.sha256(data).hexdigest()
            entry["lfs"] = {"sha256": sha, "size": len(data), "pointerSize": 134}
        return entry


class _HubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._answer(send_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(send_body=False)

    def _answer(self, send_body: bool) -> None:
        hub: LoopbackHub = self.server.hub  # type: ignore[attr-defined]
        path = unquote(urlsplit(self.path).path)
        hub.requests.append((self.command, path))
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "models"] and len(parts) == 6 and parts[4] == "revision":
            repo, revision = "/".join(parts[2:4]), parts[5]
            if self._refused(repo, revision, None):
                return
            files = hub.repos[repo]
            info = {
                "id": repo,
                "modelId": repo,
                "sha": COMMIT,
                "private": False,
                "siblings": [hub.sibling(repo, name) for name in sorted(files)],
            }
            self._send(200, json.dumps(info).encode(), {"Content-Type": "application/json"})
        elif len(parts) >= 5 and parts[2] == "resolve":
            repo, revision, name = "/".join(parts[:2]), parts[3], "/".join(parts[4:])
            if self._refused(repo, revision, name):
                return
            data = hub.repos[repo][name]
            entry = hub.sibling(repo, name)
            headers = {"X-Repo-Commit": COMMIT, "ETag": f'"{entry["blobId"]}"'}
            if "lfs" in entry:
                headers |= {
                    "X-Linked-Etag": f'"{entry["lfs"]["sha256"]}"',
                    "X-Linked-Size": str(len(data)),
                }
            if name in hub.tamper:
                data = bytes([data[0] ^ 1]) + data[1:]
            self._send(200, data if send_body else b"", headers, length=len(data))
        else:
            self._send(404, b"{}", {"Content-Type": "application/json"})

    def _refused(self, repo: str, revision: str, name: str | None) -> bool:
        hub: LoopbackHub = self.server.hub  # type: ignore[attr-defined]
        code = None
        if repo not in hub.repos:
            code = "RepoNotFound"
        elif revision not in ("main", COMMIT):
            code = "RevisionNotFound"
        elif name is not None and name not in hub.repos[repo]:
            code = "EntryNotFound"
        if code is not None:
            body = json.dumps({"error": code}).encode()
            self._send(404, body, {"X-Error-Code": code, "Content-Type": "application/json"})
        return code is not None

    def _send(
        self, status: int, body: bytes, headers: dict[str, str], length: int | None = None
    ) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)


@pytest.fixture
def hub() -> Iterator[LoopbackHub]:
    repo = minilm_repo()
    no_onnx = {k: v for k, v in repo.items() if k != "onnx/model.onnx"}
    server = LoopbackHub({REPO_ID: repo, "test/no-onnx": no_onnx}, lfs={"onnx/model.onnx"})
    yield server
    server.stop()


@pytest.fixture
def hub_env(hub: LoopbackHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The variables that point the CLI (and this process) at the loopback hub, with a model
    cache and a hub client home of this test's own."""
    env = {
        "HF_ENDPOINT": hub.url,
        "HF_HOME": str(tmp_path / "hf-home"),
        # Else the client asks its endpoint for a registry of agent harnesses for its user agent.
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "ASSISTANT_MODEL_CACHE_DIR": str(tmp_path / "models"),
        "ASSISTANT_EMBEDDING_MODEL": MODEL,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if "huggingface_hub" in sys.modules:  # imported earlier: its constants were read then
        from huggingface_hub import constants

        monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return env


def flat(text: str) -> str:
    return " ".join(text.split())


def clean_error(result: CliResult, code: int = 1) -> str:
    """A non-zero exit with 'Error:' and 'Hint:' and no traceback; stderr, whitespace collapsed."""
    assert result.exit_code == code, result
    assert "Error:" in result.stderr and "Hint:" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    return flat(result.stderr)


def top_hit(run_cli: RunCli, query: str, env: dict[str, str | None]) -> str:
    result = run_cli(["search", query, "--index", "idx", "--json", "--k", "3"], env=env)
    assert result.exit_code == 0, result
    return str(json.loads(result.stdout)["results"][0]["title"])


def closed_port_url() -> str:
    """An address on this machine where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_a_hub_model_is_downloaded_once_checked_and_then_used_offline(
    run_cli: RunCli,
    hub: LoopbackHub,
    hub_env: dict[str, str],
    small_corpus_file: Path,
    tmp_path: Path,
) -> None:
    ingest = run_cli(["ingest", str(small_corpus_file), "--index", "idx", "--json"], env=hub_env)
    assert ingest.exit_code == 0, ingest
    assert f"Downloading the embedding model {MODEL}" in flat(ingest.stderr)
    assert sorted(hub.fetched()) == sorted(NEEDED)  # only what an encoder needs, once each
    assert {path for _, path in hub.requests if "/resolve/" not in path} == {
        f"/api/models/{REPO_ID}/revision/main"  # one file list, then the files at its commit
    }
    assert all(f"/resolve/{COMMIT}/" in path for _, path in hub.requests if "/resolve/" in path)

    folder = tmp_path / "models" / "hub" / "test--minilm" / "main"
    record = json.loads((folder / MANIFEST).read_text())
    assert (record["commit"], record["model"]) == (COMMIT, "onnx/model.onnx")
    assert record["files"]["onnx/model.onnx"] == MINILM_FILES_SHA256["model.onnx"]
    assert record["files"]["tokenizer.json"] == MINILM_FILES_SHA256["tokenizer.json"]
    assert set(record["files"]) == NEEDED

    # Its configs were read (mean pooling, 256 word pieces), so its vectors are the bundled
    # exact MiniLM's; the index names the repo at its commit and the model's sha256.
    index = PaperIndex(Settings(index_dir=tmp_path / "idx"))
    try:
        meta = {key: index.catalog.get_meta(key) for key in index.spec}
        assert meta["embedding_model"] == f"{MODEL}@{COMMIT}"
        assert meta["embedding_model_sha256"] == MINILM_FILES_SHA256["model.onnx"]
        assert (meta["embedding_pooling"], meta["embedding_max_tokens"]) == ("mean", "256")
        titles = {p.paper_id: p.title for p in index.catalog.iter_papers()}
        rows = index.catalog._db.execute("SELECT chunk_id, paper_id, text FROM chunks").fetchall()
        stored = index.store.get_embeddings([chunk_id for chunk_id, _, _ in rows])
    finally:
        index.close()
    assert len(rows) >= 24
    texts = [embedded_text(titles[paper_id], text) for _, paper_id, text in rows]
    expected = MiniLMEmbedder(runtime_dir=tmp_path / "rt").embed(texts)
    got = np.asarray([stored[chunk_id] for chunk_id, _, _ in rows], dtype=np.float32)
    np.testing.assert_allclose(got, expected, atol=2e-5)

    first_title = small_corpus_file.read_text().split("\n\n")[2].strip()  # a Daily Papers dump
    requests_before = len(hub.requests)
    assert top_hit(run_cli, first_title, hub_env) == first_title
    assert len(hub.requests) == requests_before  # the cached model: the hub is not asked

    hub.stop()
    assert top_hit(run_cli, first_title, hub_env) == first_title  # no hub at all
    offline = {**hub_env, "HF_HUB_OFFLINE": "1"}
    assert top_hit(run_cli, first_title, offline) == first_title

    # The index refuses another model, and names this one at its commit to get it back.
    stderr = clean_error(
        run_cli(
            ["search", "x", "--index", "idx"], env={**hub_env, "ASSISTANT_EMBEDDING_MODEL": None}
        )
    )
    assert f"ASSISTANT_EMBEDDING_MODEL={MODEL}@{COMMIT}" in stderr


def test_the_same_repo_at_its_commit_opens_the_same_index(
    hub: LoopbackHub, hub_env: dict[str, str], tmp_path: Path
) -> None:
    def fingerprint(settings: Settings) -> str:
        index = PaperIndex(settings)
        index.close()
        return index.spec["fingerprint"]

    settings = Settings(index_dir=tmp_path / "idx")
    at_main = fingerprint(settings)
    assert fingerprint(settings.model_copy(update={"embedding_model": f"{MODEL}@{COMMIT}"})) == (
        at_main
    )
    assert (tmp_path / "models" / "hub" / "test--minilm" / COMMIT / MANIFEST).is_file()
    embedder = make_embedder(settings)
    assert (embedder.name, embedder.dim, embedder.max_tokens) == (MODEL, 384, 256)
    assert fingerprint(settings.model_copy(update={"embedding_query_prefix": "q: "})) != at_main


def test_a_damaged_cached_file_is_downloaded_again_or_named(
    run_cli: RunCli, hub: LoopbackHub, hub_env: dict[str, str], tmp_path: Path
) -> None:
    corpus = tmp_path / "tiny.jsonl"
    corpus.write_text("".join(json.dumps(p) + "\n" for p in TINY_CORPUS), encoding="utf-8")
    download = local_model(MODEL, Settings())
    model_file = download.folder / "onnx" / "model.onnx"

    def damage() -> None:
        data = bytearray(model_file.read_bytes())
        data[len(data) // 2] ^= 0xFF  # same size: only its bytes tell
        model_file.write_bytes(bytes(data))

    damage()
    fetched_before = len(hub.fetched())
    repaired = run_cli(["ingest", str(corpus), "--index", "idx"], env=hub_env)
    assert repaired.exit_code == 0, repaired
    assert "is not the one downloaded" in flat(repaired.stderr)
    assert hub.fetched()[fetched_before:] == ["onnx/model.onnx"]  # that file only
    assert sha256_of(model_file) == MINILM_FILES_SHA256["model.onnx"]

    damage()
    stderr = clean_error(
        run_cli(["search", "coral", "--index", "idx"], env={**hub_env, "HF_HUB_OFFLINE": "1"})
    )
    assert "damaged" in stderr and "onnx/model.onnx" in stderr and "HF_HUB_OFFLINE" in stderr

    hub.stop()
    stderr = clean_error(run_cli(["search", "coral", "--index", "idx"], env=hub_env))
    assert f"Cannot reach the Hugging Face hub at {hub.url}" in stderr and MODEL in stderr


def test_an_unreachable_hub_on_first_use_is_a_clear_error(
    run_cli: RunCli, hub_env: dict[str, str], tmp_path: Path
) -> None:
    corpus = tmp_path / "tiny.jsonl"
    corpus.write_text("".join(json.dumps(p) + "\n" for p in TINY_CORPUS), encoding="utf-8")
    nowhere = closed_port_url()
    result = run_cli(
        ["ingest", str(corpus), "--index", "idx"], env={**hub_env, "HF_ENDPOINT": nowhere}
    )
    stderr = clean_error(result)
    assert f"Cannot reach the Hugging Face hub at {nowhere}" in stderr and MODEL in stderr
    for fix in (
        "Connect once",
        "hf download test/minilm --local-dir",
        "ASSISTANT_EMBEDDING_MODEL",
        "HF_ENDPOINT",
    ):
        assert fix in stderr
    offline = run_cli(
        ["ingest", str(corpus), "--index", "idx"], env={**hub_env, "HF_HUB_OFFLINE": "1"}
    )
    assert "is not in the model cache yet" in clean_error(offline)


def test_what_the_hub_cannot_give_is_said(
    hub: LoopbackHub, hub_env: dict[str, str], tmp_path: Path
) -> None:
    with pytest.raises(UsageError) as unknown:
        local_model("hf:test/no-such-model", Settings())
    assert "There is no model test/no-such-model" in unknown.value.message
    with pytest.raises(UsageError) as no_revision:
        local_model(f"{MODEL}@v9", Settings())
    assert "no branch, tag or commit 'v9'" in no_revision.value.message
    with pytest.raises(AssistantError) as no_onnx:
        local_model("hf:test/no-onnx", Settings())
    assert "has no ONNX weights" in no_onnx.value.message
    assert no_onnx.value.hint and "optimum-cli export onnx" in no_onnx.value.hint
    for bad in ("hf:", "hf:a b", "hf:../x", f"{MODEL}@", f"{MODEL}@.."):
        with pytest.raises(UsageError):
            local_model(bad, Settings())

    hub.tamper = {"tokenizer.json"}
    with pytest.raises(AssistantError) as tampered:
        local_model(MODEL, Settings())
    assert "does not have the checksum the hub lists" in tampered.value.message
    assert not (tmp_path / "models" / "hub" / "test--minilm" / "main" / MANIFEST).exists()
    hub.tamper = set()
    assert local_model(MODEL, Settings()).commit == COMMIT  # the next run downloads it
