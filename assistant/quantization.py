"""Derive the fast variant of the bundled MiniLM: int8 weights and activations, per channel.

The packaged model stores int8 weights but dequantizes them and multiplies in float32. Running
the matrix products in int8 (onnxruntime's dynamic quantization, per-channel weight scales) is
about 1.7x faster on two cores, with embeddings at cosine 0.994 (mean) to the originals; see
docs/benchmarks.md for the retrieval figures of both.

The derived file is written once into a cache folder (by default the index's ``.runtime``),
through a temporary file and an atomic rename, with a stamp beside it (recipe version, the
source's sha256, the derived file's sha256 and size). The source is sha256-checked at every load
(assistant/embedding.py); the derived file is checked against the stamp's recipe, source and
size only, so that a cold process does not hash 23 MB a second time. A file that does not match
(a truncated write, an older recipe, another source) is derived again.
"""

from __future__ import annotations

import logging
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


def _stamp(source_sha256: str, derived: Path) -> list[str]:
    """What identifies a usable derived file (its own sha256 is recorded, not re-checked)."""
    return [RECIPE_VERSION, source_sha256, str(derived.stat().st_size)]


def derived_model(source: Path, source_sha256: str, cache_dir: Path) -> Path:
    """The int8 model derived from ``source``, reused from ``cache_dir`` when intact."""
    target = cache_dir / DERIVED_NAME
    stamp = target.with_name(target.name + ".sha256")
    intact = target.is_file() and stamp.is_file()
    if intact and stamp.read_text().split()[:3] == _stamp(source_sha256, target):
        return target
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".derive-") as work:
            produced = _quantize(source, Path(work))
            text = " ".join([*_stamp(source_sha256, produced), sha256_of(produced)]) + "\n"
            os.replace(produced, target)
        stamp_tmp = stamp.with_name(stamp.name + ".tmp")
        stamp_tmp.write_text(text)
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
    quiet = logging.getLogger()
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the quantizer warns about optional pre-processing
    try:
        quantize_dynamic(folded, produced, weight_type=QuantType.QInt8, per_channel=True)
    finally:
        quiet.setLevel(level)
    return produced
