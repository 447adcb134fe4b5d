"""The bundled embedding model: exact and int8 variants, the derived file's cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assistant.embeddings import MINILM_NAME, MINILM_Q8_NAME, MiniLMEmbedder, make_embedder
from assistant.embeddings.minilm_int8 import DERIVED_NAME
from assistant.errors import UsageError
from assistant.settings import Settings

TEXTS = [
    "LongLoRA extends the context window of LLaMA models with shifted sparse attention.",
    "Coral reefs bleach when sea temperatures rise.",
    "ZeRO-Infinity trains models with trillions of parameters on limited GPU memory.",
    "A short one.",
]


def test_int8_model_is_derived_once_and_close_to_the_exact_one(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    fast = MiniLMEmbedder(quantized=True, model_cache_dir=cache, runtime_dir=tmp_path / "rt")
    fast_vectors = fast.embed(TEXTS)
    derived = cache / DERIVED_NAME
    assert derived.is_file() and (cache / (DERIVED_NAME + ".sha256")).is_file()
    stamp = derived.stat().st_mtime_ns

    exact = MiniLMEmbedder(runtime_dir=tmp_path / "rt").embed(TEXTS)
    assert fast_vectors.shape == exact.shape == (4, 384)
    np.testing.assert_allclose(np.linalg.norm(fast_vectors, axis=1), 1.0, atol=1e-5)
    cosines = (fast_vectors * exact).sum(axis=1)
    assert cosines.min() > 0.97, cosines
    # Similarities keep their order: each text is nearest to itself in the other model.
    assert list((fast_vectors @ exact.T).argmax(axis=1)) == [0, 1, 2, 3]

    again = MiniLMEmbedder(quantized=True, model_cache_dir=cache, runtime_dir=tmp_path / "rt")
    np.testing.assert_array_equal(again.embed(TEXTS), fast_vectors)  # deterministic
    assert derived.stat().st_mtime_ns == stamp  # reused, not derived again


def test_a_damaged_derived_model_is_derived_again(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    MiniLMEmbedder(quantized=True, model_cache_dir=cache).embed(TEXTS[:1])
    derived = cache / DERIVED_NAME
    derived.write_bytes(derived.read_bytes()[:1000])  # e.g. a disk that filled up

    vectors = MiniLMEmbedder(quantized=True, model_cache_dir=cache).embed(TEXTS[:1])
    assert vectors.shape == (1, 384)
    assert derived.stat().st_size > 1_000_000


def test_settings_choose_the_variant(tmp_path: Path) -> None:
    default = make_embedder(Settings(index_dir=tmp_path / "idx"))
    assert default.name == MINILM_Q8_NAME == Settings().embedding_model
    exact = make_embedder(Settings(index_dir=tmp_path / "idx", embedding_model=MINILM_NAME))
    assert exact.name == MINILM_NAME
    with pytest.raises(UsageError) as caught:
        make_embedder(Settings(index_dir=tmp_path / "idx", embedding_model="word2vec"))
    assert caught.value.hint is not None and MINILM_Q8_NAME in caught.value.hint


def test_unwritable_model_cache_is_a_clear_error(tmp_path: Path) -> None:
    from assistant.errors import AssistantError

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    with pytest.raises(AssistantError) as caught:
        MiniLMEmbedder(quantized=True, model_cache_dir=blocker / "cache").embed(TEXTS[:1])
    assert "Cannot write the derived embedding model" in caught.value.message
    assert caught.value.hint is not None and "ASSISTANT_MODEL_CACHE_DIR" in caught.value.hint


def test_long_texts_go_in_smaller_batches() -> None:
    """Attention memory (rows x width^2) stays within that of a full batch of 128-piece texts."""
    embedder = MiniLMEmbedder(batch_size=32)
    lengths = sorted([20] * 50 + [128] * 40 + [200] * 10 + [256] * 9)
    batches = list(embedder._batches(list(range(len(lengths))), lengths))
    assert [i for batch in batches for i in batch] == list(range(len(lengths)))
    for batch in batches:
        width = max(lengths[i] for i in batch)
        assert len(batch) <= 32
        assert len(batch) == 1 or len(batch) * width**2 <= 32 * 128 * 128
    assert max(len(b) for b in batches) == 32  # short texts still fill whole batches
    assert [len(b) for b in batches if lengths[b[0]] == 256] == [8, 1]


def test_mixed_lengths_embed_in_input_order(tmp_path: Path, model_cache_dir: Path) -> None:
    long_text = " ".join(["transformers attend to every token of a long input"] * 40)
    texts = [long_text + f" variant {n}" for n in range(3)] + TEXTS
    embedder = MiniLMEmbedder(
        quantized=True, model_cache_dir=model_cache_dir, runtime_dir=tmp_path / "rt"
    )
    together = embedder.embed(texts)
    alone = np.vstack([embedder.embed([t]) for t in texts])
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    assert (together * alone).sum(axis=1).min() > 0.99


def test_a_texts_vector_does_not_depend_on_its_batch(tmp_path: Path, model_cache_dir: Path) -> None:
    """Static activation scales: alone, in any batch, in any company, the same vector."""
    embedder = MiniLMEmbedder(
        quantized=True, model_cache_dir=model_cache_dir, runtime_dir=tmp_path / "rt"
    )
    loud = "ZERO-INFINITY TRILLIONS 1,000,000,000 !!! " * 30  # extreme activations beside it
    alone = np.vstack([embedder.embed([t]) for t in TEXTS])
    for company in ([], [loud], [loud, TEXTS[0] * 5], list(reversed(TEXTS))):
        together = embedder.embed(TEXTS + company)[: len(TEXTS)]
        assert (together * alone).sum(axis=1).min() > 0.999


def test_the_shipped_activation_ranges_are_what_calibration_computes(tmp_path: Path) -> None:
    """A first run uses the shipped ranges instead of calibrating: they must not go stale."""
    import onnx

    from assistant.embeddings.minilm import MINILM_FILES_SHA256, MINILM_MAX_TOKENS, minilm_files
    from assistant.embeddings.minilm_int8 import (
        calibrate_ranges,
        quantize_weights,
        shipped_ranges,
    )

    files = minilm_files()
    model = onnx.load(str(quantize_weights(files["model.onnx"], tmp_path)))
    computed = calibrate_ranges(model, files["tokenizer.json"], MINILM_MAX_TOKENS)
    shipped = shipped_ranges(MINILM_FILES_SHA256["model.onnx"])
    assert shipped is not None and shipped.keys() == computed.keys()
    for name, (low, high) in computed.items():
        assert shipped[name] == pytest.approx((low, high), abs=1e-5), name
    assert shipped_ranges("another model") is None
