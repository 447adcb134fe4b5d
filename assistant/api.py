"""Library entry points: each returns typed objects; the CLI only parses, calls and prints."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.errors import UsageError
from assistant.index.paper_index import PaperIndex, ProgressFn
from assistant.records import IngestReport, Paper, SearchResult
from assistant.retrieval.retriever import RetrievalOptions, Retriever
from assistant.settings import Settings

if TYPE_CHECKING:
    from assistant.embeddings.base import Embedder
    from assistant.evaluation import EvalReport
    from assistant.generation.answer import Answer, CitationRegistry
    from assistant.generation.cite import CiteResult
    from assistant.generation.related_work import RelatedWork
    from assistant.index.zotero_sync import ZoteroSyncReport
    from assistant.llm.base import ChatModel, TokenFn
    from assistant.retrieval.similar import SimilarResult


def open_index(
    settings: Settings, rebuild: bool = False, embedder: Embedder | None = None
) -> PaperIndex:
    """Open or create the index the settings point at.

    ``rebuild``: it is about to be rebuilt (``ingest --rebuild``), so an index built with other
    embedding or chunking settings is no error. ``embedder``: a model to embed with instead of
    the one the settings name (the index records its name and refuses to mix models).
    """
    return PaperIndex(settings, rebuild=rebuild, embedder=embedder)


def ingest_paths(
    index: PaperIndex,
    paths: Sequence[str | Path],
    fmt: str | None = None,
    rebuild: bool = False,
    strict: bool = False,
    wait: bool = False,
    progress: ProgressFn | None = None,
    replace_demo: bool = False,
) -> IngestReport:
    """Read papers from files or folders and add them to the index.

    Rejected records are reported, not fatal, unless ``strict``: then nothing is ingested
    when any record is rejected. ``replace_demo``: if the index holds only the bundled demo
    corpus, it is emptied first (``index.demo_removed`` then says how many papers went);
    otherwise the papers go beside it.
    """
    from assistant.index.ingest_files import ingest_files

    return ingest_files(index, paths, fmt, rebuild, strict, wait, progress, replace_demo)


def ingest_zotero(
    index: PaperIndex,
    path: str | Path | None = None,
    collections: Sequence[str] = (),
    tags: Sequence[str] = (),
    libraries: Sequence[str] = (),
    rebuild: bool = False,
    wait: bool = False,
    progress: ProgressFn | None = None,
) -> ZoteroSyncReport:
    """Sync the index with a Zotero library read from its database (read-only, from a copy).

    ``path``: Zotero's data folder or its ``zotero.sqlite`` (default ``settings.zotero_dir``,
    else ``~/Zotero``). ``collections`` (with their sub-collections), ``tags`` and
    ``libraries`` (``"My Library"`` or a group's name) select part of it. The first call reads
    every item; later ones read only the items changed since, and remove the papers of items
    deleted in Zotero (or no longer selected).
    """
    from assistant.index.zotero_sync import sync_zotero
    from assistant.ingest.zotero_db import Selection

    selection = Selection(list(collections), list(tags), list(libraries))
    folder = Path(path) if path is not None else None
    return sync_zotero(index, folder, selection, rebuild=rebuild, wait=wait, progress=progress)


def watch_zotero(
    index: PaperIndex,
    on_sync: Callable[[ZoteroSyncReport], None],
    path: str | Path | None = None,
    collections: Sequence[str] = (),
    tags: Sequence[str] = (),
    libraries: Sequence[str] = (),
    interval: float | None = None,
    polls: int | None = None,
) -> int:
    """Keep the index in step with a Zotero library: sync now, then whenever its database
    changes, looking every ``interval`` seconds (``settings.zotero_poll_seconds``), until
    interrupted or after ``polls`` looks. ``on_sync`` gets each sync's report; returns how
    many ran."""
    from assistant.index.zotero_sync import watch_zotero as watch
    from assistant.ingest.zotero_db import Selection

    selection = Selection(list(collections), list(tags), list(libraries))
    folder = Path(path) if path is not None else None
    return watch(index, on_sync, folder, selection, interval=interval, polls=polls)


def ensure_corpus(index: PaperIndex, progress: ProgressFn | None = None) -> IngestReport | None:
    """Build the index from the bundled demo corpus if it is empty (None if it was not).

    The demo is tagged as such, and built from the vectors shipped with it when they fit the
    index's settings (else embedded). Never called implicitly: the CLI calls it on a first run
    only, into the default index when no index is configured.
    """
    from assistant.index.demo import ensure_bundled

    return ensure_bundled(index, progress)


def ingest_bundled(
    index: PaperIndex,
    wait: bool = False,
    progress: ProgressFn | None = None,
    rebuild: bool = False,
) -> IngestReport:
    """Add the bundled demo corpus (425 papers) to the index, beside any papers it holds
    (``rebuild``: instead of them). Tagged as the demo; built from its shipped vectors."""
    from assistant.index.demo import add_bundled

    report = add_bundled(index, progress, wait=wait, rebuild=rebuild)
    assert report is not None
    return report


def publish_index(
    index: PaperIndex, local_dir: str | Path, progress: ProgressFn | None = None
) -> int:
    """Put an index built in a local folder onto the Chroma server ``index`` is shared on: the
    papers' records and their chunk vectors, nothing embedded again. Returns the papers
    published; every member sees them at its next command."""
    from assistant.index.chroma_store import local_collection_prefix
    from assistant.index.server_sync import publish_local

    folder = Path(local_dir).expanduser()
    if index.shared is None:
        raise UsageError(
            "Publishing needs a Chroma server to publish to.",
            hint="Set ASSISTANT_CHROMA_URL (or pass --chroma URL) to the lab's server.",
        )
    if not (folder / "catalog.sqlite").is_file():
        raise UsageError(
            f"{folder} holds no index (no catalog.sqlite).",
            hint="Give the folder a local 'assistant ingest --index DIR' built.",
        )
    if folder.resolve() == index.dir.resolve():
        raise UsageError(
            f"{folder} is this member's cache folder for the server, not a local index.",
            hint="Pass another --index for the server's cache, or publish another folder.",
        )
    prefix = local_collection_prefix(folder, index.spec["fingerprint"])
    if prefix is None:
        raise UsageError(
            f"{folder} holds no vectors made with {index.spec['embedding_model']!r} and chunks "
            f"of {index.spec['chunk_tokens']} tokens, the settings of this server's index.",
            hint="Publish with the embedding and chunk settings the local index was built with.",
        )
    local_settings = index.settings.model_copy(
        update={"index_dir": folder, "chroma_url": None, "chroma_token": None, "collection": prefix}
    )
    local = PaperIndex(local_settings)
    try:
        return publish_local(local.catalog, index.shared, local.store, progress)
    finally:
        local.close()


def search(index: PaperIndex, query: str, options: RetrievalOptions | None = None) -> SearchResult:
    """Hybrid search over the index.

    Filters that cannot mean what was asked (an inverted year range, a ``key=value`` key no
    indexed paper has) raise UsageError; filters that leave no paper say why in ``notes``.
    """
    if not query.strip():
        raise UsageError("The query is empty.", hint="Give a question or keywords to search for.")
    return search_many(index, [query], options)[0]


def search_many(
    index: PaperIndex,
    queries: list[str],
    options: RetrievalOptions | None = None,
    each: Callable[[SearchResult], None] | None = None,
) -> list[SearchResult]:
    """Run many queries with one loaded index (filters checked as :func:`search` does)."""
    from assistant.retrieval.filters import check_filters, no_match_message

    options = options or RetrievalOptions()
    check_filters(options.filters, index.catalog)
    retriever = Retriever(index)
    results = []
    why: list[str | None] = []  # worked out once, for the first query the filters empty
    for query in queries:
        result = retriever.search(query, options)
        if not result.results and not options.filters.is_empty():
            if not why:
                why.append(no_match_message(options.filters, index.catalog))
            if why[0]:
                result.notes.append(why[0])
        if each is not None:
            each(result)
        results.append(result)
    return results


def ask(
    index: PaperIndex,
    question: str,
    settings: Settings,
    options: RetrievalOptions | None = None,
    registry: CitationRegistry | None = None,
    on_token: TokenFn | None = None,
    search_query: str | None = None,
    client: ChatModel | None = None,
) -> Answer:
    """Answer a question from the index, citing the papers it comes from.

    Retrieval runs on ``search_query`` (a condensed follow-up) when given, else the question.
    When retrieval says the corpus does not cover the question, the answer abstains and no model
    is asked. With an LLM configured (or ``client`` given, which is left open) the model writes
    the answer (streamed to ``on_token``); if the model fails, the error is noted and the
    extractive answer is given instead.
    """
    from assistant.generation.asking import answer_question

    return answer_question(
        index, question, settings, options, registry, on_token, search_query, client
    )


def cite_claim(
    index: PaperIndex,
    claim: str,
    settings: Settings,
    options: RetrievalOptions | None = None,
    client: ChatModel | None = None,
) -> CiteResult:
    """The indexed papers that support ``claim``, best first, each with a BibTeX entry.

    Offline, papers are ranked by their abstract sentence closest to the claim; with an LLM
    configured (or ``client`` given, which is left open) the model judges which support it,
    and if it fails the offline ranking is given with ``llm_error`` set. Nothing is offered
    when the corpus does not cover the claim.
    """
    from assistant.generation.cite import cite_claim as cite

    return cite(index, claim, settings, options, client=client)


def related_work(
    index: PaperIndex,
    topic: str,
    settings: Settings,
    options: RetrievalOptions | None = None,
    on_token: TokenFn | None = None,
    client: ChatModel | None = None,
) -> RelatedWork:
    """A draft related-work section on ``topic`` (Markdown), with its references and BibTeX.

    Offline, the retrieved papers are grouped into themes and quoted; with an LLM configured
    (or ``client`` given, which is left open) the model writes the prose, streamed to
    ``on_token``, and if it fails the offline draft is given with ``llm_error`` set. Nothing
    is drafted when the corpus does not cover the topic.
    """
    from assistant.generation.related_work import related_work as draft

    return draft(index, topic, settings, options, client=client, on_token=on_token)


def similar_papers(
    index: PaperIndex, paper: str | Paper, options: RetrievalOptions | None = None
) -> SimilarResult:
    """The indexed papers closest to a paper, best first (the paper itself left out).

    ``paper``: an indexed paper's id, DOI, arXiv id or title, or a :class:`Paper` given by its
    text (:func:`paper_from_text`; embedded when it is not indexed). Papers are compared by
    their mean chunk vectors and the paper's distinctive terms (BM25), fused as search fuses;
    ``options`` gives ``k``, ``method`` and ``filters``. ``result.close`` is False when no
    paper is close (the nearest are listed anyway). An unknown id or title raises UsageError.
    """
    from assistant.retrieval.similar import similar_papers as find_similar

    return find_similar(index, paper, options)


def paper_from_text(text: str, name: str = "text") -> Paper:
    """A paper given as text (first line its title when there are more), for
    :func:`similar_papers`; an empty text raises UsageError."""
    from assistant.retrieval.similar import paper_from_text as from_text

    return from_text(text, name)


def evaluate_questions(
    index: PaperIndex,
    questions_file: Path | None = None,
    beir_dir: Path | None = None,
    split: str | None = None,
    options: RetrievalOptions | None = None,
    progress: Callable[[int, int], None] | None = None,
    ingest_progress: ProgressFn | None = None,
) -> tuple[EvalReport, list[str]]:
    """Retrieval metrics for a question file (gold titles or ids) or a BEIR-layout benchmark.

    A BEIR corpus is ingested into ``index`` first (incrementally: a second run embeds nothing).
    Returns the report and warnings (gold entries that match no indexed paper).
    """
    from assistant.evaluation import evaluate, load_beir, load_questions_jsonl, resolve_gold

    if (questions_file is None) == (beir_dir is None):
        raise UsageError(
            "Give either a question file or --beir DIR.",
            hint="assistant eval bench/devset.jsonl, or assistant eval --beir path/to/scifact",
        )
    warnings: list[str] = []
    if beir_dir is not None:
        dataset = load_beir(beir_dir, split)
        warnings.extend(dataset.warnings)
        index.ingest(dataset.corpus, progress=ingest_progress)
        questions = dataset.questions
    else:
        assert questions_file is not None
        questions = load_questions_jsonl(questions_file)
    titles = {p.title: p.paper_id for p in index.catalog.iter_papers()}
    questions, unresolved = resolve_gold(questions, titles, set(titles.values()))
    warnings.extend(unresolved)
    options = options or RetrievalOptions()
    retriever = Retriever(index)

    def run(question: str) -> tuple[list[str], bool]:
        result = retriever.search(question, options)
        return [hit.paper_id for hit in result.results], result.covered

    return evaluate(questions, run, ks=(1, 5, 10), progress=progress), warnings
