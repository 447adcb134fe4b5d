"""A GGUF model file loaded in a child process, seen from the assistant's side.

:class:`ModelProcess` starts ``python -m assistant.llm.gguf_worker`` (see that module
for the protocol), has it load the file once, and runs one generation at a time in it
(:meth:`ModelProcess.generation`), its chunks streamed back as they come. A generation given up
(a deadline) is aborted in the child, which stays loaded for the next one; if it does not stop
within :data:`ABORT_GRACE_S`, the child is killed. A child that dies (a signal: llama.cpp built
with CPU instructions this machine does not run dies with SIGILL; or an exit) makes the call
fail with :class:`ModelProcessDied`, which says why, and the next call starts a new child.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

__all__ = [
    "ABORT_GRACE_S",
    "WORKER",
    "GenerationFailed",
    "LoadFailed",
    "ModelProcess",
    "ModelProcessDied",
]

#: The module the child runs.
WORKER = "assistant.llm.gguf_worker"
#: Seconds a generation given up may take to stop (llama.cpp checks between decode steps)
#: before its process is killed.
ABORT_GRACE_S = 15.0

REBUILD_FLAGS = (
    'CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF" '
    "pip install --no-cache-dir --force-reinstall llama-cpp-python==0.3.36"
)

#: Signal name -> (what it is, what it means here, what to do).
_SIGNALS: dict[str, tuple[str, str, str]] = {
    "SIGILL": (
        "illegal instruction",
        "this llama.cpp build uses CPU instructions this machine does not run (AMX or AVX-512 "
        "on some Xeons and virtual machines)",
        f"Rebuild llama-cpp-python without them: {REBUILD_FLAGS}",
    ),
    "SIGSEGV": (
        "segmentation fault",
        "llama.cpp crashed",
        "Try another model file or quantisation; if every model crashes, rebuild "
        f"llama-cpp-python for this machine: {REBUILD_FLAGS}",
    ),
    "SIGBUS": (
        "bus error",
        "the model file could not be read while in use (changed, or on a failing disk)",
        "Check the file, or download it again.",
    ),
    "SIGABRT": (
        "aborted",
        "llama.cpp stopped on one of its own checks (its message is above)",
        "Try another model file or quantisation, or a smaller ASSISTANT_LLM_CONTEXT_TOKENS.",
    ),
    "SIGKILL": (
        "killed",
        "most often because the machine ran out of memory",
        "Use a smaller model or quantisation, or a smaller ASSISTANT_LLM_CONTEXT_TOKENS.",
    ),
}


class ModelProcessDied(Exception):
    """The child process ended while it was ``during`` something (a signal, or an exit)."""

    def __init__(self, returncode: int | None, during: str) -> None:
        self.returncode = returncode
        self.during = during
        how, meaning, self.hint = describe_death(returncode)
        self.cause = f"{how} while {during}" + (f": {meaning}" if meaning else "")
        super().__init__(f"the local model's process died {self.cause}")


class LoadFailed(Exception):
    """The child could not load the model: ``reason`` is ``"import"`` (llama-cpp-python is
    missing or broken) or ``"load"`` (llama.cpp refused the file)."""

    def __init__(self, reason: str, error: str) -> None:
        super().__init__(error)
        self.reason = reason
        self.error = error


class GenerationFailed(Exception):
    """llama.cpp raised during a generation (the text is its class and message)."""


class GenerationStopped(Exception):
    """The generation was aborted before it finished."""


def describe_death(returncode: int | None) -> tuple[str, str, str]:
    """(how: ``"with SIGILL (illegal instruction)"``, what it means here, what to do) for the
    return code of a process that ended."""
    if returncode is None or returncode >= 0:
        code = "" if returncode is None else f" (exit code {returncode})"
        return f"unexpectedly{code}", "", "Its messages above may say why; try again."
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    what, meaning, hint = _SIGNALS.get(name, ("", "", "Try again, or another model file."))
    return f"with {name}" + (f" ({what})" if what else ""), meaning, hint


class ModelProcess:
    """One GGUF file loaded in a child process; one generation at a time (:attr:`lock`)."""

    def __init__(self, path: Path, n_ctx: int, threads: int | None) -> None:
        self.path = path
        self.n_ctx = n_ctx
        self.threads = threads
        self.lock = threading.Lock()  # held by a generation until its process is idle again
        self._starting = threading.Lock()
        self._sending = threading.Lock()
        self._calls = itertools.count(1)
        self._process: subprocess.Popen[bytes] | None = None
        self._requests: Connection | None = None
        self._events: Connection | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def ensure_started(self) -> None:
        """Start the child and load the file, unless a child is already up.

        Raises LoadFailed or ModelProcessDied.
        """
        with self._starting:
            if not self.alive:
                self._start()

    def _start(self) -> None:
        self._close()
        process = subprocess.Popen(
            [sys.executable, "-m", WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,  # Ctrl-C on the terminal is the assistant's to handle
        )
        assert process.stdin is not None and process.stdout is not None
        self._requests = Connection(os.dup(process.stdin.fileno()), readable=False)
        self._events = Connection(os.dup(process.stdout.fileno()), writable=False)
        process.stdin.close()
        process.stdout.close()
        self._process = process
        setup = {"path": str(self.path), "n_ctx": self.n_ctx, "threads": self.threads}
        self._send({"op": "load", **setup})
        event = self._receive("loading the model")
        assert event is not None  # (no timeout)
        if event["event"] == "load_failed":
            self._reap()
            raise LoadFailed(event["reason"], event["error"])

    @contextmanager
    def generation(self, args: dict[str, Any]) -> Iterator[Generation]:
        """A generation of ``args`` (llama-cpp-python's ``create_chat_completion`` arguments);
        one at a time. Left before its end, it is aborted and waited for (or its process
        killed), so the next one starts on an idle process."""
        with self.lock:
            generation = Generation(self, next(self._calls))
            self._send({"op": "generate", "call": generation.call, "args": args})
            try:
                yield generation
            finally:
                if not generation.ended:
                    generation.stop()

    def kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
        self._reap()

    # --- the pipes

    def _send(self, request: dict[str, Any]) -> None:
        with self._sending:
            try:
                if self._requests is None:  # the process already ended
                    raise OSError
                self._requests.send_bytes(json.dumps(request).encode())
            except OSError:
                raise self._died("receiving a request") from None

    def _receive(self, during: str, timeout: float | None = None) -> dict[str, Any] | None:
        """The child's next event; None when ``timeout`` passes first."""
        try:
            if self._events is None:  # the process already ended
                raise EOFError
            if timeout is not None and not self._events.poll(timeout):
                return None
            event: dict[str, Any] = json.loads(self._events.recv_bytes())
        except (EOFError, OSError):
            raise self._died(during) from None
        return event

    def _died(self, during: str) -> ModelProcessDied:
        self._reap()
        code = self._process.returncode if self._process is not None else None
        return ModelProcessDied(code, during)

    def _reap(self) -> None:
        """Wait for the ended child (killing it if it lingers) and close the pipes."""
        if self._process is not None:
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._close()

    def _close(self) -> None:
        for connection in (self._requests, self._events):
            if connection is not None:
                connection.close()
        self._requests = self._events = None


class Generation:
    """One generation in a :class:`ModelProcess`: iterate for its chunks."""

    def __init__(self, process: ModelProcess, call: int) -> None:
        self.process = process
        self.call = call
        self.ended = False
        self.prompt_tokens = 0
        self.completion_tokens = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """The chunks, until the end; raises GenerationFailed, GenerationStopped or
        ModelProcessDied."""
        while True:
            event = self.process._receive("answering")
            assert event is not None
            if event["event"] == "chunk":
                yield event["chunk"]
                continue
            self._end(event)
            return

    def abort(self) -> None:
        """Tell the child to stop this generation (from any thread; its end is still read)."""
        if not self.ended:
            with contextlib.suppress(ModelProcessDied):  # nothing to stop; the reader sees it
                self.process._send({"op": "abort", "call": self.call})

    def stop(self) -> None:
        """Abort and read until the child says it stopped; kill it if it does not in time."""
        self.abort()
        give_up = time.monotonic() + ABORT_GRACE_S
        while not self.ended:
            try:
                event = self.process._receive("stopping", max(0.0, give_up - time.monotonic()))
            except ModelProcessDied:
                return
            if event is None:
                self.process.kill()
                return
            if event["event"] != "chunk":
                self.ended = True

    def _end(self, event: dict[str, Any]) -> None:
        self.ended = True
        if event["event"] == "failed":
            raise GenerationFailed(event["error"])
        if event["event"] == "aborted":
            raise GenerationStopped
        self.prompt_tokens = event["prompt_tokens"]
        self.completion_tokens = event["completion_tokens"]
