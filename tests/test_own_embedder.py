"""Bring your own embedding model: an ONNX export in a folder (the bundled MiniLM files, copied)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assistant.api import ingest_paths, open_index, search
from assistant.embeddings import MiniLMEmbedder, embed_queries, make_embedder, minilm_files
from assistant.embeddings.folder import CONFIG_FILE, FolderEmbedder, model_sha256
from assistant.errors import AssistantError, IndexMismatchError, UsageError
from assistant.index.paper_index import index_fingerprint
from assistant.retrieval.retriever import RetrievalOptions
from assistant.settings import Settings

TEXTS = [
    "LongLoRA extends the context window of LLaMA models with shifted sparse attention.",
    "Coral reefs bleach when sea temperatures rise.",
    "A short one.",
]
PAPERS = [
    {
        "id": "reef",
        "title": "Coral Bleaching under Marine Heatwaves",
        "abstract": "Sea surface temperature anomalies drive mass bleaching of coral reefs. "
        "We track symbiont loss across forty reef sites over a decade.",
        "year": 2021,
    },
    {
        "id": "longlora",
        "title": "Efficient Fine-tuning of Long-Context Language Models",
        "abstract": "We extend the context window of LLaMA models with shifted sparse attention "
        "during fine-tuning, at a fraction of the cost of full attention.",
        "year": 2023,
    },
    {
        "id": "volcano",
        "title": "Volcanic Ash Detection from Satellite Imagery",
        "abstract": "Ash plumes endanger aircraft. A convolutional network detects volcanic ash "
        "in multispectral satellite images in near real time.",
        "year": 2022,
    },
    {
        "id": "tidal",
        "title": "Forecasting Tidal Energy with Graph Networks",
        "abstract": "Graph neural networks over coastal sensor stations forecast tidal power "
        "output a day ahead.",
        "year": 2020,
    },
]


@pytest.fixture
def model_folder(tmp_path: Path) -> Path:
    """An ONNX export as optimum and sentence-transformers lay it out, from the bundled files."""
    files = minilm_files()
    folder = tmp_path / "models" / "my-minilm"
    (folder / "1_Pooling").mkdir(parents=True)
    shutil.copyfile(files["model.onnx"], folder / "model.onnx")
    shutil.copyfile(files["tokenizer.json"], folder / "tokenizer.json")
    packaged = files["tokenizer.json"].parent
    for name in ("config.json", "sentence_bert_config.json", "1_Pooling/config.json"):
        shutil.copyfile(packaged / name, folder / name)
    return folder


def folder_settings(folder: Path | str, tmp_path: Path, **extra: Any) -> Settings:
    return Settings(index_dir=tmp_path / "idx", embedding_model=str(folder), **extra)


def test_a_folder_model_loads_and_matches_the_bundled_model(
    model_folder: Path, tmp_path: Path
) -> None:
    embedder = make_embedder(folder_settings(model_folder, tmp_path))
    assert isinstance(embedder, FolderEmbedder)
    assert embedder.name == str(model_folder.resolve())
    assert (embedder.dim, embedder.max_tokens, embedder.pooling) == (384, 256, "mean")
    vectors = embedder.embed(TEXTS)
    bundled = MiniLMEmbedder(runtime_dir=tmp_path / "rt").embed(TEXTS)
    assert vectors.shape == bundled.shape == (3, 384) and vectors.dtype == np.float32
    assert (vectors * bundled).sum(axis=1).min() > 0.999
    # No prefix: queries embed as passages do; "onnx:<path>" names the same model.
    np.testing.assert_array_equal(embedder.embed_queries(TEXTS), vectors)
    again = make_embedder(folder_settings(f"onnx:{model_folder}", tmp_path))
    assert again.name == embedder.name
    np.testing.assert_array_equal(again.embed(TEXTS), vectors)


def test_a_folder_index_is_built_searched_and_refuses_the_default_model(
    model_folder: Path, tmp_path: Path
) -> None:
    corpus = tmp_path / "papers.jsonl"
    corpus.write_text("\n".join(json.dumps(p) for p in PAPERS) + "\n", encoding="utf-8")
    settings = folder_settings(model_folder, tmp_path)
    index = open_index(settings)
    ingest_paths(index, [corpus])
    dense = search(index, "coral reef bleaching", RetrievalOptions(k=2, method="dense"))
    assert dense.results[0].paper_id == "reef"
    hybrid = search(index, "longer context windows for LLaMA", RetrievalOptions(k=2))
    assert hybrid.results[0].paper_id == "longlora"
    meta = {k: index.catalog.get_meta(k) for k in index.spec}
    assert meta["embedding_model"] == str(model_folder.resolve())
    assert meta["embedding_model_sha256"] == model_sha256(model_folder / "model.onnx", None)
    assert (meta["embedding_pooling"], meta["embedding_query_prefix"]) == ("mean", "")
    index.close()

    with pytest.raises(IndexMismatchError) as caught:
        open_index(Settings(index_dir=settings.index_dir))
    assert str(model_folder.resolve()) in caught.value.message
    assert caught.value.hint and f"ASSISTANT_EMBEDDING_MODEL={model_folder.resolve()}" in (
        caught.value.hint
    )
    with pytest.raises(IndexMismatchError):  # the same folder with another query prefix
        open_index(folder_settings(model_folder, tmp_path, embedding_query_prefix="query: "))

    moved = tmp_path / "elsewhere" / model_folder.name
    shutil.move(model_folder.parent, moved.parent)
    reopened = open_index(folder_settings(moved, tmp_path))  # same name and contents: same index
    assert search(reopened, "volcanic ash", RetrievalOptions(k=1)).results[0].paper_id == "volcano"
    reopened.close()


def test_missing_files_are_clear_errors(model_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError) as no_folder:
        make_embedder(folder_settings(tmp_path / "no-such-model", tmp_path))
    assert "does not exist" in no_folder.value.message and no_folder.value.hint

    (model_folder / "tokenizer.json").unlink()
    with pytest.raises(AssistantError) as caught:
        make_embedder(folder_settings(model_folder, tmp_path))
    assert "no tokenizer.json" in caught.value.message and str(model_folder) in caught.value.message
    assert caught.value.hint and "save_pretrained" in caught.value.hint

    (model_folder / "model.onnx").unlink()
    with pytest.raises(AssistantError) as caught:
        open_index(folder_settings(model_folder, tmp_path))  # refused when the index opens
    assert "no model.onnx" in caught.value.message
    assert caught.value.hint and "optimum-cli export onnx" in caught.value.hint


def test_a_model_that_is_not_a_sentence_encoder_is_refused(
    model_folder: Path, tmp_path: Path
) -> None:
    from onnx import TensorProto, helper, save

    graph = helper.make_graph(
        [helper.make_node("Identity", ["pixel_values"], ["logits"])],
        "not-an-encoder",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 3])],
    )
    save(helper.make_model(graph), str(model_folder / "model.onnx"))
    with pytest.raises(AssistantError) as caught:
        make_embedder(folder_settings(model_folder, tmp_path))
    assert "pixel_values" in caught.value.message and "input_ids" in caught.value.message
    assert caught.value.hint and "feature-extraction" in caught.value.hint


def test_a_query_prefix_changes_query_vectors_only(model_folder: Path, tmp_path: Path) -> None:
    plain = make_embedder(folder_settings(model_folder, tmp_path))
    assert isinstance(plain, FolderEmbedder)
    prefixed = make_embedder(
        folder_settings(model_folder, tmp_path, embedding_query_prefix="query: ")
    )
    assert isinstance(prefixed, FolderEmbedder)
    np.testing.assert_array_equal(prefixed.embed(TEXTS), plain.embed(TEXTS))  # passages as before
    queries = prefixed.embed_queries(TEXTS)
    assert (queries * plain.embed_queries(TEXTS)).sum(axis=1).max() < 0.9999
    np.testing.assert_allclose(queries, plain.embed(["query: " + t for t in TEXTS]), atol=1e-6)

    # The folder's own file gives both prefixes; a setting overrides the file.
    (model_folder / CONFIG_FILE).write_text(
        json.dumps({"query_prefix": "query: ", "passage_prefix": "passage: "})
    )
    from_file = make_embedder(folder_settings(model_folder, tmp_path))
    assert isinstance(from_file, FolderEmbedder)
    assert (from_file.query_prefix, from_file.passage_prefix) == ("query: ", "passage: ")
    np.testing.assert_allclose(from_file.embed_queries(TEXTS), queries, atol=1e-6)
    overridden = make_embedder(folder_settings(model_folder, tmp_path, embedding_passage_prefix=""))
    assert isinstance(overridden, FolderEmbedder) and overridden.passage_prefix == ""

    fingerprints = {
        index_fingerprint(folder_settings(model_folder, tmp_path, **extra))["fingerprint"]
        for extra in ({}, {"embedding_query_prefix": "q: "}, {"embedding_passage_prefix": ""})
    }
    assert len(fingerprints) == 3


def test_cls_pooling_is_read_from_the_pooling_config(model_folder: Path, tmp_path: Path) -> None:
    mean = make_embedder(folder_settings(model_folder, tmp_path))
    pooling = {"word_embedding_dimension": 384, "pooling_mode_cls_token": True}
    (model_folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    cls = make_embedder(folder_settings(model_folder, tmp_path))
    assert isinstance(cls, FolderEmbedder) and cls.pooling == "cls"
    cls_vectors = cls.embed(TEXTS)
    np.testing.assert_allclose(np.linalg.norm(cls_vectors, axis=1), 1.0, atol=1e-5)
    assert (cls_vectors * mean.embed(TEXTS)).sum(axis=1).max() < 0.99
    assert index_fingerprint(folder_settings(model_folder, tmp_path))["embedding_pooling"] == "cls"
    forced = make_embedder(folder_settings(model_folder, tmp_path, embedding_pooling="mean"))
    np.testing.assert_array_equal(forced.embed(TEXTS), mean.embed(TEXTS))

    (model_folder / "1_Pooling" / "config.json").write_text(
        json.dumps({"pooling_mode_max_tokens": True})
    )
    with pytest.raises(AssistantError) as caught:
        make_embedder(folder_settings(model_folder, tmp_path))
    assert "max_tokens" in caught.value.message
    assert caught.value.hint and "ASSISTANT_EMBEDDING_POOLING" in caught.value.hint


def test_an_embedder_without_embed_queries_embeds_queries_as_passages() -> None:
    class Plain:
        name, dim, max_tokens = "plain", 2, 16

        def embed(self, texts: Sequence[str]) -> np.ndarray:
            return np.tile(np.asarray([[1.0, 0.0]], dtype=np.float32), (len(texts), 1))

        def count_tokens(self, texts: Sequence[str]) -> list[int]:
            return [len(t.split()) + 2 for t in texts]

    np.testing.assert_array_equal(embed_queries(Plain(), ["a", "b"]), Plain().embed(["a", "b"]))


def test_the_model_hash_is_remembered_by_size_and_mtime(
    model_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import assistant.embeddings.folder as folder_module

    model, cache = model_folder / "model.onnx", tmp_path / "cache"
    first = model_sha256(model, cache)
    assert (cache / folder_module.HASH_CACHE).is_file()

    def no_hashing(path: Path) -> str:
        raise AssertionError("hashed again")

    monkeypatch.setattr(folder_module, "sha256_of", no_hashing)
    assert model_sha256(model, cache) == first
    with model.open("ab") as handle:  # another file now: hashed again
        handle.write(b"\0")
    with pytest.raises(AssertionError, match="hashed again"):
        model_sha256(model, cache)
