"""A real Chroma server (chromadb's ``chroma run``) on loopback, for the server-mode tests. ::

with run_chroma(tmp_dir) as url:      # http://127.0.0.1:PORT, ready to take requests
    env = {"ASSISTANT_CHROMA_URL": url}
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

CHROMA = Path(sys.executable).parent / "chroma"
READY_DEADLINE = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_DEADLINE
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"chroma run exited with {proc.returncode}:\n{log.read_text()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/v2/heartbeat")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"chroma run did not answer on port {port} within {READY_DEADLINE:g} s")


@contextlib.contextmanager
def run_chroma(data: Path) -> Iterator[str]:
    """Serve a database in ``data/db`` (log in ``data/server.log``); stopped on exit."""
    assert CHROMA.is_file(), f"chromadb's server command is missing: {CHROMA}"
    port = free_port()
    log_path = data / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                str(CHROMA),
                "run",
                "--path",
                str(data / "db"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_ready(port, proc, log_path)
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
