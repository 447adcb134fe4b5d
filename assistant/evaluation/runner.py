"""Retrieval evaluation: question sets, BEIR-style datasets, ranking metrics and a report.

Everything here is a pure function or a pydantic model; the CLI (``assistant eval``) only wires
a search function in and formats the :class:`EvalReport`. Relevance is binary (a gold paper is
relevant, anything else is not) unless a question carries ``graded`` relevance grades, which only
nDCG uses. nDCG follows trec_eval / pytrec_eval (as used by BEIR): linear gains,
``DCG@k = sum(rel_i / log2(i + 1))`` over ranks ``i = 1..k``.
"""

from __future__ import annotations

import json
import math
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from assistant.errors import UsageError
from assistant.records import Paper

SearchFn = Callable[[str], tuple[list[str], bool]]
"""``search(question) -> (ranked paper ids, covered)``; covered=False means 'not in corpus'."""

ProgressFn = Callable[[int, int], None]
"""``progress(done, total)``, called after each question."""

_JSONL_HINT = (
    'Each line must be a JSON object such as {"question": "...", "gold": ["paper id or title"]}; '
    'optional keys: "id", "type", "unanswerable", "graded".'
)


# --------------------------------------------------------------------------------------------
# Question sets
# --------------------------------------------------------------------------------------------


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


def _read_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
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
    for lineno, record in _read_jsonl(path):
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


def normalize_title(title: str) -> str:
    """Lowercase, drop punctuation and collapse whitespace, for forgiving title matching."""
    text = unicodedata.normalize("NFKC", title).casefold()
    text = "".join(" " if unicodedata.category(ch).startswith(("P", "S")) else ch for ch in text)
    return " ".join(text.split())


def resolve_gold(
    questions: Sequence[EvalQuestion], papers_by_title: dict[str, str], known_ids: set[str]
) -> tuple[list[EvalQuestion], list[str]]:
    """Turn gold titles into paper ids.

    A gold entry that is a known id stays; otherwise it is looked up as an exact title, then as
    a normalised title (:func:`normalize_title`). Entries that match nothing are kept as they
    are (so they count as misses) and reported in the returned warnings. Returns new questions.
    """
    by_norm: dict[str, str] = {}
    ambiguous: set[str] = set()
    for title, pid in papers_by_title.items():
        key = normalize_title(title)
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
            elif (key := normalize_title(entry)) in by_norm:
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


# --------------------------------------------------------------------------------------------
# BEIR-style datasets
# --------------------------------------------------------------------------------------------


class BeirDataset(BaseModel):
    """A corpus and the questions (with gold paper ids) of a BEIR-style benchmark."""

    corpus: list[Paper]
    questions: list[EvalQuestion]
    split: str
    layout: Literal["beir", "scifact"]
    warnings: list[str] = Field(default_factory=list)

    @property
    def relevance_pairs(self) -> int:
        """Number of (question, relevant paper) pairs."""
        return sum(len(q.gold) for q in self.questions)


_SPLIT_PREFERENCE = ("test", "dev", "train")


def _pick_split(available: list[str], split: str | None, folder: Path, pattern: str) -> str:
    """Choose the split: the one asked for, else the only one, else test > dev > train."""
    if not available:
        raise UsageError(
            f"{folder}: no relevance judgements ({pattern})",
            "A BEIR folder needs qrels for at least one split.",
        )
    if split is not None:
        if split not in available:
            raise UsageError(
                f"{folder}: no split {split!r} (have: {', '.join(available)})",
                f"Use one of: {', '.join(available)}.",
            )
        return split
    if len(available) == 1:
        return available[0]
    for name in _SPLIT_PREFERENCE:
        if name in available:
            return name
    raise UsageError(
        f"{folder}: several splits ({', '.join(available)}); say which", "Pass the split to use."
    )


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """Read a qrels TSV (query-id, corpus-id, score; header optional; TREC 4-column ok)."""
    qrels: dict[str, dict[str, int]] = {}
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read: {exc}", "Give a UTF-8 TSV file.") from None
    first = True
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        is_first, first = first, False
        fields = line.split("\t") if "\t" in line else line.split()
        fields = [f.strip() for f in fields]
        if len(fields) == 4:  # TREC: qid iter docid rel
            fields = [fields[0], fields[2], fields[3]]
        if len(fields) != 3:
            raise UsageError(
                f"{path}:{lineno}: expected 3 tab-separated columns, got {len(fields)}",
                "qrels lines are: query-id <TAB> corpus-id <TAB> score.",
            )
        qid, did, score_text = fields
        try:
            score = int(float(score_text))
        except ValueError:
            if is_first:
                continue  # header: query-id, corpus-id, score
            raise UsageError(
                f"{path}:{lineno}: score {score_text!r} is not a number",
                "qrels lines are: query-id <TAB> corpus-id <TAB> score.",
            ) from None
        qrels.setdefault(qid, {})[did] = score
    return qrels


def _read_corpus(path: Path, id_key: str, text_key: str, warnings: list[str]) -> list[Paper]:
    """Read corpus.jsonl into papers (text may be a string or a list of sentences)."""
    papers: list[Paper] = []
    seen: set[str] = set()
    for lineno, record in _read_jsonl(path):
        if not isinstance(record, dict) or record.get(id_key) is None:
            raise UsageError(
                f"{path}:{lineno}: expected a JSON object with {id_key!r}",
                f"Each corpus line needs {id_key!r}, 'title' and {text_key!r}.",
            )
        pid = str(record[id_key]).strip()
        if pid in seen:
            warnings.append(f"{path.name}:{lineno}: duplicate id {pid}; kept the first")
            continue
        seen.add(pid)
        text = record.get(text_key) or ""
        if isinstance(text, list):
            text = " ".join(str(s).strip() for s in text if str(s).strip())
        papers.append(
            Paper(
                paper_id=pid,
                title=str(record.get("title") or "").strip(),
                abstract=str(text).strip(),
                source=path.name,
            )
        )
    return papers


def _read_queries(path: Path, id_key: str, text_key: str) -> dict[str, str]:
    """Read queries (or claims) JSONL into {id: text}, keeping file order."""
    queries: dict[str, str] = {}
    for lineno, record in _read_jsonl(path):
        if not isinstance(record, dict) or record.get(id_key) is None:
            raise UsageError(
                f"{path}:{lineno}: expected a JSON object with {id_key!r}",
                f"Each line needs {id_key!r} and {text_key!r}.",
            )
        queries[str(record[id_key]).strip()] = str(record.get(text_key) or "").strip()
    return queries


def load_beir(folder: Path, split: str | None = None) -> BeirDataset:
    """Load a BEIR-style benchmark folder: its corpus and the questions that have qrels.

    Two layouts, told apart by the files present:

    * standard BEIR: ``corpus.jsonl`` ({_id, title, text}), ``queries.jsonl`` ({_id, text}),
      ``qrels/<split>.tsv``;
    * SciFact: ``corpus.jsonl`` ({doc_id, title, abstract: [sentences]}),
      ``claims_<split>.jsonl`` ({id, claim}), ``qrels_<split>.tsv``.

    ``split=None`` takes the only split there is, else test, dev, train in that order. Only
    queries with a qrels score > 0 become questions; gold = those corpus ids.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"{folder}: not a folder", "Give the folder holding corpus.jsonl.")
    corpus_path = folder / "corpus.jsonl"
    if not corpus_path.is_file():
        raise UsageError(f"{folder}: no corpus.jsonl", "Give a BEIR-style benchmark folder.")
    warnings: list[str] = []
    layout: Literal["beir", "scifact"]
    if (folder / "queries.jsonl").is_file() and (folder / "qrels").is_dir():
        layout = "beir"
        available = sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))
        split = _pick_split(available, split, folder, "qrels/<split>.tsv")
        queries_path, qrels_path = folder / "queries.jsonl", folder / "qrels" / f"{split}.tsv"
        corpus = _read_corpus(corpus_path, "_id", "text", warnings)
        queries = _read_queries(queries_path, "_id", "text")
    elif list(folder.glob("claims_*.jsonl")):
        layout = "scifact"
        available = sorted(
            p.stem.removeprefix("qrels_")
            for p in folder.glob("qrels_*.tsv")
            if (folder / f"claims_{p.stem.removeprefix('qrels_')}.jsonl").is_file()
        )
        split = _pick_split(available, split, folder, "claims_<split>.jsonl + qrels_<split>.tsv")
        queries_path, qrels_path = folder / f"claims_{split}.jsonl", folder / f"qrels_{split}.tsv"
        corpus = _read_corpus(corpus_path, "doc_id", "abstract", warnings)
        queries = _read_queries(queries_path, "id", "claim")
    else:
        raise UsageError(
            f"{folder}: not a BEIR or SciFact layout",
            "Expected queries.jsonl + qrels/<split>.tsv (BEIR) or "
            "claims_<split>.jsonl + qrels_<split>.tsv (SciFact) next to corpus.jsonl.",
        )
    qrels = _read_qrels(qrels_path)
    corpus_ids = {p.paper_id for p in corpus}
    missing_queries = [qid for qid in qrels if qid not in queries]
    if missing_queries:
        warnings.append(
            f"{qrels_path.name}: {len(missing_queries)} query ids not in "
            f"{queries_path.name} (e.g. {missing_queries[0]}); skipped"
        )
    questions: list[EvalQuestion] = []
    missing_docs = 0
    for qid, text in queries.items():
        judged = {did: s for did, s in qrels.get(qid, {}).items() if s > 0}
        if not judged:
            continue
        if not text:
            warnings.append(f"{queries_path.name}: query {qid} has no text; skipped")
            continue
        missing_docs += sum(1 for did in judged if did not in corpus_ids)
        graded = judged if any(s != 1 for s in judged.values()) else {}
        questions.append(EvalQuestion(id=qid, question=text, gold=list(judged), graded=graded))
    if missing_docs:
        warnings.append(
            f"{qrels_path.name}: {missing_docs} relevant ids are not in corpus.jsonl "
            "(kept as gold; they count as misses)"
        )
    if not questions:
        raise UsageError(
            f"{folder}: no query has a relevance judgement in {qrels_path.name}",
            "Check that query ids in the qrels match the queries file.",
        )
    return BeirDataset(
        corpus=corpus, questions=questions, split=split, layout=layout, warnings=warnings
    )


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------


def _top_k(ranked: Sequence[str], k: int) -> list[str | None]:
    """The first k entries of a ranking, with repeats blanked out.

    A repeated id keeps its slot (it is what the user sees) but gains nothing: it is
    replaced by None, which is never gold.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    out: list[str | None] = []
    seen: set[str] = set()
    for pid in ranked[:k]:
        out.append(None if pid in seen else pid)
        seen.add(pid)
    return out


def recall_at_k(ranked: Sequence[str], gold: set[str], k: int) -> float:
    """Fraction of the gold papers found in the top k (0.0 when gold is empty)."""
    top = _top_k(ranked, k)
    if not gold:
        return 0.0
    return sum(1 for pid in top if pid is not None and pid in gold) / len(gold)


def hit_at_k(ranked: Sequence[str], gold: set[str], k: int) -> float:
    """1.0 if any gold paper is in the top k, else 0.0."""
    return 1.0 if any(pid is not None and pid in gold for pid in _top_k(ranked, k)) else 0.0


def mrr_at_k(ranked: Sequence[str], gold: set[str], k: int) -> float:
    """Reciprocal rank of the first gold paper in the top k (0.0 if none)."""
    for rank, pid in enumerate(_top_k(ranked, k), start=1):
        if pid is not None and pid in gold:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(
    ranked: Sequence[str], gold: set[str], k: int, grades: dict[str, int] | None = None
) -> float:
    """nDCG@k with linear gains, as trec_eval / pytrec_eval (BEIR).

    A gold paper's gain is its grade in ``grades`` (default 1); other papers gain 0. The ideal
    DCG sorts all gold gains in descending order. Returns 0.0 when nothing is relevant.
    """
    grades = grades or {}

    def gain(pid: str | None) -> float:
        return float(max(grades.get(pid, 1), 0)) if pid is not None and pid in gold else 0.0

    dcg = sum(gain(pid) / math.log2(i + 1) for i, pid in enumerate(_top_k(ranked, k), start=1))
    ideal = sorted((gain(pid) for pid in gold), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 1) for i, g in enumerate(ideal, start=1))
    return dcg / idcg if idcg > 0 else 0.0


def first_relevant_rank(ranked: Sequence[str], gold: set[str]) -> int | None:
    """1-based rank of the first gold paper in the whole ranking, or None."""
    for rank, pid in enumerate(ranked, start=1):
        if pid in gold:
            return rank
    return None


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


class QuestionResult(BaseModel):
    """How retrieval did on one question (for ``--json`` and error analysis)."""

    id: str
    question: str
    type: str | None = None
    unanswerable: bool
    gold: list[str]
    ranked: list[str] = Field(description="The top max(ks) paper ids returned.")
    first_gold_rank: int | None = Field(description="1-based rank of the first gold paper.")
    flagged: bool = Field(description="The retriever said the corpus does not cover it.")
    latency_ms: float
    metrics: dict[str, float] = Field(
        default_factory=dict, description="recall@k, hit@k, mrr@k, ndcg@k (answerable only)."
    )


class LatencyStats(BaseModel):
    """Search latency in milliseconds."""

    mean_ms: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    max_ms: float = 0.0


class GroupReport(BaseModel):
    """Metrics over one group of questions (all, or one type)."""

    questions: int = 0
    answerable: int = 0
    unanswerable: int = 0
    metrics: dict[str, float] = Field(
        default_factory=dict, description="Means over the answerable questions."
    )
    abstain_unanswerable: float | None = Field(
        default=None, description="Share of unanswerable questions flagged as not covered."
    )
    false_abstain: float | None = Field(
        default=None, description="Share of answerable questions wrongly flagged as not covered."
    )


class EvalReport(BaseModel):
    """The outcome of :func:`evaluate`: overall and per-type metrics, latency, details."""

    questions: int
    ks: list[int]
    overall: GroupReport
    by_type: dict[str, GroupReport] = Field(
        default_factory=dict, description="Per question type; untyped ones under 'untyped'."
    )
    latency: LatencyStats
    details: list[QuestionResult] = Field(default_factory=list)

    def summary(self) -> dict[str, float]:
        """Flat headline figures: recall@k, hit@k, mrr@k, ndcg@k, abstention, latency.

        ``abstain_unanswerable`` / ``false_abstain`` are left out when there are no
        unanswerable / answerable questions.
        """
        out: dict[str, float] = {
            "questions": float(self.overall.questions),
            "answerable": float(self.overall.answerable),
            "unanswerable": float(self.overall.unanswerable),
        }
        out.update(self.overall.metrics)
        if self.overall.abstain_unanswerable is not None:
            out["abstain_unanswerable"] = self.overall.abstain_unanswerable
        if self.overall.false_abstain is not None:
            out["false_abstain"] = self.overall.false_abstain
        out["mean_ms"] = self.latency.mean_ms
        out["p50_ms"] = self.latency.p50_ms
        out["p95_ms"] = self.latency.p95_ms
        return out


def _metric_names(ks: Sequence[int]) -> list[str]:
    top = max(ks)
    return [f"recall@{k}" for k in ks] + [f"hit@{top}", f"mrr@{top}", f"ndcg@{top}"]


def _question_metrics(ranked: list[str], q: EvalQuestion, ks: Sequence[int]) -> dict[str, float]:
    gold = set(q.gold)
    top = max(ks)
    out = {f"recall@{k}": recall_at_k(ranked, gold, k) for k in ks}
    out[f"hit@{top}"] = hit_at_k(ranked, gold, top)
    out[f"mrr@{top}"] = mrr_at_k(ranked, gold, top)
    out[f"ndcg@{top}"] = ndcg_at_k(ranked, gold, top, q.graded or None)
    return out


def _group(results: Sequence[QuestionResult], ks: Sequence[int]) -> GroupReport:
    answerable = [r for r in results if not r.unanswerable]
    unanswerable = [r for r in results if r.unanswerable]
    metrics: dict[str, float] = {}
    if answerable:
        metrics = {
            name: float(np.mean([r.metrics[name] for r in answerable]))
            for name in _metric_names(ks)
        }
    return GroupReport(
        questions=len(results),
        answerable=len(answerable),
        unanswerable=len(unanswerable),
        metrics=metrics,
        abstain_unanswerable=(
            float(np.mean([r.flagged for r in unanswerable])) if unanswerable else None
        ),
        false_abstain=float(np.mean([r.flagged for r in answerable])) if answerable else None,
    )


def evaluate(
    questions: Sequence[EvalQuestion],
    search: SearchFn,
    ks: Sequence[int] = (1, 5, 10),
    progress: ProgressFn | None = None,
) -> EvalReport:
    """Run ``search`` on every question and score the rankings against the gold papers.

    Answerable questions get recall@k for each k, and hit/MRR/nDCG at max(ks); unanswerable
    ones only count towards abstention (were they flagged not covered?). Latency is timed
    around each ``search`` call.
    """
    ks = sorted(set(ks))
    if not ks or ks[0] < 1:
        raise ValueError(f"ks must be positive integers, got {ks}")
    if not questions:
        raise UsageError("no questions to evaluate", "Give a question set with at least one line.")
    top = max(ks)
    results: list[QuestionResult] = []
    total = len(questions)
    for done, q in enumerate(questions, start=1):
        start = time.perf_counter()
        ranked, covered = search(q.question)
        elapsed_ms = (time.perf_counter() - start) * 1000.0
        ranked = [str(pid) for pid in ranked]
        gold = set(q.gold)
        answerable = not q.unanswerable
        results.append(
            QuestionResult(
                id=q.id,
                question=q.question,
                type=q.type,
                unanswerable=q.unanswerable,
                gold=list(q.gold),
                ranked=ranked[:top],
                first_gold_rank=first_relevant_rank(ranked, gold) if answerable else None,
                flagged=not covered,
                latency_ms=elapsed_ms,
                metrics=_question_metrics(ranked, q, ks) if answerable else {},
            )
        )
        if progress is not None:
            progress(done, total)
    latencies = np.array([r.latency_ms for r in results], dtype=float)
    latency = LatencyStats(
        mean_ms=float(latencies.mean()),
        p50_ms=float(np.percentile(latencies, 50)),
        p95_ms=float(np.percentile(latencies, 95)),
        max_ms=float(latencies.max()),
    )
    by_type: dict[str, GroupReport] = {}
    if any(r.type is not None for r in results):
        types = sorted({r.type or "untyped" for r in results})
        by_type = {t: _group([r for r in results if (r.type or "untyped") == t], ks) for t in types}
    return EvalReport(
        questions=len(results),
        ks=list(ks),
        overall=_group(results, ks),
        by_type=by_type,
        latency=latency,
        details=results,
    )
