"""Token usage and cost of one answer, as ``-u/--usage`` prints it.

The counts are the server's (never estimated). The cost comes from the ``llm_prices`` setting
when it is set (``"PROMPT,COMPLETION"`` in USD per million tokens), else from the provider's
price table (``assistant.llm.openai_compatible.PRICES_PER_MILLION``); for a model in
neither the cost is said to be unknown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from assistant.errors import UsageError

if TYPE_CHECKING:
    from assistant.settings import Settings

__all__ = ["Usage", "parse_prices", "usage_of"]


class Usage(BaseModel):
    """What one answer cost: tokens, and dollars when the model's price is known."""

    mode: str
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    cost_usd: float | None = None
    price_source: str | None = None  # "setting" or "table"

    def line(self) -> str:
        """One line: ``Tokens: 120 prompt + 30 completion = 150 (model); cost $0.0001``."""
        if self.mode != "llm":
            return "Tokens: none (extractive answer: no language model was called); cost $0."
        if self.total_tokens is None:
            return (
                f"Tokens: none reported for {self.model or 'the model'} (it was not called, or "
                "its server sent no counts); cost unknown."
            )
        text = (
            f"Tokens: {self.prompt_tokens:,} prompt + {self.completion_tokens:,} completion = "
            f"{self.total_tokens:,} ({self.model or 'unknown model'}); "
        )
        if self.cost_usd is None:
            return text + (
                f"cost unknown (no price for {self.model or 'this model'}: set "
                "ASSISTANT_LLM_PRICES=PROMPT,COMPLETION in USD per million tokens)."
            )
        return (
            text
            + f"cost ${self.cost_usd:.6f}"
            + (" (from ASSISTANT_LLM_PRICES)." if self.price_source == "setting" else ".")
        )


def parse_prices(text: str) -> tuple[float, float]:
    """``"0.15,0.60"`` -> (0.15, 0.6): USD per million prompt and completion tokens."""
    parts = [p.strip() for p in text.split(",")]
    try:
        prompt, completion = (float(p) for p in parts)
    except ValueError:
        raise UsageError(
            f"llm_prices {text!r} is not PROMPT,COMPLETION.",
            hint="E.g. ASSISTANT_LLM_PRICES=0.15,0.60 (USD per million tokens; 0,0 for a "
            "local model).",
        ) from None
    if prompt < 0 or completion < 0:
        raise UsageError(f"llm_prices {text!r} has a negative price.", hint="E.g. 0.15,0.60.")
    return prompt, completion


def usage_of(usage: dict[str, Any], mode: str, settings: Settings) -> Usage:
    """The :class:`Usage` of an answer from its ``usage`` dict (``Answer.usage``...)."""
    model = usage.get("model") or settings.llm_model
    if mode != "llm" or not usage:
        return Usage(mode=mode, model=model if mode == "llm" else None)
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    total = int(usage.get("total_tokens") or prompt + completion)
    cost = usage.get("cost_usd")
    source = "table" if isinstance(cost, int | float) else None
    if settings.llm_prices:
        per_prompt, per_completion = parse_prices(settings.llm_prices)
        cost = (prompt * per_prompt + completion * per_completion) / 1_000_000
        source = "setting"
    return Usage(
        mode=mode,
        model=str(model) if model else None,
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=total,
        cost_usd=float(cost) if isinstance(cost, int | float) else None,
        price_source=source,
    )
