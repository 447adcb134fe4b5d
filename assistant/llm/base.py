"""The chat-model seam: what the answerers need from a model, and a registry of providers.

A provider is one module with a ``make_chat_model(settings)`` function, registered in
:data:`PROVIDERS` by a prefix of the ``llm_model`` setting (``"name:"`` matches
``name:<model>``). Any other model name, including Ollama tags such as ``llama3:8b``, goes to
the default provider, the OpenAI-compatible client. Provider modules are imported only when
their model is asked for, so importing this module imports no SDK.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel

if TYPE_CHECKING:
    from assistant.settings import Settings

__all__ = [
    "DEFAULT_PROVIDER",
    "PROVIDERS",
    "CallOptions",
    "ChatModel",
    "LLMReply",
    "LLMUsage",
    "TokenFn",
    "make_chat_model",
    "provider_module",
]

#: Called with each piece of streamed text as it arrives.
TokenFn = Callable[[str], None]


class LLMUsage(BaseModel):
    """Token counts of one call as reported by the server, and its estimated cost.

    ``reasoning_tokens`` (part of ``completion_tokens``) is the server's count when it gives one
    (``completion_tokens_details``), else the number of reasoning pieces streamed; None when
    the reply had no reasoning.
    """

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd: float | None = None
    model: str
    reasoning_tokens: int | None = None


class LLMReply(BaseModel):
    """The model's full reply; ``usage`` is None when the server did not report it.

    ``text`` is the answer only: reasoning (``<think>`` blocks, ``reasoning_content``) is in
    ``reasoning``. ``stopped`` says why the client cut the reply short, if it did (the model
    repeated itself, or reached the length cap).
    """

    text: str
    usage: LLMUsage | None = None
    model: str
    reasoning: str = ""
    stopped: str | None = None


@dataclass(frozen=True)
class CallOptions:
    """How one reply is asked for.

    ``purpose`` names the kind of reply (``"answer"``, ``"related_work"``, ``"cite"``): the
    model applies that command's length cap from its settings. ``on_reasoning`` receives the
    model's reasoning text as it streams (it is never passed to ``on_token``).
    """

    purpose: str = "answer"
    on_reasoning: TokenFn | None = None


class ChatModel(Protocol):
    """What the answerers need from a chat model; failures raise :class:`~assistant.LLMError`."""

    @property
    def model(self) -> str:
        """The model's name, as reported in replies."""
        ...

    def complete(
        self, messages: list[dict[str, str]], options: CallOptions | None = None
    ) -> LLMReply:
        """The whole reply to ``messages`` (``{"role": ..., "content": ...}`` dicts)."""
        ...

    def stream(
        self,
        messages: list[dict[str, str]],
        on_token: TokenFn,
        options: CallOptions | None = None,
    ) -> LLMReply:
        """The reply, calling ``on_token`` with each piece of answer text as it arrives."""
        ...

    def close(self) -> None:
        """Release connections; the model is not used afterwards."""
        ...


#: Module of the provider used for model names with no registered prefix.
DEFAULT_PROVIDER = "assistant.llm.openai_compatible"

#: ``"prefix:"`` of the ``llm_model`` setting -> the module that makes such models.
PROVIDERS: dict[str, str] = {
    "gguf:": "assistant.llm.llama_cpp_local",  # a local GGUF file, in-process
}


def provider_module(model: str | None) -> str:
    """The module that makes ``model``: a registered ``prefix:``'s, else the default one."""
    if model and ":" in model:
        prefix = model.split(":", 1)[0] + ":"
        if prefix in PROVIDERS:
            return PROVIDERS[prefix]
    return DEFAULT_PROVIDER


def make_chat_model(settings: Settings) -> ChatModel:
    """The chat model the settings name (constructing it makes no request)."""
    module = importlib.import_module(provider_module(settings.llm_model))
    model: ChatModel = module.make_chat_model(settings)
    return model
