"""The llama-index default pipeline, as the baseline a user would otherwise get.

``VectorStoreIndex.from_documents`` over a Chroma collection with the default node parser
(SentenceSplitter, 1024-token chunks, so one node per abstract) and the same
all-MiniLM-L6-v2 model, run the way chromadb runs it (``ONNXMiniLM_L6_V2``: every passage
padded and truncated to 256 word pieces). Needs the ``bench`` extra (llama-index-core,
llama-index-vector-stores-chroma).

    python bench/baseline_llamaindex.py build papers.jsonl DIR   # index a file, as a process
    python bench/baseline_llamaindex.py search DIR "a query"     # one search, cold process
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from assistant.embeddings import minilm_files
from assistant.records import Paper

_CHROMA_ONNX_FILES = (
    "config.json",
    "special_tokens_map.json",
    "tokenizer_config.json",
    "tokenizer.json",
    "vocab.txt",
)


def chroma_onnx_function() -> Any:
    """chromadb's own ONNX MiniLM, pointed at the pinned packages' files (no download)."""
    from chromadb.utils.embedding_functions import ONNXMiniLM_L6_V2

    files = minilm_files()
    folder = Path(tempfile.mkdtemp(prefix="chroma-onnx-"))
    onnx = folder / "onnx"
    onnx.mkdir()
    tokenizer_dir = files["tokenizer.json"].parent
    for name in _CHROMA_ONNX_FILES:
        shutil.copy(tokenizer_dir / name, onnx / name)
    shutil.copy(files["model.onnx"], onnx / "model.onnx")
    ONNXMiniLM_L6_V2.DOWNLOAD_PATH = folder
    return ONNXMiniLM_L6_V2()


def make_embedding() -> Any:
    """A llama-index embedding that calls chromadb's ONNX MiniLM."""
    from llama_index.core.embeddings import BaseEmbedding

    function = chroma_onnx_function()

    class ChromaOnnxEmbedding(BaseEmbedding):
        def _get_query_embedding(self, query: str) -> list[float]:
            return [float(x) for x in function([query])[0]]

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

        def _get_text_embedding(self, text: str) -> list[float]:
            return [float(x) for x in function([text])[0]]

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return [[float(x) for x in row] for row in function(texts)]

    return ChromaOnnxEmbedding(model_name="all-MiniLM-L6-v2-onnx", embed_batch_size=32)


class LlamaIndexBaseline:
    """Build and query the default pipeline over some papers."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.index: Any = None
        self.embedding = make_embedding()

    def build(self, papers: list[Paper]) -> float:
        """Index the papers; returns the wall time in seconds."""
        import chromadb
        from chromadb.config import Settings as ChromaSettings
        from llama_index.core import Document, StorageContext, VectorStoreIndex
        from llama_index.vector_stores.chroma import ChromaVectorStore

        # Reuse a collection an earlier run completed for the same papers; anything else
        # (an interrupted build, other papers) is dropped, never added to: duplicated nodes
        # would crowd the baseline's top-k.
        marker = self.folder / "built.json"
        built = json.dumps({"papers": sorted(p.paper_id for p in papers)})
        if marker.is_file() and marker.read_text() == built:
            self.open()
            return 0.0
        started = time.perf_counter()
        client = chromadb.PersistentClient(
            path=str(self.folder), settings=ChromaSettings(anonymized_telemetry=False)
        )
        with contextlib.suppress(Exception):  # chromadb's NotFoundError when there is none
            client.delete_collection("baseline")
        collection = client.get_or_create_collection("baseline")
        store = ChromaVectorStore(chroma_collection=collection)
        documents = [
            Document(text=f"{p.title}\n{p.abstract}", metadata={"paper_id": p.paper_id})
            for p in papers
        ]
        self.index = VectorStoreIndex.from_documents(
            documents,
            storage_context=StorageContext.from_defaults(vector_store=store),
            embed_model=self.embedding,
        )
        seconds = time.perf_counter() - started
        marker.write_text(built)
        return seconds

    def open(self) -> None:
        """Load the collection a finished ``build`` left in the folder (for a cold search)."""
        import chromadb
        from chromadb.config import Settings as ChromaSettings
        from llama_index.core import VectorStoreIndex
        from llama_index.vector_stores.chroma import ChromaVectorStore

        if not (self.folder / "built.json").is_file():
            raise FileNotFoundError(f"no finished build in {self.folder}")
        client = chromadb.PersistentClient(
            path=str(self.folder), settings=ChromaSettings(anonymized_telemetry=False)
        )
        store = ChromaVectorStore(chroma_collection=client.get_collection("baseline"))
        self.index = VectorStoreIndex.from_vector_store(store, embed_model=self.embedding)

    def search(self, query: str, k: int = 10) -> list[str]:
        """Paper ids of the top nodes (one node per abstract here)."""
        retriever = self.index.as_retriever(similarity_top_k=k)
        nodes = retriever.retrieve(query)
        return [str(n.node.metadata["paper_id"]) for n in nodes]


def main(argv: list[str]) -> None:
    """``build FILE DIR``: index the papers of FILE (any format ``assistant ingest`` reads) in a
    fresh DIR, the whole process as a user's script would run it (bench/ingest_speed.py times
    it); ``search DIR QUERY``: one search from a cold process."""
    if len(argv) == 3 and argv[0] == "build":
        from assistant.ingest.readers import read_paths

        papers = read_paths([Path(argv[1])]).papers
        seconds = LlamaIndexBaseline(Path(argv[2])).build(papers)
        print(json.dumps({"papers": len(papers), "seconds": round(seconds, 3)}))
    elif (len(argv) == 3 and argv[0] == "search") or len(argv) == 2:  # DIR QUERY: scale.py
        baseline = LlamaIndexBaseline(Path(argv[-2]))
        baseline.open()
        print("\n".join(baseline.search(argv[-1])))
    else:
        raise SystemExit("usage: baseline_llamaindex.py build FILE DIR | search DIR QUERY")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
