"""Related work (a draft from a topic, run as a job: progress, cancel, downloads as Markdown,
BibTeX, RIS, CSL-JSON) and cite (a claim in, the papers that support it with their evidence)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from assistant.errors import UsageError
from assistant.web.jobs import Job, JobCancelled
from assistant.web.state import WebApp, filters_from, web

router = APIRouter()

MAX_TOPIC_CHARS = 2000
MAX_CLAIM_CHARS = 4000
_FILES = {
    "md": ("text/markdown", "related-work.md"),
    "bib": ("application/x-bibtex", "related-work.bib"),
    "ris": ("application/x-research-info-systems", "related-work.ris"),
    "csl-json": ("application/vnd.citationstyles.csl+json", "related-work.json"),
}


class DraftRequest(BaseModel):
    topic: str = Field(max_length=MAX_TOPIC_CHARS)
    k: int = Field(default=12, ge=2, le=30)
    filters: dict[str, str] = Field(default_factory=dict)


@router.get("/related", response_class=HTMLResponse)
async def related_page(request: Request) -> HTMLResponse:
    return web(request).page(request, "related.html")


def _draft_work(state: WebApp, body: DraftRequest) -> Any:
    """The job: the draft, on an index opened in the job's own thread."""

    def work(job: Job) -> dict[str, Any]:
        from assistant import RetrievalOptions, export_text, log_result, open_index, related_work

        written: list[str] = []

        def on_token(text: str) -> None:  # the draft as the model writes it
            if job.cancel_asked.is_set():
                raise JobCancelled  # ends the model's stream; said as cancelled below
            written.append(text)
            job.message = "".join(written)[-4000:]

        filters = filters_from(body.filters)
        index = open_index(state.settings)
        try:
            job.message = "Searching and grouping the papers..."
            options = RetrievalOptions(k=body.k, filters=filters)
            draft = related_work(index, body.topic, state.settings, options, on_token=on_token)
            if job.cancel_asked.is_set():  # a draft nobody waits for is not logged
                raise JobCancelled
            logged = log_result(state.settings, index.dir, "related-work", draft)
            keys = {r.paper_id: r.bibkey for r in draft.references}
            found = index.catalog.get_papers(keys)
            papers = [found[pid] for pid in keys if pid in found]  # the references' order
            files = {
                "md": draft.document() if draft.covered else "",
                "bib": draft.bibtex,
                "ris": export_text("ris", papers, keys) if papers else "",
                "csl-json": export_text("csl-json", papers, keys) if papers else "",
            }
        finally:
            index.close()
        data = draft.public_json()
        data["notes"] = [*draft.notes, *([logged] if logged else [])]
        data["references"] = [r.model_dump() for r in draft.references]
        job.message = ""
        return {"draft": data, "files": files}

    return work


@router.post("/api/related")
async def start_draft(request: Request, body: DraftRequest) -> JSONResponse:
    state = web(request)
    if not body.topic.strip():
        raise UsageError("The topic is empty.", hint="E.g. 'long-context LLMs'.")
    filters_from(body.filters)  # a malformed filter is said now, not in the job
    job = state.jobs.start("related-work", body.topic, _draft_work(state, body))
    return JSONResponse(job.public_json())


@router.get("/related/download")
async def download_draft(
    request: Request,
    job: str = Query(max_length=64),
    fmt: str = Query("md", pattern="^(md|bib|ris|csl-json)$"),
) -> Response:
    found = web(request).jobs.get(job)
    if found is None or found.result is None or found.kind != "related-work":
        raise UsageError("No finished draft with that id.", hint="Draft it again.")
    text = found.result["files"][fmt]
    if not text:
        raise UsageError("The draft cites no paper: nothing to download.", hint=None)
    media, name = _FILES[fmt]
    return Response(
        text,
        media_type=f"{media}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/cite", response_class=HTMLResponse)
async def cite_page(request: Request) -> HTMLResponse:
    state = web(request)
    params = dict(request.query_params)
    claim = (params.get("claim") or "").strip()
    if len(claim) > MAX_CLAIM_CHARS:
        raise UsageError(
            f"The claim is {len(claim)} characters long, more than {MAX_CLAIM_CHARS}.",
            hint="Cite one claim at a time.",
        )

    def run() -> dict[str, Any] | None:
        if not claim:
            return None
        from assistant import RetrievalOptions, cite_claim, log_result

        options = RetrievalOptions(k=8, filters=filters_from(params))
        result = cite_claim(state.index, claim, state.settings, options)
        logged = log_result(state.settings, state.index.dir, "cite", result)
        papers = state.index.catalog.get_papers([p.paper_id for p in result.papers])
        evidence = {
            p.paper_id: p.abstract for p in papers.values()
        }  # the sentence is shown inside its abstract
        return {
            "result": result,
            "abstracts": evidence,
            "notes": [*result.notes, *([logged] if logged else [])],
        }

    found = await state.library.call(run)
    return state.page(request, "cite.html", claim=claim, found=found, params=params)
