"""Question sets: the evaluation question model, JSONL question files and gold resolution.

A question set is one JSON object per line (``question``, ``gold`` and optional ``id``, ``type``,
``unanswerable``, ``graded``); :func:`resolve_gold` turns gold titles into the index's paper ids.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from assistant.errors import UsageError
from assistant.ingest.text import normalize_title

_JSONL_HINT = (
    'Each line must be a JSON object such as {"question": "...", "gold": ["paper id or title"]}; '
    'optional keys: "id", "type", "unanswerable", "graded".'
)


class EvalQuestion(BaseModel):
    """One evaluation question and the papers that answer it."""

    id: str
    question: str
    gold: list[str] = Field(
        default_factory=list, description="Relevant paper ids (or titles before resolve_gold)."
    )
    type: str | None = None
    graded: dict[str, int] = Field(
        default_factory=dict, description="Relevance grade per gold entry (nDCG only); default 1."
    )
    unanswerable: bool = Field(
        default=False, description="The corpus does not cover it; set when gold is empty."
    )

    @field_validator("gold", mode="before")
    @classmethod
    def _gold_as_list(cls, value: Any) -> Any:
        """Accept one string or number for ``gold``; make ids strings; drop repeats."""
        if value is None:
            return []
        if isinstance(value, str | int):
            value = [value]
        if isinstance(value, list):
            out: list[Any] = []
            for item in value:
                item = str(item).strip() if isinstance(item, str | int) else item
                if item == "" or item in out:
                    continue
                out.append(item)
            return out
        return value

    @model_validator(mode="after")
    def _check(self) -> EvalQuestion:
        """Mark questions without gold unanswerable; graded keys must be gold entries."""
        if not self.gold:
            self.unanswerable = True
        unknown = [key for key in self.graded if key not in self.gold]
        if unknown:
            raise ValueError(f"graded names entries that are not in gold: {unknown[:3]}")
        return self


def iter_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    """Yield (line number, parsed JSON) for each non-blank line; UsageError on bad JSON."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file", "Check the path.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read: {exc}", "Give a UTF-8 JSONL file.") from None
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield lineno, json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(
                f"{path}:{lineno}: not valid JSON ({exc.msg}, column {exc.colno})",
                "Write one JSON object per line (JSONL), not a JSON array or pretty-printed JSON.",
            ) from None


def load_questions_jsonl(path: Path) -> list[EvalQuestion]:
    """Read a question set: one JSON object per line with ``question`` and ``gold``.

    ``gold`` is a list of paper ids or titles, or one string; ``[]`` (or
    ``"unanswerable": true``) marks a question the corpus does not cover. Optional keys:
    ``id`` (default ``q<line>``), ``type``, ``unanswerable``, ``graded`` ({gold entry: grade}).
    """
    path = Path(path)
    questions: list[EvalQuestion] = []
    seen: dict[str, int] = {}
    for lineno, record in iter_jsonl(path):
        where = f"{path}:{lineno}"
        if not isinstance(record, dict):
            raise UsageError(
                f"{where}: expected a JSON object, got {type(record).__name__}", _JSONL_HINT
            )
        question = record.get("question")
        if not isinstance(question, str) or not question.strip():
            raise UsageError(f'{where}: missing or empty "question"', _JSONL_HINT)
        unanswerable = record.get("unanswerable", False)
        if not isinstance(unanswerable, bool):
            raise UsageError(f'{where}: "unanswerable" must be true or false', _JSONL_HINT)
        if "gold" not in record and not unanswerable:
            raise UsageError(
                f'{where}: missing "gold"',
                'Give "gold": ["paper id or title", ...]; for a question the corpus does not '
                'cover, give "gold": [] or "unanswerable": true.',
            )
        gold = record.get("gold")
        if gold is not None and not (
            isinstance(gold, str | int)
            or (isinstance(gold, list) and all(isinstance(g, str | int) for g in gold))
        ):
            raise UsageError(f'{where}: "gold" must be a string or a list of strings', _JSONL_HINT)
        gold_list = (
            [] if gold is None else [str(g) for g in (gold if isinstance(gold, list) else [gold])]
        )
        qid = record.get("id", f"q{lineno}")
        if not isinstance(qid, str | int) or str(qid).strip() == "":
            raise UsageError(f'{where}: "id" must be a non-empty string', _JSONL_HINT)
        qid = str(qid).strip()
        if qid in seen:
            raise UsageError(
                f"{where}: id {qid!r} already used on line {seen[qid]}",
                "Give each question its own id, or leave ids out.",
            )
        seen[qid] = lineno
        qtype = record.get("type")
        try:
            questions.append(
                EvalQuestion(
                    id=qid,
                    question=question.strip(),
                    gold=gold_list,
                    type=None if qtype is None else str(qtype),
                    graded=record.get("graded") or {},
                    unanswerable=unanswerable,
                )
            )
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'record'}: {err['msg']}"
                for err in exc.errors()
            )
            raise UsageError(f"{where}: {problems}", _JSONL_HINT) from None
    if not questions:
        raise UsageError(f"{path}: no questions in file", _JSONL_HINT)
    return questions


def resolve_gold(
    questions: Sequence[EvalQuestion], papers_by_title: dict[str, str], known_ids: set[str]
) -> tuple[list[EvalQuestion], list[str]]:
    """Turn gold titles into paper ids.

    A gold entry that is a known id stays; otherwise it is looked up as an exact title, then as
    a normalised title (:func:`~assistant.ingest.text.normalize_title` with
    ``keep_accents=True``). Entries that match nothing are kept as they are (so they count as
    misses) and reported in the returned warnings. Returns new questions.
    """
    by_norm: dict[str, str] = {}
    ambiguous: set[str] = set()
    for title, pid in papers_by_title.items():
        key = normalize_title(title, keep_accents=True)
        if not key:
            continue
        if key in by_norm and by_norm[key] != pid:
            ambiguous.add(key)
        by_norm.setdefault(key, pid)
    warnings: list[str] = []
    resolved: list[EvalQuestion] = []
    for q in questions:
        gold: list[str] = []
        graded: dict[str, int] = {}
        for entry in q.gold:
            if entry in known_ids:
                pid = entry
            elif entry in papers_by_title:
                pid = papers_by_title[entry]
            elif (key := normalize_title(entry, keep_accents=True)) in by_norm:
                pid = by_norm[key]
                if key in ambiguous:
                    warnings.append(
                        f"question {q.id}: gold {entry!r} matches several papers' titles; "
                        f"using {pid}"
                    )
            else:
                pid = entry
                warnings.append(
                    f"question {q.id}: gold {entry!r} matches no paper id or title in the index"
                )
            if pid not in gold:
                gold.append(pid)
            if entry in q.graded:
                graded[pid] = max(graded.get(pid, q.graded[entry]), q.graded[entry])
        resolved.append(q.model_copy(update={"gold": gold, "graded": graded}))
    return resolved, warnings
