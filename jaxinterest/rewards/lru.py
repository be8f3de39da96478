"""A dict bounded to `size` entries that drops the least recently used entry first.

The reward model keeps two kinds of per-run memory that grow with the data seen: embeddings of
non-title texts and each user's state (behaviour view and themes). Both are pure functions of
their key, so dropping an entry only costs recomputing it on its next use; bounding them keeps a
long run over many users (the paper's 500,000) within a fixed memory.
"""

from __future__ import annotations

from collections import OrderedDict

_MISSING = object()


class LRU:
    """Mapping of at most `size` entries; `get` and assignment mark an entry as recent, `in`
    does not. size 0 keeps nothing (every lookup misses)."""

    def __init__(self, size: int):
        if not isinstance(size, int) or size < 0:
            raise ValueError(f"LRU size must be an int >= 0, got {size!r}")
        self.size = size
        self.data: OrderedDict = OrderedDict()

    def get(self, key, default=None):
        value = self.data.get(key, _MISSING)
        if value is _MISSING:
            return default
        self.data.move_to_end(key)
        return value

    def __getitem__(self, key):
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __setitem__(self, key, value) -> None:
        if not self.size:
            return
        self.data[key] = value
        self.data.move_to_end(key)
        while len(self.data) > self.size:
            self.data.popitem(last=False)

    def __contains__(self, key) -> bool:
        return key in self.data

    def __len__(self) -> int:
        return len(self.data)

    def clear(self) -> None:
        self.data.clear()
