"""What makes ingest fast and complete: the int8 MiniLM's exact graph rewrites, the derived
model's cache, chunks that hold every word piece of an abstract (cut by bisection), and the
next batch embedded while the last one is written."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from assistant.embeddings import MINILM_Q8_NAME, MiniLMEmbedder, make_embedder
from assistant.embeddings.int8_fusion import fuse_int8_graph
from assistant.embeddings.minilm_int8 import DERIVED_NAME, GRAPH_VERSION
from assistant.settings import Settings

TEXTS = [
    "LongLoRA extends the context window of LLaMA models with shifted sparse attention.",
    "Coral reefs bleach when sea temperatures rise.",
    "A short one.",
    " ".join(["Mixture of experts routes each token to two of eight feed-forward blocks."] * 12),
]


def _session(model: object) -> object:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(
        model.SerializeToString(),  # type: ignore[attr-defined]
        sess_options=options,
        providers=["CPUExecutionProvider"],
    )


def test_the_fused_graph_computes_what_the_quantized_one_does(tmp_path: Path) -> None:
    import onnx

    from assistant.embeddings.minilm import MINILM_FILES_SHA256, MINILM_MAX_TOKENS, minilm_files
    from assistant.embeddings.minilm_int8 import _fix_activation_scales, quantize_weights

    files = minilm_files()
    unfused = quantize_weights(files["model.onnx"], tmp_path)
    _fix_activation_scales(
        unfused, files["tokenizer.json"], MINILM_MAX_TOKENS, MINILM_FILES_SHA256["model.onnx"]
    )
    before = onnx.load(str(unfused))
    after = onnx.load(str(unfused))
    counts = fuse_int8_graph(after)
    onnx.checker.check_model(after)
    # every int8 product (6 layers x 6) and every softmax's NaN guard (one a layer)
    assert counts == {"matmul_integer_to_float": 36, "nan_guards_removed": 6}
    ops = [n.op_type for n in after.graph.node]
    assert "MatMulInteger" not in ops and "IsNaN" not in ops

    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(files["tokenizer.json"]))
    tokenizer.enable_padding()
    encodings = tokenizer.encode_batch(TEXTS)
    ids = np.array([e.ids for e in encodings], dtype=np.int64)
    feed = {
        "input_ids": ids,
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
        "token_type_ids": np.zeros_like(ids),
    }
    expected = _session(before).run(None, feed)[0]  # type: ignore[attr-defined]
    got = _session(after).run(None, feed)[0]  # type: ignore[attr-defined]
    assert got.shape == expected.shape == (len(TEXTS), ids.shape[1], 384)
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)


def test_rewrites_leave_other_patterns_alone() -> None:
    """A product whose int32 result is read twice, and a NaN guard that is not after a softmax,
    are kept: fusing them would change what the graph computes."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights: dict[str, np.ndarray] = {
        "B": rng.integers(-127, 128, (8, 4)).astype(np.int8),
        "a_zero": np.array(128, dtype=np.uint8),
        "b_zero": np.zeros(4, dtype=np.int8),
        "a_scale": np.array(0.5, dtype=np.float32),
        "b_scale": np.full(4, 0.25, dtype=np.float32),
        "zero": np.array(0.0, dtype=np.float32),
    }
    nodes = [
        helper.make_node("MatMulInteger", ["A", "B", "a_zero", "b_zero"], ["int32"]),
        helper.make_node("Cast", ["int32"], ["float"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["int32"], ["again"], to=TensorProto.FLOAT),  # a 2nd reader
        helper.make_node("Mul", ["a_scale", "b_scale"], ["scales"]),
        helper.make_node("Mul", ["float", "scales"], ["scaled"]),
        helper.make_node("IsNaN", ["scaled"], ["nan"]),
        helper.make_node("Where", ["nan", "zero", "scaled"], ["guarded"]),  # not after Softmax
        helper.make_node("Add", ["guarded", "again"], ["Y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("A", TensorProto.UINT8, [2, 8])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(v, k) for k, v in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    original = onnx.ModelProto()
    original.CopyFrom(model)

    assert fuse_int8_graph(model) == {"matmul_integer_to_float": 0, "nan_guards_removed": 0}
    assert [n.op_type for n in model.graph.node] == [n.op_type for n in original.graph.node]
    feed = {"A": rng.integers(0, 256, (2, 8)).astype(np.uint8)}
    np.testing.assert_array_equal(
        _session(model).run(None, feed)[0],  # type: ignore[attr-defined]
        _session(original).run(None, feed)[0],  # type: ignore[attr-defined]
    )


def _seed(folder: Path, derived_from: Path) -> None:
    """Put an intact derived model (the session's, already derived) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in (DERIVED_NAME, DERIVED_NAME + ".sha256"):
        shutil.copy2(derived_from / name, folder / name)


@pytest.fixture
def derived_once(model_cache_dir: Path, tmp_path: Path) -> Path:
    MiniLMEmbedder(quantized=True, model_cache_dir=model_cache_dir).embed(TEXTS[:1])
    return model_cache_dir


def test_indexes_pointed_at_one_model_cache_derive_the_model_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, derived_once: Path
) -> None:
    cache = tmp_path / "shared-cache"
    _seed(cache, derived_once)
    monkeypatch.setenv("ASSISTANT_MODEL_CACHE_DIR", str(cache))
    stamp = (cache / DERIVED_NAME).stat().st_mtime_ns

    vectors = []
    for index in ("first-index", "second-index"):
        embedder = make_embedder(Settings(index_dir=tmp_path / index))
        assert embedder.name == MINILM_Q8_NAME
        vectors.append(embedder.embed(TEXTS))
        assert not (tmp_path / index / ".runtime" / DERIVED_NAME).exists()  # not derived again
    assert (cache / DERIVED_NAME).stat().st_mtime_ns == stamp  # reused as it was
    np.testing.assert_array_equal(vectors[0], vectors[1])


def test_a_model_derived_by_an_older_recipe_is_derived_again(
    tmp_path: Path, derived_once: Path
) -> None:
    cache = tmp_path / "cache"
    _seed(cache, derived_once)
    stamp_file = cache / (DERIVED_NAME + ".sha256")
    version, *rest = stamp_file.read_text().split()
    assert version.endswith("+" + GRAPH_VERSION)
    stamp_file.write_text(" ".join(["2", *rest]) + "\n")  # as the unfused recipe wrote it
    expected = MiniLMEmbedder(quantized=True, model_cache_dir=derived_once).embed(TEXTS)

    vectors = MiniLMEmbedder(quantized=True, model_cache_dir=cache).embed(TEXTS)
    assert stamp_file.read_text().split()[0] == version  # derived again, stamped anew
    np.testing.assert_allclose(vectors, expected, atol=1e-6)


def test_a_word_longer_than_a_chunk_is_cut_between_characters_not_truncated() -> None:
    """Chinese abstracts have no spaces: one 'word' of 300 word pieces was truncated at 256."""
    from assistant.ingest.chunking import chunk_paper, embedded_text, split_sentences

    embedder = MiniLMEmbedder()
    title = "Cross-modal retrieval"
    chinese = "减小图文信息间的语义鸿沟促进跨模态信息的对齐与融合一直是解决跨模态图文检索问题" * 8
    abstract = f"We study retrieval. {chinese}. It works well."
    assert embedder.count_tokens([chinese])[0] > 256
    chunks = chunk_paper("p", title, split_sentences(abstract), embedder.count_tokens, 128)
    lengths = embedder.count_tokens([embedded_text(title, c.text) for c in chunks])
    assert max(lengths) <= 128 and len(chunks) >= 3
    assert "".join("".join(c.text for c in chunks).split()) == "".join(abstract.split())


def test_a_long_sentence_is_cut_where_counting_word_by_word_would_cut_it() -> None:
    """The bisection finds the same cuts as adding one word at a time while the run fits."""
    from assistant.ingest.chunking import _split_long

    embedder = MiniLMEmbedder()
    count = embedder.count_tokens
    sentence = (
        "Transthyretin amyloid cardiomyopathy (ATTR-CM) is underdiagnosed; tafamidis reduced "
        "all-cause mortality and cardiovascular hospitalizations in 441 patients, p<0.001."
    )
    words = sentence.split() * 9
    budget = 40
    expected: list[str] = []
    current: list[str] = []
    for word in words:  # the reference: one count per word
        if current and count([" ".join([*current, word])])[0] - 2 > budget:
            expected.append(" ".join(current))
            current = [word]
        else:
            current.append(word)
    expected.append(" ".join(current))

    parts = _split_long(" ".join(words), budget, count)
    assert parts == expected and len(parts) > 5
    assert all(n - 2 <= budget for n in count(parts))


class _FailingOnCall:
    """The real embedder, whose ``embed`` fails on call number ``fail_on``."""

    def __init__(self, real: object, fail_on: int) -> None:
        self.real, self.fail_on, self.calls = real, fail_on, 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)

    def embed(self, texts: list[str], *args: object, **kwargs: object) -> np.ndarray:
        self.calls += 1
        if self.calls == self.fail_on:
            raise RuntimeError("the model failed")
        return self.real.embed(texts, *args, **kwargs)  # type: ignore[attr-defined]


def test_a_batch_embedded_ahead_that_fails_leaves_the_batches_before_it_committed(
    tmp_path: Path,
) -> None:
    """Batch k+1 is embedded in a worker while batch k is written: a failure there reaches the
    caller, batch k stays committed, and the next ingest finishes the job."""
    from assistant.index.paper_index import PaperIndex
    from assistant.records import Paper

    papers = [
        Paper(paper_id=f"p{i}", title=f"Paper {i} on topic {i}", abstract=f"{TEXTS[i % 3]} {i}.")
        for i in range(6)
    ]
    settings = Settings(index_dir=tmp_path / "index", ingest_batch_papers=2)
    index = PaperIndex(settings)
    failing = _FailingOnCall(index.embedder, fail_on=2)
    index.__dict__["embedder"] = failing
    with pytest.raises(RuntimeError, match="the model failed"):
        index.ingest(papers)
    assert {p.paper_id for p in index.catalog.iter_papers()} == {"p0", "p1"}
    index.close()

    index = PaperIndex(settings)
    report = index.ingest(papers)
    assert (report.added, report.unchanged) == (4, 2)
    assert index.catalog.count_papers() == 6 and index.catalog.count_chunks() == 6
    index.close()
