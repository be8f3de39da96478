"""Vectorised template rendering: millions of strings without a Python loop per string.

A template such as "{E} faces pressure over {P}" is split into literals and slots. For N rows
with template ids `tid` [N] and, per slot name, a pool of strings and a row index into it [N],
`render` gathers every slot with pyarrow `take` and joins the columns element-wise in C++.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_SLOT = re.compile(r"\{(\w+)\}")


class Templates:
    """A fixed list of templates over named slots, rendered column-wise."""

    def __init__(self, templates: tuple[str, ...] | list[str]):
        self.templates = tuple(templates)
        parsed = [_SLOT.split(t) for t in self.templates]  # [lit, slot, lit, slot, ..., lit]
        self.n_slots = max((len(p) - 1) // 2 for p in parsed)
        names = sorted({n for p in parsed for n in p[1::2]})
        self.names = tuple(names)
        # slot_ids[t, j]: index into self.names, or -1 when template t has fewer slots
        self.slot_ids = np.full((len(parsed), self.n_slots), -1, np.int64)
        lits = [[""] * (self.n_slots + 1) for _ in parsed]
        for t, p in enumerate(parsed):
            for j, name in enumerate(p[1::2]):
                self.slot_ids[t, j] = names.index(name)
            for j, lit in enumerate(p[0::2]):
                # a template with fewer slots keeps its tail literal last; empty slots between
                lits[t][j if j < len(p) // 2 else self.n_slots] = lit
        self.literals = [
            pa.array([lits[t][j] for t in range(len(parsed))]) for j in range(self.n_slots + 1)
        ]

    def __len__(self) -> int:
        return len(self.templates)

    def render(self, tid: np.ndarray, values: dict[str, tuple[pa.Array, np.ndarray]]) -> pa.Array:
        """tid: [N] template ids; values: slot name -> (pool [P] strings, index [N] into pool)."""
        tid = np.asarray(tid, np.int64)
        n = len(tid)
        missing = [k for k in self.names if k not in values]
        if missing:
            raise KeyError(f"templates need slot values for {missing}")
        pools = [pa.array([""], pa.string())]
        offsets = []
        for name in self.names:
            offsets.append(sum(len(p) for p in pools))
            pools.append(values[name][0].cast(pa.string()))
        pool = pa.concat_arrays(pools)
        idx = (
            np.stack([np.asarray(values[k][1], np.int64) for k in self.names])
            if self.names
            else None
        )
        offsets = np.asarray(offsets, np.int64)
        cols = [self.literals[0].take(pa.array(tid))]
        rows = np.arange(n)
        for j in range(self.n_slots):
            sid = self.slot_ids[tid, j]
            gather = np.where(
                sid >= 0, offsets[np.maximum(sid, 0)] + idx[np.maximum(sid, 0), rows], 0
            )
            cols.append(pool.take(pa.array(gather)))
            cols.append(self.literals[j + 1].take(pa.array(tid)))
        return pc.binary_join_element_wise(*cols, "")


def typo(word: str, rng: np.random.Generator) -> str:
    """One keyboard slip in the longest word: swap, drop or double a letter."""
    parts = word.split(" ")
    k = max(range(len(parts)), key=lambda i: len(parts[i]))
    w = parts[k]
    if len(w) < 4:
        return word
    i = int(rng.integers(1, len(w) - 1))
    op = int(rng.integers(3))
    if op == 0:
        w = w[: i - 1] + w[i] + w[i - 1] + w[i + 1 :]
    elif op == 1:
        w = w[:i] + w[i + 1 :]
    else:
        w = w[:i] + w[i] + w[i:]
    parts[k] = w
    return " ".join(parts)


def slug(s: str) -> str:
    """URL path slug: lower case, letters/digits joined by '-'."""
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")


def cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def pool(strings) -> pa.Array:
    return pa.array(list(strings), pa.string())
