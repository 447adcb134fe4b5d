"""Bring your own embedding model: an ONNX sentence encoder in a folder.

``ASSISTANT_EMBEDDING_MODEL=/models/bge-small-en-v1.5`` (an existing folder) or ``onnx:/path``.
The folder holds ``model.onnx`` (or ``onnx/model.onnx``) and ``tokenizer.json``, as
``optimum-cli export onnx --task feature-extraction`` writes them; the sentence-transformers files
beside them are read when present. Each choice is taken from the first place that has it:

- pooling (``mean`` or ``cls``): ``ASSISTANT_EMBEDDING_POOLING``, ``assistant-embedding.json``
  in the folder, ``1_Pooling/config.json``, else ``mean``;
- query / passage prefixes: ``ASSISTANT_EMBEDDING_QUERY_PREFIX`` /
  ``ASSISTANT_EMBEDDING_PASSAGE_PREFIX``, ``assistant-embedding.json`` (``query_prefix``,
  ``passage_prefix``), the ``prompts`` of ``config_sentence_transformers.json``, else none;
- the longest input: ``ASSISTANT_EMBEDDING_MAX_TOKENS``, ``assistant-embedding.json``
  (``max_tokens``), ``sentence_bert_config.json`` (``max_seq_length``), ``tokenizer_config.json``
  (``model_max_length``), ``config.json`` (``max_position_embeddings``), else 512.

The model is checked when it is loaded (inputs ``input_ids``, ``attention_mask``, optional
``token_type_ids``; an output of token vectors or of sentence vectors); its width is read from it.
The index fingerprint records the folder's name, the sha256 of model.onnx (cached by size and
mtime), the pooling, the prefixes and the longest input (:func:`model_identity`).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.checked_files import sha256_of
from assistant.embeddings.onnx_encoder import (
    POOLINGS,
    SENTENCE_OUTPUTS,
    TOKEN_OUTPUTS,
    OnnxSentenceEncoder,
)
from assistant.errors import AssistantError, UsageError

if TYPE_CHECKING:
    from assistant.settings import Settings

PREFIX = "onnx:"
CONFIG_FILE = "assistant-embedding.json"
CONFIG_KEYS = {"pooling", "query_prefix", "passage_prefix", "max_tokens"}
DEFAULT_MAX_TOKENS = 512
HASH_CACHE = "model-sha256.json"
EXPORT_HINT = (
    "Export the model with its tokenizer, e.g. 'optimum-cli export onnx --model "
    "BAAI/bge-small-en-v1.5 --task feature-extraction /models/bge-small-en-v1.5', and point "
    "ASSISTANT_EMBEDDING_MODEL at that folder."
)


@dataclass(frozen=True)
class FolderModel:
    """A model folder's files and the choices read for it."""

    folder: Path
    model: Path
    tokenizer: Path
    pooling: str
    query_prefix: str
    passage_prefix: str
    max_tokens: int


def folder_of(name: str) -> Path:
    """The model folder that ``name`` (a path, or ``onnx:<path>``) designates."""
    raw = name[len(PREFIX) :] if name.startswith(PREFIX) else name
    folder = Path(raw).expanduser()
    if not folder.is_dir():
        raise UsageError(
            f"Embedding model folder {raw!r} does not exist"
            + (" (it is a file)." if folder.exists() else "."),
            hint="Set ASSISTANT_EMBEDDING_MODEL to the folder holding model.onnx and "
            "tokenizer.json, or to a bundled model ('all-MiniLM-L6-v2-q8').",
        )
    return folder.resolve()


def _json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``, {} when the file is absent."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AssistantError(
            f"Cannot read {path}: {exc}", hint="Fix or remove the file; it must be a JSON object."
        ) from exc
    if not isinstance(data, dict):
        raise AssistantError(f"{path} is not a JSON object.", hint="Fix or remove the file.")
    return data


def _model_file(folder: Path) -> Path:
    for candidate in (folder / "model.onnx", folder / "onnx" / "model.onnx"):
        if candidate.is_file():
            return candidate
    raise AssistantError(
        f"The embedding model folder {folder} has no model.onnx "
        "(looked for model.onnx and onnx/model.onnx).",
        hint=EXPORT_HINT,
    )


def _tokenizer_file(folder: Path) -> Path:
    path = folder / "tokenizer.json"
    if not path.is_file():
        raise AssistantError(
            f"The embedding model folder {folder} has no tokenizer.json.",
            hint="Save the model's fast tokenizer there (AutoTokenizer.from_pretrained(model)"
            ".save_pretrained(folder) writes tokenizer.json; vocab.txt alone is not enough). "
            + EXPORT_HINT,
        )
    return path


def _pooling_of(folder: Path) -> str | None:
    """The sentence-transformers pooling module's mode, when the folder has one."""
    path = folder / "1_Pooling" / "config.json"
    for module in _modules(folder):
        if str(module.get("type", "")).endswith("Pooling") and module.get("path"):
            path = folder / str(module["path"]) / "config.json"
    config = _json(path)
    if not config:
        return None
    modes = [
        key[len("pooling_mode_") :]
        for key, on in config.items()
        if key.startswith("pooling_mode_") and on is True
    ]
    mode = {"cls_token": "cls", "mean_tokens": "mean"}.get(modes[0]) if len(modes) == 1 else None
    if mode is None:
        raise AssistantError(
            f"{path} asks for pooling {' + '.join(modes) or 'none'}; only mean or cls (one of "
            "them) is supported.",
            hint="Set ASSISTANT_EMBEDDING_POOLING=mean or cls (or 'pooling' in "
            f"{folder / CONFIG_FILE}) to choose one.",
        )
    return mode


def _modules(folder: Path) -> list[dict[str, Any]]:
    path = folder / "modules.json"
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [m for m in data if isinstance(m, dict)] if isinstance(data, list) else []


def _max_tokens_of(folder: Path) -> int:
    """The longest input the folder's configs give, else 512."""
    config = _json(folder / "config.json")
    positions = config.get("max_position_embeddings")
    if isinstance(positions, int) and "roberta" in str(config.get("model_type", "")):
        positions -= 2  # RoBERTa-style position ids start after the padding id
    candidates = [
        _json(folder / "sentence_bert_config.json").get("max_seq_length"),
        _json(folder / "tokenizer_config.json").get("model_max_length"),
        positions,
    ]
    for value in candidates:
        if isinstance(value, int) and 0 < value <= 100_000:
            return min(value, positions) if isinstance(positions, int) else value
    return DEFAULT_MAX_TOKENS


def read_folder(name: str, settings: Settings) -> FolderModel:
    """Check a model folder's files and read its pooling, prefixes and longest input."""
    folder = folder_of(name)
    model, tokenizer = _model_file(folder), _tokenizer_file(folder)
    own = _json(folder / CONFIG_FILE)
    unknown = set(own) - CONFIG_KEYS
    if unknown:
        raise AssistantError(
            f"{folder / CONFIG_FILE} has unknown keys: {', '.join(sorted(unknown))}.",
            hint=f"Use only {', '.join(sorted(CONFIG_KEYS))}.",
        )
    prompts = _json(folder / "config_sentence_transformers.json").get("prompts") or {}
    if not isinstance(prompts, dict):
        prompts = {}

    def choose(setting: object, key: str, fallback: object) -> object:
        return setting if setting is not None else own.get(key, fallback)

    pooling = choose(settings.embedding_pooling, "pooling", None) or _pooling_of(folder) or "mean"
    if pooling not in POOLINGS:
        raise UsageError(
            f"Unknown pooling {pooling!r} for the embedding model in {folder}.",
            hint="Use mean or cls (ASSISTANT_EMBEDDING_POOLING, or 'pooling' in "
            f"{folder / CONFIG_FILE}).",
        )
    query = choose(settings.embedding_query_prefix, "query_prefix", prompts.get("query", ""))
    passage = choose(
        settings.embedding_passage_prefix,
        "passage_prefix",
        prompts.get("passage", prompts.get("document", "")),
    )
    max_tokens = choose(settings.embedding_max_tokens, "max_tokens", None)
    if max_tokens is None:
        max_tokens = _max_tokens_of(folder)
    if not (isinstance(query, str) and isinstance(passage, str) and isinstance(max_tokens, int)):
        raise AssistantError(
            f"{folder / CONFIG_FILE}: prefixes must be strings and max_tokens a number.",
            hint='E.g. {"pooling": "mean", "query_prefix": "query: ", '
            '"passage_prefix": "passage: "}.',
        )
    return FolderModel(folder, model, tokenizer, str(pooling), query, passage, max_tokens)


def model_sha256(path: Path, cache_dir: Path | None) -> str:
    """sha256 of ``path``, remembered in ``cache_dir`` by size and mtime (hashing 1 GB is slow)."""
    stat = path.stat()
    key, stamp = str(path), [stat.st_size, stat.st_mtime_ns]
    cache_file = cache_dir / HASH_CACHE if cache_dir is not None else None
    known: dict[str, Any] = {}
    if cache_file is not None and cache_file.is_file():
        with contextlib.suppress(OSError, ValueError):
            known = json.loads(cache_file.read_text())
    entry = known.get(key)
    if isinstance(entry, list) and entry[:2] == stamp and len(entry) == 3:
        return str(entry[2])
    digest = sha256_of(path)
    if cache_file is not None:
        known[key] = [*stamp, digest]
        with contextlib.suppress(OSError):  # a read-only index hashes again next time
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=cache_file.parent, suffix=".tmp")
            with os.fdopen(fd, "w") as handle:
                json.dump(known, handle)
            os.replace(tmp, cache_file)
    return digest


def model_identity(name: str, settings: Settings) -> dict[str, str]:
    """What the index fingerprint records of a folder model: what determines its vectors."""
    model = read_folder(name, settings)
    cache = settings.model_cache_dir or Path(settings.index_dir) / ".runtime"
    return {
        "embedding_model": PREFIX + model.folder.name,
        "embedding_model_sha256": model_sha256(model.model, cache),
        "embedding_pooling": model.pooling,
        "embedding_query_prefix": model.query_prefix,
        "embedding_passage_prefix": model.passage_prefix,
        "embedding_max_tokens": str(model.max_tokens),
    }


class FolderEmbedder(OnnxSentenceEncoder):
    """A sentence encoder from a folder (model.onnx + tokenizer.json), checked when made."""

    def __init__(
        self,
        model: FolderModel,
        batch_size: int = 32,
        threads: int = 0,
        runtime_dir: Path | None = None,
    ) -> None:
        super().__init__(model.tokenizer, batch_size, threads, runtime_dir)
        self.model = model
        self.name = str(model.folder)
        self.pooling = model.pooling
        self.query_prefix = model.query_prefix
        self.passage_prefix = model.passage_prefix
        self.max_tokens = model.max_tokens
        self.dim = self._check()

    def _model_path(self) -> Path:
        return self.model.model

    def _check(self) -> int:
        """Load the tokenizer and the model, check the model's inputs and outputs; its width."""
        hint = EXPORT_HINT
        try:
            self._tokenizer  # noqa: B018 - loads it
        except Exception as exc:
            raise AssistantError(
                f"Cannot load the tokenizer {self.model.tokenizer}: {exc}", hint=hint
            ) from exc
        try:
            session = self._session
        except Exception as exc:
            raise AssistantError(f"Cannot load {self.model.model}: {exc}", hint=hint) from exc
        inputs = {i.name for i in session.get_inputs()}
        missing = {"input_ids", "attention_mask"} - inputs
        extra = inputs - {"input_ids", "attention_mask", "token_type_ids"}
        if missing or extra:
            raise AssistantError(
                f"{self.model.model} takes inputs {', '.join(sorted(inputs))}; a sentence encoder "
                "takes input_ids, attention_mask and optionally token_type_ids.",
                hint="Export the encoder for feature extraction (--task feature-extraction).",
            )
        outputs = {o.name: o.shape for o in session.get_outputs()}
        usable = [n for n in (*TOKEN_OUTPUTS, *SENTENCE_OUTPUTS) if n in outputs]
        if not usable:
            raise AssistantError(
                f"{self.model.model} has outputs {', '.join(outputs)}; expected "
                "last_hidden_state (token vectors) or sentence_embedding.",
                hint="Export the encoder for feature extraction (--task feature-extraction).",
            )
        width = outputs[usable[0]][-1] if outputs[usable[0]] else None
        if isinstance(width, int) and width > 0:
            return width
        import numpy as np

        self.dim = 1  # probe with one text for a model whose width is symbolic
        feed: dict[str, Any] = {
            "input_ids": np.asarray([self._tokenizer.encode("probe").ids], dtype=np.int64)
        }
        feed["attention_mask"] = np.ones_like(feed["input_ids"])
        if "token_type_ids" in inputs:
            feed["token_type_ids"] = np.zeros_like(feed["input_ids"])
        return int(session.run([usable[0]], feed)[0].shape[-1])


def make_embedder(name: str, settings: Settings) -> FolderEmbedder:
    """The registry's entry for a model folder (a path, or ``onnx:<path>``)."""
    return FolderEmbedder(
        read_folder(name, settings),
        batch_size=settings.embed_batch_size,
        threads=settings.embed_threads,
        runtime_dir=Path(settings.index_dir) / ".runtime",
    )
