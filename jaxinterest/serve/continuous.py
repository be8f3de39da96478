"""Continuous batching, the host side: requests join the running decode between steps.

Threads share the model. Each prefill thread (two by default) takes queued jobs (first come,
first served, up to `prefill_rows` at a time and never more than the decode rows free),
prefills them with `sampling.engine.prefill` at their group's width, pads the cache to the
prompt bucket on the host and hands the group over. The decode thread inserts every group that
is ready into free rows (`slots.insert`), runs one jitted step over the live rows
(`slots.step`), reads back which rows are done, and answers those jobs; their rows are free
for the next insert. So the next requests' prefill runs while the current rows decode (XLA
programs side by side on the two cores), a finished row is refilled at the next step instead
of waiting for its batch, and every row samples with its own temperature and top-p.

The engine takes jobs with n == 1, top-k off, 1..`shapes.new_tokens` new tokens, prompts up
to `shapes.prompt_width` tokens and no alternatives or prompt scoring (`accepts`); the server
sends the others to the dynamic batcher. A job's result is a `worker.JobResult`, equal to what
`worker.run_batch` gives it (same tokens; log-probs to float rounding).
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import logging
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxinterest.sampling import ShapeBuckets, engine
from jaxinterest.sampling.generate import choose_backend
from jaxinterest.sampling.inputs import left_pad
from jaxinterest.sampling.shapes import power_of_two
from jaxinterest.sampling.step import prepare, slot_axes
from jaxinterest.serve import slots
from jaxinterest.serve.batcher import Overloaded
from jaxinterest.serve.model import ServedModel
from jaxinterest.serve.protocol import Sampling
from jaxinterest.serve.worker import PREFILL_ROWS, SHAPES, Job, JobResult, choice_of

log = logging.getLogger("jaxinterest.serve")

_prepare = jax.jit(prepare, static_argnames=("cfg", "backend"))  # the step's weight layout
SPARE_SLOTS = 256  # cache slots past P + N: the shared write slot moves this far between shifts


@dataclasses.dataclass(eq=False)
class _Pending:
    job: Job
    greedy: bool
    temperature: float  # as the sampler takes it: max(T, 1e-6)
    top_p: float
    future: concurrent.futures.Future
    entry: int = -1  # table entry while prefilled or decoding


@dataclasses.dataclass
class EngineStats:
    steps: int = 0
    jobs: int = 0  # answered
    row_steps: int = 0  # sum over steps of the rows decoding (occupancy = row_steps / steps)
    prefill_calls: int = 0
    prefill_s: float = 0.0  # wall time inside prefill calls (the prefill thread)
    decode_s: float = 0.0  # wall time inside inserts, steps and shifts (the decode thread)
    shifts: int = 0
    dropped: int = 0  # jobs whose client left before their prefill
    table_waits: int = 0  # times the next job waited for a free temperature-table entry

    def as_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["rows_per_step"] = round(self.row_steps / max(self.steps, 1), 2)
        out["prefill_s"], out["decode_s"] = round(self.prefill_s, 3), round(self.decode_s, 3)
        return out


def accepts(job: Job, sampling: Sampling, shapes: ShapeBuckets = SHAPES) -> bool:
    """Whether the continuous engine serves this job (else the dynamic batcher does)."""
    return (
        sampling.n == 1
        and (sampling.top_k == 0 or sampling.temperature == 0)
        and 1 <= job.max_tokens <= shapes.new_tokens
        and len(job.prompt) <= shapes.prompt_width
        and not job.alternatives
        and job.prompt_scores is None
    )


class ContinuousEngine:
    """submit(job, sampling) -> concurrent Future of a JobResult; start() / stop()."""

    def __init__(
        self,
        model: ServedModel,
        rows: int = 32,
        *,
        shapes: ShapeBuckets = SHAPES,
        prefill_rows: int = PREFILL_ROWS,
        max_pending: int = 4096,
        backend: str = "auto",
        spare_slots: int = SPARE_SLOTS,
        prefill_threads: int = 2,
    ):
        """rows: decode rows R; spare_slots: cache slots past P + N (steps between shifts);
        prefill_threads: threads prefilling groups side by side (two keep the decode rows
        fuller than one under a closed loop: docs/serving.md)."""
        if min(rows, prefill_rows, spare_slots, prefill_threads) < 1:
            raise ValueError("rows, prefill_rows, spare_slots and prefill_threads must be >= 1")
        self.model, self.rows, self.shapes = model, rows, shapes
        self.prefill_threads = prefill_threads
        self.prefill_rows, self.max_pending = min(prefill_rows, rows), max_pending
        cfg = model.cfg
        self.backend = choose_backend(backend, model.params, cfg)
        self.width = shapes.prompt_width  # P
        self.slots = self.width + shapes.new_tokens + spare_slots  # S
        self.dtype = jax.tree.leaves(model.params)[0].dtype
        self.eos_ids = jnp.asarray(model.stop_ids, jnp.int32).reshape(-1)
        self.pad_id = jnp.int32(model.pad_id)
        self._weights = _prepare(model.params, cfg, self.backend)
        self._state = slots.init_state(
            cfg, rows, self.slots, shapes.new_tokens, self.backend, self.dtype
        )
        self._slot = self.width  # the next step's shared write slot
        self._lo = np.zeros(rows, np.int64)  # host copy of each live row's first slot
        self._table = [None] * slots.ENTRIES  # (greedy, temperature) or None
        self._uses = [0] * slots.ENTRIES
        self._table_dev = None
        self._queue: collections.deque[_Pending] = collections.deque()
        self._ready: collections.deque = collections.deque()  # prefilled groups
        self._free = list(range(rows - 1, -1, -1))  # free rows (pop() gives the lowest)
        self._reserved = 0  # rows promised to queued-for-insert groups
        self._running: dict[int, _Pending] = {}  # row -> job decoding there
        self._cv = threading.Condition()
        self._stop = False
        self._threads: list[threading.Thread] = []
        self.stats = EngineStats()

    # ---- public ----

    def start(self) -> None:
        loops = [("decode", self._decode_loop)]
        loops += [(f"prefill-{i}", self._prefill_loop) for i in range(self.prefill_threads)]
        for name, target in loops:
            thread = threading.Thread(target=target, name=f"continuous-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stops both threads (after their current call) and fails every unanswered job."""
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        for thread in self._threads:
            thread.join()
        self._threads.clear()
        err = Overloaded("the server is shutting down")
        with self._cv:
            left = list(self._queue) + [p for g in self._ready for p in g[0]]
            left += list(self._running.values())
            self._queue.clear(), self._ready.clear(), self._running.clear()
        for p in left:
            if not p.future.done():
                p.future.set_exception(err)

    @property
    def pending(self) -> int:
        return len(self._queue)

    def submit(self, job: Job, sampling: Sampling) -> concurrent.futures.Future:
        if not accepts(job, sampling, self.shapes):
            raise ValueError("this job is for the dynamic batcher (see continuous.accepts)")
        greedy = sampling.temperature == 0
        pending = _Pending(
            job,
            greedy,
            1.0 if greedy else max(sampling.temperature, 1e-6),
            1.0 if greedy else sampling.top_p,
            concurrent.futures.Future(),
        )
        with self._cv:
            if self._stop or not self._threads:
                raise Overloaded("the engine is not running")
            if len(self._queue) >= self.max_pending:
                raise Overloaded(f"{len(self._queue)} jobs are pending (limit {self.max_pending})")
            self._queue.append(pending)
            self._cv.notify_all()
        return pending.future

    def warm_up(self, log=print) -> int:
        """Compiles the engine's programs on dummy jobs in the calling thread, before start():
        the insert of every group size (powers of two up to prefill_rows) with and without
        top-p rows, the step both ways, the cache shift. Returns the number of programs run;
        leaves the engine empty. (The prefill programs are `worker.warm_up`'s.)"""
        if self._threads:
            raise RuntimeError("warm_up runs before start()")
        t0, calls, size = time.perf_counter(), 0, 1
        while size <= self.prefill_rows:
            for top_p in (1.0, 0.5):
                group = [
                    _Pending(Job((3,) * 64, 2, i), False, 1.0, top_p, None) for i in range(size)
                ]
                with self._cv:
                    for p in group:
                        p.entry = self._entry(p)
                        self._uses[p.entry] += 1
                    self._reserved += size
                self._insert(*self._prefill(group))
                self._reset()  # free the rows again: the next group may need them all
                calls += 1
            size *= 2
        for size in sorted({min(self.rows, n) for n in range(8, self.rows + 8, 8)}):
            for use_top_p in (False, True):  # every step program: each live-row count bucket
                self._state = self._step(use_top_p, live=list(range(size)))
                calls += 1
        self._state = slots.compact(self._state, jnp.int32(1), backend=self.backend)
        jax.block_until_ready(self._state)
        self._reset(clear_state=True)
        log(f"warm-up: continuous engine, {self.rows} rows: {time.perf_counter() - t0:.1f} s")
        return calls + 1

    def _reset(self, clear_state: bool = False) -> None:
        """Every row free and the table empty; with clear_state a fresh device state too."""
        with self._cv:
            self._running.clear()
            self._free = list(range(self.rows - 1, -1, -1))
            self._reserved = 0
            self._uses = [0] * slots.ENTRIES
            self._cv.notify_all()
        if clear_state:
            self._state = slots.init_state(
                self.model.cfg,
                self.rows,
                self.slots,
                self.shapes.new_tokens,
                self.backend,
                self.dtype,
            )
            self._slot = self.width

    # ---- the temperature table (under the lock) ----

    def _entry(self, p: _Pending) -> int:
        """A table entry for p's (greedy, temperature), shared or free; -1 if all are taken."""
        want = (p.greedy, p.temperature)
        for i, have in enumerate(self._table):
            if have == want and self._uses[i]:
                return i
        for i, uses in enumerate(self._uses):
            if uses == 0:
                self._table[i], self._table_dev = want, None
                return i
        return -1

    def _table_arrays(self) -> dict:
        with self._cv:
            return self._table_locked()

    def _table_locked(self) -> dict:
        if self._table_dev is None:
            entries = [e if e is not None else (False, 1.0) for e in self._table]
            self._table_dev = {
                "greedy": jnp.asarray([g for g, _ in entries], bool),
                "temperature": jnp.asarray([t for _, t in entries], jnp.float32),
            }
        return self._table_dev

    # ---- the prefill thread ----

    def _take(self) -> list[_Pending]:
        """Up to prefill_rows queued jobs that fit in the free rows (under the lock)."""
        group = []
        while self._queue and len(group) < self.prefill_rows:
            if len(self._free) - self._reserved - len(group) <= 0:
                break
            p = self._queue[0]
            if p.future.cancelled():  # the client went away
                self._queue.popleft()
                self.stats.dropped += 1
                continue
            entry = self._entry(p)
            if entry < 0:  # every table entry holds another temperature: wait for one
                self.stats.table_waits += 1
                break
            self._queue.popleft()
            if not p.future.set_running_or_notify_cancel():  # cancelled just now
                self.stats.dropped += 1
                continue
            p.entry = entry
            self._uses[entry] += 1
            group.append(p)
        self._reserved += len(group)
        return group

    def _prefill_loop(self) -> None:
        while True:
            with self._cv:
                while not self._stop and not (group := self._take()):
                    self._cv.wait()
                if self._stop:
                    return
            try:
                ready = self._prefill(group)
            except Exception as err:  # noqa: BLE001 - fail this group, keep serving
                log.exception("prefill failed")
                with self._cv:
                    self._reserved -= len(group)
                    for p in group:
                        self._uses[p.entry] -= 1
                    self._cv.notify_all()
                for p in group:
                    p.future.set_exception(err)
                continue
            with self._cv:
                self._ready.append(ready)
                self._cv.notify_all()

    def _prefill(self, group: list[_Pending]):
        """(group, host cache padded to P slots, logits) for up to prefill_rows jobs; the
        group is padded to a power of two with copies of its first prompt (an insert writes
        a copy to the same row: equal data)."""
        t0 = time.perf_counter()
        prompts = [list(p.job.prompt) for p in group]
        size = power_of_two(len(prompts))
        prompts += [prompts[0]] * (size - len(prompts))
        width = self.shapes.group(max(map(len, prompts)), self.width)
        tokens, mask = left_pad(prompts, width, self.model.pad_id)
        part, logits = engine.prefill(
            self.model.params, tokens, mask, cfg=self.model.cfg, repeat=1, backend=self.backend
        )
        axes = slot_axes(self.backend)
        padded = []
        for pair in part:
            out = []
            for buf, axis in zip(pair, axes, strict=True):
                pad = [(0, 0)] * buf.ndim
                pad[axis] = (self.width - width, 0)
                out.append(np.pad(np.asarray(buf), pad))
            padded.append(tuple(out))
        logits = np.asarray(logits)
        self.stats.prefill_calls += 1
        self.stats.prefill_s += time.perf_counter() - t0
        return group, tuple(padded), logits

    # ---- the decode thread ----

    def _insert(self, group, part, logits) -> None:
        with self._cv:
            rows = [self._free.pop() for _ in group]
            self._reserved -= len(group)
            for row, p in zip(rows, group, strict=True):
                self._running[row] = p  # before the call: a failure then fails these too
                self._lo[row] = self._slot - len(p.job.prompt)
        size = logits.shape[0]
        idx = rows + [rows[0]] * (size - len(rows))
        members = group + [group[0]] * (size - len(group))
        keys = jnp.stack(
            [
                jax.random.key_data(jax.random.fold_in(jax.random.key(p.job.seed), 0))
                for p in members
            ]
        )
        lengths = [len(p.job.prompt) for p in members]
        offset = self._slot - self.width
        use_top_p = any(p.top_p < 1.0 for p in members)
        self._state = slots.insert(
            self._state,
            part,
            logits,
            jnp.asarray(idx, jnp.int32),
            jnp.int32(offset),
            jnp.asarray(lengths, jnp.int32),
            keys,
            jnp.asarray([p.entry for p in members], jnp.int32),
            jnp.asarray([p.top_p for p in members], jnp.float32),
            jnp.asarray([p.job.max_tokens for p in members], jnp.int32),
            self._table_arrays(),
            self.eos_ids,
            self.pad_id,
            backend=self.backend,
            use_top_p=use_top_p,
        )

    def live_rows(self, rows: list[int]) -> np.ndarray:
        """The step's row list: `rows` padded with an empty row to a multiple of 8 (or R), so
        that few step programs exist (R / 8 of them)."""
        size = min(self.rows, -(-max(len(rows), 1) // 8) * 8)
        if len(rows) == size:
            return np.asarray(rows, np.int32)
        taken = set(rows)
        empty = next(r for r in range(self.rows) if r not in taken)
        return np.asarray(sorted(rows) + [empty] * (size - len(rows)), np.int32)

    def _step(self, use_top_p: bool, live: list[int] | None = None) -> dict:
        rows = self.live_rows(sorted(self._running) if live is None else live)
        state = slots.step(
            self._weights,
            self._state,
            jnp.asarray(rows),
            jnp.int32(self._slot),
            self._table_arrays(),
            self.eos_ids,
            self.pad_id,
            cfg=self.model.cfg,
            backend=self.backend,
            use_top_p=use_top_p,
        )
        self._slot += 1
        return state

    def _shift(self) -> None:
        """Moves the cache left once the write slot reached the end (see `slots`)."""
        lowest = min((int(self._lo[r]) for r in self._running), default=self._slot)
        shift = min(lowest, self._slot - self.width)
        if shift <= 0:
            raise RuntimeError("no cache slot to free: a row outlived P + N slots")
        self._state = slots.compact(self._state, jnp.int32(shift), backend=self.backend)
        self._lo -= shift
        self._slot -= shift
        self.stats.shifts += 1

    def _finish(self, rows: list[int]) -> None:
        """Answers the jobs of `rows` (done on the device) and frees the rows."""
        names = ("tokens", "logprobs_raw", "lengths", "finished")
        out = jax.device_get({k: self._state[k] for k in names})
        answered = []
        for row in rows:
            p = self._running.pop(row)
            choice = choice_of(
                self.model,
                p.job,
                out["tokens"][row],
                out["logprobs_raw"][row],
                out["lengths"][row],
                out["finished"][row],
            )
            answered.append((p, JobResult((choice,))))
        with self._cv:
            for row in rows:
                self._free.append(row)
            for p, _ in answered:
                self._uses[p.entry] -= 1
            self._free.sort(reverse=True)
            self._cv.notify_all()
        for p, result in answered:
            if not p.future.done():
                p.future.set_result(result)
        self.stats.jobs += len(answered)

    def _decode_loop(self) -> None:
        while True:
            with self._cv:
                while not self._stop and not self._ready and not self._running:
                    self._cv.wait()
                if self._stop:
                    return
                ready = list(self._ready)
                self._ready.clear()
            t0 = time.perf_counter()
            try:
                for group, part, logits in ready:
                    self._insert(group, part, logits)
                if self._slot >= self.slots:
                    self._shift()
                live = len(self._running)
                self._state = self._step(any(p.top_p < 1.0 for p in self._running.values()))
                done = np.asarray(self._state["done"])
                finished = [r for r in self._running if done[r]]
                self.stats.steps += 1
                self.stats.row_steps += live
                if finished:
                    self._finish(finished)
            except Exception as err:  # noqa: BLE001 - fail what was decoding, start afresh
                log.exception("decode step failed")
                self._fail_all(err)
            self.stats.decode_s += time.perf_counter() - t0

    def _fail_all(self, err: Exception) -> None:
        with self._cv:
            lost = list(self._running.values())
            for row in list(self._running):
                self._free.append(row)
            self._running.clear()
            for p in lost:
                self._uses[p.entry] -= 1
            self._free.sort(reverse=True)
            self._cv.notify_all()
        self._state = slots.init_state(
            self.model.cfg, self.rows, self.slots, self.shapes.new_tokens, self.backend, self.dtype
        )
        self._slot = self.width
        for p in lost:
            if not p.future.done():
                p.future.set_exception(err)
