"""Derive the fast variant of the bundled MiniLM: int8 weights and activations, per channel.

The packaged model stores int8 weights but dequantizes them and multiplies in float32. Running
the matrix products in int8 (onnxruntime's quantizer, per-channel weight scales) is about 1.7x
faster on two cores, with embeddings at cosine 0.995 (mean) to the originals; see
docs/benchmarks.md for the retrieval figures of both.

Activation scales are static: calibrated once, at derivation, on the bundled demo abstracts
(each text alone, so padding never enters a range). Dynamic quantization computes one scale per
batch tensor, which made a text's vector depend on what it was batched with (cosine 0.989 between
a text embedded alone and in a batch): an index would not be reproducible, nor a resumed ingest
equal to an uninterrupted one. With fixed scales a text's vector is the same in any batch.

The quantized graph is then rewritten (int8_fusion.py: fused int8 products, no NaN guards),
which computes the same numbers about 1.3x faster.

The derived file is written once per user into a cache folder (``ASSISTANT_MODEL_CACHE_DIR``,
by default ``$XDG_CACHE_HOME/literature-assistant/models`` or
``~/.cache/literature-assistant/models``: never inside an index, so that an index on a small
volume holds only the index), under a lock (two processes deriving at once derive it once),
through a temporary file and an atomic rename, with a stamp beside it: recipe and graph
versions, the source's sha256, the derived file's size, sha256 and modification time. The
source is sha256-checked at every load (minilm.py). The derived file is checked against the
stamp: a file of another size is derived again; one whose modification time changed is hashed
again (a cold start with an unchanged file does not hash 23 MB), and derived again, with a
notice, when its bytes are not what was derived. A full disk is said as such, with the space the
derivation needs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from assistant.checked_files import (
    is_intact,
    locked,
    record_verified,
    sha256_of,
    sync_folder,
    write_atomically,
)
from assistant.demo_data import bundled_corpus_dir
from assistant.disk_space import disk_full_error, free_bytes, is_disk_full
from assistant.errors import AssistantError

logger = logging.getLogger(__name__)

DERIVED_NAME = "all-MiniLM-L6-v2-q8.onnx"
# Bump when the recipe changes the vectors (quantization, calibration): older derived files and
# the shipped demo vectors (their fingerprint holds it) are then not reused.
RECIPE_VERSION = "2"
# Bump when the graph changes but not its numbers (int8_fusion.py): only the file is derived again.
GRAPH_VERSION = "fused-1"
# Demo abstracts the activation ranges are calibrated on (each embedded alone).
CALIBRATION_TEXTS = 240
# The calibrated ranges shipped in assistant/data, so that a first run need not calibrate.
RANGES_FILE = "minilm-int8-ranges.json"
# Disk space a derivation takes at its peak in the cache folder (the float32 model folded from
# the packaged one, the quantizer's copies, the result: 181 MB measured), with a margin. The
# derived file itself is 22.8 MB.
DERIVE_SPACE_NEEDED = 200_000_000
MOVE_HINT = "set ASSISTANT_MODEL_CACHE_DIR to a folder on another disk"

INSTALL_HINT = (
    "Install the pinned quantization packages: pip install onnx==1.17.0 ml_dtypes==0.6.0, "
    "or set ASSISTANT_EMBEDDING_MODEL=all-MiniLM-L6-v2 (slower, and needs a rebuilt index)."
)


def default_model_cache_dir() -> Path:
    """The per-user cache of derived models: ``$XDG_CACHE_HOME/literature-assistant/models``,
    else ``~/.cache/literature-assistant/models``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "literature-assistant" / "models"


def _recipe(source_sha256: str) -> list[str]:
    """What the derived file was made by: the recipe and graph versions, the source's sha256."""
    return [f"{RECIPE_VERSION}+{GRAPH_VERSION}", source_sha256]


def _stamp_text(source_sha256: str, digest: str) -> str:
    """The stamp line: the recipe, the source's sha256, the derived file's sha256."""
    return " ".join([*_recipe(source_sha256), digest]) + "\n"


def _check_derived(target: Path, stamp: Path, source_sha256: str) -> str:
    """``intact``, ``stale`` (none yet, or made by another recipe or source: derive it) or
    ``damaged`` (its bytes are not the ones derived). It is hashed only when its size or
    modification time is not the one last verified (:func:`~assistant.checked_files.is_intact`)."""
    try:
        fields = stamp.read_text().split()
    except OSError:
        return "stale"
    if fields[:2] != _recipe(source_sha256) or len(fields) != 3 or not target.exists():
        return "stale"
    return "intact" if is_intact(target, fields[2]) else "damaged"


def _derivation_lock(cache_dir: Path) -> contextlib.AbstractContextManager[None]:
    """One derivation at a time per cache folder (across processes)."""
    return locked(cache_dir / ".derive.lock")


def derived_model(
    source: Path, source_sha256: str, cache_dir: Path, tokenizer: Path, max_tokens: int
) -> Path:
    """The int8 model derived from ``source``, reused from ``cache_dir`` when intact.

    ``tokenizer`` (a tokenizer.json) and ``max_tokens`` prepare the calibration texts.
    """
    target = cache_dir / DERIVED_NAME
    stamp = target.with_name(target.name + ".sha256")
    if _check_derived(target, stamp, source_sha256) == "intact":
        return target
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with _derivation_lock(cache_dir):
            state = _check_derived(target, stamp, source_sha256)  # another process may have
            if state == "intact":
                return target
            if state == "damaged":
                logger.warning(
                    "The derived embedding model %s is not what was derived (its bytes changed "
                    "since): deriving it again.",
                    target,
                )
            _derive_into(source, source_sha256, cache_dir, tokenizer, max_tokens)
    except OSError as exc:
        if is_disk_full(exc):
            raise _disk_full(cache_dir) from exc
        raise AssistantError(
            f"Cannot write the derived embedding model into {cache_dir}: {exc.strerror or exc}.",
            hint="Set ASSISTANT_MODEL_CACHE_DIR to a writable folder.",
        ) from exc
    return target


def _disk_full(cache_dir: Path) -> AssistantError:
    return disk_full_error(
        f"the derived embedding model ({DERIVED_NAME})", cache_dir, DERIVE_SPACE_NEEDED, MOVE_HINT
    )


def _derive_into(
    source: Path, source_sha256: str, cache_dir: Path, tokenizer: Path, max_tokens: int
) -> None:
    """Derive the model in a temporary folder of ``cache_dir``, then rename it and its stamp
    into place. A full disk (said in any of the shapes onnx and onnxruntime give it) is a
    :func:`disk_full_error` with the space needed."""
    free = free_bytes(cache_dir)
    if free is not None and free < DERIVE_SPACE_NEEDED:
        raise _disk_full(cache_dir)
    target = cache_dir / DERIVED_NAME
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".derive-") as work:
        try:
            produced = _quantize(source, source_sha256, Path(work), tokenizer, max_tokens)
            with produced.open("rb+") as handle:
                os.fsync(handle.fileno())
            digest = sha256_of(produced)
            text = _stamp_text(source_sha256, digest)
        except Exception as exc:
            # onnxruntime says "Protobuf serialization failed" when it cannot write a model:
            # measured while the partial files still take their space.
            left = free_bytes(cache_dir)
            if is_disk_full(exc) or (left is not None and left < 1_000_000):
                raise _disk_full(cache_dir) from exc
            raise
        os.replace(produced, target)
        record_verified(target, digest)
    write_atomically(
        target.with_name(target.name + ".sha256"), text.encode(), "the derived model's stamp"
    )
    sync_folder(cache_dir)


def _quantize(
    source: Path, source_sha256: str, work: Path, tokenizer: Path, max_tokens: int
) -> Path:
    produced = quantize_weights(source, work)
    _fix_activation_scales(produced, tokenizer, max_tokens, source_sha256)
    fuse_products(produced)
    return produced


def fuse_products(model_path: Path) -> dict[str, int]:
    """Apply the exact graph rewrites of int8_fusion.py to the model file in place."""
    import onnx

    from assistant.embeddings.int8_fusion import fuse_int8_graph

    model = onnx.load(str(model_path))
    counts = fuse_int8_graph(model)
    onnx.save(model, str(model_path))
    return counts


def quantize_weights(source: Path, work: Path) -> Path:
    """The model with per-channel int8 weights and (still) dynamic activation scales."""
    try:
        import onnxruntime as ort
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:
        raise AssistantError(
            f"Cannot derive the int8 embedding model: {exc}.", hint=INSTALL_HINT
        ) from exc
    # First fold the weight dequantization into float32 constants, so that the quantizer
    # sees plain MatMuls with constant weights.
    folded = work / "folded.onnx"
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(folded)
    ort.InferenceSession(str(source), sess_options=options, providers=["CPUExecutionProvider"])
    produced = work / DERIVED_NAME
    quiet = logging.getLogger()
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the quantizer warns about optional pre-processing
    try:
        quantize_dynamic(folded, produced, weight_type=QuantType.QInt8, per_channel=True)
    finally:
        quiet.setLevel(level)
    return produced


def _calibration_texts() -> list[str]:
    """Every title and abstract line of the bundled demo corpus, a fixed sample of them."""
    lines = [
        line.strip()
        for path in sorted(bundled_corpus_dir().glob("*.txt"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if len(line.strip()) > 40
    ]
    step = max(1, len(lines) // CALIBRATION_TEXTS)
    return lines[::step][:CALIBRATION_TEXTS]


def shipped_ranges(source_sha256: str) -> dict[str, tuple[float, float]] | None:
    """The calibrated ranges shipped with the package for this source model, if any.

    Calibrating takes a few seconds (much more on a busy machine) at a new user's first run;
    the shipped file (``bench/int8_ranges.py`` writes it) holds the same numbers.
    """
    path = Path(str(resources.files("assistant") / "data" / RANGES_FILE))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if data.get("source_sha256") != source_sha256 or data.get("recipe") != RECIPE_VERSION:
        return None
    return {name: (float(low), float(high)) for name, (low, high) in data["ranges"].items()}


def calibrate_ranges(
    model: Any, tokenizer_file: Path, max_tokens: int
) -> dict[str, tuple[float, float]]:
    """(min, max) of every dynamically quantized activation over the calibration texts."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper
    from tokenizers import Tokenizer

    probed = [n.input[0] for n in model.graph.node if n.op_type == "DynamicQuantizeLinear"]
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    for name in probed:
        probe.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(
        probe.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"]
    )
    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    tokenizer.enable_truncation(max_length=max_tokens)
    low = dict.fromkeys(probed, 0.0)  # ranges always hold 0, so that padding-like zeros are exact
    high = dict.fromkeys(probed, 0.0)
    for text in _calibration_texts():
        ids = np.array([tokenizer.encode(text).ids], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        feeds["token_type_ids"] = np.zeros_like(ids)
        for name, values in zip(probed, session.run(probed, feeds), strict=True):
            low[name] = min(low[name], float(values.min()))
            high[name] = max(high[name], float(values.max()))
    return {name: (low[name], high[name]) for name in probed}


def _fix_activation_scales(
    model_path: Path, tokenizer_file: Path, max_tokens: int, source_sha256: str
) -> None:
    """Replace each DynamicQuantizeLinear by a QuantizeLinear with calibrated constant scales."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(model_path))
    probed = {n.input[0] for n in model.graph.node if n.op_type == "DynamicQuantizeLinear"}
    ranges = shipped_ranges(source_sha256)
    if ranges is None or not probed <= ranges.keys():
        ranges = calibrate_ranges(model, tokenizer_file, max_tokens)
    nodes = []
    for node in model.graph.node:
        if node.op_type != "DynamicQuantizeLinear":
            nodes.append(node)
            continue
        source, (quantized, scale_name, zero_name) = node.input[0], node.output
        low, high = ranges[source]
        scale = np.float32(max(high - low, 1e-8) / 255.0)
        zero = np.uint8(min(255, max(0, round(-low / float(scale)))))
        model.graph.initializer.extend(
            [
                numpy_helper.from_array(np.array(scale, dtype=np.float32), scale_name),
                numpy_helper.from_array(np.array(zero, dtype=np.uint8), zero_name),
            ]
        )
        nodes.append(
            helper.make_node("QuantizeLinear", [source, scale_name, zero_name], [quantized])
        )
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.save(model, str(model_path))
