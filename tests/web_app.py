"""Helpers for the web app's tests: a TestClient on loopback with the page's CSRF token, the
Server-Sent Events of an answer read back, a job waited for, and a real server for a browser."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

    from assistant.settings import Settings

LOOPBACK = "http://127.0.0.1:8765"

HOSTILE_TITLE = 'Attacks <script>alert("title")</script> on readers'
HOSTILE_ABSTRACT = (
    'We study <img src=x onerror="alert(1)"> injections in abstracts. '
    "Our method <script>document.title='owned'</script> escapes them everywhere."
)


def years_corpus(folder: Path) -> Path:
    """Four papers with years, authors and venues, one with a hostile title and abstract."""
    rows = [
        {"id": "lora2021", "title": "LoRA: Low-Rank Adaptation of Large Language Models",
         "abstract": "We propose low-rank adaptation, which freezes the pretrained weights and "
         "injects trainable rank decomposition matrices into each layer. LoRA matches full "
         "fine-tuning quality with far fewer trainable parameters.",
         "year": 2021, "authors": ["Edward Hu", "Yelong Shen"], "venue": "ICLR"},
        {"id": "qlora2023", "title": "QLoRA: Efficient Finetuning of Quantized LLMs",
         "abstract": "We present QLoRA, which backpropagates through a frozen 4-bit quantized "
         "model into low-rank adapters. It finetunes a 65B model on a single GPU.",
         "year": 2023, "authors": ["Tim Dettmers"], "venue": "NeurIPS"},
        {"id": "longlora2024", "title": "LongLoRA: Efficient Fine-tuning of Long-Context LLMs",
         "abstract": "We extend the context window of LLaMA models with shifted sparse "
         "attention during fine-tuning. LongLoRA extends LLaMA2 7B to 100k tokens.",
         "year": 2024, "authors": ["Yukang Chen"], "venue": "ICLR"},
        {"id": "hostile", "title": HOSTILE_TITLE, "abstract": HOSTILE_ABSTRACT, "year": 2022,
         "authors": ["Mallory <b>Bold</b>"], "venue": "Workshop"},
    ]  # fmt: skip
    path = folder / "years.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def years_index_in(folder: Path) -> Path:
    """An index of :func:`years_corpus` in ``folder``."""
    from assistant.api import ingest_paths, open_index
    from assistant.settings import Settings

    target = folder / "years-index"
    index = open_index(Settings(index_dir=target))
    ingest_paths(index, [years_corpus(folder)])
    index.close()
    return target


@contextmanager
def web_client(settings: Settings) -> Iterator[TestClient]:
    """The app on ``settings``'s index, through Starlette's TestClient (its lifespan included)."""
    from fastapi.testclient import TestClient

    from assistant.web.app import create_app

    with TestClient(create_app(settings), base_url=LOOPBACK) as client:
        yield client


def csrf(client: TestClient) -> str:
    """Load a page (which sets the CSRF cookie) and return the token it carries."""
    page = client.get("/")
    assert page.status_code == 200, page.text
    found = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert found
    return found.group(1)


def sse_events(text: str) -> list[tuple[str, Any]]:
    events = []
    for block in text.strip().split("\n\n"):
        kind = next(line[7:] for line in block.splitlines() if line.startswith("event: "))
        data = "".join(line[6:] for line in block.splitlines() if line.startswith("data: "))
        events.append((kind, json.loads(data)))
    return events


def ask(client: TestClient, question: str, **body: Any) -> list[tuple[str, Any]]:
    token = csrf(client)
    done = client.post(
        "/api/ask", json={"question": question, **body}, headers={"X-CSRF-Token": token}
    )
    assert done.status_code == 200, done.text
    assert done.headers["content-type"].startswith("text/event-stream")
    return sse_events(done.text)


def wait_for_job(client: TestClient, job_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] != "running":
            return job  # type: ignore[no-any-return]
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still running after {timeout} s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live_server(settings: Settings) -> Iterator[str]:
    """The app under a real uvicorn on a free loopback port, in a thread; yields its URL."""
    import uvicorn

    from assistant.web.app import create_app

    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="error")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
