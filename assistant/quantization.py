"""Derive the fast variant of the bundled MiniLM: int8 weights and activations, per channel.

The packaged model stores int8 weights but dequantizes them and multiplies in float32. Running
the matrix products in int8 (onnxruntime's dynamic quantization, per-channel weight scales) is
about 1.7x faster on two cores, with embeddings at cosine 0.994 (mean) to the originals; see
docs/benchmarks.md for the retrieval figures of both.

The derived file is written once into a cache folder (by default the index's ``.runtime``),
through a temporary file and an atomic rename, with its sha256 beside it; a file that no longer
matches its recorded sha256 is derived again.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from assistant.errors import AssistantError
from assistant.files import sha256_of

DERIVED_NAME = "all-MiniLM-L6-v2-q8.onnx"
# Bump when the recipe changes, so that older derived files are not reused.
RECIPE_VERSION = "1"

INSTALL_HINT = (
    "Install the pinned quantization packages: pip install onnx==1.17.0 ml_dtypes==0.6.0, "
    "or set ASSISTANT_EMBEDDING_MODEL=all-MiniLM-L6-v2 (slower, and needs a rebuilt index)."
)


def _stamp(source_sha256: str, derived_sha256: str) -> str:
    return f"{RECIPE_VERSION} {source_sha256} {derived_sha256}\n"


def derived_model(source: Path, source_sha256: str, cache_dir: Path) -> Path:
    """The int8 model derived from ``source``, reused from ``cache_dir`` when intact."""
    target = cache_dir / DERIVED_NAME
    stamp = target.with_name(target.name + ".sha256")
    if target.is_file() and stamp.is_file():
        recorded = stamp.read_text().split()
        if (
            len(recorded) == 3
            and recorded[:2] == [RECIPE_VERSION, source_sha256]
            and sha256_of(target) == recorded[2]
        ):
            return target
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".derive-") as work:
            produced = _quantize(source, Path(work))
            derived_sha = sha256_of(produced)
            os.replace(produced, target)
        stamp_tmp = stamp.with_name(stamp.name + ".tmp")
        stamp_tmp.write_text(_stamp(source_sha256, derived_sha))
        os.replace(stamp_tmp, stamp)
    except OSError as exc:
        raise AssistantError(
            f"Cannot write the derived embedding model into {cache_dir}: {exc.strerror or exc}.",
            hint="Set ASSISTANT_MODEL_CACHE_DIR to a writable folder.",
        ) from exc
    return target


def _quantize(source: Path, work: Path) -> Path:
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
    import logging

    quiet = logging.getLogger()
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the quantizer warns about optional pre-processing
    try:
        quantize_dynamic(folded, produced, weight_type=QuantType.QInt8, per_channel=True)
    finally:
        quiet.setLevel(level)
    return produced
