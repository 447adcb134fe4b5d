"""What an encoder costs: CPU time to embed the chunks of 1,000 SciFact abstracts here.

    python bench/encoder_cost.py                    # 1,000 abstracts, 2 rounds per model
    python bench/encoder_cost.py --abstracts 200 --stand-in-abstracts 50 --rounds 1  # a look

The abstracts (seed 0) are chunked as ingest chunks them (128 word pieces, title included) and
embedded in-process by the runtime ingest uses (length-sorted batches of 32), after one untimed
batch that loads the model. One onnxruntime thread by default: the process's CPU seconds are
then the cost on one core, and hardly move with what else runs on a shared machine (wall time
does; on two idle cores it is about half the CPU time). The least CPU time of the rounds counts.

- Measured: the bundled MiniLM, exact (``all-MiniLM-L6-v2``) and int8 (``all-MiniLM-L6-v2-q8``),
  on all the abstracts.
- Estimated: the encoders of the README's table that cannot be downloaded here, through
  stand-ins: a BERT encoder of the same shape (layers, width, feed-forward width, heads,
  vocabulary) with random float32 weights, written as ONNX (opset 20) into a model folder and
  run as a downloaded ``hf:`` model is (folder.py), on the first ``--stand-in-abstracts`` of the
  same abstracts. Compute does not depend on the weights' values, but a real export's graph may
  fuse differently, so these are estimates; a stand-in of MiniLM's own shape shows how a float32
  export of MiniLM compares with the bundled files. bge-small-en-v1.5, e5-small-v2 and gte-small
  share one shape (12 layers of 384), bge-base-en-v1.5, e5-base-v2 and all-mpnet-base-v2 another
  (12 of 768; mpnet's relative position bias is not modelled). The layer-parameter ratio to
  MiniLM, the plainer estimate, is printed beside each.

Reads ../shared/bench/scifact in place; writes bench/results/encoder-cost.json (``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assistant.embeddings.folder import FolderEmbedder, read_folder  # noqa: E402
from assistant.embeddings.minilm import MiniLMEmbedder, minilm_files  # noqa: E402
from assistant.ingest.chunking import chunk_paper, embedded_text, paper_sentences  # noqa: E402
from assistant.ingest.readers import read_paths  # noqa: E402
from assistant.settings import Settings  # noqa: E402

SCIFACT = REPO.parent / "shared" / "bench" / "scifact" / "corpus.jsonl"
RESULTS = REPO / "bench" / "results" / "encoder-cost.json"


@dataclass(frozen=True)
class Shape:
    """A BERT encoder's shape: what its compute depends on."""

    layers: int
    width: int
    ffn: int
    heads: int
    vocab: int = 30522
    positions: int = 512

    def layer_params(self) -> int:
        """Weights of its layers (attention 4 x width^2, feed-forward 2 x width x ffn)."""
        return self.layers * (4 * self.width**2 + 2 * self.width * self.ffn)


MINILM_SHAPE = Shape(6, 384, 1536, 12)
STAND_INS = {
    "stand-in of MiniLM's shape (6 x 384): check": MINILM_SHAPE,
    "bge-small-en-v1.5, e5-small-v2, gte-small (12 x 384)": Shape(12, 384, 1536, 12),
    "bge-base-en-v1.5, e5-base-v2, all-mpnet-base-v2 (12 x 768)": Shape(12, 768, 3072, 12),
}


def chunk_texts(count: int) -> list[list[str]]:
    """The embedded texts of the chunks of ``count`` SciFact abstracts (seed 0), as ingest
    makes them, one list per abstract."""
    papers = [p for p in read_paths([SCIFACT]).papers if p.has_abstract]
    sample = random.Random(0).sample(papers, min(count, len(papers)))
    counter = MiniLMEmbedder(runtime_dir=Path(tempfile.gettempdir()))
    settings = Settings()
    texts: list[list[str]] = []
    for paper in sample:
        chunks = chunk_paper(
            paper.paper_id,
            paper.title,
            paper_sentences(paper),
            counter.count_tokens,
            settings.chunk_tokens,
            overlap=settings.chunk_overlap_sentences,
        )
        texts.append([embedded_text(paper.title, chunk.text) for chunk in chunks])
    return texts


def bert_onnx(shape: Shape, path: Path, seed: int = 0) -> None:
    """A BERT encoder of ``shape`` with random weights (inputs input_ids, attention_mask,
    token_type_ids; output last_hidden_state), as an ONNX file."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    inits: list[Any] = []
    nodes: list[Any] = []

    def weight(name: str, *dims: int, value: float | None = None) -> str:
        data = np.full(dims, value, np.float32) if value is not None else None
        if data is None:
            data = (rng.standard_normal(dims) * 0.02).astype(np.float32)
        inits.append(numpy_helper.from_array(data, name))
        return name

    def const(name: str, values: list[int]) -> str:
        inits.append(numpy_helper.from_array(np.asarray(values, np.int64), name))
        return name

    def node(op: str, inputs: list[str], name: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def norm(x: str, prefix: str) -> str:
        gamma = weight(prefix + ".g", shape.width, value=1.0)
        beta = weight(prefix + ".b", shape.width, value=0.0)
        return node("LayerNormalization", [x, gamma, beta], prefix, axis=-1, epsilon=1e-12)

    def dense(x: str, prefix: str, n_in: int, n_out: int) -> str:
        product = node("MatMul", [x, weight(prefix + ".w", n_in, n_out)], prefix + ".mm")
        return node("Add", [product, weight(prefix + ".bias", n_out, value=0.0)], prefix)

    width, heads = shape.width, shape.heads
    head = width // heads
    seq = node("Gather", [node("Shape", ["input_ids"], "shape"), const("one", [1])], "seq")
    scalar_seq = node("Squeeze", [seq], "seq_scalar")
    zero = node("Constant", [], "zero", value=helper.make_tensor("z", TensorProto.INT64, [], [0]))
    step = node("Constant", [], "step", value=helper.make_tensor("s", TensorProto.INT64, [], [1]))
    positions = node("Range", [zero, scalar_seq, step], "positions")
    embedded = node(
        "Add",
        [
            node(
                "Add",
                [
                    node("Gather", [weight("words", shape.vocab, width), "input_ids"], "e_words"),
                    node("Gather", [weight("pos", shape.positions, width), positions], "e_pos"),
                ],
                "e_sum",
            ),
            node("Gather", [weight("types", 2, width), "token_type_ids"], "e_types"),
        ],
        "e_all",
    )
    x = norm(embedded, "e_norm")
    mask = node("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    mask = node("Sub", [weight("one_f", 1, value=1.0), mask], "mask_inv")
    mask = node("Mul", [mask, weight("neg", 1, value=-10000.0)], "mask_neg")
    mask = node("Unsqueeze", [mask, const("mask_axes", [1, 2])], "mask_4d")
    split_heads = const("split_heads", [0, -1, heads, head])
    merge_heads = const("merge_heads", [0, -1, width])
    scale = weight("scale", 1, value=1.0 / head**0.5)
    for layer in range(shape.layers):
        p = f"l{layer}"
        q, k, v = (
            node(
                "Transpose",
                [node("Reshape", [dense(x, f"{p}.{n}", width, width), split_heads], f"{p}.{n}.r")],
                f"{p}.{n}.t",
                perm=[0, 2, 3, 1] if n == "k" else [0, 2, 1, 3],
            )
            for n in ("q", "k", "v")
        )
        scores = node("Mul", [node("MatMul", [q, k], f"{p}.qk"), scale], f"{p}.scaled")
        probs = node("Softmax", [node("Add", [scores, mask], f"{p}.masked")], f"{p}.p", axis=-1)
        context = node(
            "Transpose", [node("MatMul", [probs, v], f"{p}.ctx")], f"{p}.ct", perm=[0, 2, 1, 3]
        )
        context = node("Reshape", [context, merge_heads], f"{p}.cr")
        x = norm(node("Add", [x, dense(context, f"{p}.o", width, width)], f"{p}.res1"), f"{p}.n1")
        hidden = node("Gelu", [dense(x, f"{p}.up", width, shape.ffn)], f"{p}.gelu")
        x = norm(
            node("Add", [x, dense(hidden, f"{p}.down", shape.ffn, width)], f"{p}.res2"), f"{p}.n2"
        )
    nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"], name="out"))
    ints = [
        helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "seq"])
        for n in ("input_ids", "attention_mask", "token_type_ids")
    ]
    out = helper.make_tensor_value_info(
        "last_hidden_state", TensorProto.FLOAT, ["batch", "seq", width]
    )
    graph = helper.make_graph(nodes, "bert", ints, [out], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 9
    onnx.save(model, str(path), save_as_external_data=True, location=path.name + ".data")


def stand_in_folder(shape: Shape, folder: Path) -> Path:
    """A model folder (model.onnx + MiniLM's tokenizer) holding a stand-in of ``shape``."""
    folder.mkdir(parents=True, exist_ok=True)
    bert_onnx(shape, folder / "model.onnx")
    (folder / "tokenizer.json").write_bytes(minilm_files()["tokenizer.json"].read_bytes())
    (folder / "assistant-embedding.json").write_text(
        json.dumps({"pooling": "mean", "max_tokens": 512})
    )
    return folder


def timed(embedder: Any, texts: list[str], rounds: int) -> dict[str, float]:
    """The least CPU time of ``rounds`` embeddings of ``texts`` (CPU and wall seconds)."""
    embedder.embed(texts[:32])  # loads the session, allocates its buffers
    best: dict[str, float] = {}
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        embedder.embed(texts)
        took = {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}
        if not best or took["cpu_s"] < best["cpu_s"]:
            best = took
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--abstracts", type=int, default=1000, help="for the bundled MiniLM")
    parser.add_argument(
        "--stand-in-abstracts", type=int, default=250, help="the first N of them, for stand-ins"
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    per_abstract = chunk_texts(args.abstracts)
    report: dict[str, Any] = {
        "abstracts": len(per_abstract),
        "chunks": sum(len(t) for t in per_abstract),
        "stand_in_abstracts": min(args.stand_in_abstracts, len(per_abstract)),
        "threads": args.threads,
        "cpus": os.cpu_count(),
        "load_before": os.getloadavg()[0],
        "models": {},
    }
    print(
        f"{report['abstracts']} SciFact abstracts, {report['chunks']} chunks; "
        f"{args.threads} thread(s); load {report['load_before']:.2f}"
    )
    base_params = MINILM_SHAPE.layer_params()
    with tempfile.TemporaryDirectory() as work:
        runtime = Path(work) / "runtime"
        settings = Settings(index_dir=Path(work) / "idx")

        def bundled(quantized: bool) -> Any:
            cache = Path(work) / "cache"
            return MiniLMEmbedder(
                threads=args.threads,
                runtime_dir=runtime,
                quantized=quantized,
                model_cache_dir=cache,
            )

        def stand_in(shape: Shape) -> Any:
            folder = stand_in_folder(shape, Path(work) / f"stand-in-{shape.layers}x{shape.width}")
            model = read_folder(str(folder), settings)
            return FolderEmbedder(model, threads=args.threads, runtime_dir=runtime)

        runs: list[tuple[str, Any, int, float | None]] = [
            ("all-MiniLM-L6-v2 (bundled, exact)", lambda: bundled(False), args.abstracts, None),
            (
                "all-MiniLM-L6-v2-q8 (bundled, int8; the default)",
                lambda: bundled(True),
                args.abstracts,
                None,
            ),
        ]
        for label, shape in STAND_INS.items():
            ratio = shape.layer_params() / base_params
            runs.append((label, lambda s=shape: stand_in(s), args.stand_in_abstracts, ratio))
        for label, make, count, ratio in runs:
            sample = per_abstract[:count]
            texts = [text for chunks in sample for text in chunks]
            took = timed(make(), texts, args.rounds)
            row: dict[str, Any] = {k: round(v * 1000 / len(sample), 1) for k, v in took.items()}
            row |= {"abstracts": len(sample), "chunks": len(texts), "measured": ratio is None}
            if ratio is not None:
                row["layer_params_vs_minilm"] = round(ratio, 2)
            report["models"][label] = row
            note = f" (layer parameters {ratio:.1f}x MiniLM's)" if ratio is not None else ""
            print(
                f"{label}: {row['cpu_s']:.0f} s CPU, {row['wall_s']:.0f} s wall per 1,000 "
                f"abstracts, from {len(sample)}{note}"
            )
    report["load_after"] = os.getloadavg()[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"load after: {report['load_after']:.2f}; written to {args.out}")


if __name__ == "__main__":
    main()
