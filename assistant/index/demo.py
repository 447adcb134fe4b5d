"""The bundled demo corpus: built into an index only when asked, tagged as the demo.

The demo (425 Daily Papers abstracts, ``assistant/data/seeds/``) goes into an index only when
asked: the CLI builds it into the default index on a first run with no index configured, and
``assistant ingest --bundled`` adds it anywhere (the only way it goes into a shared index on a
Chroma server). It is built from the vectors shipped with it
when they fit the index (:mod:`assistant.index.shipped_vectors`).
"""

from __future__ import annotations

from assistant.demo_data import bundled_corpus_dir
from assistant.errors import AssistantError
from assistant.index.paper_index import INGEST_WINDOW, PaperIndex, ProgressFn
from assistant.index.shipped_vectors import DEMO_KEPT, DEMO_META, ONLY_DEMO, load_shipped
from assistant.records import IngestReport


def add_bundled(
    index: PaperIndex,
    progress: ProgressFn | None = None,
    *,
    only_if_empty: bool = False,
    wait: bool = False,
    shipped: bool = True,
    rebuild: bool = False,
) -> IngestReport | None:
    """Ingest the demo corpus (from the shipped vectors when they fit) and tag it.

    ``only_if_empty``: do nothing (None) if the index holds papers once the ingest lock is held.
    ``shipped``: False embeds every chunk (what ``bench/demo_vectors.py`` and the tests compare).
    """
    from assistant.ingest.readers import read_paths

    papers = read_paths([bundled_corpus_dir()]).papers
    vectors = load_shipped(index.spec, index.embedder) if shipped else None
    index.shipped_vectors = vectors
    try:
        with index.ingesting(rebuild, wait, progress, len(papers), demo=True) as run:
            held = index.catalog.count_papers()
            if only_if_empty and held:
                return None
            own = held > 0 and index.catalog.get_meta(DEMO_META) != ONLY_DEMO
            for start in range(0, len(papers), INGEST_WINDOW):
                run.add(papers[start : start + INGEST_WINDOW])
            index.catalog.set_meta({DEMO_META: DEMO_KEPT if own else ONLY_DEMO})
    finally:
        index.shipped_vectors = None
    if vectors is not None:  # what was embedded, not looked up
        run.report.chunks_embedded = vectors.embedded
    return run.report


def ensure_bundled(index: PaperIndex, progress: ProgressFn | None = None) -> IngestReport | None:
    """Build the index from the bundled demo corpus when it holds no paper yet (never a
    shared index on a server: that is an error saying how to fill it)."""
    if index.catalog.count_papers() > 0:
        return None
    if index.shared is not None:
        raise shared_index_empty(index)
    return add_bundled(index, progress, only_if_empty=True, wait=True)


def shared_index_empty(index: PaperIndex) -> AssistantError:
    """The error for an empty shared index: the demo goes into one only when asked."""
    return AssistantError(
        f"The shared index on {index.settings.chroma_url} "
        f"(collection prefix {index.settings.collection!r}) holds no paper yet.",
        hint="Fill it with 'assistant ingest FILES...'; the bundled demo corpus goes into a "
        "shared index only when asked: 'assistant ingest --bundled'.",
    )
