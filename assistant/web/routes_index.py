"""The index: what it holds, ingest by upload (a job with progress, cancel and the reject report),
the jobs, the answer log with search, and the login form when a token is required."""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from assistant.errors import UsageError
from assistant.web.jobs import Job
from assistant.web.security import AUTH_COOKIE, Guard
from assistant.web.state import WebApp, web

router = APIRouter()

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
#: Most files one upload may hold.
MAX_UPLOAD_FILES = 20
#: Room for the multipart framing around the files themselves.
MULTIPART_SLACK = 64 * 1024
_COPY_CHUNK = 1 << 20


@router.get("/index", response_class=HTMLResponse)
async def index_page(request: Request) -> HTMLResponse:
    state = web(request)

    def run() -> dict[str, Any]:
        info = state.index.describe()
        info["duplicates_merged"] = int(state.index.catalog.get_meta("duplicates_merged") or 0)
        info["only_demo"] = state.index.holds_only_demo()
        return info

    info = await state.library.call(run)
    jobs = [j.public_json() for j in state.jobs.listed("ingest")]
    return state.page(
        request, "index.html", info=info, jobs=jobs, max_bytes=state.settings.web_upload_max_bytes
    )


def upload_name(name: str | None) -> str:
    """A safe file name for an upload: its last part only, in plain characters (whether the
    assistant reads that kind of file is the ingest's to say, in its reject report)."""
    base = _SAFE_NAME.sub("_", Path((name or "").replace("\\", "/")).name).strip("._")
    if not base:
        raise UsageError(f"{name!r} is not a file name.", hint="Rename the file and upload it.")
    return base[-120:]


async def _save_uploads(state: WebApp, files: list[UploadFile]) -> list[Path]:
    """Write the uploads into a new folder of the upload folder, bounded in size."""
    limit = state.settings.web_upload_max_bytes
    folder = state.upload_dir / secrets.token_hex(8)
    names = [upload_name(f.filename) for f in files]
    folder.mkdir(parents=True)
    saved: list[Path] = []
    for upload, name in zip(files, names, strict=True):
        target = folder / name
        if target.resolve().parent != folder.resolve():  # never anywhere else
            raise UsageError(f"{name!r} is not a file name.", hint=None)
        size = 0
        with target.open("xb") as out:
            while chunk := await upload.read(_COPY_CHUNK):
                size += len(chunk)
                if size > limit:
                    out.close()
                    target.unlink()
                    raise _too_large(limit)
                out.write(chunk)
        saved.append(target)
    return saved


def _too_large(limit: int) -> UsageError:
    return UsageError(
        f"The upload is larger than {limit:,} bytes.",
        hint="Ingest large files with 'assistant ingest FILE', or raise "
        "ASSISTANT_WEB_UPLOAD_MAX_BYTES.",
    )


def _ingest_work(state: WebApp, paths: list[Path], keep_demo: bool) -> Any:
    def work(job: Job) -> dict[str, Any]:
        from assistant import ingest_paths, open_index

        index = open_index(state.settings)
        try:
            job.message = "Reading the files..."
            report = ingest_paths(index, paths, progress=job.progress, replace_demo=not keep_demo)
            held = index.catalog.count_papers()
        finally:
            index.close()

        def where(reject: Any) -> str:
            name = Path(reject.path).name
            return f"{name}:{reject.location}" if reject.location else name

        job.message = f"The index holds {held} papers."
        return {
            "added": report.added,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "merged": report.duplicates_merged,
            "rejected": report.rejected,
            "rejects": [{"where": where(r), "reason": r.reason} for r in report.rejects],
            "truncated": [{"where": where(r), "reason": r.reason} for r in report.truncated],
            "demo_removed": getattr(index, "demo_removed", 0),
            "papers": held,
        }

    return work


@router.post("/api/upload")
async def upload(request: Request) -> JSONResponse:
    state = web(request)
    limit = state.settings.web_upload_max_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + MULTIPART_SLACK:
        raise _too_large(limit)  # said before a byte of it is read
    form = await request.form(max_files=MAX_UPLOAD_FILES)
    files = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
    if not files:
        raise UsageError("No file was uploaded.", hint="Choose one or more files to ingest.")
    paths = await _save_uploads(state, files)
    keep_demo = str(form.get("keep_demo") or "") == "on"
    title = ", ".join(p.name for p in paths)
    job = state.jobs.start("ingest", title, _ingest_work(state, paths, keep_demo))
    return JSONResponse(job.public_json())


@router.get("/api/jobs/{job_id}")
async def job_status(request: Request, job_id: str) -> JSONResponse:
    job = web(request).jobs.get(job_id)
    if job is None:
        raise UsageError("No such job.", hint="It may have finished long ago; start it again.")
    data = job.public_json()
    if job.kind == "related-work" and job.result is not None:
        data["result"] = {"draft": job.result["draft"]}  # the files are downloaded apart
    return JSONResponse(data)


@router.post("/api/jobs/{job_id}/cancel")
async def cancel_job(request: Request, job_id: str) -> JSONResponse:
    job = web(request).jobs.cancel(job_id)
    if job is None:
        raise UsageError("No such job.", hint=None)
    return JSONResponse(job.public_json())


@router.get("/logs", response_class=HTMLResponse)
async def logs_page(request: Request) -> HTMLResponse:
    state = web(request)
    query = (request.query_params.get("q") or "").strip()[:500]

    def run() -> list[Any]:
        from assistant import AnswerLog

        with AnswerLog(state.index.dir) as log:
            return log.search(query, 50) if query else log.recent(50)

    entries = await state.library.call(run)
    return state.page(request, "logs.html", entries=entries, query=query)


@router.get("/logs/{entry_id}", response_class=HTMLResponse)
async def log_entry(request: Request, entry_id: int) -> HTMLResponse:
    state = web(request)

    def run() -> Any:
        from assistant import AnswerLog

        with AnswerLog(state.index.dir) as log:
            return log.get(entry_id)

    return state.page(request, "log_entry.html", entry=await state.library.call(run))


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request) -> HTMLResponse:
    return web(request).page(request, "login.html", failed=False)


@router.post("/login", response_model=None)
async def login(
    request: Request, token: str = Form(max_length=1000), csrf_token: str = Form(max_length=100)
) -> Response:
    guard: Guard = request.app.state.guard
    if not Guard.csrf_ok(request, csrf_token) or not guard.token_matches(token):
        return web(request).page(request, "login.html", status_code=401, failed=True)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(AUTH_COOKIE, guard.auth_cookie_value(), httponly=True, samesite="strict")
    return response
