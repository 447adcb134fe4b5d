"""The child process that runs a GGUF model file with llama.cpp, for ``-m gguf:PATH``.

Started by :mod:`assistant.llm.gguf_process` as ``python -m
assistant.llm.gguf_worker``, so that a crash inside llama.cpp (a build that uses
CPU instructions the machine lacks dies with SIGILL on the first token) ends this process, not
the assistant. It is the only module that imports :mod:`llama_cpp`.

Requests come on standard input and events go out on the original standard output, both as
JSON messages framed by :class:`multiprocessing.connection.Connection`; file descriptor 1 is
then pointed at standard error, so nothing llama.cpp prints can corrupt them. The first
request loads the model (``load``: path, context, threads; answered by ``loaded`` or
``load_failed``); each ``generate`` request streams ``chunk`` events (llama-cpp-python's chat
completion chunks) and ends with ``done`` (with the prompt's and the answer's token counts),
``aborted`` or ``failed``. An ``abort`` request stops its generation between tokens, and
inside the prompt's evaluation through llama.cpp's abort callback. When standard input closes
(the assistant ended), the generation in progress stops and the process exits.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import resource
import signal
import sys
import threading
from multiprocessing.connection import Connection
from typing import Any


class Aborted(Exception):
    """The generation was given up (an ``abort`` request, or the assistant ended)."""


class Worker:
    """Serves one loaded model: generations one at a time, each abortable."""

    def __init__(self, requests: Connection, events: Connection) -> None:
        self.requests = requests
        self.events = events
        self.pending: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.aborted: set[int] = set()
        self.current = 0  # the call being generated (0: none)
        self.lock = threading.Lock()
        self.llama: Any = None
        self.abort_callback: Any = None  # llama.cpp's pointer to it must stay valid
        self.prompt_tokens = 0
        self.completion_tokens = 0

    def send(self, event: dict[str, Any]) -> None:
        self.events.send_bytes(json.dumps(event).encode())

    def should_stop(self) -> bool:
        return self.current in self.aborted

    def read_requests(self) -> None:
        """In a thread: queue the generations, note the aborts; stop all when input closes."""
        while True:
            try:
                request = json.loads(self.requests.recv_bytes())
            except (EOFError, OSError):
                with self.lock:
                    self.aborted.add(self.current)
                self.pending.put(None)
                return
            if request["op"] == "abort":
                with self.lock:
                    self.aborted.add(request["call"])
            else:
                self.pending.put(request)

    def run(self) -> None:
        setup = json.loads(self.requests.recv_bytes())
        failure = self.load(setup["path"], setup["n_ctx"], setup["threads"])
        if failure is not None:
            self.send(failure)
            return
        self.send({"event": "loaded"})
        threading.Thread(target=self.read_requests, name="gguf-requests", daemon=True).start()
        while (request := self.pending.get()) is not None:
            self.generate(request["call"], request["args"])

    def generate(self, call: int, args: dict[str, Any]) -> None:
        with self.lock:
            self.current = call
        self.prompt_tokens = self.completion_tokens = 0
        try:
            if self.should_stop():
                raise Aborted
            for chunk in self.llama.create_chat_completion(**args):
                self.send({"event": "chunk", "call": call, "chunk": chunk})
            event = {
                "event": "done",
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
            }
        except Aborted:
            event = {"event": "aborted"}
        except Exception as exc:  # noqa: BLE001 - llama.cpp's failure is the call's, not ours
            if self.should_stop():  # an aborted prompt evaluation fails in llama.cpp
                event = {"event": "aborted"}
            else:
                event = {"event": "failed", "error": f"{type(exc).__name__}: {exc}"}
        with self.lock:
            self.current = 0
            self.aborted.discard(call)
        self.send({**event, "call": call})

    def load(self, path: str, n_ctx: int, threads: int | None) -> dict[str, Any] | None:
        """Load the model; None, or the ``load_failed`` event saying why not."""
        try:
            import llama_cpp
            import llama_cpp.llama_cpp as low_level
        except ImportError as exc:
            return {"event": "load_failed", "reason": "import", "error": str(exc)}
        worker = self

        class AbortableLlama(llama_cpp.Llama):
            """Counts the prompt's and the answer's tokens, and stops between tokens when told."""

            def generate(self, tokens: Any, *args: Any, **kwargs: Any) -> Any:
                worker.prompt_tokens = len(tokens)
                for token in super().generate(tokens, *args, **kwargs):
                    if worker.should_stop():
                        raise Aborted
                    if not low_level.llama_vocab_is_eog(self._model.vocab, token):
                        worker.completion_tokens += 1
                    yield token

        # llama.cpp's extra weight buffer types (AMX / repacked weights) are turned off: with
        # them, llama-cpp-python 0.3.36 built natively crashes (SIGSEGV in decode) on the first
        # completion on virtualised Xeons that report AMX (see also tests/llama_server.py).
        default_params = low_level.llama_model_default_params

        def without_extra_buffers() -> Any:
            params = default_params()
            params.use_extra_bufts = False
            return params

        low_level.llama_model_default_params = without_extra_buffers
        try:
            self.llama = AbortableLlama(
                model_path=path,
                n_ctx=n_ctx,
                n_threads=threads,
                n_threads_batch=threads,
                n_gpu_layers=-1,  # all layers on the GPU when llama.cpp was built with one
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            return {"event": "load_failed", "reason": "load", "error": str(exc)}
        finally:
            low_level.llama_model_default_params = default_params
        # An aborted prompt evaluation makes llama-cpp-python log an error line; the assistant
        # reports failures itself.
        logging.getLogger("llama-cpp-python").setLevel(logging.CRITICAL)
        # Checked by llama.cpp between the steps of each decode (on its first thread): the way
        # to stop a long prompt evaluation, which no token boundary interrupts.
        self.abort_callback = low_level.ggml_abort_callback(lambda _data: self.should_stop())
        low_level.llama_set_abort_callback(self.llama._ctx.ctx, self.abort_callback, None)
        return None


def main() -> None:
    requests = Connection(os.dup(0), writable=False)
    events = Connection(os.dup(1), readable=False)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    # Ctrl-C is the assistant's to handle (it stops this process's generation itself).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A crash inside llama.cpp is reported by the assistant; a core file would hold the model.
    resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
    with contextlib.suppress(EOFError, BrokenPipeError):  # the assistant ended
        Worker(requests, events).run()


if __name__ == "__main__":
    main()
