"""A BM25 index over papers (title and abstract), stored beside the Chroma index.

It is kept in sync with the catalog: each ingest commit updates it incrementally (new papers are
appended, replaced ones are tombstoned). Each paper carries its state token
(:mod:`assistant.index.state`), so the index knows which version of which papers it holds: a file
behind the catalog (after a crash) catches up from it on open, a damaged one is rebuilt.
"""

from __future__ import annotations

import json
import math
import zipfile
from collections import Counter
from collections.abc import Iterable
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from assistant.index.state import xor_of_array
from assistant.index.terms import TOKENIZER_VERSION, WORD, Analyzer

# WORD and Analyzer are re-exported: they were defined here before assistant.index.terms.
__all__ = ["TOKENIZER_VERSION", "WORD", "Analyzer", "LexicalIndex"]


class LexicalIndex:
    """BM25 (k1=0.9, b=0.4, title counted twice, coined names also verbatim) over papers."""

    FILENAME = "lexical.npz"
    K1 = 0.9
    B = 0.4

    def __init__(self) -> None:
        self.analyzer = Analyzer()
        self.doc_ids: list[str] = []
        self.doc_pos: dict[str, int] = {}
        self.doc_len = np.zeros(0, dtype=np.float32)
        self.alive = np.zeros(0, dtype=bool)
        self.tokens = np.zeros(0, dtype=np.uint64)  # each position's paper state token
        self.terms: list[str] = []
        self.term_row: dict[str, int] = {}
        self.offsets = np.zeros(1, dtype=np.int64)
        self.post_doc = np.zeros(0, dtype=np.int32)
        self.post_tf = np.zeros(0, dtype=np.float32)
        self._pending: dict[str, tuple[list[int], list[int]]] = {}
        self._pending_len: list[float] = []
        self._pending_tokens: list[int] = []
        self._df: np.ndarray | None = None

    # --- building
    def _document_tokens(self, title: str, abstract: str) -> list[str]:
        title_terms = self.analyzer.bm25_terms(title)
        return title_terms + title_terms + self.analyzer.bm25_terms(abstract)

    def add(self, paper_id: str, title: str, abstract: str, token: int) -> None:
        """Add or replace one paper (``token``: its state token)."""
        self.remove(paper_id)
        position = len(self.doc_ids)
        self.doc_ids.append(paper_id)
        self.doc_pos[paper_id] = position
        tokens = self._document_tokens(title, abstract)
        self._pending_len.append(float(len(tokens)))
        self._pending_tokens.append(token)
        for term, tf in Counter(tokens).items():
            docs, tfs = self._pending.setdefault(term, ([], []))
            docs.append(position)
            tfs.append(tf)

    def remove(self, paper_id: str) -> None:
        """Drop a paper (its postings stay, dead, until the index is rebuilt)."""
        old = self.doc_pos.pop(paper_id, None)
        if old is not None and old < len(self.alive):
            self.alive[old] = False
            self._df = None

    @property
    def state(self) -> int:
        """The XOR of the live papers' tokens (compared with the catalog's)."""
        self._freeze()
        return xor_of_array(self.tokens[self.alive])

    def paper_tokens(self) -> dict[str, int]:
        """The live papers and their tokens."""
        self._freeze()
        return {pid: int(self.tokens[pos]) for pid, pos in self.doc_pos.items()}

    def _freeze(self) -> None:
        """Merge pending additions into the sparse rows (one stable sort, no per-term loop)."""
        if not self._pending and len(self.doc_len) == len(self.doc_ids):
            return
        self.doc_len = np.concatenate([self.doc_len, np.asarray(self._pending_len, np.float32)])
        self.alive = np.concatenate([self.alive, np.ones(len(self._pending_len), dtype=bool)])
        self.tokens = np.concatenate(
            [self.tokens, np.asarray(self._pending_tokens, dtype=np.uint64)]
        )
        added = [t for t in self._pending if t not in self.term_row]
        if added:
            all_terms = sorted(self.terms + added)
            term_row = {t: i for i, t in enumerate(all_terms)}
        else:
            all_terms, term_row = self.terms, self.term_row
        old_rows = np.fromiter((term_row[t] for t in self.terms), np.int64, len(self.terms))
        pending = self._pending
        new_rows = np.fromiter((term_row[t] for t in pending), np.int64, len(pending))
        sizes = np.fromiter((len(docs) for docs, _tfs in pending.values()), np.int64, len(pending))
        total = int(sizes.sum())
        rows = np.concatenate(
            [np.repeat(old_rows, np.diff(self.offsets)), np.repeat(new_rows, sizes)]
        )
        docs = np.concatenate(
            [
                self.post_doc,
                np.fromiter(chain.from_iterable(d for d, _ in pending.values()), np.int32, total),
            ]
        )
        tfs = np.concatenate(
            [
                self.post_tf,
                np.fromiter(chain.from_iterable(t for _, t in pending.values()), np.float32, total),
            ]
        )
        # Stable: within a term, older postings (lower positions) stay first.
        order = np.argsort(rows, kind="stable")
        self.post_doc = docs[order]
        self.post_tf = tfs[order]
        offsets = np.zeros(len(all_terms) + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=len(all_terms)), out=offsets[1:])
        self.offsets = offsets
        self.terms = all_terms
        self.term_row = term_row
        self._pending = {}
        self._pending_len = []
        self._pending_tokens = []
        self._df = None
        # Stale positions of replaced papers: the map keeps only the newest, mark others dead.
        live = np.zeros(len(self.doc_ids), dtype=bool)
        live[list(self.doc_pos.values())] = True
        self.alive &= live

    def compact(self) -> None:
        """Fold the papers added since the last call into the arrays (bounds memory)."""
        self._freeze()

    # --- querying
    @property
    def size(self) -> int:
        self._freeze()
        return int(self.alive.sum())

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every document position (0 for dead ones)."""
        self._freeze()
        scores = np.zeros(len(self.doc_ids), dtype=np.float32)
        n_docs = int(self.alive.sum())
        if n_docs == 0:
            return scores
        avgdl = float(self.doc_len[self.alive].mean())
        for term, qtf in Counter(self.analyzer.bm25_terms(query)).items():
            row = self.term_row.get(term)
            if row is None:
                continue
            docs = self.post_doc[self.offsets[row] : self.offsets[row + 1]]
            tfs = self.post_tf[self.offsets[row] : self.offsets[row + 1]]
            live = self.alive[docs]
            df = int(live.sum())
            if df == 0:
                continue
            idf = math.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))
            lengths = self.doc_len[docs]
            weight = tfs * (self.K1 + 1) / (tfs + self.K1 * (1 - self.B + self.B * lengths / avgdl))
            scores[docs] += (qtf * idf) * weight * live
        return scores

    def search(
        self, query: str, k: int, allowed: set[str] | None = None
    ) -> list[tuple[str, float]]:
        """The ``k`` best (paper_id, score) pairs with a positive score."""
        return self.top(self.allowed_scores(query, allowed), k)

    def allowed_scores(self, query: str, allowed: set[str] | None = None) -> np.ndarray:
        """BM25 score of every document position, 0 outside ``allowed`` (None: all)."""
        scores = self.scores(query)
        if allowed is not None:
            mask = np.zeros(len(scores), dtype=bool)
            for pid in allowed:
                pos = self.doc_pos.get(pid)
                if pos is not None:
                    mask[pos] = True
            scores = np.where(mask, scores, 0.0)
        return scores

    def score_of(self, scores: np.ndarray, paper_id: str) -> float:
        """``paper_id``'s entry in a scores array (0 when not indexed)."""
        pos = self.doc_pos.get(paper_id)
        return 0.0 if pos is None else float(scores[pos])

    def top(self, scores: np.ndarray, k: int) -> list[tuple[str, float]]:
        """The ``k`` best (paper_id, score) pairs of a scores array, positive ones only."""
        k = min(k, int((scores > 0).sum()))
        if k <= 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.doc_ids[i], float(scores[i])) for i in top]

    def _document_frequencies(self) -> np.ndarray:
        """Live documents per term (cached until the index changes)."""
        self._freeze()
        if self._df is None or len(self._df) != len(self.terms):
            live = self.alive[self.post_doc].astype(np.int64)
            if len(live):
                starts = self.offsets[:-1]
                sums = np.add.reduceat(live, np.minimum(starts, len(live) - 1))
                empty = self.offsets[1:] == starts
                self._df = np.where(empty, 0, sums)
            else:
                self._df = np.zeros(len(self.terms), dtype=np.int64)
        return self._df

    def knows(self, term: str) -> bool:
        """True when some indexed paper uses the (analysed) term."""
        self._freeze()
        return term in self.term_row

    def max_idf(self) -> float:
        """The IDF a term found in no paper would have."""
        n_docs = self.size
        return math.log(1.0 + (n_docs + 0.5) / 0.5)

    def idf(self, term: str) -> float:
        """Inverse document frequency of an analysed term (0 when unknown)."""
        self._freeze()
        row = self.term_row.get(term)
        n_docs = int(self.alive.sum())
        if row is None or n_docs == 0:
            return 0.0
        df = int(self._document_frequencies()[row])
        return math.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))

    # --- persistence
    def save(self, index_dir: Path) -> None:
        """Write atomically; the file's state is that of the papers it holds."""
        self._freeze()
        tmp = index_dir / (self.FILENAME + ".tmp.npz")
        header = {"tokenizer": TOKENIZER_VERSION}
        try:
            np.savez(
                tmp,
                header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8),
                doc_ids=np.frombuffer("\n".join(self.doc_ids).encode(), dtype=np.uint8),
                terms=np.frombuffer("\n".join(self.terms).encode(), dtype=np.uint8),
                doc_len=self.doc_len,
                alive=self.alive,
                tokens=self.tokens,
                offsets=self.offsets,
                post_doc=self.post_doc,
                post_tf=self.post_tf,
            )
            tmp.replace(index_dir / self.FILENAME)
        finally:
            tmp.unlink(missing_ok=True)

    @classmethod
    def load(cls, index_dir: Path) -> LexicalIndex | None:
        """The saved index, or None when it is missing, damaged or of another tokenizer.

        Every part is read whole, so the zip members' CRC checks any damaged byte."""
        path = index_dir / cls.FILENAME
        if not path.is_file():
            return None
        try:
            with np.load(path) as data:
                header: dict[str, Any] = json.loads(bytes(data["header"]).decode())
                if header.get("tokenizer") != TOKENIZER_VERSION:
                    return None
                index = cls()
                doc_text = bytes(data["doc_ids"]).decode()
                index.doc_ids = doc_text.split("\n") if doc_text else []
                term_text = bytes(data["terms"]).decode()
                index.terms = term_text.split("\n") if term_text else []
                index.doc_len = data["doc_len"]
                index.alive = data["alive"]
                index.tokens = data["tokens"]
                index.offsets = data["offsets"]
                index.post_doc = data["post_doc"]
                index.post_tf = data["post_tf"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, UnicodeError):
            return None
        docs = len(index.doc_ids)
        if not (
            len(index.doc_len) == len(index.alive) == len(index.tokens) == docs
            and len(index.offsets) == len(index.terms) + 1
            and len(index.post_doc) == len(index.post_tf) == int(index.offsets[-1])
            and (len(index.post_doc) == 0 or int(index.post_doc.max()) < docs)
        ):
            return None
        index.term_row = {t: i for i, t in enumerate(index.terms)}
        index.doc_pos = {pid: i for i, pid in enumerate(index.doc_ids) if bool(index.alive[i])}
        return index

    @classmethod
    def build(cls, rows: Iterable[tuple[str, str, str, int]]) -> LexicalIndex:
        """A fresh index over (paper_id, title, abstract, state token) rows."""
        index = cls()
        for paper_id, title, abstract, token in rows:
            index.add(paper_id, title, abstract, token)
        index._freeze()
        return index
