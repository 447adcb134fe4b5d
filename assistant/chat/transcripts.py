"""Conversations written out: Markdown and JSON transcripts, and export files.

A transcript lists the turns with their answers and the papers cited, by their conversation
numbers. :func:`export_conversation` writes one (or the cited papers' BibTeX) to a file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from assistant.chat.followups import _normal
from assistant.chat.turns import Turn, cited_papers
from assistant.errors import UsageError
from assistant.export.references import reference_line
from assistant.generation.answer import Citation
from assistant.history.store import StoredTurn
from assistant.retrieval.filters import SearchFilters

if TYPE_CHECKING:
    from assistant.index.paper_index import PaperIndex

ExportKind = Literal["md", "bib", "json"]

EXPORT_KINDS: dict[str, ExportKind] = {
    "md": "md",
    "markdown": "md",
    "bib": "bib",
    "bibtex": "bib",
    "json": "json",
}


def _reference_line(c: Citation) -> str:
    """A conversation's reference line: ``[n] Title (year). id link``."""
    return reference_line(c, where="id_and_link", always_stop=True)


def transcript_markdown(
    turns: list[Turn], session_id: str | None, created_at: str | None, filters: SearchFilters
) -> str:
    """The conversation as Markdown, with its references."""
    out = [f"# Conversation {session_id or '(not saved)'}", ""]
    meta = [f"{len(turns)} turn{'s' if len(turns) != 1 else ''}"]
    if created_at:
        meta.insert(0, f"started {created_at[:16].replace('T', ' ')} UTC")
    if not filters.is_empty():
        meta.append(f"filters: {filters.describe()}")
    out += [f"*{' · '.join(meta)}*", ""]
    for turn in turns:
        out += [f"## {turn.n}. {turn.question}", ""]
        if turn.standalone_question and _normal(turn.standalone_question) != _normal(turn.question):
            out += [f"*Searched for: {turn.standalone_question}*", ""]
        if turn.answer.llm_error:
            out += [
                f"*The language model failed ({turn.answer.llm_error}); extractive answer.*",
                "",
            ]
        text = turn.answer.answer.strip()
        if turn.answer.mode == "extractive" and not turn.answer.abstained:
            text = "\n".join(f"- {line}" for line in text.splitlines() if line.strip())
        out += [text, ""]
    cited = cited_papers(turns)
    if cited:
        out += ["## References", ""]
        out += [_reference_line(c) for c in cited]
        out.append("")
    return "\n".join(out)


def transcript_json(
    turns: list[Turn], session_id: str | None, created_at: str | None, filters: SearchFilters
) -> dict[str, object]:
    """The conversation as JSON: turns with questions, answers and citations."""
    return {
        "session_id": session_id,
        "created_at": created_at,
        "filters": filters.model_dump(exclude_defaults=True),
        "turns": [
            {
                "turn": turn.n,
                "question": turn.question,
                "standalone_question": turn.standalone_question,
                "answer": turn.answer.answer,
                "mode": turn.answer.mode,
                "abstained": turn.answer.abstained,
                "grounded": turn.answer.grounded,
                "citations": [c.model_dump() for c in turn.answer.citations],
                "notes": turn.answer.notes,
                "llm_error": turn.answer.llm_error,
                "created_at": turn.created_at,
            }
            for turn in turns
        ],
        "references": [c.model_dump() for c in cited_papers(turns)],
    }


def turns_from_store(stored: list[StoredTurn]) -> list[Turn]:
    """Saved turns as :class:`Turn` objects."""
    return [
        Turn(
            n=t.turn,
            question=t.question,
            standalone_question=t.standalone_question,
            answer=t.answer,
            created_at=t.created_at,
        )
        for t in stored
    ]


def export_conversation(
    kind: str,
    path: Path,
    turns: list[Turn],
    session_id: str | None,
    created_at: str | None,
    filters: SearchFilters,
    index: PaperIndex,
    force: bool = False,
) -> tuple[Path, int]:
    """Write the conversation (``md``, ``json``) or the cited papers' BibTeX (``bib``).

    The papers' BibTeX comes from ``index``'s catalog. The file is written atomically; an
    existing file the assistant did not write is replaced only with ``force``
    (:mod:`assistant.output_files`). Returns the path written and how many turns (or BibTeX
    entries) it holds.
    """
    from assistant.export.bibtex import bibliography
    from assistant.output_files import overwrite_refused, replace_reason, write_output_file

    fmt = EXPORT_KINDS.get(kind.lower())
    if fmt is None:
        raise UsageError(f"Cannot export as {kind!r}.", hint="Use md, bib or json.")
    if not turns:
        raise UsageError("Nothing to export yet.", hint="Ask a question first.")
    count = len(turns)
    if fmt == "md":
        text = transcript_markdown(turns, session_id, created_at, filters)
    elif fmt == "json":
        data = transcript_json(turns, session_id, created_at, filters)
        text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    else:
        cited = cited_papers(turns)
        papers = index.catalog.get_papers(c.paper_id for c in cited)
        ordered = [papers[c.paper_id] for c in cited if c.paper_id in papers]
        if not ordered:
            raise UsageError("No paper cited yet: no BibTeX to write.", hint="Ask first.")
        text = bibliography(ordered)
        count = len(ordered)
    target = path.expanduser()
    reason = None if force else replace_reason(target)
    if reason is not None:
        raise overwrite_refused(
            target,
            reason,
            hint=f"Add --force to replace it (/export {fmt} FILE --force), or choose another name.",
        )
    write_output_file(target, text, force=True, make_parents=True)
    return target, count
