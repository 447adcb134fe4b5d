"""Answer with the chat model, else extractively: the one place that decides.

A model is used when one is injected (a conversation keeps one for all its turns) or the settings
configure one. A model made here from the settings is closed when the answer is done; an
injected model is never closed here (its owner closes it). When the model fails with
:class:`~assistant.errors.LLMError`, the offline answerer is given the error's one-line text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

from assistant.errors import LLMError

if TYPE_CHECKING:
    from assistant.llm.base import ChatModel
    from assistant.settings import Settings

__all__ = ["answer_with_fallback", "opened_model", "wants_model"]

_T = TypeVar("_T")


def wants_model(settings: Settings, model: ChatModel | None) -> bool:
    """True when answers are to be written by a model (injected, or configured)."""
    return model is not None or settings.llm_configured


@contextmanager
def opened_model(settings: Settings, model: ChatModel | None) -> Iterator[ChatModel]:
    """``model`` as given (left open), else one made from the settings and closed on exit."""
    if model is not None:
        yield model
        return
    from assistant.llm.base import make_chat_model

    made = make_chat_model(settings)
    try:
        yield made
    finally:
        made.close()


def answer_with_fallback(
    settings: Settings,
    model: ChatModel | None,
    with_model: Callable[[ChatModel], _T],
    offline: Callable[[str | None], _T],
) -> _T:
    """``with_model(model)`` when a model is wanted; else, or if it raises LLMError, ``offline``.

    ``offline`` receives the model's failure as one line, or None when no model was used.
    Other exceptions (an interrupt while streaming, say) propagate.
    """
    failure: str | None = None
    if wants_model(settings, model):
        try:
            with opened_model(settings, model) as active:
                return with_model(active)
        except LLMError as exc:
            failure = exc.one_line()
    return offline(failure)
