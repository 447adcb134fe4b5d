"""A small but real OpenAI-compatible HTTP server for tests.

It listens on 127.0.0.1 (a free port) in a background thread and speaks the parts of the API the
assistant uses: ``POST /v1/chat/completions`` (JSON or server-sent events, following the request's
``stream`` flag; a final usage chunk when ``stream_options.include_usage`` is set) and
``GET /v1/models``. Replies are scripted: queue texts or faults, and they are served in order::

    with FakeOpenAI() as fake:
        fake.queue("Hello [1].", FakeReply.error(429, retry_after=1), "Second reply.")
        client = LLMClient(Settings(llm_base_url=fake.url, llm_model="fake-model"))
        ...
        assert fake.chat_requests[0]["messages"][-1]["content"].startswith(...)

When the queue is empty the ``default`` responder (``callable(request_json) -> str``) answers;
without one the server replies HTTP 400 "no scripted reply left" (not retried, so a test that
sends more requests than it scripted fails fast and clearly).

Faults on demand: HTTP errors with Retry-After, slow or malformed replies, streams cut mid-way,
a server that never sends its headers (:meth:`FakeReply.stalled`), one that sends only SSE
keep-alive comments (:meth:`FakeReply.keep_alive_forever`), one that repeats itself without end
(:meth:`FakeReply.repeating`), reasoning models (``reasoning_content``:
:meth:`FakeReply.thinking`; ``<think>`` tags split across chunks: :meth:`FakeReply.chunks`).

Every request is recorded (``fake.requests``), including those that later time out.
Standard library only, so it can be copied into other projects.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeOpenAI", "FakeReply", "RecordedRequest", "dead_url", "split_tokens"]

Responder = Callable[[dict[str, Any]], str]


def split_tokens(text: str) -> list[str]:
    """Split ``text`` into stream tokens (words with their leading space) that join back to it."""
    tokens = re.findall(r"\s*\S+", text)
    tail = text[len("".join(tokens)) :]
    if tail:
        tokens.append(tail)
    return tokens


@dataclass
class FakeReply:
    """One scripted reply: a text, or a fault. Build it with the class methods."""

    text: str = ""
    status: int = 200
    retry_after: str | None = None
    delay: float = 0.0
    malformed: bool = False
    cut_after: int | None = None
    cut_abruptly: bool = True
    usage: bool = True
    model: str | None = None
    error_message: str | None = None
    stall: bool = False
    keep_alive: float | None = None
    repeat: bool = False
    reasoning: str | None = None
    pieces: list[str] | None = None
    token_delay: float = 0.0

    @classmethod
    def reply(cls, text: str, *, usage: bool = True, model: str | None = None) -> FakeReply:
        """A normal reply; ``usage=False`` imitates servers that never report token usage."""
        return cls(text=text, usage=usage, model=model)

    @classmethod
    def error(
        cls, status: int, *, retry_after: float | str | None = None, message: str | None = None
    ) -> FakeReply:
        """HTTP ``status`` with an OpenAI-style error body and an optional Retry-After header."""
        return cls(
            status=status,
            retry_after=None if retry_after is None else str(retry_after),
            error_message=message,
        )

    @classmethod
    def slow(cls, seconds: float, text: str = "Too late.") -> FakeReply:
        """Wait ``seconds`` before answering (for client timeouts)."""
        return cls(text=text, delay=seconds)

    @classmethod
    def stalled(cls) -> FakeReply:
        """Accept the request and never answer: no status line, no headers (until closed)."""
        return cls(stall=True)

    @classmethod
    def keep_alive_forever(cls, every: float = 0.2) -> FakeReply:
        """Answer 200 and then send only SSE comments (``: keep-alive``) every ``every`` s, as
        proxies do while a request is queued (to a non-streaming request too)."""
        return cls(keep_alive=every)

    @classmethod
    def repeating(cls, text: str, *, delay: float = 0.0) -> FakeReply:
        """Stream ``text`` again and again, without end (until the client hangs up)."""
        return cls(text=text, repeat=True, token_delay=delay)

    @classmethod
    def chunks(
        cls, pieces: list[str], *, reasoning: str | None = None, delay: float = 0.0
    ) -> FakeReply:
        """Stream exactly these content pieces (a ``<think>`` tag may be split across them);
        ``reasoning`` is sent first as ``reasoning_content`` deltas, word by word."""
        return cls(text="".join(pieces), pieces=pieces, reasoning=reasoning, token_delay=delay)

    @classmethod
    def thinking(cls, text: str, reasoning: str) -> FakeReply:
        """A reply with ``reasoning_content`` (streamed first, or in the message)."""
        return cls(text=text, reasoning=reasoning)

    @classmethod
    def malformed_body(cls) -> FakeReply:
        """A 200 reply whose body is not JSON (SSE data lines that are not JSON when streaming)."""
        return cls(malformed=True)

    @classmethod
    def empty(cls) -> FakeReply:
        """A well-formed reply with empty content."""
        return cls(text="")

    @classmethod
    def cut(cls, text: str, *, after: int, abruptly: bool = True) -> FakeReply:
        """Stream the first ``after`` tokens of ``text``, then stop.

        ``abruptly=True`` drops the connection mid-body (an incomplete chunked body, as when a
        server crashes); ``abruptly=False`` ends the body cleanly but without a finish reason
        or ``[DONE]``. Served to a non-streaming request, it closes the connection unanswered.
        """
        return cls(text=text, cut_after=after, cut_abruptly=abruptly)


@dataclass
class RecordedRequest:
    """A request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None = None
    received_at: float = field(default_factory=time.monotonic)


def dead_url() -> str:
    """A loopback base URL on which nothing listens (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeOpenAI

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that drop their connection (timeouts, closed keep-alive sockets)."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Keep test output quiet."""

    # --- routing

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        fake = self.server.fake
        fake._record(RecordedRequest("GET", self.path, dict(self.headers)))
        if not self._authorized():
            return
        if self.path.rstrip("/") == "/v1/models":
            data = [
                {"id": name, "object": "model", "created": 0, "owned_by": "fake"}
                for name in fake.models
            ]
            self._send_json(200, {"object": "list", "data": data})
        else:
            self._send_error(404, f"Unknown path {self.path}")

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {"_unparsable": raw.decode("utf-8", "replace")}
        fake._record(RecordedRequest("POST", self.path, dict(self.headers), body))
        if not self._authorized():
            return
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send_error(404, f"Unknown path {self.path}")
            return
        item = fake._next_reply(body)
        if item is None:
            self._send_error(400, "FakeOpenAI: no scripted reply left and no default responder")
            return
        try:
            self._serve(item, body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (e.g. timed out)

    # --- replies

    def _serve(self, item: FakeReply, body: dict[str, Any]) -> None:
        fake = self.server.fake
        if (item.delay and fake._stopping.wait(item.delay)) or item.stall:
            if item.stall:
                fake._stopping.wait()
            self.close_connection = True
            return
        if item.status != 200:
            headers = {"Retry-After": item.retry_after} if item.retry_after is not None else {}
            self._send_error(item.status, item.error_message or _reason(item.status), headers)
            return
        streaming = bool(body.get("stream"))
        if item.cut_after is not None and not streaming:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        model = item.model or str(body.get("model") or (fake.models[0] if fake.models else "fake"))
        if streaming or item.keep_alive is not None:
            self._serve_stream(item, body, model)
        elif item.malformed:
            self._send_raw(200, b'{"id": "chatcmpl-fake", "choices": [ this is not json', "json")
        else:
            self._send_json(200, _completion(item, body, model))

    def _serve_stream(self, item: FakeReply, body: dict[str, Any], model: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if item.malformed:
            self._chunk(b"data: {this is not json\n\n")
            self._end_chunks()
            return
        if item.keep_alive is not None:
            while not self.server.fake._stopping.wait(item.keep_alive):
                self._chunk(b": keep-alive\n\n")
            return
        tokens = item.pieces if item.pieces is not None else split_tokens(item.text)
        cut = item.cut_after is not None
        if cut:
            tokens = tokens[: item.cut_after]
        self._event(_chunk(model, {"role": "assistant", "content": ""}))
        for thought in split_tokens(item.reasoning or ""):
            self._event(_chunk(model, {"reasoning_content": thought}))
        for number, token in enumerate(_endless(tokens) if item.repeat else tokens):
            stopping = self.server.fake._stopping
            if number > 100_000 or (item.token_delay and stopping.wait(item.token_delay)):
                return
            self._event(_chunk(model, {"content": token}))
        if cut:
            if item.cut_abruptly:
                self.close_connection = True
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
            else:
                self._end_chunks()
            return
        self._event(_chunk(model, {}, finish_reason="stop"))
        options = body.get("stream_options") or {}
        if item.usage and options.get("include_usage"):
            usage_chunk = _chunk(model, None)
            usage_chunk["usage"] = _usage(body, item.text, item.reasoning)
            self._event(usage_chunk)
        self._chunk(b"data: [DONE]\n\n")
        self._end_chunks()

    # --- low level

    def _authorized(self) -> bool:
        key = self.server.fake.api_key
        if key is None or self.headers.get("Authorization") == f"Bearer {key}":
            return True
        self._send_error(401, "Incorrect API key provided.", code="invalid_api_key")
        return False

    def _event(self, payload: dict[str, Any]) -> None:
        self._chunk(b"data: " + json.dumps(payload).encode() + b"\n\n")

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end_chunks(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send_raw(status, json.dumps(payload).encode(), "json", headers)

    def _send_raw(
        self, status: int, data: bytes, kind: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", f"application/{kind}")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _send_error(
        self,
        status: int,
        message: str,
        headers: dict[str, str] | None = None,
        code: str | None = None,
    ) -> None:
        error = {"message": message, "type": "fake_error", "param": None, "code": code}
        self._send_json(status, {"error": error}, headers)


def _endless(tokens: list[str]) -> Iterator[str]:
    while True:
        yield from tokens


def _reason(status: int) -> str:
    return {
        401: "Incorrect API key provided.",
        403: "You are not allowed to sample from this model.",
        404: "The model does not exist.",
        429: "Rate limit reached, please try again later.",
    }.get(status, "The server had an error while processing your request.")


def _chunk(model: str, delta: dict[str, Any] | None, finish_reason: str | None = None) -> Any:
    choices = (
        [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
    )
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
    }


def _usage(body: dict[str, Any], text: str, reasoning: str | None = None) -> dict[str, Any]:
    """Words as tokens; reasoning words are completion tokens too, and reported as such."""
    prompt = sum(
        len(str(message.get("content") or "").split()) for message in body.get("messages") or []
    )
    thought = len(split_tokens(reasoning or ""))
    completion = len(split_tokens(text)) + thought
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if thought:
        usage["completion_tokens_details"] = {"reasoning_tokens": thought}
    return usage


def _completion(item: FakeReply, body: dict[str, Any], model: str) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": item.text}
                | ({"reasoning_content": item.reasoning} if item.reasoning else {}),
                "finish_reason": "stop",
            }
        ],
    }
    if item.usage:
        payload["usage"] = _usage(body, item.text, item.reasoning)
    return payload


class FakeOpenAI:
    """An OpenAI-compatible server on loopback serving scripted replies; a context manager."""

    def __init__(
        self,
        *,
        models: tuple[str, ...] | list[str] = ("fake-model",),
        default: Responder | None = None,
        api_key: str | None = None,
    ) -> None:
        self.models = list(models)
        self.default = default
        self.api_key = api_key
        self.requests: list[RecordedRequest] = []
        self._queue: deque[FakeReply] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle

    def start(self) -> FakeOpenAI:
        """Start serving in a background thread."""
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving; delayed replies still pending are abandoned."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- scripting and inspection

    @property
    def url(self) -> str:
        """The base URL to give the client (ends with ``/v1``)."""
        if self._server is None:
            raise RuntimeError("FakeOpenAI is not running; use it as a context manager")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def queue(self, *items: FakeReply | str) -> None:
        """Append replies (a ``str`` is a normal text reply) to the script."""
        with self._lock:
            self._queue.extend(FakeReply.reply(i) if isinstance(i, str) else i for i in items)

    @property
    def pending(self) -> int:
        """Scripted replies not served yet."""
        with self._lock:
            return len(self._queue)

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        """Bodies of the chat-completion requests received, in order."""
        with self._lock:
            return [
                r.body or {}
                for r in self.requests
                if r.method == "POST" and r.path.rstrip("/").endswith("/chat/completions")
            ]

    def iter_messages(self) -> Iterator[dict[str, Any]]:
        """Every message of every chat request received."""
        for body in self.chat_requests:
            yield from body.get("messages") or []

    # --- used by the handler

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _next_reply(self, body: dict[str, Any]) -> FakeReply | None:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        if self.default is not None:
            return FakeReply.reply(self.default(body))
        return None
