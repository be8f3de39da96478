"""Grain pipeline: one example per user (cleaned events -> prompt -> padded token ids).

    source (users of a split, this process's shard) -> shuffle(seed) -> repeat(epochs)
      -> map(clean + render + tokenize) -> batch -> IterDataset (resumable: get_state/set_state)

The source reads only events.parquet and users.parquet (`load_world(parts=...)`), so neither the
test-week clicks nor oracle/ can reach a prompt. `clean_fn` is the noise-cleaning hook: it gets
one user's event table (event_id, domain, timestamp, text, url, news_id) and returns a keep
mask; the default keeps everything. Batches are dicts of numpy arrays:
input_ids [B, L] int32 (left-padded, so generation continues at the last column),
attention_mask [B, L] int32, length [B] int32, user_index [B] int64 (row of `source.user_ids`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grain
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jaxinterest.data.io import World, load_world
from jaxinterest.data.prompts import PromptConfig, render_prompt

CleanFn = Callable[[pa.Table], np.ndarray]


@dataclass(frozen=True)
class PipelineConfig:
    batch_size: int = 8
    seed: int = 0
    split: str | None = "train"  # users.parquet split to read; None = all users
    num_epochs: int | None = 1  # None = repeat forever
    drop_remainder: bool = True  # fixed batch shapes for jit
    shard_index: int | None = None  # default jax.process_index()
    shard_count: int | None = None  # default jax.process_count()
    num_workers: int = 0  # >0: Grain multiprocessing prefetch


def keep_all(events: pa.Table) -> np.ndarray:
    return np.ones(len(events), bool)


class UserSource:
    """Random access over users: item i -> that user's event table (events sorted by time)."""

    def __init__(self, world: World | str | Path, split: str | None = "train"):
        if not isinstance(world, World):
            world = load_world(world, parts=("events", "users"))
        ids, offsets = world.user_slices()
        users = world.users
        if split is not None:
            users = users.filter(pc.equal(users.column("split"), split))
        wanted = set(users.column("user_id").to_pylist())
        rows = [i for i, u in enumerate(ids) if u in wanted]
        self.user_ids = [ids[i] for i in rows]
        self.starts = offsets[rows]
        self.ends = offsets[np.asarray(rows, np.int64) + 1]
        # no combine_chunks: slicing a chunked table is zero-copy and the paper-scale events
        # table is several GB
        self.events = world.events.select(
            ["event_id", "domain", "timestamp", "text", "url", "news_id"]
        )

    def __len__(self) -> int:
        return len(self.user_ids)

    def __getitem__(self, i: int) -> tuple[int, pa.Table]:
        i = int(i)
        return i, self.events.slice(int(self.starts[i]), int(self.ends[i] - self.starts[i]))


class MakeExample:
    """Picklable map: (user index, events) -> padded prompt tokens."""

    def __init__(self, tokenizer, prompt_cfg: PromptConfig, clean_fn: CleanFn | None = None):
        self.tokenizer, self.cfg, self.clean_fn = tokenizer, prompt_cfg, clean_fn or keep_all
        pad = getattr(tokenizer, "pad_token_id", None)
        self.pad_id = pad if pad is not None else (getattr(tokenizer, "eos_token_id", None) or 0)

    def __call__(self, item: tuple[int, pa.Table]) -> dict:
        index, ev = item
        keep = np.asarray(self.clean_fn(ev))
        if keep.shape != (len(ev),) or keep.dtype != bool:
            raise ValueError(
                f"clean_fn must return a bool mask of shape ({len(ev)},), got "
                f"{keep.dtype} {keep.shape}"
            )
        ev = ev.filter(pa.array(keep))
        p = render_prompt(
            ev.column("domain").to_pylist(),
            ev.column("text").to_pylist(),
            ev.column("url").to_pylist(),
            ev.column("timestamp").to_numpy(),
            self.tokenizer,
            self.cfg,
        )
        length = self.cfg.max_prompt_tokens
        ids = np.full(length, self.pad_id, np.int32)
        mask = np.zeros(length, np.int32)
        n = len(p.token_ids)
        ids[length - n :] = p.token_ids
        mask[length - n :] = 1
        return {
            "input_ids": ids,
            "attention_mask": mask,
            "length": np.int32(n),
            "user_index": np.int64(index),
        }


def _shard(cfg: PipelineConfig) -> tuple[int, int]:
    if cfg.shard_index is not None and cfg.shard_count is not None:
        index, count = cfg.shard_index, cfg.shard_count
    else:
        import jax

        index, count = jax.process_index(), jax.process_count()
    if not 0 <= index < count:
        raise ValueError(f"shard_index {index} not in [0, {count})")
    return index, count


def build_dataset(
    source: UserSource,
    tokenizer,
    prompt_cfg: PromptConfig,
    cfg: PipelineConfig,
    clean_fn: CleanFn | None = None,
) -> grain.IterDataset:
    """The batched, resumable dataset of this process's shard."""
    index, count = _shard(cfg)
    ds = grain.MapDataset.source(source)[index::count]
    ds = ds.shuffle(seed=cfg.seed)
    if cfg.num_epochs != 1:
        ds = ds.repeat(cfg.num_epochs)
    ds = ds.map(MakeExample(tokenizer, prompt_cfg, clean_fn))
    ds = ds.batch(cfg.batch_size, drop_remainder=cfg.drop_remainder)
    it = ds.to_iter_dataset()
    if cfg.num_workers > 0:
        from absl import flags

        flags.FLAGS.mark_as_parsed()  # Grain workers read absl flags; unparsed flags crash them
        it = it.mp_prefetch(grain.MultiprocessingOptions(num_workers=cfg.num_workers))
        it = it.map(_own_memory)
    return it


def _own_memory(batch: dict) -> dict:
    """Copy worker batches out of Grain's shared memory so segments are released promptly."""
    return {k: np.array(v, copy=True) for k, v in batch.items()}
