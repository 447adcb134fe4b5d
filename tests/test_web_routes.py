"""The web app's routes without a browser (Starlette's TestClient on the real app, index and
library): the same answer as the CLI, streaming, a stalled model, the token, Host, Origin and
CSRF rules, uploads bounded and kept in their folder, escaping, exports that parse."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import bibtexparser
import pytest
import rispy
from fake_openai import FakeOpenAI, FakeReply
from web_app import ask, csrf, wait_for_job, web_client, years_corpus, years_index_in

from assistant.settings import Settings

QUESTION = "Which paper extends the context window of LLaMA with shifted sparse attention?"


@pytest.fixture
def years_index(tmp_path: Path) -> Path:
    return years_index_in(tmp_path)


def final(events: list[tuple[str, Any]]) -> dict[str, Any]:
    kinds = [k for k, _ in events]
    assert kinds[0] == "sources" and kinds[-1] == "answer", kinds
    return events[-1][1]  # type: ignore[no-any-return]


# --- the same answer as the CLI -------------------------------------------------------------


def test_ask_gives_the_cli_and_mcp_answer_with_sources_and_evidence(
    bundled_index_dir: Path, run_cli: Any
) -> None:
    cli = run_cli(["ask", QUESTION, "--json", "--index", str(bundled_index_dir)])
    assert cli.exit_code == 0, cli.stderr
    expected = json.loads(cli.stdout)
    with web_client(Settings(index_dir=bundled_index_dir)) as client:
        events = ask(client, QUESTION)
    sources, answer = events[0][1], final(events)
    assert answer["answer"] == expected["answer"]
    assert [c["paper_id"] for c in answer["citations"]] == [
        c["paper_id"] for c in expected["citations"]
    ]
    assert answer["support"] == expected["support"] and answer["mode"] == "extractive"
    assert sources["papers"][0]["title"].startswith("LongLoRA")
    assert all(isinstance(p["score"], float) for p in sources["papers"])
    cited = answer["citations"][0]
    assert cited["title"].startswith("LongLoRA") and "source" in cited
    evidence = [s for s in answer["support"] if s["n"] == cited["n"]]
    assert evidence and all(s["evidence"] in answer["answer"] for s in evidence)
    assert answer["chat_id"] and answer["turn"] == 1
    from assistant.api import open_index
    from assistant.integrations.mcp_args import AskArgs
    from assistant.integrations.mcp_tools import ToolContext
    from assistant.integrations.mcp_tools import ask as mcp_ask

    settings = Settings(index_dir=bundled_index_dir)
    index = open_index(settings)
    try:
        by_mcp = mcp_ask(ToolContext(index, settings), AskArgs(question=QUESTION))
    finally:
        index.close()
    assert by_mcp["answer"] == answer["answer"]  # the three faces agree


def test_a_conversation_is_the_cli_chats_session_and_can_be_continued(
    bundled_index_dir: Path, run_cli: Any
) -> None:
    settings = Settings(index_dir=bundled_index_dir)
    with web_client(settings) as client:
        first = final(ask(client, QUESTION))
        second = final(ask(client, "How much memory does it save?", chat_id=first["chat_id"]))
        logged = client.get("/logs").text
    assert second["chat_id"] == first["chat_id"] and second["turn"] == 2
    assert second["standalone_question"]  # rewritten with the history, as the CLI chat does
    assert "How much memory does it save?" in logged
    listed = run_cli(["sessions", "--json", "--index", str(bundled_index_dir)])
    assert first["chat_id"] in listed.stdout
    with web_client(settings) as client:  # another server: the conversation comes back
        page = client.get("/").text
        saved = client.get(f"/api/chats/{first['chat_id']}").json()
        third = final(ask(client, "And which paper is it?", chat_id=first["chat_id"]))
    assert f"/?chat={first['chat_id']}" in page
    assert [t["question"] for t in saved["turns"]] == [QUESTION, "How much memory does it save?"]
    assert saved["turns"][0]["answer"] == first["answer"]
    assert third["turn"] == 3 and third["chat_id"] == first["chat_id"]


def test_answers_stream_from_a_model_and_a_stall_falls_back_within_the_deadline(
    bundled_index_dir: Path, fake_llm: FakeOpenAI
) -> None:
    settings = Settings(
        index_dir=bundled_index_dir,
        llm_base_url=fake_llm.url,
        llm_model="fake-model",
        llm_first_token_timeout=1.5,
        llm_max_retries=0,
    )
    fake_llm.queue(
        "LongLoRA extends the context window of LLaMA models with shifted sparse attention [1]."
    )
    with web_client(settings) as client:
        events = ask(client, QUESTION)
        tokens = [d for k, d in events if k == "token"]
        answer = final(events)
        assert len(tokens) > 3 and "".join(tokens).startswith("LongLoRA")
        assert answer["mode"] == "llm" and answer["citations"][0]["title"].startswith("LongLoRA")
        fake_llm.queue(FakeReply.stalled())
        started = time.monotonic()
        stalled = final(ask(client, QUESTION, chat_id=None))
        took = time.monotonic() - started
    assert stalled["mode"] == "extractive" and stalled["llm_error"]
    assert stalled["citations"] and took < 1.5 + 6


def test_filters_are_checked_and_errors_carry_a_hint(years_index: Path) -> None:
    with web_client(Settings(index_dir=years_index)) as client:
        events = ask(client, "low-rank adaptation", filters={"since": "2023", "until": "2024"})
        final(events)
        years = {p["year"] for p in events[0][1]["papers"]}
        assert years == {2023, 2024}
        token = csrf(client)
        bad = client.post(
            "/api/ask",
            json={"question": "LoRA", "filters": {"since": "2024", "until": "2021"}},
            headers={"X-CSRF-Token": token},
        )
        page = client.get("/paper?id=nope", headers={"Accept": "text/html"})
    assert bad.status_code == 400
    assert bad.json()["error"]["hint"] == "Swap them: since 2021, until 2024."
    assert page.status_code == 400 and "No paper with id" in page.text
    assert "Hint:" in page.text and "Traceback" not in page.text


# --- safety ---------------------------------------------------------------------------------


def test_hostile_titles_and_abstracts_are_escaped(years_index: Path) -> None:
    with web_client(Settings(index_dir=years_index)) as client:
        pages = [
            client.get("/paper?id=hostile").text,
            client.get("/papers?q=injections+in+abstracts").text,
            client.get("/papers").text,
        ]
    for text in pages:
        assert "<script>alert" not in text and "<img src=x" not in text
        assert "<b>Bold" not in text
    assert "&lt;script&gt;alert(&#34;title&#34;)&lt;/script&gt;" in pages[0]
    assert "&lt;img src=x onerror=" in pages[0]


def test_state_changing_requests_need_the_csrf_token_and_the_same_origin(
    read_only_index_dir: Path,
) -> None:
    body = {"question": QUESTION}
    with web_client(Settings(index_dir=read_only_index_dir, log_answers=False)) as client:
        token = csrf(client)
        missing = client.post("/api/ask", json=body)
        wrong = client.post("/api/ask", json=body, headers={"X-CSRF-Token": "guess"})
        foreign = client.post(
            "/api/ask",
            json=body,
            headers={"X-CSRF-Token": token, "Origin": "https://evil.example"},
        )
        rebound = client.get("/", headers={"Host": "evil.example:8765"})
        same = client.post(
            "/api/ask",
            json=body,
            headers={"X-CSRF-Token": token, "Origin": "http://127.0.0.1:8765"},
        )
        claim = {"claim": "Low-rank adapters can match full fine-tuning"}
        navigate = {"Sec-Fetch-Mode": "navigate"}
        lured = client.get("/cite", params=claim, headers={"Sec-Fetch-Site": "cross-site"})
        lured_nav = client.get(
            "/cite", params=claim, headers={"Sec-Fetch-Site": "same-site", **navigate}
        )
        linked = client.get("/papers", headers={"Sec-Fetch-Site": "cross-site", **navigate})
        own = client.get("/cite", params=claim, headers={"Sec-Fetch-Site": "same-origin"})
    assert lured.status_code == lured_nav.status_code == 403
    assert linked.status_code == own.status_code == 200
    assert missing.status_code == wrong.status_code == foreign.status_code == 403
    assert "CSRF" in missing.json()["error"]["message"]
    assert "Cross-site" in foreign.json()["error"]["message"]
    assert rebound.status_code == 400
    assert same.status_code == 200


def test_off_loopback_the_token_is_required_and_never_shown(read_only_index_dir: Path) -> None:
    secret = "s3cret-token-for-tests"
    settings = Settings(index_dir=read_only_index_dir, web_token=secret, log_answers=False)
    with web_client(settings) as client:
        anonymous = client.get("/papers", headers={"Accept": "text/html"}, follow_redirects=False)
        api = client.get("/api/jobs/x")
        by_header = client.get("/papers", headers={"Authorization": f"Bearer {secret}"})
        by_other_header = client.get("/index", headers={"X-Assistant-Token": secret})
        wrong = client.get("/papers", headers={"Authorization": "Bearer nope"})
        login_page = client.get("/login")
        token = login_page.cookies.get("assistant_csrf") or client.cookies.get("assistant_csrf")
        refused = client.post("/login", data={"token": "nope", "csrf_token": token})
        logged_in = client.post(
            "/login", data={"token": secret, "csrf_token": token}, follow_redirects=False
        )
        after = client.get("/papers")
        pages = [by_header.text, by_other_header.text, after.text, logged_in.headers["set-cookie"]]
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login"
    assert api.status_code == 401 and "token" in api.json()["error"]["message"]
    assert by_header.status_code == by_other_header.status_code == 200
    assert wrong.status_code == 401 and refused.status_code == 401
    assert logged_in.status_code == 303 and after.status_code == 200
    assert all(secret not in text for text in pages)


def test_serving_off_loopback_without_a_token_is_refused(run_cli: Any, tmp_path: Path) -> None:
    done = run_cli(["serve", "--host", "0.0.0.0", "--index", str(tmp_path / "none")], timeout=60)
    assert done.exit_code == 2
    assert "without a token" in done.stderr and "ASSISTANT_WEB_TOKEN" in done.stderr
    assert not (tmp_path / "none").exists()  # refused before anything was opened


def test_uploads_are_bounded_and_stay_in_their_folder(small_index_dir: Path) -> None:
    settings = Settings(index_dir=small_index_dir, web_upload_max_bytes=2048)
    entry = "@article{k1, title={A paper}, abstract={An abstract that says something.}}\n"
    with web_client(settings) as client:
        token = {"X-CSRF-Token": csrf(client)}
        big = client.post("/api/upload", files={"files": ("big.bib", "x" * 10_000)}, headers=token)
        wrong_type = client.post(
            "/api/upload", files={"files": ("run.sh", "echo hi")}, headers=token
        )
        escaping = client.post(
            "/api/upload", files={"files": ("../../../outside.bib", entry)}, headers=token
        )
        no_token = client.post("/api/upload", files={"files": ("a.bib", entry)})
        nameless = client.post("/api/upload", files={"files": ("../..", entry)}, headers=token)
        job = wait_for_job(client, escaping.json()["id"])
        unread = wait_for_job(client, wrong_type.json()["id"])
    assert big.status_code == 400 and "larger than 2,048 bytes" in big.json()["error"]["message"]
    assert no_token.status_code == 403 and nameless.status_code == 400
    assert unread["result"]["added"] == 0  # the library's verdict, in the reject report
    [reject] = unread["result"]["rejects"]
    assert reject["where"] == "run.sh" and reject["reason"].startswith("unknown format")
    assert job["state"] == "done" and job["result"]["added"] == 1
    uploads = small_index_dir / "uploads"
    assert sorted(p.name for p in uploads.rglob("*") if p.is_file()) == ["outside.bib", "run.sh"]
    assert not (small_index_dir.parent / "outside.bib").exists()
    assert not any(p.name == "big.bib" for p in uploads.rglob("*"))


# --- papers, exports, jobs -------------------------------------------------------------------


def test_the_basket_exports_parse(years_index: Path) -> None:
    ids = [("id", "lora2021"), ("id", "qlora2023")]
    with web_client(Settings(index_dir=years_index)) as client:
        bib = client.get("/export", params=[("fmt", "bib"), *ids])
        ris = client.get("/export", params=[("fmt", "ris"), *ids])
        csl = client.get("/export", params=[("fmt", "csl-json"), *ids])
        empty = client.get("/export", params={"fmt": "bib"})
    assert bib.headers["content-disposition"] == 'attachment; filename="references.bib"'
    library = bibtexparser.parse_string(bib.text)
    assert len(library.entries) == 2 and not library.failed_blocks
    assert {e.key for e in library.entries} == {"hu2021lora", "dettmers2023qlora"}
    assert len(rispy.loads(ris.text)) == 2
    assert [item["issued"]["date-parts"][0][0] for item in json.loads(csl.text)] == [2021, 2023]
    assert empty.status_code == 400 and "basket is empty" in empty.json()["error"]["message"]


def test_paper_page_has_contribution_similar_papers_and_the_answers_citing_it(
    years_index: Path,
) -> None:
    with web_client(Settings(index_dir=years_index)) as client:
        final(ask(client, "Which method extends the context window of LLaMA?"))
        page = client.get("/paper?id=longlora2024").text
        listed = client.get("/papers", params={"since": "2023"}).text
    assert "Contribution" in page and "LongLoRA extends LLaMA2 7B to 100k tokens." in page
    assert "Similar papers" in page and "QLoRA" in page
    assert "Which method extends the context window of LLaMA?" in page  # cited by that answer
    assert "QLoRA" in listed and "LongLoRA" in listed and "LoRA: Low-Rank" not in listed


def test_related_work_runs_as_a_job_and_downloads(years_index: Path) -> None:
    with web_client(Settings(index_dir=years_index)) as client:
        token = {"X-CSRF-Token": csrf(client)}
        started = client.post("/api/related", json={"topic": "low-rank adaptation", "k": 3},
                              headers=token)  # fmt: skip
        job = wait_for_job(client, started.json()["id"])
        markdown = client.get("/related/download", params={"job": job["id"], "fmt": "md"})
        bib = client.get("/related/download", params={"job": job["id"], "fmt": "bib"})
        cite = client.get("/cite", params={"claim": "Low-rank adapters match full fine-tuning"})
    assert job["state"] == "done", job
    draft = job["result"]["draft"]
    assert draft["covered"] and draft["references"]
    assert "**References**" in markdown.text and markdown.headers["content-type"].startswith(
        "text/markdown"
    )
    keys = {e.key for e in bibtexparser.parse_string(bib.text).entries}
    assert keys == {r["bibkey"] for r in draft["references"]}
    assert cite.status_code == 200 and "LoRA: Low-Rank Adaptation" in cite.text
    assert "LoRA matches full fine-tuning quality" in cite.text  # the evidence sentence


def test_a_cancelled_ingest_stops_between_steps_and_the_index_stays_usable(
    small_index_dir: Path, tmp_path: Path
) -> None:
    import threading

    from assistant.api import ingest_paths, open_index, search
    from assistant.web.jobs import Job, JobRegistry

    corpus = years_corpus(tmp_path)
    settings = Settings(index_dir=small_index_dir)
    gate = threading.Event()

    def work(job: Job) -> dict[str, Any]:
        gate.wait(30)
        index = open_index(settings)
        try:
            return {"added": ingest_paths(index, [corpus], progress=job.progress).added}
        finally:
            index.close()

    jobs = JobRegistry()
    job = jobs.start("ingest", "years.jsonl", work)
    assert jobs.cancel(job.id) is job
    gate.set()
    deadline = time.monotonic() + 60
    while job.state == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert job.state == "cancelled" and job.result is None and "Cancelled" in job.message
    index = open_index(settings)
    try:
        assert index.catalog.count_papers() == 24  # nothing of the cancelled ingest
        assert search(index, "medical texts").results
    finally:
        index.close()
    done = jobs.start("ingest", "years.jsonl", work)  # the gate stays open
    while done.state == "running" and time.monotonic() < deadline + 60:
        time.sleep(0.05)
    assert done.state == "done" and done.result == {"added": 4} and done.total == 4


def test_serve_says_where_it_listens_and_that_it_needs_its_token(
    small_index_dir: Path, tmp_path: Path
) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSISTANT_", "OPENAI_"))}
    env.update(ASSISTANT_WEB_TOKEN="a-token-for-this-test",
               ASSISTANT_MODEL_CACHE_DIR=os.environ["ASSISTANT_MODEL_CACHE_DIR"])  # fmt: skip
    command = [sys.executable, "-m", "assistant", "serve", "--port", "0",
               "--index", str(small_index_dir)]  # fmt: skip
    server = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        assert server.stderr is not None
        lines = [server.stderr.readline(), server.stderr.readline()]
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert lines[0].startswith("Serving 24 papers from") and "http://127.0.0.1:" in lines[0]
    assert "requires its token" in lines[1] and "a-token-for-this-test" not in "".join(lines)


def test_a_draft_from_a_slow_model_can_be_cancelled_while_the_page_answers(
    years_index: Path, fake_llm: FakeOpenAI
) -> None:
    fake_llm.queue(FakeReply.chunks(["### Low-rank adaptation\n\n"] + ["LoRA adapts [1]. "] * 200,
                                    delay=0.1))  # fmt: skip
    settings = Settings(index_dir=years_index, llm_base_url=fake_llm.url, llm_model="fake-model")
    with web_client(settings) as client:
        token = {"X-CSRF-Token": csrf(client)}
        started = client.post("/api/related", json={"topic": "low-rank adaptation", "k": 3},
                              headers=token).json()  # fmt: skip
        deadline = time.monotonic() + 30
        while "LoRA adapts" not in client.get(f"/api/jobs/{started['id']}").json()["message"]:
            assert time.monotonic() < deadline, "the draft never streamed"
            time.sleep(0.1)
        page_started = time.monotonic()
        assert client.get("/papers").status_code == 200  # the page is not blocked meanwhile
        assert time.monotonic() - page_started < 5
        client.post(f"/api/jobs/{started['id']}/cancel", headers=token)
        job = wait_for_job(client, started["id"], timeout=30)
        download = client.get("/related/download", params={"job": job["id"], "fmt": "md"})
    assert job["state"] == "cancelled" and job["seconds"] < 15  # not the 20 s of the stream
    assert download.status_code == 400
