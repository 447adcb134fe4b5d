"""Papers: search with filters, a paper's page (abstract, contribution sentence, similar papers,
the answers that cited it), and the basket's export as BibTeX, RIS or CSL-JSON (the basket
itself is kept by the browser; the server only writes the references of the ids it is sent)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from assistant.errors import UsageError
from assistant.web.state import filters_from, web
from assistant.web.views import paper_card, search_view

router = APIRouter()

#: Most papers one export may hold (a basket larger than that is a mistake, not a use).
MAX_EXPORT_PAPERS = 2000
#: Papers listed on the search page when no query is given.
LISTED_PAPERS = 50
#: Papers a search shows (``k``), and the most it may ask for.
SHOWN, MAX_SHOWN = 20, 100
_MEDIA = {
    "bib": ("application/x-bibtex", "bib"),
    "ris": ("application/x-research-info-systems", "ris"),
    "csl-json": ("application/vnd.citationstyles.csl+json", "json"),
}


@router.get("/papers", response_class=HTMLResponse)
async def papers_page(request: Request) -> HTMLResponse:
    state = web(request)
    params = dict(request.query_params)
    query = (params.get("q") or "").strip()[:2000]
    given = str(params.get("k") or "")
    k = min(max(int(given), 1), MAX_SHOWN) if given.isdigit() else SHOWN

    def run() -> dict[str, Any]:
        from assistant import RetrievalOptions, search

        filters = filters_from(params)
        if query:
            return search_view(search(state.index, query, RetrievalOptions(k=k, filters=filters)))
        listed = [
            p
            for p in state.index.catalog.iter_papers(
                year_from=filters.year_from, year_to=filters.year_to, source=filters.source
            )
            if filters.matches(p)
        ]
        return {
            "query": "",
            "count": len(listed),
            "papers": [paper_card(p) | {"snippet": ""} for p in listed[:LISTED_PAPERS]],
            "notes": [],
        }

    found = await state.library.call(run)
    sources = await state.library.call(state.index.catalog.sources)
    return state.page(
        request, "papers.html", found=found, params=params, sources=[s for s, _ in sources]
    )


@router.get("/paper", response_class=HTMLResponse)
async def paper_page(request: Request, id: str = Query(max_length=1000)) -> HTMLResponse:  # noqa: A002
    state = web(request)

    def run() -> dict[str, Any]:
        from assistant import AnswerLog, RetrievalOptions, contribution_sentence, similar_papers

        paper = state.index.catalog.get_paper(id)
        if paper is None:
            raise UsageError(
                f"No paper with id {id!r} in this index.", hint="Search for it on the Papers page."
            )
        contribution = (
            contribution_sentence(paper.title, paper.abstract).sentence
            if paper.has_abstract
            else None
        )
        similar = similar_papers(state.index, paper.paper_id, RetrievalOptions(k=5))
        with AnswerLog(state.index.dir) as log:
            cited_by = log.citing(paper.paper_id, limit=10)
        return {
            "paper": paper_card(paper) | {"abstract": paper.abstract, "doi": paper.doi},
            "contribution": contribution,
            "similar": similar,
            "cited_by": cited_by,
        }

    return state.page(request, "paper.html", **(await state.library.call(run)))


@router.get("/export")
async def export(
    request: Request,
    fmt: str = Query("bib", pattern="^(bib|ris|csl-json)$"),
    id: list[str] = Query(default_factory=list),  # noqa: A002, B008
) -> Response:
    """The papers with these ids (the basket), as a file to download."""
    state = web(request)
    if not id:
        raise UsageError("The basket is empty.", hint="Add papers with their 'Add' button first.")
    if len(id) > MAX_EXPORT_PAPERS:
        raise UsageError(
            f"{len(id)} papers is more than one export takes ({MAX_EXPORT_PAPERS}).",
            hint="Export the basket in parts.",
        )

    def run() -> str:
        from assistant import export_text

        found = state.index.catalog.get_papers(id)
        papers = [found[pid] for pid in dict.fromkeys(id) if pid in found]  # the basket's order
        if not papers:
            raise UsageError("None of the basket's papers is in this index.", hint=None)
        return export_text(fmt, papers)  # type: ignore[arg-type]

    text = await state.library.call(run)
    media, ext = _MEDIA[fmt]
    return Response(
        text,
        media_type=f"{media}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="references.{ext}"'},
    )
