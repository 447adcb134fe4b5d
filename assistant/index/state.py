"""What the derived files of an index (BM25, the dense mirror) reflect of the catalog.

Each paper contributes a 64-bit token made of its id and content hash; the state of a set of
papers is the XOR of their tokens. The catalog keeps its state up to date one paper at a time
(a replaced paper's old token is XORed out, its new one in), and a derived file computes its own
state from the tokens it holds, never from a stamp: a file that misses a paper, holds one too
many or an old version of one cannot claim the catalog's state, however it was saved. Comparing
the per-paper tokens then says exactly which papers to add or drop to catch up.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

    import numpy as np


def paper_token(paper_id: str, content_hash: str) -> int:
    """A paper's 64-bit token: changes when its id or embedded text changes."""
    digest = hashlib.blake2b(f"{paper_id}\0{content_hash}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def xor_of(tokens: Iterable[int]) -> int:
    """The state of a set of papers from their tokens."""
    state = 0
    for token in tokens:
        state ^= token
    return state


def xor_of_array(tokens: np.ndarray) -> int:
    """:func:`xor_of` over a uint64 array (a derived file's tokens)."""
    import numpy as np

    if len(tokens) == 0:
        return 0
    return int(np.bitwise_xor.reduce(tokens.astype(np.uint64, copy=False)))


def tokens_array(tokens: Iterable[int]) -> np.ndarray:
    import numpy as np

    return np.fromiter(tokens, dtype=np.uint64)
