"""A local GGUF model file run by llama.cpp (``-m gguf:PATH``): no server needed.

:class:`LocalGGUFModel` implements :class:`~assistant.llm.base.ChatModel` for
``llm_model`` settings of the form ``gguf:/path/to/model.gguf``. llama.cpp (the optional
``local`` extra) runs in a child process, started by
:mod:`~assistant.llm.gguf_process` to run
:mod:`~assistant.llm.gguf_worker`, the only module that imports :mod:`llama_cpp`: a
crash inside it (a build that uses CPU instructions the machine lacks dies with SIGILL) is a
failed call with a message saying why, and the extractive answer, not the end of the
assistant. The file is loaded once per process and kept for every later call (a
conversation's turns, a benchmark's questions); the chat template is the one stored in the
GGUF file.

The same checks as for a model server apply: the reply is streamed back and read through
:class:`~assistant.llm.reply_reader.StreamReader` (``<think>`` blocks kept out of the
answer, loops stopped), the per-command length caps are passed as ``max_tokens``, and the
first-token and whole-answer deadlines hold, for whole replies (``complete``) too: the child
streams either way. The child's events are read in a worker thread
(:class:`~assistant.llm.pump.Pump`); at a deadline the caller gives up at once and
the child is told to stop: between tokens, and inside the prompt's evaluation (the part before
the first token, which can take long on a big prompt) through llama.cpp's abort callback.
Loading the file is not counted in the deadlines.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from assistant.errors import LLMError
from assistant.llm.base import CallOptions, LLMReply, LLMUsage, TokenFn
from assistant.llm.failures import DeadlinePassed, one_line, says_context_exceeded
from assistant.llm.gguf_process import (
    GenerationFailed,
    LoadFailed,
    ModelProcess,
    ModelProcessDied,
)
from assistant.llm.guards import Deadlines
from assistant.llm.pump import Pump, next_before
from assistant.llm.reply_reader import StreamReader

if TYPE_CHECKING:
    from assistant.settings import Settings

__all__ = ["PREFIX", "LocalGGUFModel", "gguf_file", "make_chat_model"]

#: The ``llm_model`` prefix of this provider: ``gguf:/path/to/model.gguf``.
PREFIX = "gguf:"

INSTALL_HINT = (
    "Install the local-model extra: pip install 'literature-assistant[local]' (in a checkout: "
    "pip install -e '.[local]'); it compiles llama.cpp, about 10 minutes."
)
_MAGIC = b"GGUF"


def make_chat_model(settings: Settings) -> LocalGGUFModel:
    """The provider's factory (see :mod:`assistant.llm.base`)."""
    return LocalGGUFModel(settings)


def gguf_file(model: str) -> Path:
    """The file named by ``gguf:PATH``; LLMError when it is missing or is not a GGUF file."""
    raw = model.removeprefix(PREFIX).strip()
    if not raw:
        raise LLMError(
            "No model file after 'gguf:'.",
            hint="Give the path of a .gguf file: -m gguf:/path/to/model.gguf.",
        )
    path = Path(raw).expanduser()
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise LLMError(
            f"The model file {path} {what}.",
            hint="Give the path of a .gguf file (-m gguf:PATH or ASSISTANT_LLM_MODEL=gguf:PATH); "
            "the README says where to download a small instruct model.",
        )
    try:
        with path.open("rb") as handle:
            magic = handle.read(len(_MAGIC))
    except OSError as exc:
        raise LLMError(
            f"Cannot read the model file {path}: {exc.strerror or exc}.",
            hint="Check the file's permissions.",
        ) from exc
    if magic != _MAGIC:
        raise LLMError(
            f"{path} is not a GGUF model file.",
            hint="gguf:PATH takes a llama.cpp .gguf file (e.g. a Q4_K_M quantisation from "
            "Hugging Face), not safetensors or PyTorch weights.",
        )
    return path.resolve()


def _cap(settings: Settings, purpose: str) -> int | None:
    caps = {
        "answer": settings.answer_max_tokens,
        "related_work": settings.related_work_max_tokens,
        "cite": settings.cite_max_tokens,
    }
    return caps.get(purpose)


_LOADED: dict[tuple[str, int, int | None], ModelProcess] = {}
_LOADING = threading.Lock()


def _loaded(path: Path, settings: Settings) -> ModelProcess:
    """The model at ``path`` in its process, started and loaded on first use (and again after
    the process died) with the settings' context and threads."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise LLMError(
            "Running a local model file needs llama-cpp-python, which is not installed.",
            hint=INSTALL_HINT,
        )
    key = (str(path), settings.llm_context_tokens, settings.llm_gguf_threads)
    with _LOADING:
        process = _LOADED.setdefault(key, ModelProcess(path, key[1], key[2]))
    try:
        process.ensure_started()
    except LoadFailed as exc:
        if exc.reason == "import":
            raise LLMError(
                "Running a local model file needs llama-cpp-python, which could not be "
                f"imported ({one_line(exc.error)}).",
                hint=INSTALL_HINT,
            ) from None
        raise LLMError(
            f"llama.cpp could not load {path} ({one_line(exc.error)}).",
            hint="The file may be truncated, or use an architecture this llama-cpp-python "
            "version does not know: download it again, or try another model.",
        ) from None
    except ModelProcessDied as exc:
        raise _death_error(exc, path.name) from None
    return process


def _death_error(exc: ModelProcessDied, model: str) -> LLMError:
    return LLMError(
        f"The process running the local model {model} died {exc.cause}.",
        hint=exc.hint,
    )


def _as_object(value: Any) -> Any:
    """llama-cpp-python's chunk dicts as attribute objects, the shape the reply reader reads."""
    if isinstance(value, dict):
        return SimpleNamespace(**{k: _as_object(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_as_object(v) for v in value]
    return value


class LocalGGUFModel:
    """A GGUF model file run in-process; constructing it reads nothing (the first call checks
    the file and loads it, so a bad path is a failed call: the extractive answer, with why)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._named = (settings.llm_model or "").removeprefix(PREFIX).strip()
        self._path: Path | None = None

    @property
    def model(self) -> str:
        """The file's name, e.g. ``qwen2.5-3b-instruct-q4_k_m.gguf``."""
        return Path(self._named).name or PREFIX

    @property
    def path(self) -> Path:
        """The model file, checked (LLMError when it is missing or not a GGUF file)."""
        if self._path is None:
            self._path = gguf_file(self._named)
        return self._path

    def complete(
        self, messages: list[dict[str, str]], options: CallOptions | None = None
    ) -> LLMReply:
        """The whole reply: its first token by ``llm_first_token_timeout`` (the child streams
        it all the same), all of it by ``llm_answer_timeout``."""
        return self._generate(messages, _ignore, options or CallOptions(), streamed=False)

    def stream(
        self,
        messages: list[dict[str, str]],
        on_token: TokenFn,
        options: CallOptions | None = None,
    ) -> LLMReply:
        """The reply, calling ``on_token`` with each piece of answer text as it comes.

        The first token (of the answer or its reasoning) must come by
        ``llm_first_token_timeout``, the whole reply by ``llm_answer_timeout``.
        """
        return self._generate(messages, on_token, options or CallOptions(), streamed=True)

    def load(self) -> None:
        """Load the file now (else the first call does; either way once per process)."""
        _loaded(self.path, self.settings)

    def close(self) -> None:
        """Nothing to release: the loaded model stays for the process's later calls (its
        child process ends with the assistant)."""

    # --- one generation

    def _generate(
        self,
        messages: list[dict[str, str]],
        on_token: TokenFn,
        options: CallOptions,
        streamed: bool,
    ) -> LLMReply:
        process = _loaded(self.path, self.settings)  # before the deadlines start
        settings = self.settings
        # The child streams whole replies too, so the first token is seen in every mode.
        deadlines = Deadlines(settings.llm_first_token_timeout, settings.llm_answer_timeout)
        shown = [0]
        on_reasoning = options.on_reasoning if streamed else None
        reader = StreamReader(on_token, on_reasoning, deadlines, shown)
        tokens = {"prompt": 0, "completion": 0}
        args = {
            "messages": messages,
            "stream": True,
            "max_tokens": _cap(settings, options.purpose),
            "temperature": settings.llm_temperature,
            "model": self.model,
            "seed": 0,  # the same prompt gets the same reply, whatever ran before
            "repeat_penalty": 1.1,  # llama-cpp-python's server default: the same replies served
        }

        def produce(put: Callable[[Any], None], on_cancel: Any) -> None:
            with process.generation(args) as generation:
                on_cancel(generation.abort)
                for chunk in generation:
                    put(_as_object(chunk))
                tokens.update(
                    prompt=generation.prompt_tokens, completion=generation.completion_tokens
                )

        pump = Pump(produce, "gguf-generate")
        try:
            while True:
                try:
                    item = next_before(pump, deadlines, shown[0])
                except DeadlinePassed as exc:
                    raise self._deadline_error(exc) from None
                except ModelProcessDied as exc:
                    raise _death_error(exc, self.model) from None
                except Exception as exc:  # raised by llama.cpp in the child: the call failed
                    raise self._generation_error(exc) from exc
                if item is Pump.END or reader.take(item):
                    break
        finally:
            pump.cancel()
        reader.close()
        text = reader.text
        if not text.strip():
            detail = "empty content" + (" after its reasoning" if reader.reasoning else "")
            raise LLMError(
                f"The local model {self.model} returned an empty reply ({detail}).",
                hint="Ask again or try another model: a chat (instruct) model is needed.",
            )
        return LLMReply(
            text=text,
            usage=LLMUsage(
                prompt_tokens=tokens["prompt"],
                completion_tokens=tokens["completion"],
                total_tokens=tokens["prompt"] + tokens["completion"],
                cost_usd=0.0,
                model=self.model,
                reasoning_tokens=reader.reasoning_pieces or None,
            ),
            model=self.model,
            reasoning=reader.reasoning,
            stopped=reader.stopped,
        )

    def _deadline_error(self, exc: DeadlinePassed) -> LLMError:
        if exc.kind == "first_token":
            return LLMError(
                f"The local model {self.model} sent no answer within {exc.seconds:g} s.",
                hint="Raise ASSISTANT_LLM_FIRST_TOKEN_TIMEOUT (seconds), use a smaller model, or "
                "give it fewer papers (--k): reading a long prompt on a CPU takes time.",
            )
        return LLMError(
            f"The local model {self.model} did not finish its answer within {exc.seconds:g} s "
            f"(after {exc.chars} characters).",
            hint="Raise ASSISTANT_LLM_ANSWER_TIMEOUT (seconds), lower the answer's length cap "
            "(ASSISTANT_ANSWER_MAX_TOKENS), or use a smaller model.",
        )

    def _generation_error(self, exc: Exception) -> LLMError:
        text = one_line(str(exc))
        if isinstance(exc, GenerationFailed):  # the child's text: "ValueError: ..."
            name, _, text = text.partition(": ")
            exc_name = name
        else:
            exc_name = type(exc).__name__
        if says_context_exceeded(text):
            return LLMError(
                f"The prompt does not fit the local model's context ({text}).",
                hint="Raise ASSISTANT_LLM_CONTEXT_TOKENS (up to the model's own limit), or give "
                "it fewer papers (--k, ASSISTANT_ANSWER_PAPERS).",
            )
        return LLMError(
            f"The local model {self.model} failed ({exc_name}: {text}).",
            hint="Try again, or another model file; ASSISTANT_LLM_CONTEXT_TOKENS sets its "
            "context size.",
        )


def _ignore(_text: str) -> None:
    """``on_token`` of a reply that is not streamed."""
