"""BEIR-style benchmark folders (standard BEIR and SciFact layouts): corpus, queries, qrels."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from assistant.errors import UsageError
from assistant.evaluation.questions import EvalQuestion, iter_jsonl
from assistant.records import Paper


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
    for lineno, record in iter_jsonl(path):
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
    for lineno, record in iter_jsonl(path):
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
