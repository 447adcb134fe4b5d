"""Library results as the JSON the pages read: the same fields the CLI prints, plus each cited
paper's record (title, authors, year, venue, links) for the evidence panel. No logic of its own:
everything here is read off :class:`~assistant.generation.answer.Answer` and the catalog."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assistant import Paper, PaperIndex, SearchResult
    from assistant.generation.answer import Answer

#: Authors shown before "et al.".
SHOWN_AUTHORS = 6


def paper_card(paper: Paper) -> dict[str, Any]:
    """What a page shows of a paper beside its title."""
    from assistant import paper_link

    authors = paper.authors[:SHOWN_AUTHORS] + (
        ["et al."] if len(paper.authors) > SHOWN_AUTHORS else []
    )
    return {
        "paper_id": paper.paper_id,
        "title": paper.title,
        "authors": authors,
        "year": paper.year,
        "venue": paper.venue,
        "link": paper_link(paper),
        "zotero_link": paper.extra.get("zotero_link") or None,
        "source": paper.source,
        "title_only": not paper.has_abstract,
    }


def search_view(result: SearchResult) -> dict[str, Any]:
    """A search result: papers with their scores, snippets and years."""
    return {
        "query": result.query,
        "covered": result.covered,
        "confidence": round(result.confidence, 3),
        "filters": result.filters,
        "notes": result.notes,
        "papers": [
            {
                **(paper_card(hit.paper) if hit.paper is not None else {}),
                "paper_id": hit.paper_id,
                "title": hit.title,
                "year": hit.year,
                "rank": hit.rank,
                "score": round(hit.score, 4),
                "snippet": hit.snippet,
            }
            for hit in result.results
        ],
    }


def answer_view(index: PaperIndex, answer: Answer) -> dict[str, Any]:
    """An answer as ``ask --json`` gives it, with the cited and retrieved papers' cards."""
    wanted = {c.paper_id for c in (*answer.citations, *answer.sources)}
    papers = index.catalog.get_papers(sorted(wanted))
    cards = {pid: paper_card(p) for pid, p in papers.items()}

    def cited(c: Any) -> dict[str, Any]:
        return {**cards.get(c.paper_id, {}), **c.model_dump()}

    return {
        **answer.public_json(),
        "citations": [cited(c) for c in answer.citations],
        "sources": [cited(c) for c in answer.sources],
        "uncited": answer.uncited,
        "reasoning": answer.reasoning,
    }
