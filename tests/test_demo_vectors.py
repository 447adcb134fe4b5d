"""The demo corpus's shipped vectors (assistant/data/demo-vectors.npz, bench/demo_vectors.py).

They are what the real model computes (vectors are batch-independent), a first run builds the
demo index from them without embedding, the result ranks as an index built by embedding does,
and other embedding or chunking settings do not use them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from assistant.api import ensure_corpus, open_index, search
from assistant.demo_data import demo_vectors_path
from assistant.index.demo import add_bundled
from assistant.index.shipped_vectors import load_shipped, text_key
from assistant.ingest.chunking import embedded_text
from assistant.retrieval.retriever import RetrievalOptions
from assistant.settings import Settings

REPO = Path(__file__).resolve().parent.parent
QUESTIONS = [
    json.loads(line)["question"]
    for line in (REPO / "bench" / "devset.jsonl").read_text(encoding="utf-8").splitlines()
    if line.strip()
][:30]


def chunk_texts(index_dir: Path) -> list[str]:
    """The embedded text of every chunk of an index (title + chunk, as ingest embeds it)."""
    index = open_index(Settings(index_dir=index_dir))
    try:
        titles = {p.paper_id: p.title for p in index.catalog.iter_papers()}
        rows = index.catalog._db.execute("SELECT paper_id, text FROM chunks ORDER BY chunk_id")
        return [embedded_text(titles[pid], text) for pid, text in rows]
    finally:
        index.close()


def test_the_shipped_file_is_small_and_covers_every_demo_chunk(bundled_index_dir: Path) -> None:
    assert demo_vectors_path().stat().st_size < 1_600_000
    index = open_index(Settings(index_dir=bundled_index_dir))
    shipped = load_shipped(index.spec, index.embedder)
    index.close()
    assert shipped is not None, "made for other settings: run python bench/demo_vectors.py"
    texts = chunk_texts(bundled_index_dir)
    assert len(texts) > 1500
    assert all(text_key(t) in shipped.rows for t in texts)


def test_shipped_vectors_equal_the_real_models(bundled_index_dir: Path) -> None:
    index = open_index(Settings(index_dir=bundled_index_dir))
    shipped = load_shipped(index.spec, index.embedder)
    assert shipped is not None
    texts = chunk_texts(bundled_index_dir)[::25]  # a sample of ~66 chunks
    computed = index.embedder.embed(texts)
    index.close()
    cosines = (shipped.embed(texts) * computed).sum(axis=1)
    assert cosines.min() > 0.999, cosines.min()


def test_the_demo_index_is_built_from_shipped_vectors_and_ranks_as_an_embedded_one(
    tmp_path: Path,
) -> None:
    from_vectors = open_index(Settings(index_dir=tmp_path / "shipped"))
    report = ensure_corpus(from_vectors)
    assert report is not None and report.added == 425
    assert report.chunks_embedded == 0  # nothing embedded: every vector was shipped
    embedded = open_index(Settings(index_dir=tmp_path / "embedded"))
    by_model = add_bundled(embedded, shipped=False)
    assert by_model is not None and by_model.chunks_embedded > 1500
    assert from_vectors.catalog.count_chunks() == embedded.catalog.count_chunks()
    options = RetrievalOptions(k=5)
    for question in QUESTIONS:
        ours = [h.paper_id for h in search(from_vectors, question, options).results]
        theirs = [h.paper_id for h in search(embedded, question, options).results]
        assert ours[:3] == theirs[:3], question
        assert set(ours) == set(theirs), question
    from_vectors.close()
    embedded.close()


@pytest.mark.parametrize(
    "other",
    [{"chunk_tokens": 96}, {"chunk_overlap_sentences": 1}, {"embedding_model": "all-MiniLM-L6-v2"}],
)
def test_other_settings_embed_instead(tmp_path: Path, other: dict) -> None:
    index = open_index(Settings(index_dir=tmp_path / "other", **other))
    assert load_shipped(index.spec, index.embedder) is None
    index.close()


def test_a_damaged_file_is_ignored(tmp_path: Path) -> None:
    damaged = tmp_path / "demo-vectors.npz"
    damaged.write_bytes(demo_vectors_path().read_bytes()[:5000])
    index = open_index(Settings(index_dir=tmp_path / "idx"))
    assert load_shipped(index.spec, index.embedder, damaged) is None
    index.close()
    assert np.load(demo_vectors_path())["vectors"].dtype == np.float16
