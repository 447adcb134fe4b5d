"""A shared index on a real Chroma server (``chroma run``), used by several members.

Member A ingests; member B, with an empty folder, runs every read command against the server
and must get A's results without embedding any document (only its queries). Two members
ingesting at once lose and duplicate nothing; other settings and wrong tokens are clear errors.
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import small_corpus_text

# The real CLI, with the embedder the settings name wrapped so that every text it embeds is
# logged (EMBED_LOG): passages (documents) and queries apart.
LAUNCHER = """
import json, os, sys
import assistant.embeddings as embeddings
from assistant.embeddings.base import embed_queries

LOG = os.environ["EMBED_LOG"]
real_make = embeddings.make_embedder


def log(kind, texts):
    with open(LOG, "a", encoding="utf-8") as out:
        out.write(json.dumps({"kind": kind, "texts": list(texts)}) + "\\n")


class Logged:
    def __init__(self, inner):
        self._inner = inner
        self.name = inner.name

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def embed(self, texts, *args, **kwargs):
        log("passage", texts)
        return self._inner.embed(texts, *args, **kwargs)

    def embed_queries(self, texts):
        log("query", texts)
        return embed_queries(self._inner, texts)


embeddings.make_embedder = lambda settings: Logged(real_make(settings))
from assistant.cli.root import main

sys.argv[0] = "assistant"
main()
"""


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Chroma server on loopback, for this module's tests (each its own collection)."""
    from chroma_server import run_chroma

    with run_chroma(tmp_path_factory.mktemp("chroma-server")) as url:
        yield url


@pytest.fixture
def member(tmp_path: Path, chroma_url: str, request: pytest.FixtureRequest):  # noqa: ANN201
    """``member(name)(args, input=, env=)``: run the CLI as one member of this test's shared
    index (its own folder; the collection named after the test). Returns (code, out, err)."""
    launcher = tmp_path / "launch.py"
    launcher.write_text(LAUNCHER, encoding="utf-8")
    collection = "t" + str(abs(hash(request.node.nodeid)))[:10]

    def for_member(name: str, **extra_env: str):  # noqa: ANN202
        folder = tmp_path / name
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSISTANT_", "OPENAI_"))}
        env.update(
            COLUMNS="200",
            ASSISTANT_MODEL_CACHE_DIR=os.environ["ASSISTANT_MODEL_CACHE_DIR"],
            ASSISTANT_CHROMA_URL=chroma_url,
            ASSISTANT_COLLECTION=collection,
            ASSISTANT_INDEX_DIR=str(folder),
            EMBED_LOG=str(tmp_path / f"{name}-embedded.jsonl"),
        )
        env.update(extra_env)

        def popen(args: list[str], **more: str) -> subprocess.Popen[str]:
            return subprocess.Popen(
                [sys.executable, str(launcher), *args],
                env={**env, **more},
                cwd=tmp_path,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )

        def run(args: list[str], input: str | None = None, **more: str) -> tuple[int, str, str]:
            proc = popen(args, **more)
            out, err = proc.communicate(input, timeout=300)
            return proc.returncode, out, err

        run.popen = popen  # type: ignore[attr-defined]
        run.folder = folder  # type: ignore[attr-defined]
        run.log = tmp_path / f"{name}-embedded.jsonl"  # type: ignore[attr-defined]
        run.collection = collection  # type: ignore[attr-defined]
        return run

    return for_member


def _embedded(log: Path, kind: str) -> list[str]:
    if not log.exists():
        return []
    rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    return [text for row in rows if row["kind"] == kind for text in row["texts"]]


def _chunk_texts(folder: Path) -> set[str]:
    """The texts embedded for the chunks of the index in ``folder`` (what ingest embeds)."""
    from assistant.index.catalog import Catalog
    from assistant.ingest.chunking import embedded_text

    catalog = Catalog(folder)
    try:
        titles = {p.paper_id: p.title for p in catalog.iter_papers()}
        chunks = catalog.chunks_of(titles)
        return {embedded_text(titles[pid], c.text) for pid, cs in chunks.items() for c in cs}
    finally:
        catalog.close()


def _same(data: object) -> object:
    """A command's JSON without what differs between two folders (paths, sizes, times)."""
    if isinstance(data, dict):
        return {
            k: _same(v)
            for k, v in data.items()
            if k not in ("index_dir", "size_bytes", "seconds", "log_id", "session_id", "created")
        }
    if isinstance(data, list):
        return [_same(v) for v in data]
    return data


def _corpus(tmp_path: Path, name: str, start: int, stop: int) -> Path:
    text = small_corpus_text(stop)
    head, _, body = text.partition("Daily Papers\n\n")
    blocks = body.strip().split("\n\n")
    path = tmp_path / name
    path.write_text(head + "Daily Papers\n\n" + "\n\n".join(blocks[2 * start :]) + "\n")
    return path


def test_member_b_reads_the_whole_index_without_embedding(tmp_path: Path, member) -> None:  # noqa: ANN001
    a, b = member("a"), member("b")
    corpus = _corpus(tmp_path, "papers.txt", 0, 24)
    code, _out, err = a(["ingest", str(corpus)])
    assert code == 0, err
    ids = [p["paper_id"] for p in json.loads(a(["papers", "--json"])[1])["papers"]]
    assert len(ids) == 24
    reads = [
        ["stats", "--json"],
        ["papers", "--json", "--limit", "0"],
        ["papers", "show", ids[5], "--json"],
        ["search", "memory-efficient fine-tuning of language models", "--json"],
        ["search", "retrieval augmented generation", "--method", "dense", "--json", "-k", "5"],
        ["ask", "How can prompts be compressed for retrieval augmentation?", "--json"],
        ["cite", "Token compression lowers the cost of retrieval augmented LLMs", "--json"],
        ["related-work", "large language models", "--json"],
        ["similar", ids[3], "--json", "--k", "5"],
    ]
    chat_input = "What is retrieval augmentation?\n/quit\n"
    # B's first command reads the index from the server and says what it holds, once.
    code, out, err = b(["stats", "--json"])
    assert code == 0, err
    assert json.loads(out)["papers"] == 24
    assert "Joined the shared index" in err and "24 papers" in err
    for args in reads:
        code_a, out_a, err_a = a(args)
        code_b, out_b, err_b = b(args)
        assert code_a == code_b == 0, (args, err_a, err_b)
        assert _same(json.loads(out_b)) == _same(json.loads(out_a)), args
        assert "Joined" not in err_b
    chat_a = a(["chat", "--json", "--extractive"], input=chat_input)
    chat_b = b(["chat", "--json", "--extractive"], input=chat_input)
    assert chat_a[0] == chat_b[0] == 0, chat_b[2]
    lines_a = [_same(json.loads(line)) for line in chat_a[1].splitlines() if line.strip()]
    lines_b = [_same(json.loads(line)) for line in chat_b[1].splitlines() if line.strip()]
    assert lines_b == lines_a and lines_a
    # B embedded queries (and answer sentences), never a document chunk; A embedded them all.
    chunks = _chunk_texts(a.folder)
    assert len(chunks) >= 24
    assert chunks <= set(_embedded(a.log, "passage"))
    assert not chunks & set(_embedded(b.log, "passage"))
    assert _embedded(b.log, "query")


def test_a_member_catches_up_incrementally(tmp_path: Path, member, chroma_url: str) -> None:  # noqa: ANN001
    from assistant.api import open_index
    from assistant.settings import Settings

    a, b = member("a"), member("b")
    assert a(["ingest", str(_corpus(tmp_path, "first.txt", 0, 10))])[0] == 0
    settings = Settings(index_dir=b.folder, chroma_url=chroma_url, collection=b.collection)
    index = open_index(settings)
    assert index.shared is not None and index.shared.joined is not None
    assert (index.shared.joined.papers, index.catalog.count_papers()) == (10, 10)
    index.close()
    assert a(["ingest", str(_corpus(tmp_path, "second.txt", 10, 18))])[0] == 0
    index = open_index(settings)  # away while A added 8: reads those 8, not the 10 again
    assert index.shared is not None and index.shared.joined is None
    assert index.shared.last is not None and index.shared.last.papers == 8
    assert index.catalog.count_papers() == 18
    assert index.shared.sync() is None  # up to date: nothing read
    ids = {p.paper_id for p in index.catalog.iter_papers()}
    index.close()
    code, out, _err = a(["papers", "--json", "--limit", "0"])
    a_ids = {p["paper_id"] for p in json.loads(out)["papers"]}
    assert ids == a_ids and len(ids) == 18


def test_two_members_ingest_at_once(tmp_path: Path, member, chroma_url: str) -> None:  # noqa: ANN001
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    a, b, c = member("a"), member("b"), member("c")
    small = {"ASSISTANT_INGEST_BATCH_PAPERS": "3"}  # many commits each, interleaved
    first = a.popen(["ingest", str(_corpus(tmp_path, "a.txt", 0, 16))], **small)
    second = b.popen(["ingest", str(_corpus(tmp_path, "b.txt", 8, 24))], **small)
    for proc in (first, second):
        _out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    stats = [json.loads(run(["stats", "--json"])[1]) for run in (a, b, c)]
    assert [s["papers"] for s in stats] == [24, 24, 24]
    assert len({s["chunks"] for s in stats}) == 1
    client = chromadb.HttpClient(
        host="127.0.0.1",
        port=int(chroma_url.rsplit(":", 1)[1]),
        settings=ChromaSettings(anonymized_telemetry=False),
    )
    records = client.get_collection(f"{a.collection}-papers").get(
        where={"kind": "paper"}, include=["metadatas"]
    )
    assert len(records["ids"]) == len(set(records["ids"])) == 24
    seqs = [m["seq"] for m in records["metadatas"]]
    orders = sorted(m["order"] for m in records["metadatas"])
    assert len(set(seqs)) == 24  # every write its own number
    assert orders == list(range(1, 25))  # each paper counted once, in one ingest order
    chunks = [col for col in client.list_collections() if col.name.startswith(a.collection)]
    (chunk_collection,) = [col for col in chunks if not col.name.endswith("-papers")]
    assert chunk_collection.count() == stats[2]["chunks"]  # no chunk lost or left over
    papers = [json.loads(run(["papers", "--json", "--limit", "0"])[1]) for run in (a, b, c)]
    assert papers[0] == papers[1] == papers[2]


def test_other_settings_are_refused_with_a_hint(tmp_path: Path, member) -> None:  # noqa: ANN001
    a, b = member("a"), member("b", ASSISTANT_CHUNK_TOKENS="64")
    assert a(["ingest", str(_corpus(tmp_path, "a.txt", 0, 4))])[0] == 0
    for args in (["stats"], ["ingest", str(_corpus(tmp_path, "b.txt", 4, 6))]):
        code, out, err = b(args)
        assert code == 1 and not out
        assert "was built with embedding model 'all-MiniLM-L6-v2-q8'" in err
        assert "chunks of 128 tokens" in err and "chunks of 64" in err
        assert "ASSISTANT_CHUNK_TOKENS=128" in err
    assert not b.log.exists()  # refused before embedding anything
    assert json.loads(a(["stats", "--json"])[1])["papers"] == 4


def test_the_demo_never_goes_into_a_shared_index_unasked(member) -> None:  # noqa: ANN001
    b = member("b")
    code, out, err = b(["search", "long context"], ASSISTANT_INDEX_DIR="index")
    assert code == 1 and not out
    assert "holds no paper yet" in err and "assistant ingest --bundled" in err
    assert not b.log.exists()  # nothing embedded, nothing written
    code, out, err = b(["ingest", "--bundled", "--json"])  # asked: it goes in
    assert code == 0, err
    assert json.loads(out)["added"] == 425
    c = member("c")
    code, out, err = c(["stats", "--json"])
    assert json.loads(out)["papers"] == 425 and "425 papers" in err


class _TokenGate(http.server.ThreadingHTTPServer):
    """A token check in front of ``chroma run`` (chromadb 1.5.9's server has no auth of its
    own: Chroma's docs put a proxy in front): requests without ``Authorization: Bearer TOKEN``
    get 401 as Chroma's token auth answers; the others are forwarded to the server."""

    daemon_threads = True

    def __init__(self, upstream: int, token: str) -> None:
        gate = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                if self.headers.get("Authorization") != f"Bearer {gate.token}":
                    body = b'{"error":"ChromaAuthError","message":"Unauthorized"}'
                    self.send_response(401)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length) if length else None
                conn = http.client.HTTPConnection("127.0.0.1", upstream, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                conn.request(self.command, self.path, body=data, headers=headers)
                reply = conn.getresponse()
                payload = reply.read()
                self.send_response(reply.status)
                for key, value in reply.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward

        self.token = token
        super().__init__(("127.0.0.1", 0), Handler)


def test_a_token_is_sent_and_never_shown(tmp_path: Path, member, chroma_url: str) -> None:  # noqa: ANN001
    token = "lab-Token-7f3a9c"
    gate = _TokenGate(int(chroma_url.rsplit(":", 1)[1]), token)
    threading.Thread(target=gate.serve_forever, daemon=True).start()
    gated = f"http://127.0.0.1:{gate.server_address[1]}"
    try:
        a = member("a", ASSISTANT_CHROMA_URL=gated, ASSISTANT_CHROMA_TOKEN=token)
        code, _out, err = a(["ingest", str(_corpus(tmp_path, "a.txt", 0, 4))])
        assert code == 0, err
        assert json.loads(a(["stats", "--json"])[1])["papers"] == 4
        code, out, err = a(["config", "--json"])
        assert code == 0 and token not in out + err
        assert json.loads(out)["chroma_token"] == "**********"
        wrong = member("b", ASSISTANT_CHROMA_URL=gated, ASSISTANT_CHROMA_TOKEN="not-the-token")
        code, out, err = wrong(["search", "language models"])
        assert code == 1 and not out
        assert "refused the connection: its token was refused" in err
        assert "ASSISTANT_CHROMA_TOKEN" in err and "not-the-token" not in err
        missing = member("c", ASSISTANT_CHROMA_URL=gated)
        code, out, err = missing(["stats"])
        assert code == 1 and "its token is required and none is set" in err
        assert "ASSISTANT_CHROMA_TOKEN" in err
    finally:
        gate.shutdown()
        gate.server_close()


def _dated_papers(path: Path, n: int) -> Path:
    """``n`` papers with years, authors and venues (the bundled corpus has none), written as
    JSONL from the bundled corpus's text under new titles."""
    from assistant.demo_data import bundled_corpus_dir
    from assistant.ingest.dedup import merge_duplicates
    from assistant.ingest.readers import read_paths

    papers, _ = merge_duplicates(read_paths([bundled_corpus_dir()]).papers)
    rows = [
        {
            "id": f"dated-{i}",
            "title": f"{p.title}: a study of {2018 + i % 7}",
            "abstract": p.abstract,
            "year": 2018 + i % 7,
            "authors": ["Ada Lovelace" if i % 3 == 0 else "Alan Turing"],
            "venue": "EMNLP" if i % 2 else "ACL",
        }
        for i, p in enumerate(papers[:n])
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_dense_search_on_the_server_gives_the_mirrors_results(
    tmp_path: Path,
    member,  # noqa: ANN001
    chroma_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from assistant.api import open_index
    from assistant.index import server_dense
    from assistant.index.dense_cache import DenseCache
    from assistant.retrieval.filters import SearchFilters
    from assistant.retrieval.retriever import RetrievalOptions, Retriever
    from assistant.retrieval.similar import similar_papers
    from assistant.settings import Settings

    a = member("a")
    assert a(["ingest", "--bundled"])[0] == 0
    assert a(["ingest", str(_dated_papers(tmp_path / "dated.jsonl", 42))])[0] == 0
    shared = {"chroma_url": chroma_url, "collection": a.collection}
    mirror = open_index(Settings(index_dir=tmp_path / "mirror", **shared))
    server = open_index(
        Settings(index_dir=tmp_path / "server", server_dense_above_chunks=0, **shared)
    )
    assert isinstance(mirror.dense, DenseCache)
    assert isinstance(server.dense, server_dense.ServerDense)
    source = next(s for s, _ in server.catalog.sources() if s != "dated.jsonl")
    some = {p.paper_id for p in server.catalog.iter_papers()}
    restricted = set(sorted(some)[::3])
    cases: list[tuple[SearchFilters, set[str] | None]] = [
        (SearchFilters(), None),
        (SearchFilters(source=source), None),  # a where clause on the chunks
        (SearchFilters(year_from=2020, year_to=2023), None),  # likewise
        (SearchFilters(year_from=2019, venue="emnlp"), None),  # venue: applied to the answer
        (SearchFilters(author="lovelace"), None),  # likewise
        (SearchFilters(), restricted),  # a chat follow-up's papers
    ]
    queries = [
        "extending the context window of large language models",
        "reinforcement learning from human feedback",
    ]
    compared = 0
    for exact_below in (server_dense.EXACT_PAPERS, 0):  # filtered: exact, then the server's
        monkeypatch.setattr(server_dense, "EXACT_PAPERS", exact_below)
        for filters, paper_ids in cases:
            for method in ("hybrid", "dense"):
                options = RetrievalOptions(
                    k=8, method=method, filters=filters, parse_filters=False, paper_ids=paper_ids
                )
                for query in queries:
                    want = Retriever(mirror).search(query, options)
                    got = Retriever(server).search(query, options)
                    assert [h.paper_id for h in got.results] == [
                        h.paper_id for h in want.results
                    ], (filters, method, query)
                    for g, w in zip(got.results, want.results, strict=True):
                        assert g.score == pytest.approx(w.score, abs=1e-3)
                    assert got.confidence == pytest.approx(want.confidence, abs=1e-3)
                    compared += bool(want.results)
        assert server.dense.queries > 0
    assert compared > 40
    target = next(iter(sorted(some)))
    for filters in (SearchFilters(), SearchFilters(source=source)):
        options = RetrievalOptions(k=5, filters=filters)
        want_similar = similar_papers(mirror, target, options)
        got_similar = similar_papers(server, target, options)
        assert [h.paper_id for h in got_similar.results] == [
            h.paper_id for h in want_similar.results
        ]
        for g, w in zip(got_similar.results, want_similar.results, strict=True):
            assert g.similarity == pytest.approx(w.similarity, abs=1e-4)
    mirror.close()
    server.close()
    assert list((tmp_path / "mirror").glob("dense*"))
    assert not list((tmp_path / "server").glob("dense*"))  # no mirror built


def test_a_member_in_server_dense_mode_keeps_no_mirror(tmp_path: Path, member) -> None:  # noqa: ANN001
    a, b = member("a"), member("b", ASSISTANT_SERVER_DENSE_ABOVE_CHUNKS="0")
    assert a(["ingest", str(_corpus(tmp_path, "papers.txt", 0, 24))])[0] == 0
    for args in (
        ["stats", "--json"],
        ["search", "memory-efficient fine-tuning of language models", "--json"],
        ["related-work", "large language models", "--json"],
    ):
        code_a, out_a, err_a = a(args)
        code_b, out_b, err_b = b(args)
        assert code_a == code_b == 0, (args, err_a, err_b)
        data_a, data_b = json.loads(out_a), json.loads(out_b)
        for key in ("results", "references"):  # search hits, related work's citations
            ids_a = [r["paper_id"] for r in data_a.get(key, [])]
            assert ids_a == [r["paper_id"] for r in data_b.get(key, [])], args
        assert data_a.get("markdown") == data_b.get("markdown")
    assert list(a.folder.glob("dense*"))
    assert not list(b.folder.glob("dense*"))
    assert not set(_embedded(b.log, "passage")) & _chunk_texts(a.folder)


def test_a_local_index_is_published_to_a_server(
    tmp_path: Path,
    small_index_dir: Path,
    member,  # noqa: ANN001
) -> None:
    from assistant.api import open_index
    from assistant.retrieval.retriever import Retriever
    from assistant.settings import Settings

    a, b = member("a"), member("b")
    local = open_index(Settings(index_dir=small_index_dir))  # collection "papers", not the lab's
    code, out, err = a(["publish", str(small_index_dir), "--json"])
    assert code == 0, err
    assert json.loads(out) == {"published": 24, "papers": 24}
    assert not _embedded(a.log, "passage")  # the vectors came from the local index
    code, out, err = b(["stats", "--json"])
    assert code == 0, err
    assert json.loads(out)["papers"] == 24 and "24 papers" in err
    assert json.loads(out)["chunks"] == local.catalog.count_chunks()
    query = "memory-efficient fine-tuning of language models"
    code, out, err = b(["search", query, "--json"])
    assert code == 0, err
    want = [hit.paper_id for hit in Retriever(local).search(query).results]
    assert [hit["paper_id"] for hit in json.loads(out)["results"]] == want
    assert not _embedded(b.log, "passage")
    local.close()

    # A new shared index of other chunks: the local index has no vectors for it.
    other = member("c", ASSISTANT_CHUNK_TOKENS="64", ASSISTANT_COLLECTION=a.collection + "c64")
    code, _out, err = other(["publish", str(small_index_dir)])
    assert code != 0 and "chunks of 64 tokens" in err and "Hint:" in err
    code, _out, err = a(["publish", str(tmp_path / "nowhere")])
    assert code != 0 and "holds no index" in err
    code, _out, err = a(["publish", str(small_index_dir)], ASSISTANT_CHROMA_URL="")
    assert code != 0 and "needs a Chroma server" in err and "ASSISTANT_CHROMA_URL" in err
