"""Tests for assistant.evaluation.runner: metrics, question loading, BEIR loading, evaluate()."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.errors import UsageError
from assistant.evaluation import (
    EvalQuestion,
    evaluate,
    hit_at_k,
    load_beir,
    load_questions_jsonl,
    mrr_at_k,
    ndcg_at_k,
    recall_at_k,
    resolve_gold,
)
from assistant.ingest.text import normalize_title

# ---------------------------------------------------------------------------- metrics


def test_recall_hit_mrr() -> None:
    ranked = ["a", "x", "b", "y", "c"]
    gold = {"a", "b", "z"}
    assert recall_at_k(ranked, gold, 1) == pytest.approx(1 / 3)
    assert recall_at_k(ranked, gold, 3) == pytest.approx(2 / 3)
    assert recall_at_k(ranked, gold, 10) == pytest.approx(2 / 3)
    assert hit_at_k(ranked, gold, 1) == 1.0
    assert hit_at_k(["x", "y", "a"], gold, 2) == 0.0
    assert mrr_at_k(["x", "y", "b"], gold, 10) == pytest.approx(1 / 3)
    assert mrr_at_k(["x", "y", "b"], gold, 2) == 0.0
    assert recall_at_k(ranked, set(), 5) == 0.0


def test_duplicates_in_ranking_count_once() -> None:
    # A repeat keeps its slot but gains nothing.
    assert recall_at_k(["a", "a", "b"], {"a", "b"}, 2) == pytest.approx(0.5)
    assert recall_at_k(["a", "a", "b"], {"a", "b"}, 3) == pytest.approx(1.0)
    assert mrr_at_k(["x", "x", "a"], {"a"}, 2) == 0.0
    assert ndcg_at_k(["a", "a"], {"a"}, 2) == pytest.approx(1.0)


def test_k_must_be_positive() -> None:
    with pytest.raises(ValueError):
        recall_at_k(["a"], {"a"}, 0)


def test_ndcg_two_gold_at_ranks_1_and_3() -> None:
    # DCG = 1/log2(2) + 1/log2(4) = 1.5 ; IDCG = 1 + 1/log2(3)
    expected = 1.5 / (1 + 1 / math.log2(3))
    assert ndcg_at_k(["a", "x", "b", "y"], {"a", "b"}, 10) == pytest.approx(expected)
    assert expected == pytest.approx(0.9197207891)
    # Cut at k=2: only rank 1 counts; IDCG@2 still has both gold docs.
    assert ndcg_at_k(["a", "x", "b"], {"a", "b"}, 2) == pytest.approx(1 / (1 + 1 / math.log2(3)))
    assert ndcg_at_k(["a", "b"], {"a", "b"}, 10) == pytest.approx(1.0)
    assert ndcg_at_k(["x"], {"a"}, 10) == 0.0
    assert ndcg_at_k(["x"], set(), 10) == 0.0


def test_ndcg_graded() -> None:
    # Grades a=1, b=3. Ranking a, b: DCG = 1/log2(2) + 3/log2(3); ideal is b, a.
    grades = {"a": 1, "b": 3}
    dcg = 1 / math.log2(2) + 3 / math.log2(3)
    idcg = 3 / math.log2(2) + 1 / math.log2(3)
    assert ndcg_at_k(["a", "b"], {"a", "b"}, 10, grades) == pytest.approx(dcg / idcg)
    assert ndcg_at_k(["b", "a"], {"a", "b"}, 10, grades) == pytest.approx(1.0)
    # Only the grade-3 paper, at rank 3, with k=1: 0; with k=3: (3/2) / idcg.
    assert ndcg_at_k(["x", "y", "b"], {"a", "b"}, 1, grades) == 0.0
    assert ndcg_at_k(["x", "y", "b"], {"a", "b"}, 3, grades) == pytest.approx(1.5 / idcg)


# ---------------------------------------------------------------------------- question sets


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_load_questions_jsonl(tmp_path: Path) -> None:
    path = _write_lines(
        tmp_path / "q.jsonl",
        [
            json.dumps({"id": "q-a", "question": "What is X?", "gold": ["P1", "P2"], "type": "f"}),
            "",
            json.dumps({"question": "Single gold?", "gold": "Some Title"}),
            json.dumps({"question": "Not covered?", "gold": []}),
            json.dumps({"id": 7, "question": "Flagged", "gold": [12], "unanswerable": True}),
            json.dumps({"question": "Graded", "gold": ["a", "b"], "graded": {"b": 2}}),
            json.dumps({"question": "No gold but declared", "unanswerable": True}),
        ],
    )
    qs = load_questions_jsonl(path)
    assert [q.id for q in qs] == ["q-a", "q3", "q4", "7", "q6", "q7"]
    assert qs[0].gold == ["P1", "P2"] and qs[0].type == "f" and not qs[0].unanswerable
    assert qs[1].gold == ["Some Title"]
    assert qs[2].unanswerable and qs[2].gold == []
    assert qs[3].unanswerable and qs[3].gold == ["12"]
    assert qs[4].graded == {"b": 2}
    assert qs[5].unanswerable


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ('["a list"]', "expected a JSON object"),
        ('{"gold": ["x"]}', '"question"'),
        ('{"question": "  ", "gold": ["x"]}', '"question"'),
        ('{"question": "q"}', 'missing "gold"'),
        ('{"question": "q", "gold": {"a": 1}}', '"gold" must be'),
        ('{"question": "q", "gold": ["a"], "unanswerable": "yes"}', "unanswerable"),
        ('{"question": "q", "gold": ["a"], "graded": {"zz": 2}}', "graded"),
    ],
)
def test_load_questions_errors_name_file_and_line(tmp_path: Path, line: str, fragment: str) -> None:
    path = _write_lines(
        tmp_path / "bad.jsonl", [json.dumps({"question": "fine", "gold": ["a"]}), line]
    )
    with pytest.raises(UsageError) as info:
        load_questions_jsonl(path)
    assert f"{path}:2" in info.value.message
    assert fragment in info.value.message
    assert info.value.hint


def test_load_questions_duplicate_id_empty_and_missing(tmp_path: Path) -> None:
    dup = _write_lines(
        tmp_path / "dup.jsonl",
        [json.dumps({"id": "a", "question": "x", "gold": "p"})] * 2,
    )
    with pytest.raises(UsageError, match=r"dup.jsonl:2: id 'a' already used on line 1"):
        load_questions_jsonl(dup)
    empty = _write_lines(tmp_path / "empty.jsonl", [""])
    with pytest.raises(UsageError, match="no questions"):
        load_questions_jsonl(empty)
    with pytest.raises(UsageError, match="no such file"):
        load_questions_jsonl(tmp_path / "missing.jsonl")


def test_eval_question_marks_empty_gold_unanswerable() -> None:
    assert EvalQuestion(id="1", question="q", gold=[]).unanswerable
    assert not EvalQuestion(id="1", question="q", gold=["a"]).unanswerable


# ---------------------------------------------------------------------------- resolve_gold


def test_normalize_title() -> None:
    assert normalize_title("  Deep   Learning: A Review. ") == "deep learning a review"


def test_resolve_gold_titles_ids_and_misses() -> None:
    papers_by_title = {
        "Attention Is All You Need": "p1",
        "BERT: Pre-training of Deep Bidirectional Transformers": "p2",
    }
    known = {"p1", "p2", "p3"}
    qs = [
        EvalQuestion(id="a", question="?", gold=["Attention Is All You Need", "p3"]),
        EvalQuestion(
            id="b",
            question="?",
            gold=["bert  pre-training of deep bidirectional transformers", "p2", "Nope"],
            graded={"p2": 2},
        ),
        EvalQuestion(id="c", question="?", gold=[]),
    ]
    resolved, warnings = resolve_gold(qs, papers_by_title, known)
    assert resolved[0].gold == ["p1", "p3"]
    # The normalised-title match and the id both name p2: kept once; the miss is kept as is.
    assert resolved[1].gold == ["p2", "Nope"]
    assert resolved[1].graded == {"p2": 2}
    assert resolved[2].unanswerable and resolved[2].gold == []
    assert len(warnings) == 1 and "'Nope'" in warnings[0] and "question b" in warnings[0]
    assert qs[0].gold[0] == "Attention Is All You Need"  # inputs are not changed


def test_resolve_gold_ambiguous_normalised_title_warns() -> None:
    papers_by_title = {"Deep Learning.": "p1", "Deep learning": "p2"}
    qs = [EvalQuestion(id="a", question="?", gold=["DEEP LEARNING"])]
    resolved, warnings = resolve_gold(qs, papers_by_title, set())
    assert resolved[0].gold == ["p1"]
    assert len(warnings) == 1 and "several" in warnings[0]


# ---------------------------------------------------------------------------- BEIR


def _jsonl(path: Path, records: list[dict[str, object]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def test_load_beir_standard(tmp_path: Path) -> None:
    _jsonl(
        tmp_path / "corpus.jsonl",
        [
            {"_id": "d1", "title": "Doc one", "text": "First abstract."},
            {"_id": "d2", "title": "Doc two", "text": "Second abstract."},
            {"_id": "d3", "title": "", "text": "Third."},
        ],
    )
    _jsonl(
        tmp_path / "queries.jsonl",
        [
            {"_id": "q1", "text": "query one"},
            {"_id": "q2", "text": "query two"},
            {"_id": "q3", "text": "query without qrels"},
            {"_id": "q4", "text": "only zero scores"},
        ],
    )
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td3\t1\nq2\td2\t2\nq2\td1\t1\nq4\td1\t0\n"
    )
    (tmp_path / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\nq3\td3\t1\n")

    ds = load_beir(tmp_path)  # test preferred over train
    assert ds.layout == "beir" and ds.split == "test"
    assert [p.paper_id for p in ds.corpus] == ["d1", "d2", "d3"]
    assert ds.corpus[0].title == "Doc one" and ds.corpus[0].abstract == "First abstract."
    assert ds.corpus[0].source == "corpus.jsonl"
    assert [q.id for q in ds.questions] == ["q1", "q2"]
    assert ds.questions[0].gold == ["d1", "d3"] and ds.questions[0].graded == {}
    assert ds.questions[1].graded == {"d2": 2, "d1": 1}
    assert ds.relevance_pairs == 4

    train = load_beir(tmp_path, split="train")
    assert [q.id for q in train.questions] == ["q3"]
    with pytest.raises(UsageError, match="no split 'dev'"):
        load_beir(tmp_path, split="dev")


def test_load_beir_scifact_layout(tmp_path: Path) -> None:
    _jsonl(
        tmp_path / "corpus.jsonl",
        [
            {
                "doc_id": 4983,
                "title": "Brain MRI.",
                "abstract": ["One.", " Two. "],
                "structured": 0,
            },
            {"doc_id": 5836, "title": "Other", "abstract": ["Only sentence."], "structured": 0},
        ],
    )
    _jsonl(
        tmp_path / "claims_train.jsonl",
        [
            {"id": 0, "claim": "Claim zero.", "evidence": {}, "cited_doc_ids": [4983]},
            {"id": 2, "claim": "Claim two.", "evidence": {}, "cited_doc_ids": [4983, 5836]},
            {"id": 3, "claim": "Claim without qrels.", "evidence": {}, "cited_doc_ids": []},
        ],
    )
    (tmp_path / "qrels_train.tsv").write_text(
        "query-id\tcorpus-id\tscore\n0\t4983\t1\n2\t4983\t1\n2\t5836\t1\n"
    )
    (tmp_path / "README.md").write_text("tiny\n")

    ds = load_beir(tmp_path)
    assert ds.layout == "scifact" and ds.split == "train"
    assert [p.paper_id for p in ds.corpus] == ["4983", "5836"]
    assert ds.corpus[0].abstract == "One. Two." and ds.corpus[0].title == "Brain MRI."
    assert ds.corpus[0].source == "corpus.jsonl"
    assert [(q.id, q.question, q.gold) for q in ds.questions] == [
        ("0", "Claim zero.", ["4983"]),
        ("2", "Claim two.", ["4983", "5836"]),
    ]
    assert ds.relevance_pairs == 3 and ds.warnings == []
    with pytest.raises(UsageError, match="no split 'test'"):
        load_beir(tmp_path, split="test")


def test_load_beir_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a folder"):
        load_beir(tmp_path / "nope")
    with pytest.raises(UsageError, match="no corpus.jsonl"):
        load_beir(tmp_path)
    _jsonl(tmp_path / "corpus.jsonl", [{"_id": "d1", "title": "t", "text": "x"}])
    with pytest.raises(UsageError, match="not a BEIR or SciFact layout"):
        load_beir(tmp_path)
    _jsonl(tmp_path / "queries.jsonl", [{"_id": "q1", "text": "q"}])
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\n")
    with pytest.raises(UsageError, match=r"test.tsv:2: expected 3"):
        load_beir(tmp_path)
    (tmp_path / "qrels" / "test.tsv").write_text("q1\td1\tone\n")
    # A non-numeric score on the first line is taken as a header: then nothing is judged.
    with pytest.raises(UsageError, match="no query has a relevance judgement"):
        load_beir(tmp_path)
    (tmp_path / "qrels" / "test.tsv").write_text("q1\td1\t1\nq1\td9\tx\n")
    with pytest.raises(UsageError, match=r"test.tsv:2: score 'x'"):
        load_beir(tmp_path)


def test_load_beir_warns_on_unknown_ids(tmp_path: Path) -> None:
    _jsonl(tmp_path / "corpus.jsonl", [{"_id": "d1", "title": "t", "text": "x"}])
    _jsonl(tmp_path / "queries.jsonl", [{"_id": "q1", "text": "q"}])
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "test.tsv").write_text("q1\td1\t1\nq1\td404\t1\nq9\td1\t1\n")
    ds = load_beir(tmp_path)
    assert ds.questions[0].gold == ["d1", "d404"]
    assert len(ds.warnings) == 2


# ---------------------------------------------------------------------------- evaluate


def _fake_search(
    table: dict[str, tuple[list[str], bool]],
) -> Callable[[str], tuple[list[str], bool]]:
    def search(question: str) -> tuple[list[str], bool]:
        return table[question]

    return search


def test_evaluate_metrics_abstention_and_types() -> None:
    questions = [
        EvalQuestion(id="1", question="q1", gold=["a"], type="fact"),
        EvalQuestion(id="2", question="q2", gold=["a", "b"], type="fact"),
        EvalQuestion(id="3", question="q3", gold=["c"], type="synth"),
        EvalQuestion(id="4", question="q4", gold=[], type="oos"),
        EvalQuestion(id="5", question="q5", gold=[], type="oos"),
    ]
    ranked_12 = ["x", "a", "y", "z", "b", "w", "v", "u", "t", "s", "b2"]
    table = {
        "q1": (["a", "x"], True),  # first gold at rank 1
        "q2": (ranked_12, True),  # a at 2, b at 5
        "q3": (["x"] * 1 + [f"n{i}" for i in range(10)] + ["c"], False),  # c at 12: wrongly flagged
        "q4": (["x"], False),  # correctly flagged
        "q5": (["y"], True),  # missed
    }
    calls: list[tuple[int, int]] = []
    report = evaluate(questions, _fake_search(table), progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]
    assert report.questions == 5 and report.ks == [1, 5, 10]
    o = report.overall
    assert (o.questions, o.answerable, o.unanswerable) == (5, 3, 2)
    assert o.metrics["recall@1"] == pytest.approx((1 + 0 + 0) / 3)
    assert o.metrics["recall@5"] == pytest.approx((1 + 1 + 0) / 3)
    assert o.metrics["recall@10"] == pytest.approx((1 + 1 + 0) / 3)
    assert o.metrics["mrr@10"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert o.metrics["hit@10"] == pytest.approx(2 / 3)
    ndcg_q2 = (1 / math.log2(3) + 1 / math.log2(6)) / (1 + 1 / math.log2(3))
    assert o.metrics["ndcg@10"] == pytest.approx((1 + ndcg_q2 + 0) / 3)
    assert o.abstain_unanswerable == pytest.approx(0.5)
    assert o.false_abstain == pytest.approx(1 / 3)

    assert set(report.by_type) == {"fact", "synth", "oos"}
    fact = report.by_type["fact"]
    assert fact.answerable == 2 and fact.metrics["mrr@10"] == pytest.approx(0.75)
    assert fact.false_abstain == 0.0 and fact.abstain_unanswerable is None
    assert report.by_type["oos"].metrics == {} and report.by_type["oos"].false_abstain is None
    assert report.by_type["oos"].abstain_unanswerable == pytest.approx(0.5)

    details = {d.id: d for d in report.details}
    assert details["2"].first_gold_rank == 2 and not details["2"].flagged
    assert details["3"].first_gold_rank == 12 and details["3"].flagged
    assert len(details["3"].ranked) == 10
    assert details["4"].first_gold_rank is None and details["4"].metrics == {}
    assert all(d.latency_ms >= 0 for d in report.details)

    s = report.summary()
    for key in ("recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10", "hit@10"):
        assert s[key] == pytest.approx(o.metrics[key])
    assert s["abstain_unanswerable"] == pytest.approx(0.5)
    assert s["false_abstain"] == pytest.approx(1 / 3)
    assert s["questions"] == 5.0
    assert 0 <= s["p50_ms"] <= s["p95_ms"]
    json.loads(report.model_dump_json())  # serialisable for --json


def test_evaluate_untyped_graded_and_latency(monkeypatch: pytest.MonkeyPatch) -> None:
    questions = [
        EvalQuestion(id="1", question="q1", gold=["a", "b"], graded={"b": 3}),
        EvalQuestion(id="2", question="q2", gold=["a"]),
    ]
    clock = iter([0.0, 0.010, 1.0, 1.030])
    monkeypatch.setattr("assistant.evaluation.runner.time.perf_counter", lambda: next(clock))
    report = evaluate(questions, lambda q: (["a", "b"], True), ks=(2,))
    assert report.by_type == {}
    grades_dcg = 1 + 3 / math.log2(3)
    grades_idcg = 3 + 1 / math.log2(3)
    assert report.overall.metrics["ndcg@2"] == pytest.approx((grades_dcg / grades_idcg + 1) / 2)
    assert set(report.overall.metrics) == {"recall@2", "hit@2", "mrr@2", "ndcg@2"}
    assert report.latency.mean_ms == pytest.approx(20.0)
    assert report.latency.p50_ms == pytest.approx(20.0)
    assert report.latency.p95_ms == pytest.approx(29.0)
    assert report.latency.max_ms == pytest.approx(30.0)
    s = report.summary()
    assert "abstain_unanswerable" not in s and s["false_abstain"] == 0.0


def test_evaluate_mixed_typed_and_untyped_and_errors() -> None:
    questions = [
        EvalQuestion(id="1", question="q1", gold=["a"], type="t"),
        EvalQuestion(id="2", question="q2", gold=["a"]),
    ]
    report = evaluate(questions, lambda q: (["a"], True))
    assert set(report.by_type) == {"t", "untyped"}
    with pytest.raises(UsageError):
        evaluate([], lambda q: ([], True))
    with pytest.raises(ValueError):
        evaluate(questions, lambda q: ([], True), ks=(0, 5))
