"""The demo corpus's tag in the catalog, and its chunk vectors shipped in the package.

The catalog's meta key ``demo`` says what an index holds: ``only`` (the demo and nothing else,
so that a first ingest of the user's papers can replace it) or ``kept`` (the demo beside the
user's papers). The chunk vectors ship as ``assistant/data/demo-vectors.npz`` (float16 rows keyed
by the sha256 of each embedded text; ``bench/demo_vectors.py`` makes it), so a first run embeds
nothing. The file is used only when its fingerprint equals the index's (embedding model,
chunking, chunker version, and for the bundled MiniLM its source file and int8 recipe); another
model or chunking embeds as before, and a text the file lacks (an edited seed) is embedded.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.demo_data import demo_vectors_path

if TYPE_CHECKING:
    import numpy as np

    from assistant.embeddings import Embedder

DEMO_META = "demo"
ONLY_DEMO = "only"
DEMO_KEPT = "kept"
FORMAT_VERSION = "1"


def vectors_fingerprint(spec: dict[str, str]) -> str:
    """What the shipped vectors must match: the index fingerprint and, for the bundled MiniLM,
    its source file and int8 recipe (which change vectors without changing the index's)."""
    parts = [FORMAT_VERSION, spec["fingerprint"], spec["embedding_model"]]
    if spec["embedding_model"] in ("all-MiniLM-L6-v2", "all-MiniLM-L6-v2-q8"):
        from assistant.embeddings.minilm import MINILM_FILES_SHA256
        from assistant.embeddings.minilm_int8 import RECIPE_VERSION

        parts += [MINILM_FILES_SHA256["model.onnx"], RECIPE_VERSION]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


@dataclass
class ShippedVectors:
    """Vectors of known texts: ``embed`` looks texts up and embeds only the others."""

    rows: dict[bytes, int]
    vectors: np.ndarray  # float32, unit rows
    embedder: Embedder  # for the texts not shipped
    embedded: int = 0  # texts it had to embed

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        found = [self.rows.get(text_key(t), -1) for t in texts]
        out = np.zeros((len(texts), self.vectors.shape[1]), dtype=np.float32)
        known = [i for i, row in enumerate(found) if row >= 0]
        out[known] = self.vectors[[found[i] for i in known]]
        missing = [i for i, row in enumerate(found) if row < 0]
        if missing:
            out[missing] = self.embedder.embed([texts[i] for i in missing])
            self.embedded += len(missing)
        return out


def load_shipped(
    spec: dict[str, str], embedder: Embedder, path: Path | None = None
) -> ShippedVectors | None:
    """The shipped vectors if they were made for this index's settings, else None."""
    import numpy as np

    path = path or demo_vectors_path()
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("fingerprint") != vectors_fingerprint(spec):
                return None
            keys = data["keys"]
            vectors = data["vectors"].astype(np.float32)
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):  # missing or damaged
        return None
    vectors /= np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
    rows = {bytes(key): i for i, key in enumerate(keys)}
    return ShippedVectors(rows, vectors, embedder)


def save_shipped(path: Path, spec: dict[str, str], texts: list[str], vectors: np.ndarray) -> None:
    """Write the vectors of ``texts`` for an index with fingerprint ``spec`` (float16)."""
    import numpy as np

    meta = {
        "fingerprint": vectors_fingerprint(spec),
        "embedding_model": spec["embedding_model"],
        "index_fingerprint": spec["fingerprint"],
        "texts": len(texts),
        "made_by": "bench/demo_vectors.py",
    }
    keys = np.frombuffer(b"".join(text_key(t) for t in texts), dtype=np.uint8).reshape(-1, 32)
    np.savez_compressed(
        path, keys=keys, vectors=vectors.astype(np.float16), meta=np.array(json.dumps(meta))
    )
