"""Which sentence stands for a paper? Hand-labelled contribution sentences over three corpora.

    python bench/contribution_sentences.py            # both parts, every method (about 1 min)
    python bench/contribution_sentences.py --sample   # the sampling procedure: print the sample

**The labelled set** (``bench/contribution-labels.jsonl``, 170 abstracts): 60 bundled papers,
50 SciFact abstracts and 60 ACL Anthology abstracts, each corpus's abstracts of 3 to 15
sentences ranked by ``sha256("contribution-v1:CORPUS:ID")``, the first N taken. Every
sentence (as :func:`assistant.text.contribution.abstract_sentences` splits it) was labelled
by hand before the method was written:

- *contribution* (C): the paper, in its own voice or about its own work, says what it
  proposes, introduces or presents, what it studies or asks, or what it shows, finds or
  concludes (its main findings, stated as findings). Not: background, the gap or motivation,
  method and setup details (data, participants, procedure, components), a single measurement
  given without its meaning, availability notes. An abstract may have several;
- *primary* (P, a subset of C): the one or two sentences a related-work section would cite
  the paper for (the proposal, or the main conclusion).

Each abstract's part (tuning or held-out) is ``part_of("contribution-CORPUS", id)`` from
bench/heldout.py; the weights of the method were chosen on the tuning part only.

**Figures.** For each method, the share of abstracts whose chosen sentence is a contribution
sentence (precision against C; a chosen text counts as one when at least half of its
characters lie in C sentences, so that a method quoting ``split_sentences``' longer pieces is
judged fairly) and against P, by part and corpus. Methods, all in the same run:

- ``contribution`` (the new choice): :func:`assistant.text.contribution.contribution_sentence`;
- ``closest to title`` (the related-work draft's choice before: the abstract sentence of at
  least 5 words closest by cosine to the topic, here the paper's own title as topic);
- ``first sentence`` (what a truncated abstract shows).

Reads ../shared/bench (SciFact, ACL) in place; writes bench/results/contribution-sentences.json.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO))

from heldout import SHARED, part_of  # noqa: E402

from assistant.ingest.chunking import split_sentences  # noqa: E402
from assistant.text.contribution import abstract_sentences, contribution_sentence  # noqa: E402

LABELS = REPO / "bench" / "contribution-labels.jsonl"
SAMPLE = {"bundled": 60, "scifact": 50, "acl": 60}


def corpora() -> dict[str, dict[str, tuple[str, str]]]:
    """corpus -> id -> (title, abstract), as the assistant ingests them."""
    from assistant.demo_data import bundled_corpus_dir
    from assistant.evaluation import load_beir
    from assistant.ingest.dedup import merge_duplicates
    from assistant.ingest.readers import read_paths

    bundled, _ = merge_duplicates(read_paths([bundled_corpus_dir()]).papers)
    scifact = load_beir(SHARED / "scifact").corpus
    acl: dict[str, tuple[str, str]] = {}
    with gzip.open(SHARED / "acl" / "acl_abstracts.jsonl.gz", "rt", encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            acl[record["id"]] = (record["title"], record["abstract"])
    return {
        "bundled": {p.paper_id: (p.title, p.abstract) for p in bundled},
        "scifact": {p.paper_id: (p.title, p.abstract) for p in scifact},
        "acl": acl,
    }


def sample(papers: dict[str, dict[str, tuple[str, str]]]) -> list[tuple[str, str]]:
    """The sampling procedure that chose the labelled abstracts."""
    chosen = []
    for corpus, n in SAMPLE.items():
        eligible = [
            pid
            for pid, (_t, abstract) in papers[corpus].items()
            if 3 <= len(abstract_sentences(abstract)) <= 15
        ]
        eligible.sort(
            key=lambda pid: hashlib.sha256(f"contribution-v1:{corpus}:{pid}".encode()).hexdigest()
        )
        chosen.extend((corpus, pid) for pid in eligible[:n])
    return chosen


def spans(abstract: str, pieces: list[str]) -> list[tuple[int, int]]:
    """Where each piece sits in the whitespace-normalised abstract."""
    text = " ".join(abstract.split())
    out, start = [], 0
    for piece in pieces:
        at = text.find(piece, start)
        if at < 0:
            at = text.find(piece)
        out.append((at, at + len(piece)))
        start = max(start, at + len(piece))
    return out


def correct(abstract: str, chosen: str, labelled: list[tuple[int, int]]) -> bool:
    """At least half of the chosen text's characters lie in labelled sentences."""
    text = " ".join(abstract.split())
    at = text.find(chosen)
    if at < 0:
        return False
    covered = sum(max(0, min(at + len(chosen), e) - max(at, s)) for s, e in labelled)
    return covered >= 0.5 * len(chosen)


def closest_to_title_choices(items: list[dict]) -> dict[tuple[str, str], str]:
    """The draft's former choice: the sentence (>= 5 words) closest by cosine to the topic."""
    from assistant.embeddings import embed_queries, make_embedder
    from assistant.settings import Settings

    embedder = make_embedder(Settings())
    chosen = {}
    for item in items:
        sentences = [s for s in split_sentences(item["abstract"]) if len(s.split()) >= 5] or (
            split_sentences(item["abstract"])
        )
        query = embed_queries(embedder, [item["title"]])[0]
        sims = embedder.embed(sentences) @ query
        best = max(range(len(sentences)), key=lambda i: (round(float(sims[i]), 4), -i))
        chosen[(item["corpus"], item["id"])] = sentences[best]
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sample", action="store_true", help="print the sample and stop")
    parser.add_argument("--part", choices=["tune", "heldout", "both"], default="both")
    parser.add_argument(
        "--out", type=Path, default=REPO / "bench/results/contribution-sentences.json"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    papers = corpora()
    if args.sample:
        for corpus, pid in sample(papers):
            title, abstract = papers[corpus][pid]
            print(
                json.dumps(
                    {
                        "corpus": corpus,
                        "id": pid,
                        "title": title,
                        "sentences": abstract_sentences(abstract),
                    },
                    ensure_ascii=False,
                )
            )
        return
    labels = [json.loads(line) for line in LABELS.read_text(encoding="utf-8").splitlines()]
    assert [(r["corpus"], r["id"]) for r in labels] == sample(papers), "the sample changed"
    items = []
    for record in labels:
        title, abstract = papers[record["corpus"]][record["id"]]
        sentences = abstract_sentences(abstract)
        assert len(sentences) == record["sentences"], f"{record['id']}: the split changed"
        for k, start in record["starts"].items():
            assert sentences[int(k)].startswith(start), f"{record['id']}: sentence {k} changed"
        where = spans(abstract, sentences)
        items.append(
            {
                **record,
                "title": title,
                "abstract": abstract,
                "part": part_of(f"contribution-{record['corpus']}", record["id"]),
                "c_spans": [where[i] for i in record["contribution"]],
                "p_spans": [where[i] for i in record["primary"]],
            }
        )
    former = closest_to_title_choices(items)
    methods: dict[str, Callable[[dict], str]] = {
        "contribution": lambda it: contribution_sentence(it["title"], it["abstract"]).sentence,
        "closest to title (before)": lambda it: former[(it["corpus"], it["id"])],
        "first sentence": lambda it: abstract_sentences(it["abstract"])[0],
    }
    results: dict[str, dict[str, dict[str, float]]] = {}
    for name, choose in methods.items():
        groups: dict[str, list[tuple[bool, bool]]] = {}
        for item in items:
            text = choose(item)
            hit = (
                correct(item["abstract"], text, item["c_spans"]),
                correct(item["abstract"], text, item["p_spans"]),
            )
            for key in (item["part"], f"{item['part']}/{item['corpus']}"):
                groups.setdefault(key, []).append(hit)
        results[name] = {
            key: {
                "n": len(hits),
                "C": sum(h[0] for h in hits) / len(hits),
                "P": sum(h[1] for h in hits) / len(hits),
            }
            for key, hits in sorted(groups.items())
        }
    keys = [
        k for k in sorted(next(iter(results.values()))) if args.part in ("both", k.split("/")[0])
    ]
    print(f"{'method':28s} " + " ".join(f"{k:>22s}" for k in keys))
    for name, by_key in results.items():
        cells = [f"{by_key[k]['C']:.3f}/{by_key[k]['P']:.3f} (n={by_key[k]['n']})" for k in keys]
        print(f"{name:28s} " + " ".join(f"{c:>22s}" for c in cells))
    print("cells: precision against contribution sentences (C) / primary ones (P)")
    print(f"took {time.perf_counter() - started:.1f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
