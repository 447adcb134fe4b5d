"""A local GGUF model file run in-process by llama.cpp (``-m gguf:PATH``): no server needed.

:class:`LocalGGUFModel` implements :class:`~assistant.generation.llm.base.ChatModel` for
``llm_model`` settings of the form ``gguf:/path/to/model.gguf``; it is the only module that
imports :mod:`llama_cpp` (the optional ``local`` extra), lazily. The file is loaded once per
process and kept for every later call (a conversation's turns, a benchmark's questions); the
chat template is the one stored in the GGUF file.

The same checks as for a model server apply: the reply is streamed through
:class:`~assistant.generation.llm.reply_reader.StreamReader` (``<think>`` blocks kept out of the
answer, loops stopped), the per-command length caps are passed as ``max_tokens``, and the
first-token and whole-answer deadlines hold. llama.cpp generates in a worker thread
(:class:`~assistant.generation.llm.pump.Pump`); at a deadline the caller gives up at once and
the worker is told to stop: between tokens, and inside the prompt's evaluation (the part before
the first token, which can take long on a big prompt) through llama.cpp's abort callback.
Loading the file is not counted in the deadlines.

llama.cpp's extra weight buffer types (AMX / repacked weights) are turned off when a model is
loaded: with them, llama-cpp-python 0.3.36 built natively crashes (SIGSEGV in ``decode``) on
the first completion on virtualised Xeons that report AMX (see also tests/llama_server.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from assistant.errors import LLMError
from assistant.generation.llm.base import CallOptions, LLMReply, LLMUsage, TokenFn
from assistant.generation.llm.failures import DeadlinePassed, one_line, says_context_exceeded
from assistant.generation.llm.guards import Deadlines
from assistant.generation.llm.pump import Pump, next_before
from assistant.generation.llm.reply_reader import StreamReader

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
    """The provider's factory (see :mod:`assistant.generation.llm.base`)."""
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


@dataclass
class _Call:
    """One generation: its token counts, and the flag that tells the worker to stop."""

    stop: threading.Event = field(default_factory=threading.Event)
    prompt_tokens: int = 0
    completion_tokens: int = 0


class _Aborted(Exception):
    """Raised in the worker when the call was given up."""


class _LoadedModel:
    """One GGUF file loaded by llama.cpp, shared by the process; one generation at a time."""

    def __init__(self, llama: Any) -> None:
        self.llama = llama
        self.lock = threading.Lock()
        self.call: _Call | None = None
        self.abort_callback: Any = None  # llama.cpp's pointer to it must stay valid

    def should_abort(self) -> bool:
        call = self.call
        return call is not None and call.stop.is_set()

    @contextmanager
    def generating(self, call: _Call) -> Iterator[Any]:
        """The llama, for ``call`` alone until the block ends."""
        with self.lock:
            if call.stop.is_set():  # given up while an earlier call held the model
                raise _Aborted
            self.call = call
            try:
                yield self.llama
            finally:
                self.call = None


_LOADED: dict[tuple[str, int, int | None], _LoadedModel] = {}
_LOADING = threading.Lock()


def _loaded(path: Path, settings: Settings) -> _LoadedModel:
    """The model at ``path``, loaded on first use with the settings' context and threads."""
    key = (str(path), settings.llm_context_tokens, settings.llm_gguf_threads)
    with _LOADING:
        if key not in _LOADED:
            _LOADED[key] = _load(path, settings.llm_context_tokens, settings.llm_gguf_threads)
        return _LOADED[key]


def _load(path: Path, n_ctx: int, threads: int | None) -> _LoadedModel:
    try:
        import llama_cpp
        import llama_cpp.llama_cpp as low_level
    except ImportError as exc:
        raise LLMError(
            f"Running a local model file needs llama-cpp-python, which is not installed ({exc}).",
            hint=INSTALL_HINT,
        ) from None

    class AbortableLlama(llama_cpp.Llama):
        """Counts the prompt's and the answer's tokens, and stops between tokens when told."""

        loaded: _LoadedModel | None = None

        def generate(self, tokens: Any, *args: Any, **kwargs: Any) -> Any:
            call = self.loaded.call if self.loaded else None
            if call is not None:
                call.prompt_tokens = len(tokens)
            for token in super().generate(tokens, *args, **kwargs):
                if call is not None:
                    if call.stop.is_set():
                        raise _Aborted
                    if not low_level.llama_vocab_is_eog(self._model.vocab, token):
                        call.completion_tokens += 1
                yield token

    default_params = low_level.llama_model_default_params

    def without_extra_buffers() -> Any:
        params = default_params()
        params.use_extra_bufts = False
        return params

    low_level.llama_model_default_params = without_extra_buffers
    try:
        llama = AbortableLlama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_threads=threads,
            n_threads_batch=threads,
            n_gpu_layers=-1,  # all layers on the GPU when llama.cpp was built with one
            verbose=False,
        )
    except (ValueError, RuntimeError, OSError) as exc:
        raise LLMError(
            f"llama.cpp could not load {path} ({one_line(str(exc))}).",
            hint="The file may be truncated, or use an architecture this llama-cpp-python "
            "version does not know: download it again, or try another model.",
        ) from None
    finally:
        low_level.llama_model_default_params = default_params
    # An aborted prompt evaluation makes llama.cpp log an error line; failures reach the user
    # as LLMError instead.
    logging.getLogger("llama-cpp-python").setLevel(logging.CRITICAL)
    loaded = _LoadedModel(llama)
    llama.loaded = loaded
    # Checked by llama.cpp between the steps of each decode (on its first thread): the way to
    # stop a long prompt evaluation, which no token boundary interrupts.
    abort = low_level.ggml_abort_callback(lambda _data: loaded.should_abort())
    low_level.llama_set_abort_callback(llama._ctx.ctx, abort, None)
    loaded.abort_callback = abort
    return loaded


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
        """The whole reply, within ``llm_answer_timeout``."""
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
        """Nothing to release: the loaded model stays for the process's later calls."""

    # --- one generation

    def _generate(
        self,
        messages: list[dict[str, str]],
        on_token: TokenFn,
        options: CallOptions,
        streamed: bool,
    ) -> LLMReply:
        loaded = _loaded(self.path, self.settings)  # before the deadlines start
        settings = self.settings
        first_token = settings.llm_first_token_timeout if streamed else None
        deadlines = Deadlines(first_token, settings.llm_answer_timeout)
        shown = [0]
        on_reasoning = options.on_reasoning if streamed else None
        reader = StreamReader(on_token, on_reasoning, deadlines, shown)
        call = _Call()
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
            on_cancel(call.stop.set)
            with loaded.generating(call) as llama:
                for chunk in llama.create_chat_completion(**args):
                    put(_as_object(chunk))

        pump = Pump(produce, "gguf-generate")
        try:
            while True:
                try:
                    item = next_before(pump, deadlines, shown[0])
                except DeadlinePassed as exc:
                    raise self._deadline_error(exc) from None
                except Exception as exc:  # raised by llama.cpp in the worker: the call failed
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
                prompt_tokens=call.prompt_tokens,
                completion_tokens=call.completion_tokens,
                total_tokens=call.prompt_tokens + call.completion_tokens,
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
        if says_context_exceeded(text):
            return LLMError(
                f"The prompt does not fit the local model's context ({text}).",
                hint="Raise ASSISTANT_LLM_CONTEXT_TOKENS (up to the model's own limit), or give "
                "it fewer papers (--k, ASSISTANT_ANSWER_PAPERS).",
            )
        return LLMError(
            f"The local model {self.model} failed ({type(exc).__name__}: {text}).",
            hint="Try again, or another model file; ASSISTANT_LLM_CONTEXT_TOKENS sets its "
            "context size.",
        )


def _ignore(_text: str) -> None:
    """``on_token`` of a reply that is not streamed."""
