"""text -> unit embedding for the rewards: article titles from the index's matrix, other texts
(behaviours, queries) from a bounded LRU cache, so a text shared by many users or repeated by
the policy across batches is embedded once.

On the small world, the users' non-title behaviour texts are 164,671 (user, text) pairs but
57,435 distinct texts: a shared cache embeds a third of what per-user caching would.
"""

from __future__ import annotations

import numpy as np

from jaxinterest.rewards.lru import LRU


class TextVectors:
    def __init__(self, title_row: dict, title_vecs: np.ndarray, size: int):
        self.title_row, self.title_vecs, self.size = title_row, title_vecs, size
        self.lru = LRU(size)

    def lookup(self, texts) -> tuple[dict, list[str]]:
        """(text -> vector for the known texts, distinct texts still to embed, in order)."""
        have, todo = {}, []
        for t in dict.fromkeys(texts):
            row = self.title_row.get(t)
            if row is not None:
                have[t] = self.title_vecs[row]
                continue
            v = self.lru.get(t)
            if v is None:
                todo.append(t)
            else:
                have[t] = v
        return have, todo

    def store(self, texts, vecs: np.ndarray) -> None:
        for t, v in zip(texts, vecs, strict=True):
            self.lru[t] = v

    def clear(self) -> None:
        self.lru.clear()

    def __len__(self) -> int:
        return len(self.lru)
