"""The chat model helping retrieval (the ``llm_retrieval`` setting; off by default).

* ``rewrite``: the model writes two or three search queries for the question (the
  ``search_queries`` prompt); each is searched beside the question and the rankings are fused
  by reciprocal rank (RRF, as hybrid retrieval fuses its signals).
* ``rerank``: the model is shown the top ``llm_rerank_candidates`` papers (title and key
  sentences, numbered) and answers with the numbers of those that answer the question, best
  first (the ``rerank`` prompt). Those move to the front in its order; the others keep their
  order after them. Numbers it invents are ignored: the model can reorder what retrieval found,
  never add a paper.
* ``both``: rewrite, then rerank the fused ranking.

A failed call (error, deadline), a malformed reply or one naming no candidate leaves the
ranking as it was, with a note. Only the :class:`~assistant.llm.base.ChatModel`
protocol is used. The calls are not streamed (nothing is shown, and llama.cpp's server reports
token usage only then), so each must come whole by the first-token deadline (its first token
comes with its last; retries within ``llm_answer_timeout``) and is sent with the cap of
``cite``; their usage is returned, to be added to the answer's.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assistant.errors import LLMError
from assistant.llm.prompts import as_data, title_as_data

if TYPE_CHECKING:
    from assistant.index.paper_index import PaperIndex
    from assistant.llm.base import ChatModel, LLMUsage
    from assistant.records import SearchHit, SearchResult
    from assistant.retrieval.filters import SearchFilters
    from assistant.retrieval.retriever import RetrievalOptions
    from assistant.settings import Settings

__all__ = [
    "MAX_QUERIES",
    "AssistedRetrieval",
    "add_usage",
    "assist_retrieval",
    "parse_queries",
    "parse_ranking",
    "rerank",
    "rewrite",
]

#: Queries of the model's that are searched (beside the question itself).
MAX_QUERIES = 3
#: RRF's constant (as in the hybrid retriever's fusion).
RRF_K = 60
#: The reply cap of these calls: the settings' shortest one (``cite_max_tokens``).
PURPOSE = "cite"
_LONGEST_QUERY = 200


@dataclass
class AssistedRetrieval:
    """The ranking after the model's help, the calls' token usage, and what happened."""

    result: SearchResult
    usage: list[LLMUsage] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    reranked: bool = False
    call_failed: bool = False


def assist_retrieval(
    model: ChatModel,
    index: PaperIndex,
    question: str,
    result: SearchResult,
    options: RetrievalOptions,
    settings: Settings,
) -> AssistedRetrieval:
    """``result`` improved as ``settings.llm_retrieval`` says (unchanged when it is "off")."""
    assisted = AssistedRetrieval(result=result)
    if settings.llm_retrieval in ("rewrite", "both"):
        rewrite(model, index, question, assisted, options)
    if settings.llm_retrieval in ("rerank", "both") and not assisted.call_failed:
        # after a failed call (often a deadline) the server is not asked again before answering
        rerank(model, index, question, assisted, settings.llm_rerank_candidates)
    if assisted.notes:
        assisted.result = assisted.result.model_copy(
            update={"notes": [*assisted.result.notes, *assisted.notes]}
        )
    return assisted


def _call(
    model: ChatModel, prompt_name: str, values: dict[str, str], assisted: AssistedRetrieval
) -> str | None:
    """The model's reply text, or None (with a note) when the call failed."""
    from assistant.llm.base import CallOptions
    from assistant.llm.prompts import load_prompt

    messages = load_prompt(prompt_name).messages(**values)
    try:
        # not streamed: servers such as llama.cpp's report token usage only then
        reply = model.complete(messages, CallOptions(purpose=PURPOSE))
    except LLMError as exc:
        what = "rewrite the question" if prompt_name == "search_queries" else "rerank the papers"
        assisted.notes.append(
            f"The model could not {what} ({exc.one_line()}); plain retrieval was kept."
        )
        assisted.call_failed = True
        return None
    if reply.usage is not None:
        assisted.usage.append(reply.usage)
    return reply.text


# --- rewrite


def parse_queries(text: str, question: str) -> list[str]:
    """Up to :data:`MAX_QUERIES` search queries from the model's reply, one per line (list
    marks, quotes and labels removed; repeats and the question itself left out)."""
    queries: list[str] = []
    seen = {question.strip().lower()}
    for line in text.splitlines():
        query = re.sub(r"^\s*(?:[-*•]|\d+[.)]|query\s*\d*\s*:)\s*", "", line, flags=re.IGNORECASE)
        query = query.strip().strip("\"'“”`").strip()
        if not query or len(query) > _LONGEST_QUERY or query.lower() in seen:
            continue
        if query.endswith(":"):  # a heading such as "Search queries:"
            continue
        seen.add(query.lower())
        queries.append(query)
        if len(queries) == MAX_QUERIES:
            break
    return queries


def rewrite(
    model: ChatModel,
    index: PaperIndex,
    question: str,
    assisted: AssistedRetrieval,
    options: RetrievalOptions,
) -> None:
    """Search the model's queries beside the question; fuse the rankings by RRF."""
    from assistant.retrieval.retriever import Retriever

    text = _call(model, "search_queries", {"question": question}, assisted)
    if text is None:
        return
    queries = parse_queries(text, question)
    if not queries:
        assisted.notes.append(
            "The model's search queries could not be read; plain retrieval was kept."
        )
        return
    assisted.queries = queries
    retriever = Retriever(index)
    # the question's own filters apply to every query; the model's text is not parsed for more
    filters = _filters_of(question, options)
    plain = dataclasses.replace(options, parse_filters=False, filters=filters)
    rankings = [assisted.result.results]
    rankings.extend(retriever.search(q, plain).results for q in queries)
    fused = _fuse(rankings, k=max(options.k, len(assisted.result.results)))
    assisted.result = assisted.result.model_copy(update={"results": fused})
    assisted.notes.append(
        "Also searched for the model's queries: " + "; ".join(f"“{q}”" for q in queries) + "."
    )


def _filters_of(question: str, options: RetrievalOptions) -> SearchFilters:
    """The filters the question's search ran with: given, and parsed from its text."""
    from assistant.retrieval.filters import parse_query_filters

    if not options.parse_filters:
        return options.filters
    _cleaned, found = parse_query_filters(question)
    return options.filters if found.is_empty() else found.merged(options.filters)


def _fuse(rankings: list[list[SearchHit]], k: int) -> list[SearchHit]:
    """Reciprocal-rank fusion of several rankings of hits, renumbered from 1."""
    scores: dict[str, float] = {}
    hits: dict[str, SearchHit] = {}
    for ranking in rankings:
        for position, hit in enumerate(ranking):
            scores[hit.paper_id] = scores.get(hit.paper_id, 0.0) + 1.0 / (RRF_K + position + 1)
            hits.setdefault(hit.paper_id, hit)
    order = sorted(scores, key=lambda pid: -scores[pid])[:k]
    return [
        hits[pid].model_copy(update={"rank": rank, "score": round(scores[pid], 6)})
        for rank, pid in enumerate(order, start=1)
    ]


# --- rerank


def parse_ranking(text: str, candidates: int) -> tuple[list[int], list[int]] | None:
    """``(numbers in the model's order, numbers naming no candidate)`` from a reply such as
    ``3, 1, 4`` or ``[3][1]``; ``([], [])`` for NONE; None when it is not such a list."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = re.sub(r"^(?:numbers|ranking|answer)[^:]*:\s*", "", line, flags=re.IGNORECASE)
    if re.fullmatch(r"NONE\.?", line, flags=re.IGNORECASE):
        return [], []
    tokens = [t for t in re.split(r"[\s,;>\[\]()]+|\band\b", line) if t.strip(".#")]
    numbers: list[int] = []
    for token in tokens:
        digits = token.strip(".#")
        if not digits.isdigit():
            return None
        numbers.append(int(digits))
    if not numbers:
        return None
    ranked = list(dict.fromkeys(n for n in numbers if 1 <= n <= candidates))
    unknown = list(dict.fromkeys(n for n in numbers if not 1 <= n <= candidates))
    return ranked, unknown


def rerank(
    model: ChatModel,
    index: PaperIndex,
    question: str,
    assisted: AssistedRetrieval,
    candidates: int,
) -> None:
    """Move the top candidates the model names to the front, in its order."""
    from assistant.text.sentences import key_sentences

    hits = assisted.result.results
    top = [h for h in hits[:candidates] if h.paper is not None]
    if len(top) < 2:
        return
    papers = [h.paper for h in top if h.paper is not None]
    keys = key_sentences(index, question, papers)
    blocks = []
    for n, paper in enumerate(papers, start=1):
        year = f" ({paper.year})" if paper.year else ""
        sentences = " ".join(keys.get(paper.paper_id) or [])
        blocks.append(f"[{n}] {title_as_data(paper.title)}{year}\n{as_data(sentences)}".rstrip())
    text = _call(
        model, "rerank", {"question": question, "candidates": "\n\n".join(blocks)}, assisted
    )
    if text is None:
        return
    parsed = parse_ranking(text, len(top))
    if parsed is None or not parsed[0]:
        why = "could not be read" if parsed is None else "named no candidate"
        assisted.notes.append(f"The model's reranking {why}; the retrieval order was kept.")
        return
    ranked, unknown = parsed
    if unknown:
        assisted.notes.append(
            "The model's reranking named numbers that are no candidate (ignored): "
            + ", ".join(str(n) for n in unknown)
            + "."
        )
    chosen = [top[n - 1] for n in ranked]
    chosen_ids = {h.paper_id for h in chosen}
    rest = [h for h in hits if h.paper_id not in chosen_ids]
    reordered = [h.model_copy(update={"rank": r}) for r, h in enumerate([*chosen, *rest], 1)]
    assisted.result = assisted.result.model_copy(update={"results": reordered})
    assisted.reranked = True
    assisted.notes.append(
        f"The model reranked the top {len(top)} papers ({len(chosen)} judged to answer the "
        "question first)."
    )


def add_usage(usage: dict[str, Any], extra: list[LLMUsage]) -> dict[str, Any]:
    """An answer's usage dict with the retrieval calls' tokens (and cost) added; their total is
    also given apart, as ``retrieval_tokens``."""
    if not extra:
        return usage
    out = dict(usage)
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        out[key] = int(out.get(key) or 0) + sum(getattr(u, key) for u in extra)
    costs = [u.cost_usd for u in extra]
    if "cost_usd" in out and out["cost_usd"] is not None and None not in costs:
        out["cost_usd"] = float(out["cost_usd"]) + sum(c for c in costs if c is not None)
    elif None in costs:
        out["cost_usd"] = None
    out.setdefault("model", extra[0].model)
    out["retrieval_tokens"] = sum(u.total_tokens for u in extra)
    return out
