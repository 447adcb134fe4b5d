"""The evaluation report: per-question results, latency and metrics per group of questions."""

from __future__ import annotations

from pydantic import BaseModel, Field


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
    """What :func:`~assistant.evaluation.runner.evaluate` returns.

    Overall and per-type metrics, latency and per-question details.
    """

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
