"""The MCP tools: what each returns, and the result budget. No ``mcp`` import.

Each tool is a :class:`ToolSpec`: a name, a description written for an agent, a pydantic model
of its arguments (:mod:`assistant.integrations.mcp_args`; its JSON schema is the tool's input
schema; every string has a maximum length) and a handler that calls the library face
(:mod:`assistant.api`) and returns a small JSON-able dict, which
:func:`assistant.integrations.mcp_budget.bounded` keeps within ``Settings.mcp_result_chars``.
:mod:`assistant.integrations.mcp_server` serves them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assistant.errors import UsageError
from assistant.integrations.mcp_args import (
    Args,
    AskArgs,
    CiteArgs,
    FilteredArgs,
    NoArgs,
    PaperArgs,
    RelatedArgs,
    SearchArgs,
    SimilarArgs,
)

if TYPE_CHECKING:
    from assistant.index.paper_index import PaperIndex
    from assistant.records import Paper
    from assistant.settings import Settings

# --- results ------------------------------------------------------------------------------------


@dataclass
class ToolContext:
    """What the handlers work on: the open index and the settings."""

    index: PaperIndex
    settings: Settings


Handler = Callable[[ToolContext, Any], dict[str, Any]]


@dataclass(frozen=True)
class ToolSpec:
    name: str
    title: str
    description: str
    args: type[Args]
    handler: Handler
    list_key: str | None = None  # the list whose last items go first when over budget


def _options(args: FilteredArgs, k: int) -> Any:
    from assistant.retrieval.retriever import RetrievalOptions

    return RetrievalOptions(k=k, filters=args.search_filters())


def _authors(paper: Paper | None) -> list[str]:
    if paper is None:
        return []
    return paper.authors[:3] + (["et al."] if len(paper.authors) > 3 else [])


def bibtex_entries(
    papers: list[Paper], keys: dict[str, str] | None = None
) -> dict[str, tuple[str, str]]:
    """paper_id -> (key, BibTeX entry), as the project writes them, without the abstract (the
    results give it apart, or need none: an agent's context is small)."""
    from assistant.export.bibtex import assign_keys, entry

    keys = keys or assign_keys(papers)
    return {
        p.paper_id: (
            keys[p.paper_id],
            entry(p.model_copy(update={"abstract": ""}), keys[p.paper_id]).strip(),
        )
        for p in papers
    }


def _entries_of(index: PaperIndex, keys: dict[str, str]) -> dict[str, str]:
    """paper_id -> BibTeX entry for these papers, under the keys the result gave them."""
    papers = index.catalog.get_papers(keys)
    listed = [papers[pid] for pid in keys if pid in papers]
    return {pid: text for pid, (_key, text) in bibtex_entries(listed, keys).items()}


def _paper(index: PaperIndex, ref: str) -> Paper:
    from assistant.retrieval.similar import find_paper

    try:
        return find_paper(index, ref)
    except UsageError as exc:
        raise UsageError(
            exc.message,
            hint="Use a paper_id that search_papers returned (a DOI, an arXiv id or the exact "
            "title also work).",
        ) from exc


def search_papers(ctx: ToolContext, args: SearchArgs) -> dict[str, Any]:
    from assistant.api import search

    result = search(ctx.index, args.query, _options(args, args.k))
    data: dict[str, Any] = {
        "query": args.query,
        "covered": result.covered,
        "confidence": result.confidence,
        "papers": [
            _compact(
                paper_id=hit.paper_id,
                title=hit.title,
                year=hit.year,
                authors=_authors(hit.paper),
                snippet=hit.snippet,
                **_from_zotero(hit.paper),
            )
            for hit in result.results
        ],
    }
    notes = list(result.notes)
    if result.results and not result.covered:
        notes.append(
            "The indexed papers likely do not cover this query: these are only the nearest."
        )
    return _with(data, filters=result.filters, notes=notes)


def get_paper(ctx: ToolContext, args: PaperArgs) -> dict[str, Any]:
    from assistant.generation.answer import paper_link

    paper = _paper(ctx.index, args.paper_id)
    key, entry = bibtex_entries([paper])[paper.paper_id]
    data = paper.model_dump(
        include={"paper_id", "title", "year", "authors", "venue", "doi", "arxiv_id", "url"}
    )
    data = {k: v for k, v in data.items() if v not in (None, [], "")}
    data.update(link=paper_link(paper), abstract=paper.abstract, bibkey=key, bibtex=entry)
    if paper.abstract.strip():
        from assistant.text.contribution import contribution_sentence

        data["contribution"] = contribution_sentence(paper.title, paper.abstract).sentence
    data.update(_from_zotero(paper))
    for name, extra_key in (("tags", "tags"), ("collections", "zotero_collections")):
        if paper.extra.get(extra_key):
            data[name] = paper.extra[extra_key]
    return data


def _from_zotero(paper: Paper | None) -> dict[str, Any]:
    """A paper's link into the user's Zotero, and ``title_only`` when it has no abstract."""
    if paper is None:
        return {}
    found: dict[str, Any] = {}
    if paper.extra.get("zotero_link"):
        found["zotero_link"] = paper.extra["zotero_link"]
    if not paper.has_abstract:
        found["title_only"] = True  # nothing to quote: it was found by its title
    return found


def ask(ctx: ToolContext, args: AskArgs) -> dict[str, Any]:
    from assistant.api import ask as ask_question

    k = max(ctx.settings.answer_papers, 5)
    answer = ask_question(ctx.index, args.question, ctx.settings, _options(args, k))
    data: dict[str, Any] = {
        "answer": answer.answer,
        "mode": answer.mode,
        "abstained": answer.abstained,
        "citations": [
            c.model_dump(
                include={"n", "paper_id", "title", "year", "link", "zotero_link", "title_only"},
                exclude_defaults=True,
            )
            for c in answer.citations
        ],
    }
    return _with(data, notes=answer.notes, llm_error=answer.llm_error)


def find_citation(ctx: ToolContext, args: CiteArgs) -> dict[str, Any]:
    from assistant.api import cite_claim

    result = cite_claim(ctx.index, args.claim, ctx.settings, _options(args, args.k))
    entries = _entries_of(ctx.index, {p.paper_id: p.bibkey for p in result.papers})

    def shown(paper: Any, with_bibtex: bool) -> dict[str, Any]:
        item = paper.public_json()
        item = {k: v for k, v in item.items() if v is not None}
        if with_bibtex and paper.paper_id in entries:
            item["bibtex"] = entries[paper.paper_id]
        return item

    data: dict[str, Any] = {
        "claim": args.claim,
        "supported": result.supported,
        "summary": result.summary,
        "papers": [shown(p, True) for p in result.papers],
    }
    if result.nearest:
        data["nearest"] = [shown(p, False) for p in result.nearest]
    return _with(data, notes=result.notes, llm_error=result.llm_error)


def related_work(ctx: ToolContext, args: RelatedArgs) -> dict[str, Any]:
    from assistant.api import related_work as draft

    result = draft(ctx.index, args.topic, ctx.settings, _options(args, args.k))
    entries = _entries_of(ctx.index, {r.paper_id: r.bibkey for r in result.references})
    references = []
    for ref in result.references:
        item = ref.model_dump(
            include={"n", "paper_id", "title", "year", "link", "bibkey", "zotero_link"}
        )
        item["bibtex"] = entries.get(ref.paper_id, "")
        references.append({k: v for k, v in item.items() if v not in (None, "")})
    data: dict[str, Any] = {
        "topic": args.topic,
        "covered": result.covered,
        "markdown": result.markdown,
        "references": references,
    }
    if result.left_out:  # relevant papers beyond k: the first few, and how many
        data["left_out_count"] = len(result.left_out)
        data["left_out"] = [
            _compact(paper_id=p.paper_id, title=p.title, year=p.year)
            for p in result.left_out[:LEFT_OUT_SHOWN]
        ]
    return _with(data, notes=result.notes, llm_error=result.llm_error)


#: Left-out papers a related_work result lists (their count is given whole).
LEFT_OUT_SHOWN = 10


def similar_papers(ctx: ToolContext, args: SimilarArgs) -> dict[str, Any]:
    from assistant.api import paper_from_text
    from assistant.api import similar_papers as find_similar

    if (args.paper is None) == (args.text is None):
        raise UsageError(
            "Give either paper or text, not both or neither.",
            hint="paper: a paper_id from search_papers; text: the title and abstract of a "
            "paper that is not indexed.",
        )
    target: str | Paper = args.paper if args.paper is not None else paper_from_text(args.text or "")
    if isinstance(target, str):
        target = _paper(ctx.index, target)
    result = find_similar(ctx.index, target, _options(args, args.k))
    data: dict[str, Any] = {
        "paper": result.target.model_dump(exclude_none=True),
        "close": result.close,
        "summary": result.summary(),
        "papers": [
            _compact(
                **hit.model_dump(include={"paper_id", "title", "year", "similarity", "close"}),
                authors=_authors(hit.paper),
                shared_terms=hit.shared_terms,
                snippet=hit.snippet,
            )
            for hit in result.results
        ],
    }
    return _with(data, filters=result.filters, notes=result.notes)


def index_stats(ctx: ToolContext, args: NoArgs) -> dict[str, Any]:
    info = ctx.index.describe()
    info.pop("index_dir", None)
    info.pop("chroma_url", None)
    info["llm"] = ctx.settings.llm_model or ("configured" if ctx.settings.llm_configured else None)
    info["answers"] = "written by the model" if info["llm"] else "extractive (no model)"
    return {k: v for k, v in info.items() if v is not None}


def _compact(**fields: Any) -> dict[str, Any]:
    """The fields that have a value (an agent's context has no room for nulls)."""
    return {k: v for k, v in fields.items() if v not in (None, [], "")}


def _with(data: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """``data`` with the extra fields that have a value."""
    return data | {k: v for k, v in extra.items() if v not in (None, [], "")}


# --- the tools ----------------------------------------------------------------------------------

TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "search_papers",
        "Search papers",
        "Search the indexed paper abstracts (by meaning and by exact words) and return the best "
        "papers: paper_id, title, year, authors and the sentence that best matches. Use it first, "
        "to find papers and the paper_id that get_paper and similar_papers take. covered=false "
        "means the index likely does not cover the query: the papers are only the nearest, do "
        "not present them as matches. Filters: since/until (years), venue, author.",
        SearchArgs,
        search_papers,
        "papers",
    ),
    ToolSpec(
        "get_paper",
        "Get a paper",
        "One indexed paper by its paper_id (from search_papers; a DOI, arXiv id or exact title "
        "also work): title, authors, year, venue, links, the sentence stating its contribution, "
        "the whole abstract and a BibTeX entry (without the abstract).",
        PaperArgs,
        get_paper,
    ),
    ToolSpec(
        "ask",
        "Ask the papers",
        "Answer a research question from the indexed abstracts, citing them as [n] (the "
        "citations list gives each n's paper). With no language model configured on the server "
        "the answer is extractive: quoted abstract sentences, each cited. abstained=true means "
        "the index does not cover the question: say so rather than answer from memory.",
        AskArgs,
        ask,
        "citations",
    ),
    ToolSpec(
        "find_citation",
        "Find a citation",
        "Find indexed papers that support a claim (a sentence of a draft that needs a "
        "citation): each with the abstract sentence closest to the claim, its similarity and a "
        "BibTeX entry. supported=false means none does (nearest lists the closest anyway). "
        "Without a model on the server, closeness is not a judgement of support: read the "
        "sentence before citing.",
        CiteArgs,
        find_citation,
        "papers",
    ),
    ToolSpec(
        "related_work",
        "Draft related work",
        "Draft a related-work section on a topic from the indexed papers: Markdown grouped by "
        "approach (surveys apart, each heading a phrase its papers share), each paper by the "
        "sentence stating its contribution, citing [n], and the references with their BibTeX "
        "entries. left_out: papers that look as relevant but are not in the draft (raise k). "
        "covered=false: the index does not cover the topic and nothing is drafted.",
        RelatedArgs,
        related_work,
        "references",
    ),
    ToolSpec(
        "similar_papers",
        "Similar papers",
        "Find indexed papers like a given one, by its content (the vectors of its abstract and "
        "its distinctive terms, not just its title); the paper itself is left out. Give paper "
        "(a paper_id from search_papers, a DOI, arXiv id or exact title) or text (title and "
        "abstract of a paper that is not indexed). Each comes with the sentence stating its "
        "contribution. close=false means no indexed paper is close: the nearest are listed "
        "anyway.",
        SimilarArgs,
        similar_papers,
        "papers",
    ),
    ToolSpec(
        "index_stats",
        "Index statistics",
        "What the index holds: how many papers and chunks, their years and source files, the "
        "embedding model, and whether answers are written by a model or extractive.",
        NoArgs,
        index_stats,
    ),
)
