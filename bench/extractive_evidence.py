"""Do extractive answers quote the sentence that supports the claim? SciFact's rationale
sentences as the gold, tuning and held-out parts as in bench/heldout.py.

    python bench/extractive_evidence.py             # every train claim with evidence (about 8 min)
    python bench/extractive_evidence.py --limit 100 # per part

Each claim with rationale sentences is asked with ``ask`` (extractive: no model configured) of
the 5,183 SciFact abstracts. For each quote from a gold paper: is it one of that paper's
rationale sentences (at least 70% of the rationale's words in the quote)? Figures: the share of
answers whose first gold-paper quote is a rationale, and the share of all gold-paper quotes that
are. The product is compared in the same run with the former sentence score (0.01 less per
position in the abstract). The shared corpus file joins each abstract's sentences into one
string (some glued, "million).The"); SciFact's sentence numbers are recovered by splitting at
runs of spaces and at a sentence end followed by a capital. Reads ../shared/bench in place;
writes bench/results/extractive-evidence.json.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO))

from heldout import open_built, scifact_corpus  # noqa: E402

from assistant.api import ask  # noqa: E402
from assistant.generation.answer import CitationRegistry  # noqa: E402
from assistant.settings import Settings  # noqa: E402
from assistant.text.sentences import SentenceScorer  # noqa: E402

SCIFACT = REPO.parent / "shared" / "bench" / "scifact"
_SCIFACT_SENTENCE = re.compile(r"\s{2,}\n?\s*|(?<=[.!?])(?=[A-Z(\[])")
_QUOTE = re.compile(r"“(.+)” \[(\d+)\]")


def rationale_sentences() -> tuple[dict[str, list[str]], dict[str, dict[str, set[int]]]]:
    """Abstracts as SciFact's sentences, and claim id -> paper id -> rationale sentence numbers."""
    abstracts: dict[str, list[str]] = {}
    for line in (SCIFACT / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        text = " ".join(record["abstract"])
        abstracts[str(record["doc_id"])] = [s for s in _SCIFACT_SENTENCE.split(text) if s.strip()]
    evidence: dict[str, dict[str, set[int]]] = {}
    for line in (SCIFACT / "claims_train.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        found = {
            doc: {i for e in entries for i in e["sentences"]}
            for doc, entries in record["evidence"].items()
        }
        if found:
            evidence[str(record["id"])] = found
    return abstracts, evidence


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def is_rationale(quote: str, sentences: list[str], numbers: set[int]) -> bool:
    words = _words(quote)
    for n in numbers:
        if n < len(sentences):
            wanted = _words(sentences[n])
            if wanted and len(words & wanted) / len(wanted) >= 0.7:
                return True
    return False


def with_former_score() -> Any:
    """SentenceScorer.relevance as it was: 0.01 less per position in the abstract."""
    product = SentenceScorer.relevance

    def former(
        self: SentenceScorer, candidates: Sequence[tuple[int, int, str]], **kw: float
    ) -> Any:
        scores, vectors = product(self, candidates, **kw)
        return [s - 0.01 * c[1] for s, c in zip(scores, candidates, strict=True)], vectors

    return product, former


def measure(index: Any, items: list, abstracts: dict, evidence: dict) -> dict[str, float]:
    settings = Settings(index_dir=index.dir)
    first_ok = firsts = quotes_ok = quotes = answered = 0
    for item in items:
        found = evidence[item.question.id]
        answer = ask(index, item.question.question, settings, registry=CitationRegistry())
        if answer.abstained:
            continue
        answered += 1
        paper_of = {c.n: c.paper_id for c in answer.citations}
        first = True
        for line in answer.answer.split("\n"):
            match = _QUOTE.fullmatch(line)
            paper = paper_of.get(int(match.group(2))) if match else None
            if match is None or paper not in found:
                continue
            ok = is_rationale(match.group(1), abstracts[paper], found[paper])
            quotes_ok, quotes = quotes_ok + ok, quotes + 1
            if first:
                first_ok, firsts, first = first_ok + ok, firsts + 1, False
    return {
        "claims": len(items),
        "answered": answered,
        "answers quoting a gold paper": firsts,
        "first gold quote is a rationale": first_ok / firsts if firsts else float("nan"),
        "gold quotes that are rationales": quotes_ok / quotes if quotes else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--limit", type=int, default=None, help="claims per part")
    args = parser.parse_args()
    abstracts, evidence = rationale_sentences()
    corpus = scifact_corpus()
    index = open_built(args.results, corpus)
    product, former = with_former_score()
    report: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M")}
    for part in ("tune", "heldout"):
        items = [it for it in corpus.items if it.part == part and it.question.id in evidence]
        items = items[: args.limit] if args.limit else items
        report[part] = {}
        for name, score in (("product", product), ("former (position penalty)", former)):
            SentenceScorer.relevance = score  # type: ignore[method-assign]
            report[part][name] = measure(index, items, abstracts, evidence)
        SentenceScorer.relevance = product  # type: ignore[method-assign]
    print(
        "| sentence score | "
        + " | ".join(
            f"{key} (tune / held-out)"
            for key in (
                "first gold quote is a rationale",
                "gold quotes that are rationales",
                "answers quoting a gold paper",
            )
        )
        + " |"
    )
    print("|---|---|---|---|")
    for name in ("product", "former (position penalty)"):
        cells = []
        for key in (
            "first gold quote is a rationale",
            "gold quotes that are rationales",
            "answers quoting a gold paper",
        ):
            cells.append(
                " / ".join(
                    f"{report[p][name][key]:.3f}".rstrip("0").rstrip(".")
                    if isinstance(report[p][name][key], float)
                    else str(report[p][name][key])
                    for p in ("tune", "heldout")
                )
            )
        print(f"| {name} | " + " | ".join(cells) + " |")
    out = args.results / "extractive-evidence.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"written {out}")
    index.close()


if __name__ == "__main__":
    main()
