"""Request parameters by model-name rules, so that no first call fails on a refused parameter.

OpenAI's reasoning models (the o-series, gpt-5) accept only the default temperature and take the
length cap as ``max_completion_tokens`` (which also counts their hidden reasoning tokens);
OpenAI's own endpoint takes ``max_completion_tokens`` for every model; other OpenAI-compatible
servers (Ollama, llama.cpp, vLLM, LM Studio) know ``max_tokens``.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["REASONING_CAP_FACTOR", "is_openai_endpoint", "is_reasoning_model", "sampling_args"]

_REASONING = re.compile(r"^(o\d+(?:-|$)|gpt-5(?!-chat))")

#: A reasoning model's cap is this many times the answer's: its reasoning counts against it.
REASONING_CAP_FACTOR = 4


def _base_name(model: str) -> str:
    """``openai/o3-mini`` -> ``o3-mini`` (the name after a router's provider prefix)."""
    return model.strip().lower().rsplit("/", 1)[-1]


def is_reasoning_model(model: str) -> bool:
    """True for OpenAI's reasoning models (o1, o3-mini, o4-mini, gpt-5, gpt-5-mini, ...)."""
    return bool(_REASONING.match(_base_name(model)))


def is_openai_endpoint(base_url: str | None) -> bool:
    """True for OpenAI's own API (no base URL configured, or api.openai.com)."""
    return base_url is None or "api.openai.com" in base_url


def sampling_args(
    model: str, base_url: str | None, temperature: float, max_tokens: int | None
) -> dict[str, Any]:
    """The temperature and length-cap arguments ``model`` accepts at ``base_url``."""
    args: dict[str, Any] = {}
    reasoning = is_reasoning_model(model)
    if not reasoning:
        args["temperature"] = temperature
    if max_tokens is not None:
        if reasoning:
            args["max_completion_tokens"] = max_tokens * REASONING_CAP_FACTOR
        elif is_openai_endpoint(base_url):
            args["max_completion_tokens"] = max_tokens
        else:
            args["max_tokens"] = max_tokens
    return args
