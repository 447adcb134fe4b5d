"""Make the demo corpus's shipped chunk vectors: assistant/data/demo-vectors.npz.

    python bench/demo_vectors.py            # embed the demo corpus, write the file (~1 min)
    python bench/demo_vectors.py --check    # compare the shipped file with fresh embeddings

The demo corpus (assistant/data/seeds/) is ingested into a temporary index exactly as a first
run would, with the default embedding model and chunking (whatever ASSISTANT_* variables say),
every chunk embedded; each distinct embedded text's vector is stored as float16 under its sha256,
with the fingerprint of those settings. A first run then builds the demo index from this file
without embedding (assistant/index/demo.py). Run it again, and commit the file, whenever the
seeds, the chunker, the default model or its int8 recipe change: until then a first run embeds
the corpus as before (the fingerprint no longer matches) and tests/test_demo_vectors.py fails.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from assistant.api import open_index  # noqa: E402
from assistant.demo_data import demo_vectors_path  # noqa: E402
from assistant.embeddings import Embedder, make_embedder  # noqa: E402
from assistant.index.demo import add_bundled  # noqa: E402
from assistant.index.shipped_vectors import load_shipped, save_shipped, text_key  # noqa: E402
from assistant.settings import DEFAULT_EMBEDDING_MODEL, Settings  # noqa: E402


class Recording:
    """An embedder that remembers every text it embedded, with its vector."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name, self.dim, self.max_tokens = inner.name, inner.dim, inner.max_tokens
        self.seen: dict[str, np.ndarray] = {}

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.inner.count_tokens(texts)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self.inner.embed(texts)
        self.seen.update(zip(texts, vectors, strict=True))
        return vectors


def embed_demo(folder: Path) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    """Ingest the demo corpus into ``folder`` embedding every chunk: (index spec, text vectors)."""
    fields = Settings.model_fields
    settings = Settings(
        index_dir=folder,
        embedding_model=DEFAULT_EMBEDDING_MODEL,
        chunk_tokens=fields["chunk_tokens"].default,
        chunk_overlap_sentences=fields["chunk_overlap_sentences"].default,
    )
    recorder = Recording(make_embedder(settings))
    index = open_index(settings, embedder=recorder)
    add_bundled(index, shipped=False)
    spec = index.spec
    index.close()
    return spec, recorder.seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    parser.add_argument("--out", type=Path, default=demo_vectors_path())
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        spec, seen = embed_demo(Path(tmp))
        texts = list(seen)
        vectors = np.stack([seen[t] for t in texts])
        embedder = make_embedder(Settings(index_dir=Path(tmp)))
        shipped = load_shipped(spec, embedder, args.out)
    print(f"{len(texts)} distinct chunk texts embedded in {time.perf_counter() - started:.1f} s")
    if args.check:
        if shipped is None:
            sys.exit(f"{args.out} is missing or was made for other settings: run without --check")
        got = shipped.embed(texts)
        cosines = (got * vectors).sum(axis=1)
        print(f"cosine to fresh vectors: min {cosines.min():.6f}, mean {cosines.mean():.6f}")
        lacking = sum(text_key(t) not in shipped.rows for t in texts)
        print(f"texts not in the file: {lacking}")
        sys.exit(0 if cosines.min() > 0.999 and not lacking else 1)
    save_shipped(args.out, spec, texts, vectors)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB, {spec['embedding_model']})")


if __name__ == "__main__":
    main()
