"""Related-work drafts: the themes, the headings, the papers chosen and the time, measured.

    python bench/related_work.py                       # bundled corpus (about 2 minutes)
    python bench/related_work.py --at-59k              # also the LitSearch broad questions at 59k
    python bench/related_work.py --part tune           # print only the tuning side

Everything is compared in the same run with the draft before issue 24 (its grouping:
average-linkage on the papers' vectors at 0.6, named by three distinctive words; it drew on
``search``'s top papers, as the draft still does). Parts come from a hash (``part_of``); only
the tuning side was looked at while the method was changed.

- **Themes against hand groups** (``bench/theme-groups.jsonl``): 8 topics, the 12 papers
  ``search`` returns for each, grouped by hand by approach before the method was written.
  Adjusted Rand index of the draft's themes against them (papers in both), per topic.
- **Themes against the corpus's own topics**: mixtures of three of the bundled tuning topics
  (``../shared/bench/questions/seeds_tuning.jsonl``, t051-t065, whose gold papers were
  collected independently); the draft groups the union of their gold papers, the truth is
  which topic each paper came from. 40 mixtures chosen by hash; adjusted Rand index.
- **Headings**: every heading of every draft made here (but "Other related work") must be a
  phrase that occurs in more than half of its papers' titles and abstracts (stemmed words in
  order, hyphens ignored; a heading's bracketed acronym counts as the phrase; "A and B" when
  each paper has A or B). The share of headings that pass, and the mean number of words.
- **Surveys apart**: on the issue's example, no theme holds both a paper hand-labelled as a
  survey and one that is not.
- **Papers chosen**: the share of gold papers the draft includes, against ``search``'s top 12,
  for the bundled topic questions and (``--at-59k``) LitSearch's broad questions; and how many
  more relevant papers the draft reports it left out.
- **Time**: the whole ``assistant related-work`` process, offline, warm (the second of two
  runs), bundled and (``--at-59k``) at 59k papers.

Writes bench/results/related-work.json (``--out``).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO))

from heldout import SHARED, part_of  # noqa: E402

from assistant.api import open_index  # noqa: E402
from assistant.generation.draft_plan import plan_draft  # noqa: E402
from assistant.index.paper_index import PaperIndex  # noqa: E402
from assistant.records import Paper  # noqa: E402
from assistant.retrieval.retriever import RetrievalOptions, Retriever  # noqa: E402
from assistant.settings import Settings  # noqa: E402

GROUPS = REPO / "bench" / "theme-groups.jsonl"
SEEDS = SHARED / "questions" / "seeds_tuning.jsonl"
LITSEARCH = SHARED / "questions" / "litsearch_tuning.jsonl"
EXAMPLE = "parameter-efficient fine-tuning of large language models"
ACL_INDEX = REPO / "bench" / "results" / "index-acl-all-MiniLM-L6-v2-q8"
MIXTURES = 40


# --- the grouping before issue 24, kept here to compare with --------------------------------


def former_groups(
    index: PaperIndex, papers: list[Paper], topic: str
) -> list[tuple[str, list[int]]]:
    """The former draft's themes: vectors clustered at 0.6, named by three distinctive words."""
    import numpy as np
    from former_themes import cluster_papers, theme_heading, theme_terms

    means = index.dense.paper_means([p.paper_id for p in papers])
    missing = [p for p in papers if p.paper_id not in means]
    if missing:
        embedded = index.embedder.embed([f"{p.title}. {p.abstract}" for p in missing])
        means.update(zip((p.paper_id for p in missing), embedded, strict=True))
    vectors = np.stack([means[p.paper_id] for p in papers])
    groups, others = cluster_papers(vectors)
    names = theme_terms(index, [[papers[i] for i in g] for g in groups], exclude=topic)
    out = [(theme_heading(words), g) for words, g in zip(names, groups, strict=True)]
    if others:
        out.append(("Other related work", others))
    return out


def new_groups(index: PaperIndex, papers: list[Paper], topic: str) -> list[tuple[str, list[int]]]:
    plan = plan_draft(index, topic, papers)
    row = {p.paper_id: i for i, p in enumerate(papers)}
    return [(t.heading, [row[p.paper.paper_id] for p in t.papers]) for t in plan.themes]


# --- measures -------------------------------------------------------------------------------


def adjusted_rand(truth: list[int], found: list[int]) -> float:
    """Adjusted Rand index of two labelings of the same items (1: identical, ~0: chance)."""
    n = len(truth)
    if n < 2:
        return 1.0
    pairs = Counter(zip(truth, found, strict=True))

    def comb(x: int) -> float:
        return x * (x - 1) / 2

    index = sum(comb(c) for c in pairs.values())
    a = sum(comb(c) for c in Counter(truth).values())
    b = sum(comb(c) for c in Counter(found).values())
    expected = a * b / comb(n)
    top = (a + b) / 2
    return 1.0 if top == expected else (index - expected) / (top - expected)


def labels(groups: list[tuple[str, list[int]]], rows: list[int]) -> list[int]:
    where = {i: g for g, (_h, members) in enumerate(groups) for i in members}
    return [where[i] for i in rows]


def _stems(text: str) -> list[str]:
    import snowballstemmer

    stemmer = snowballstemmer.stemmer("english")
    text = re.sub(r"\b([A-Z]{2,})s\b", r"\1", text)  # LLMs: LLM
    return [stemmer.stemWord(w) for w in re.findall(r"[a-z0-9]+", text.lower().replace("-", ""))]


def heading_shared(heading: str, papers: list[Paper]) -> bool:
    """Whether the heading is a phrase that more than half of the papers use."""
    heading = heading.removesuffix(" (one paper)")
    acronym = re.search(r"\(([^()]+)\)\s*$", heading)
    phrase = re.sub(r"\s*\([^()]+\)\s*$", "", heading)
    alternatives = [part for part in re.split(r"\s+and\s+", phrase) if part]
    if len(alternatives) > 2:
        return False

    def uses(paper: Paper) -> bool:
        text = f"{paper.title} {paper.abstract}"
        if acronym and re.search(rf"\b{re.escape(acronym.group(1))}s?\b", text):
            return True
        words = _stems(text)
        for alternative in alternatives:
            want = _stems(alternative)
            if want and any(words[i : i + len(want)] == want for i in range(len(words))):
                return True
        return False

    return sum(uses(p) for p in papers) * 2 > len(papers)


def heading_figures(drafts: list[list[tuple[str, list[Paper]]]]) -> dict[str, float]:
    checked = [
        (h, members) for draft in drafts for h, members in draft if h != "Other related work"
    ]
    passed = [heading_shared(h, members) for h, members in checked]
    return {
        "headings": len(checked),
        "shared": sum(passed) / max(1, len(checked)),
        "words": sum(len(h.split()) for h, _m in checked) / max(1, len(checked)),
        "failing": [h for (h, _m), ok in zip(checked, passed, strict=True) if not ok][:20],
        "other_sections": sum(1 for d in drafts for h, _m in d if h == "Other related work"),
    }


# --- the measured sets ----------------------------------------------------------------------


def hand_topics(index: PaperIndex) -> dict[str, Any]:
    retriever = Retriever(index)
    rows: dict[str, list[dict[str, Any]]] = {"tune": [], "heldout": []}
    drafts: dict[str, list[list[tuple[str, list[Paper]]]]] = {"former": [], "new": []}
    for line in GROUPS.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        topic = record["topic"]
        papers = [h.paper for h in retriever.search(topic, RetrievalOptions(k=12)).results]
        truth = {pid: g for g, group in enumerate(record["groups"]) for pid in group["papers"]}
        rows_in = [i for i, p in enumerate(papers) if p.paper_id in truth]
        result: dict[str, Any] = {"topic": topic, "papers": len(rows_in)}
        for name, grouping in (("former", former_groups), ("new", new_groups)):
            groups = grouping(index, papers, topic)
            result[name] = adjusted_rand(
                [truth[papers[i].paper_id] for i in rows_in], labels(groups, rows_in)
            )
            drafts[name].append([(h, [papers[i] for i in m]) for h, m in groups])
            if topic == EXAMPLE:
                result[f"{name}_surveys_mixed"] = surveys_mixed(groups, papers, record)
                result[f"{name}_headings"] = [h for h, _m in groups]
        rows[part_of("themes", topic)].append(result)
    return {"topics": rows, "drafts": drafts}


def surveys_mixed(groups: list[tuple[str, list[int]]], papers: list[Paper], record: dict) -> int:
    """Themes holding both a hand-labelled survey and a paper that is not one."""
    surveys = {
        pid for g in record["groups"] if g["name"].startswith("Surveys") for pid in g["papers"]
    }
    return sum(
        1
        for _h, members in groups
        if {papers[i].paper_id in surveys for i in members} == {True, False}
    )


def seeds_topics(index: PaperIndex) -> list[dict[str, Any]]:
    titles = {p.title: p.paper_id for p in index.catalog.iter_papers()}
    topics = []
    for line in SEEDS.read_text(encoding="utf-8").splitlines():
        raw = json.loads(line)
        if raw["kind"] == "topic":
            gold = [titles[t] for t in raw["gold"] if t in titles]
            topics.append(
                {
                    "id": raw["id"],
                    "question": raw["question"],
                    "gold": gold,
                    "part": part_of("seeds", raw["id"]),
                }
            )
    return topics


def mixtures(index: PaperIndex, topics: list[dict[str, Any]]) -> dict[str, Any]:
    """Drafts over the union of three topics' gold papers: are the topics found again?"""
    triples = sorted(
        itertools.combinations(range(len(topics)), 3),
        key=lambda t: hashlib.sha256(
            ("mix:" + ",".join(topics[i]["id"] for i in t)).encode()
        ).hexdigest(),
    )
    rows: dict[str, list[dict[str, float]]] = {"tune": [], "heldout": []}
    drafts: dict[str, list[list[tuple[str, list[Paper]]]]] = {"former": [], "new": []}
    for triple in triples[:MIXTURES]:
        owner: dict[str, int] = {}
        for t in triple:
            for pid in topics[t]["gold"]:
                owner.setdefault(pid, t)
        ids = sorted(owner, key=lambda pid: hashlib.sha256(pid.encode()).hexdigest())
        papers = [p for p in (index.catalog.get_paper(pid) for pid in ids) if p is not None]
        truth = [owner[p.paper_id] for p in papers]
        part = part_of("theme-mixtures", "+".join(topics[t]["id"] for t in triple))
        result: dict[str, float] = {}
        for name, grouping in (("former", former_groups), ("new", new_groups)):
            groups = grouping(index, papers, "")
            result[name] = adjusted_rand(truth, labels(groups, list(range(len(papers)))))
            drafts[name].append([(h, [papers[i] for i in m]) for h, m in groups])
        rows[part].append(result)
    return {"mixtures": rows, "drafts": drafts}


def chosen(index: PaperIndex, questions: list[dict[str, Any]], settings: Settings) -> dict:
    """Gold papers in the draft against search's top 12, and the papers reported left out."""
    from assistant.api import related_work, search

    rows: dict[str, list[dict[str, float]]] = {"tune": [], "heldout": []}
    drafts: list[list[tuple[str, list[Paper]]]] = []
    for q in questions:
        gold = set(q["gold"])
        if not gold:
            continue
        top = [h.paper_id for h in search(index, q["question"], RetrievalOptions(k=12)).results]
        draft = related_work(index, q["question"], settings, RetrievalOptions(k=12))
        cited = {r.paper_id for r in draft.references}
        left = {p.paper_id for p in draft.left_out}
        rows[q["part"]].append(
            {
                "search_top12": len(gold & set(top)) / len(gold),
                "draft": len(gold & cited) / len(gold),
                "draft_or_left_out": len(gold & (cited | left)) / len(gold),
                "left_out": len(left),
            }
        )
        by_id = {r.paper_id: index.catalog.get_paper(r.paper_id) for r in draft.references}
        drafts.append(
            [
                (t.heading, [by_id[r.paper_id] for r in draft.references if r.n in t.papers])
                for t in draft.themes
            ]
        )
    return {"questions": rows, "drafts": drafts}


def whole_process(index_dir: Path, topic: str) -> float:
    """Seconds for `assistant related-work` offline, the second of two runs (warm caches)."""
    command = [
        str(REPO / ".venv" / "bin" / "assistant"),
        "related-work",
        topic,
        "--index",
        str(index_dir),
        "--extractive",
    ]
    seconds = 0.0
    for _ in range(2):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        seconds = time.perf_counter() - started
    return seconds


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def summary(rows: dict[str, list[dict[str, Any]]], keys: list[str]) -> dict[str, dict[str, float]]:
    return {
        part: {k: mean([r[k] for r in items]) for k in keys} | {"n": len(items)}
        for part, items in rows.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--index", type=Path, help="a bundled index (built in a temp folder if not)"
    )
    parser.add_argument("--at-59k", action="store_true", help="also LitSearch broad questions")
    parser.add_argument("--part", choices=["tune", "heldout", "both"], default="both")
    parser.add_argument(
        "--out", type=Path, default=REPO / "bench" / "results" / "related-work.json"
    )
    args = parser.parse_args()
    import tempfile

    from assistant.api import ensure_corpus

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.index or Path(tmp) / "bundled"
        settings = Settings(index_dir=folder)
        index = open_index(settings)
        ensure_corpus(index)
        hand = hand_topics(index)
        topics = seeds_topics(index)
        mixed = mixtures(index, topics)
        picked = chosen(index, [t for t in topics], settings)
        out["hand_topics"] = summary(hand["topics"], ["former", "new"])
        out["hand_topic_rows"] = hand["topics"]
        out["mixtures"] = summary(mixed["mixtures"], ["former", "new"])
        out["bundled_topics"] = summary(
            picked["questions"], ["search_top12", "draft", "draft_or_left_out", "left_out"]
        )
        out["headings"] = {
            name: heading_figures(
                hand["drafts"][name]
                + mixed["drafts"][name]
                + (picked["drafts"] if name == "new" else [])
            )
            for name in ("former", "new")
        }
        index.close()
        out["seconds_bundled"] = whole_process(folder, EXAMPLE)
    if args.at_59k:
        out.update(at_59k())
    show(out, args.part)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2, default=str), encoding="utf-8")


def at_59k() -> dict[str, Any]:
    settings = Settings(index_dir=ACL_INDEX)
    index = PaperIndex(settings)
    questions = []
    for line in LITSEARCH.read_text(encoding="utf-8").splitlines():
        raw = json.loads(line)
        if raw["specificity"] == "broad":
            questions.append(
                {
                    "id": raw["id"],
                    "question": raw["question"],
                    "gold": raw["gold"],
                    "part": part_of("litsearch", raw["id"]),
                }
            )
    picked = chosen(index, questions, settings)
    index.close()
    return {
        "litsearch_broad": summary(
            picked["questions"], ["search_top12", "draft", "draft_or_left_out", "left_out"]
        ),
        "headings_59k": heading_figures(picked["drafts"]),
        "seconds_59k": whole_process(ACL_INDEX, questions[0]["question"]),
    }


def show(out: dict[str, Any], part: str) -> None:
    def cell(block: dict[str, dict[str, float]], key: str) -> str:
        parts = ["tune", "heldout"] if part == "both" else [part]
        return " / ".join(f"{block[p][key]:.3f}" for p in parts if p in block)

    for name in ("hand_topics", "mixtures"):
        print(f"{name}: ARI former {cell(out[name], 'former')}  new {cell(out[name], 'new')}")
    for name in ("bundled_topics", "litsearch_broad"):
        if name in out:
            block = out[name]
            print(
                f"{name}: gold in search top 12 {cell(block, 'search_top12')}, in draft "
                f"{cell(block, 'draft')}, with left-out {cell(block, 'draft_or_left_out')}, "
                f"left out {cell(block, 'left_out')}"
            )
    for name, figures in out["headings"].items():
        print(
            f"headings {name}: {figures['shared']:.3f} shared of {figures['headings']}, "
            f"{figures['words']:.1f} words; failing {figures['failing'][:8]}"
        )
    if "headings_59k" in out:
        print(f"headings at 59k: {out['headings_59k']}")
    for row in out["hand_topic_rows"].get("tune", []) + out["hand_topic_rows"].get("heldout", []):
        if "new_headings" in row:
            print(
                f"example: surveys mixed former {row['former_surveys_mixed']}, new "
                f"{row['new_surveys_mixed']}; headings {row['new_headings']}"
            )
    print(
        f"seconds: bundled {out['seconds_bundled']:.2f}"
        + (f", 59k {out['seconds_59k']:.2f}" if "seconds_59k" in out else "")
    )


if __name__ == "__main__":
    main()
