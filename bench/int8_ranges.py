"""Write (or check) the int8 model's calibrated activation ranges shipped in the package.

    python bench/int8_ranges.py           # writes assistant/data/minilm-int8-ranges.json
    python bench/int8_ranges.py --check   # recomputes them and compares with the shipped file

Deriving the int8 MiniLM calibrates one (min, max) per quantized activation on the bundled demo
abstracts; shipping those numbers spares a new user's first run the calibration. The file is
tied to the source model's sha256 and the recipe version; a mismatch means calibrating again.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import onnx  # noqa: E402

from assistant.embeddings.minilm import (  # noqa: E402
    MINILM_FILES_SHA256,
    MINILM_MAX_TOKENS,
    minilm_files,  # noqa: E402
)
from assistant.embeddings.minilm_int8 import (  # noqa: E402
    RANGES_FILE,
    RECIPE_VERSION,
    calibrate_ranges,
    quantize_weights,
    shipped_ranges,
)


def compute() -> dict[str, tuple[float, float]]:
    files = minilm_files()
    with tempfile.TemporaryDirectory() as work:
        model = onnx.load(str(quantize_weights(files["model.onnx"], Path(work))))
        return calibrate_ranges(model, files["tokenizer.json"], MINILM_MAX_TOKENS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    ranges = compute()
    sha = MINILM_FILES_SHA256["model.onnx"]
    if args.check:
        shipped = shipped_ranges(sha)
        if shipped is None:
            sys.exit("no shipped ranges for this model and recipe")
        pairs = [(a, b) for n in ranges for a, b in zip(ranges[n], shipped[n], strict=True)]
        worst = max(abs(a - b) for a, b in pairs)
        print(f"{len(ranges)} ranges, largest difference {worst:.2e}")
        sys.exit(0 if worst < 1e-5 and ranges.keys() == shipped.keys() else 1)
    out = REPO / "assistant" / "data" / RANGES_FILE
    data = {"source_sha256": sha, "recipe": RECIPE_VERSION, "ranges": ranges}
    out.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    print(f"written {out} ({len(ranges)} ranges)")


if __name__ == "__main__":
    main()
