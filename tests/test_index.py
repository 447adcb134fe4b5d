"""The paper index through the library: ingest of every format, dedup, incremental re-ingest,
--rebuild, model mismatch, the ingest lock and rebuilding the derived caches.

Real parts throughout (Chroma, the ONNX embedder); corpora are a few papers written to tmp_path.
"""

from __future__ import annotations

import fcntl
import json
import re
import threading
import time
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pytest
from conftest import SEEDS

from assistant.api import ingest_paths, open_index, search
from assistant.errors import AssistantError, IndexMismatchError
from assistant.index.catalog import Catalog
from assistant.index.paper_index import PaperIndex
from assistant.ingest.dedup import merge_duplicates
from assistant.ingest.readers import read_paths
from assistant.ingest.text import normalize_title
from assistant.records import Paper
from assistant.retrieval.retriever import RetrievalOptions
from assistant.settings import Settings

# --- a small corpus, one topic per paper so that searches have one right answer -------------

QUOKKA = (
    "We introduce quokka attention, a sparse transformer layer for marsupial genome sequences. "
    "Quokka attention attends only to conserved regions, which cuts memory use by a factor of "
    "eight. On three genome benchmarks it matches dense attention at a fraction of the cost."
)
TIDAL = (
    "Tidal power plants need accurate forecasts of the coming tides. We model the coastline as "
    "a graph and train a graph neural network on twenty years of gauge readings. The network "
    "halves the forecasting error of harmonic analysis at every tested harbour."
)
VOLCANO = (
    "Volcanic ash clouds endanger aircraft. We detect ash plumes in multispectral satellite "
    "imagery with a convolutional network trained on past eruptions. The detector finds plumes "
    "an hour earlier than the operational threshold method."
)
SOURDOUGH = (
    "Sourdough fermentation is driven by yeasts and lactic acid bacteria. We model the rise of "
    "the dough with neural ordinary differential equations fitted to time-lapse photographs. "
    "The model predicts proofing time within ten minutes for unseen starters."
)
HONEYBEE = (
    "Honeybees share the location of food with the waggle dance. We decode dance angle and "
    "duration from hive video with a video transformer. The decoded vectors point to feeders "
    "within twelve degrees, better than human annotators."
)
GLACIER = (
    "Glacier calving events are hard to predict. We combine radar interferometry with a "
    "temporal convolutional network to forecast calving fronts. Forecasts one week ahead reach "
    "an accuracy of eighty percent on Greenland outlet glaciers."
)
ORIGAMI = (
    "Deployable space structures fold into small volumes for launch. We present an origami "
    "folding planner that searches crease patterns with reinforcement learning. The planned "
    "patterns deploy without self-collision in every simulated trial."
)
CORAL = (
    "Coral reef bleaching is preceded by changes in reef soundscapes. We train an acoustic "
    "classifier on hydrophone recordings to give early warnings of bleaching. Warnings arrive "
    "two weeks before visible bleaching at four monitored reefs."
)


def write_corpus(folder: Path) -> dict[str, Path]:
    """Two papers in each of the four formats; returns the files by format."""
    folder.mkdir(parents=True, exist_ok=True)
    jsonl = folder / "papers.jsonl"
    jsonl.write_text(
        json.dumps(
            {
                "id": "j-quokka",
                "title": "Quokka Attention: Sparse Transformers for Marsupial Genomics",
                "abstract": QUOKKA,
                "year": 2021,
                "authors": ["Ada Lovelace", "Alan Turing"],
                "venue": "NeurIPS",
                "track": "main",
            }
        )
        + "\n"
        + json.dumps(
            {
                "id": "j-tidal",
                "title": "Tidal Energy Forecasting with Graph Neural Networks",
                "abstract": TIDAL,
                "year": 2023,
                "authors": ["Grace Hopper"],
                "track": "findings",
            }
        )
        + "\n",
        encoding="utf-8",
    )
    csv = folder / "papers.csv"
    csv.write_text(
        "title,abstract,year,authors,doi\n"
        f'Volcanic Ash Detection from Satellite Imagery,"{VOLCANO}",2019,'
        "Marie Curie; Pierre Curie,10.5555/volcano\n"
        f'Sourdough Fermentation Kinetics Modelled by Neural ODEs,"{SOURDOUGH}",2024,'
        "Louis Pasteur,\n",
        encoding="utf-8",
    )
    bib = folder / "papers.bib"
    bib.write_text(
        "@article{bee2022,\n"
        "  title = {Honeybee Waggle Dance Decoding with Video Transformers},\n"
        "  author = {Frisch, Karl von and Seeley, Thomas},\n"
        "  journal = {Journal of Insect Behavior},\n"
        "  year = {2022},\n"
        f"  abstract = {{{HONEYBEE}}}\n"
        "}\n\n"
        "@inproceedings{glacier2020,\n"
        "  title = {Glacier Calving Prediction from Radar Interferometry},\n"
        "  author = {Nye, John},\n"
        "  booktitle = {Proceedings of the Cryosphere Workshop},\n"
        "  year = 2020,\n"
        f"  abstract = {{{GLACIER}}}\n"
        "}\n",
        encoding="utf-8",
    )
    daily = folder / "daily.txt"
    daily.write_text(
        "Daily Papers\n\nMar 14\n\n"
        f"Origami Folding Planner for Deployable Space Structures\n\n{ORIGAMI}\n\n"
        f"Coral Reef Bleaching Early Warning from Acoustic Signals\n\n{CORAL}\n",
        encoding="utf-8",
    )
    return {"jsonl": jsonl, "csv": csv, "bibtex": bib, "daily": daily}


class CountingEmbedder:
    """Wraps the real embedder and counts the texts it embeds."""

    def __init__(self, real: object) -> None:
        self.real = real
        self.texts = 0
        self.calls = 0

    def __getattr__(self, name: str) -> object:  # name, dim, max_tokens, count_tokens
        return getattr(self.real, name)

    def embed(self, texts: Sequence[str], *args: object, **kwargs: object) -> np.ndarray:
        self.texts += len(texts)
        self.calls += 1
        return self.real.embed(texts, *args, **kwargs)  # type: ignore[attr-defined]


def counting(index: PaperIndex) -> CountingEmbedder:
    wrapper = CountingEmbedder(index.embedder)
    index.__dict__["embedder"] = wrapper
    return wrapper


def settings(index_dir: Path, **kw: Any) -> Settings:
    return Settings(index_dir=index_dir, **kw)


def ids_in(index: PaperIndex) -> set[str]:
    return {p.paper_id for p in index.catalog.iter_papers()}


def write_jsonl(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


# --- ingest of every format ----------------------------------------------------------------


def test_ingest_folder_of_every_format(tmp_path: Path) -> None:
    files = write_corpus(tmp_path / "corpus")
    index = open_index(settings(tmp_path / "idx"))
    report = ingest_paths(index, [tmp_path / "corpus"])
    assert (report.added, report.updated, report.unchanged, report.rejected) == (8, 0, 0, 0)
    assert report.rejects == []
    assert report.chunks_embedded == index.catalog.count_chunks() >= 8
    assert index.store.count() == index.catalog.count_chunks()
    assert dict(index.catalog.sources()) == {f.name: 2 for f in files.values()}

    quokka = index.catalog.get_paper("j-quokka")
    assert quokka is not None
    assert (quokka.year, quokka.venue, quokka.authors) == (
        2021,
        "NeurIPS",
        ["Ada Lovelace", "Alan Turing"],
    )
    assert quokka.extra == {"track": "main"}
    assert quokka.abstract == QUOKKA
    volcano = index.catalog.get_paper("doi:10.5555/volcano")
    assert volcano is not None
    assert (volcano.year, volcano.authors, volcano.source) == (
        2019,
        ["Marie Curie", "Pierre Curie"],
        "papers.csv",
    )
    bee = next(p for p in index.catalog.iter_papers() if p.title.startswith("Honeybee"))
    assert (bee.year, bee.venue, bee.source) == (2022, "Journal of Insect Behavior", "papers.bib")
    assert bee.authors == ["Karl von Frisch", "Thomas Seeley"]
    assert bee.extra.get("bibkey") == "bee2022"
    origami = next(p for p in index.catalog.iter_papers() if p.title.startswith("Origami"))
    assert (origami.source, origami.abstract, origami.year) == ("daily.txt", ORIGAMI, None)

    # every paper is found by its topic
    for query, title_start in [
        ("marsupial genome sparse attention", "Quokka"),
        ("forecasting tides with graph networks", "Tidal"),
        ("ash plumes from eruptions", "Volcanic"),
        ("bread dough proofing time", "Sourdough"),
        ("bee dance video", "Honeybee"),
        ("ice front calving forecast", "Glacier"),
        ("crease patterns for satellites", "Origami"),
        ("hydrophone reef soundscape", "Coral"),
    ]:
        result = search(index, query, RetrievalOptions(k=3))
        assert result.results[0].title.startswith(title_start), (query, result.results[0].title)
    index.close()


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "bibtex", "daily"])
def test_ingest_each_format_alone(tmp_path: Path, fmt: str) -> None:
    files = write_corpus(tmp_path / "corpus")
    index = open_index(settings(tmp_path / "idx"))
    # a neutral name: the format comes from --format, not from the extension
    neutral = files[fmt].with_name(f"input-{fmt}.dat")
    neutral.write_bytes(files[fmt].read_bytes())
    report = ingest_paths(index, [neutral], fmt=fmt)
    assert (report.added, report.rejected) == (2, 0)
    assert {p.source for p in index.catalog.iter_papers()} == {neutral.name}
    index.close()


def test_format_forcing_reads_a_file_detection_gets_wrong(tmp_path: Path) -> None:
    files = write_corpus(tmp_path / "corpus")
    misnamed = tmp_path / "dump.csv"  # a Daily dump with a .csv name
    misnamed.write_bytes(files["daily"].read_bytes())
    index = open_index(settings(tmp_path / "idx"))
    wrong = ingest_paths(index, [misnamed])
    assert (wrong.added, wrong.rejected) == (0, 1)
    assert "dump.csv" in wrong.rejects[0].describe()
    assert "--format" in wrong.rejects[0].reason
    assert index.catalog.count_papers() == 0
    forced = ingest_paths(index, [misnamed], fmt="daily")
    assert (forced.added, forced.rejected) == (2, 0)
    index.close()


# --- deduplication --------------------------------------------------------------------------


def test_bundled_seeds_hold_493_entries_of_425_papers(bundled_index_dir: Path) -> None:
    assert len(read_paths([SEEDS]).papers) == 493
    catalog = Catalog(bundled_index_dir)
    try:
        assert catalog.count_papers() == 425
        titles = [normalize_title(p.title) for p in catalog.iter_papers()]
        assert len(set(titles)) == 425  # no paper twice under another id
    finally:
        catalog.close()


def test_same_paper_in_two_files_merges(tmp_path: Path) -> None:
    files = write_corpus(tmp_path / "corpus")
    extra = tmp_path / "more.csv"
    # the Daily paper again, title in other case and punctuation, with metadata the dump lacks
    extra.write_text(
        "title,abstract,year,authors\n"
        f'"origami folding planner: for deployable space-structures","{ORIGAMI}",2022,'
        "Tomohiro Tachi\n",
        encoding="utf-8",
    )
    index = open_index(settings(tmp_path / "idx"))
    report = ingest_paths(index, [files["daily"], extra])
    assert (report.added, report.duplicates_merged) == (2, 1)
    assert index.catalog.count_papers() == 2
    origami = next(p for p in index.catalog.iter_papers() if "rigami" in p.title)
    assert origami.title == "Origami Folding Planner for Deployable Space Structures"
    assert (origami.year, origami.authors, origami.source) == (
        2022,
        ["Tomohiro Tachi"],
        "daily.txt",
    )
    # and nothing of the duplicate was embedded twice
    assert index.store.count() == index.catalog.count_chunks()
    index.close()


# --- incremental re-ingest ------------------------------------------------------------------

LONG_B = " ".join(
    f"Sentence {n} of the narwhal paper reports that narwhal tusks sense salinity in experiment "
    f"number {n} with a long description of the measurement protocol and its calibration."
    for n in range(1, 13)
)
NEW_B = (
    "This revised abstract is about axolotl limb regeneration instead. "
    "Axolotls regrow limbs after amputation, and we map the genes that drive it."
)


def three_papers(b_abstract: str, c_year: int = 2020) -> list[dict[str, object]]:
    return [
        {"id": "a", "title": "Tidal Energy Forecasting", "abstract": TIDAL, "year": 2021},
        {"id": "b", "title": "Sensing with Tusks", "abstract": b_abstract, "year": 2022},
        {"id": "c", "title": "Volcanic Ash Detection", "abstract": VOLCANO, "year": c_year},
    ]


def test_reingest_of_unchanged_papers_embeds_nothing(tmp_path: Path) -> None:
    corpus = write_jsonl(tmp_path / "c.jsonl", three_papers(LONG_B))
    index = open_index(settings(tmp_path / "idx"))
    first_counter = counting(index)
    first = ingest_paths(index, [corpus])
    assert first.added == 3
    assert first_counter.texts == first.chunks_embedded == index.catalog.count_chunks()
    assert index.catalog.hashes(["b"])["b"][1] >= 3  # the long abstract spans several chunks
    index.close()

    again = open_index(settings(tmp_path / "idx"))
    counter = counting(again)
    second = ingest_paths(again, [corpus])
    assert (second.added, second.updated, second.unchanged) == (0, 0, 3)
    assert second.chunks_embedded == 0
    assert counter.texts == 0
    assert again.catalog.count_chunks() == first.chunks_embedded
    again.close()


def test_changed_abstract_reembeds_only_that_paper(tmp_path: Path) -> None:
    corpus = write_jsonl(tmp_path / "c.jsonl", three_papers(LONG_B))
    index = open_index(settings(tmp_path / "idx"))
    ingest_paths(index, [corpus])
    old_b_chunks = index.catalog.hashes(["b"])["b"][1]
    index.close()

    write_jsonl(corpus, three_papers(NEW_B))
    index = open_index(settings(tmp_path / "idx"))
    counter = counting(index)
    report = ingest_paths(index, [corpus])
    assert (report.added, report.updated, report.unchanged) == (0, 1, 2)
    new_b_chunks = index.catalog.hashes(["b"])["b"][1]
    assert new_b_chunks < old_b_chunks
    assert counter.texts == report.chunks_embedded == new_b_chunks
    # the stale chunks of the old abstract are gone from Chroma and the dense cache
    assert index.store.count() == index.catalog.count_chunks()
    assert len(index.dense) == index.catalog.count_chunks()

    hit = search(index, "axolotl limb regeneration", RetrievalOptions(k=3)).results[0]
    assert hit.paper_id == "b"
    assert "xolotl" in hit.snippet
    assert index.lexical.search("narwhal", 5) == []
    index.close()

    # the same after reopening (the saved caches reflect the change)
    reopened = open_index(settings(tmp_path / "idx"))
    assert len(reopened.dense) == reopened.catalog.count_chunks()
    assert reopened.lexical.search("narwhal", 5) == []
    assert search(reopened, "axolotl regrowth", RetrievalOptions(k=1)).results[0].paper_id == "b"
    reopened.close()


def test_metadata_change_is_applied_without_embedding(tmp_path: Path) -> None:
    corpus = write_jsonl(tmp_path / "c.jsonl", three_papers(TIDAL))
    index = open_index(settings(tmp_path / "idx"))
    ingest_paths(index, [corpus])
    write_jsonl(corpus, three_papers(TIDAL, c_year=2024))
    counter = counting(index)
    report = ingest_paths(index, [corpus])
    assert (report.updated, report.unchanged, counter.texts) == (0, 3, 0)
    paper = index.catalog.get_paper("c")
    assert paper is not None and paper.year == 2024
    # The chunks' metadata in Chroma follows: a server-side search filters on it.
    probe = np.ones(index.embedder.dim, np.float32)
    assert {pid for pid, _cos in index.store.nearest(probe, 5, where={"year": 2024})} == {"c"}
    assert "c" not in {pid for pid, _ in index.store.nearest(probe, 5, where={"year": 2020})}
    index.close()


def test_rebuild_starts_over(tmp_path: Path) -> None:
    files = write_corpus(tmp_path / "corpus")
    index = open_index(settings(tmp_path / "idx"))
    ingest_paths(index, [files["jsonl"], files["csv"]])
    assert index.catalog.count_papers() == 4
    report = ingest_paths(index, [files["bibtex"]], rebuild=True)
    assert report.added == 2
    assert {p.source for p in index.catalog.iter_papers()} == {"papers.bib"}
    assert index.catalog.count_papers() == 2
    assert index.store.count() == index.catalog.count_chunks()
    assert len(index.dense) == index.catalog.count_chunks()
    assert index.lexical.search("quokka", 5) == []
    result = search(index, "quokka attention", RetrievalOptions(k=5))
    assert all(h.paper_id != "j-quokka" for h in result.results)
    index.close()


def test_rebuild_with_nothing_readable_keeps_the_index(
    small_index_dir: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    index = open_index(settings(small_index_dir))
    before = ids_in(index)
    report = ingest_paths(index, [empty], rebuild=True)
    assert (report.added, report.rejected) == (0, 1)
    assert ids_in(index) == before and len(before) == 24
    index.close()


# --- model mismatch -------------------------------------------------------------------------


def test_other_chunk_size_is_refused_with_both_settings(small_index_dir: Path) -> None:
    with pytest.raises(IndexMismatchError) as caught:
        PaperIndex(settings(small_index_dir, chunk_tokens=96))
    message = caught.value.message
    assert "chunks of 128" in message and "chunks of 96" in message
    assert str(small_index_dir) in message
    assert caught.value.hint is not None and "--rebuild" in caught.value.hint
    assert "ASSISTANT_CHUNK_TOKENS=128" in caught.value.hint


def test_other_embedding_model_is_refused_before_asking_for_a_key(small_index_dir: Path) -> None:
    # no OPENAI_API_KEY: the mismatch, not the missing key, is what the user hears about
    with pytest.raises(IndexMismatchError) as caught:
        PaperIndex(settings(small_index_dir, embedding_model="openai:text-embedding-3-small"))
    assert "'all-MiniLM-L6-v2-q8'" in caught.value.message
    assert "'openai:text-embedding-3-small'" in caught.value.message


def test_rebuild_under_new_settings_replaces_the_index(small_index_dir: Path) -> None:
    new = settings(small_index_dir, chunk_tokens=96)
    index = PaperIndex(new, rebuild=True)
    papers, _ = merge_duplicates(read_paths([SEEDS]).papers)
    report = index.ingest(papers[:3], rebuild=True)
    assert report.added == 3
    index.close()
    reopened = PaperIndex(new)  # no mismatch any more
    assert reopened.describe()["chunk_tokens"] == 96
    assert reopened.catalog.count_papers() == 3
    reopened.close()
    with pytest.raises(IndexMismatchError):
        PaperIndex(settings(small_index_dir))  # and now the old settings are the other ones


def test_an_empty_index_accepts_other_settings(tmp_path: Path) -> None:
    PaperIndex(settings(tmp_path / "idx")).close()
    PaperIndex(settings(tmp_path / "idx", chunk_tokens=96)).close()


# --- the ingest lock ------------------------------------------------------------------------


def hold_lock(index_dir: Path) -> TextIO:
    handle = (index_dir / "ingest.lock").open("a")
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return handle


def test_second_ingest_refuses_while_the_lock_is_held(
    small_index_dir: Path, tmp_path: Path
) -> None:
    files = write_corpus(tmp_path / "corpus")
    handle = hold_lock(small_index_dir)
    try:
        index = open_index(settings(small_index_dir))
        with pytest.raises(AssistantError) as caught:
            ingest_paths(index, [files["jsonl"]])
        assert "Another ingest is running" in caught.value.message
        assert caught.value.hint is not None and "--wait" in caught.value.hint
        assert index.catalog.count_papers() == 24
        # searching is not blocked by the lock
        assert search(index, "language models", RetrievalOptions(k=3)).results
    finally:
        handle.close()
    assert ingest_paths(index, [files["jsonl"]]).added == 2
    index.close()


def test_wait_queues_behind_the_running_ingest(small_index_dir: Path, tmp_path: Path) -> None:
    files = write_corpus(tmp_path / "corpus")
    handle = hold_lock(small_index_dir)
    outcome: dict[str, Any] = {}

    def run() -> None:  # the index is opened in the thread: SQLite connections are per thread
        index = open_index(settings(small_index_dir))
        try:
            outcome["report"] = ingest_paths(index, [files["jsonl"]], wait=True)
            outcome["finished"] = time.monotonic()
        except Exception as exc:  # reported to the test below
            outcome["error"] = exc
        finally:
            index.close()

    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(1.5)
    assert worker.is_alive() and not outcome  # waiting, not failing
    released = time.monotonic()
    handle.close()
    worker.join(timeout=120)
    assert "error" not in outcome
    assert outcome["report"].added == 2
    assert outcome["finished"] > released
    catalog = Catalog(small_index_dir)
    assert catalog.count_papers() == 26
    catalog.close()


# --- derived caches -------------------------------------------------------------------------


def test_deleted_caches_are_rebuilt_and_search_is_unchanged(small_index_dir: Path) -> None:
    queries = ["efficient fine-tuning of long context", "graph reasoning", "speech recognition"]
    index = open_index(settings(small_index_dir))
    before = [search(index, q, RetrievalOptions(k=5)) for q in queries]
    index.close()
    for name in ("lexical.npz", "dense.npz"):
        (small_index_dir / name).unlink()

    index = open_index(settings(small_index_dir))
    after = [search(index, q, RetrievalOptions(k=5)) for q in queries]
    for old, new in zip(before, after, strict=True):
        assert [h.paper_id for h in new.results] == [h.paper_id for h in old.results]
        assert [h.score for h in new.results] == pytest.approx([h.score for h in old.results])
    assert (small_index_dir / "lexical.npz").is_file()
    assert (small_index_dir / "dense.npz").is_file()
    index.close()


def test_stale_caches_are_not_used(small_index_dir: Path, tmp_path: Path) -> None:
    """A cache saved before a change (e.g. a crash before it was rewritten) is rebuilt."""
    stale = tmp_path / "stale"
    stale.mkdir()
    for name in ("lexical.npz", "dense.npz"):
        (stale / name).write_bytes((small_index_dir / name).read_bytes())
    corpus = write_jsonl(tmp_path / "c.jsonl", three_papers(NEW_B))
    index = open_index(settings(small_index_dir))
    ingest_paths(index, [corpus])
    index.close()
    for name in ("lexical.npz", "dense.npz"):  # put the old caches back
        (small_index_dir / name).write_bytes((stale / name).read_bytes())
    index = open_index(settings(small_index_dir))
    assert index.catalog.count_papers() == 27
    assert len(index.dense) == index.catalog.count_chunks()
    assert (
        search(index, "axolotl limb regeneration", RetrievalOptions(k=1)).results[0].paper_id == "b"
    )
    index.close()


# --- an injected embedder -------------------------------------------------------------------


class HashingEmbedder:
    """A deterministic stand-in model: each word adds 1 to one of ``dim`` slots (by CRC32)."""

    name = "hashing-test"
    dim = 64
    max_tokens = 256

    def __init__(self) -> None:
        self.texts = 0

    @staticmethod
    def _words(text: str) -> list[str]:
        return re.findall(r"[a-z0-9]+", text.lower())

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(self._words(t)) + 2 for t in texts]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.texts += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in self._words(text):
                out[row, zlib.crc32(word.encode()) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1.0)


def test_an_injected_embedder_embeds_and_searches(tmp_path: Path) -> None:
    fake = HashingEmbedder()
    index = PaperIndex(settings(tmp_path / "idx"), embedder=fake)
    papers = [
        Paper(paper_id="quokka", title="Quokka Attention for Marsupial Genomics", abstract=QUOKKA),
        Paper(
            paper_id="tidal", title="Tidal Energy Forecasting with Graph Networks", abstract=TIDAL
        ),
        Paper(paper_id="volcano", title="Volcanic Ash Detection from Satellites", abstract=VOLCANO),
    ]
    report = index.ingest(papers)
    assert report.added == 3
    assert index.embedder is fake
    assert fake.texts == report.chunks_embedded >= 3  # the fake embedded every chunk
    assert index.dense.matrix().shape[1] == HashingEmbedder.dim  # not the real model's 384
    embedded = fake.texts
    result = search(
        index, "volcanic ash plumes in satellite imagery", RetrievalOptions(k=3, method="dense")
    )
    assert fake.texts == embedded + 1  # the query, by the same model
    assert result.results[0].paper_id == "volcano"
    index.close()
