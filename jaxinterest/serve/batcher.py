"""Dynamic batching: concurrent jobs gathered, with a bounded wait, into one call of a blocking
function that runs in a single worker thread (the model lock), results split back.

Jobs carry a batch key; only jobs with equal keys share a call. The loop takes the key whose
oldest job is oldest and gathers: the call starts once that key has `max_rows` rows queued, or
no job of that key has arrived for a quiet gap, or a bound has passed, whichever comes first;
it runs up to `max_rows` rows (always at least one job; the sampler pads the count to one of a
few bucket sizes, so few batch shapes get compiled). The gap and the bound count from the later
of the oldest job's arrival and the end of the previous call. The gap is `max_wait`, or
`gather_fraction` of the previous call's duration when that is longer (waiting a small share of
a call to fill it costs little, and a loaded machine slows calls and clients alike); the bound
is `max_gather`, or 4 gaps when that is longer. So a lone job on an idle server waits about
`max_wait`; and when a call returns, the clients it answered (who send their next request soon
after) join the jobs that queued during it instead of being left for a call of their own: under
a closed loop of clients the calls stay full rather than splitting into ever smaller groups.
`max_requests=1` switches batching off (one job per call, no wait). A job whose client went
away before its call started is dropped.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import dataclasses
import time
from collections.abc import Callable, Hashable


class Overloaded(Exception):
    """More jobs pending than the batcher accepts."""


@dataclasses.dataclass(eq=False)
class _Job:
    key: Hashable
    rows: int
    payload: object
    future: asyncio.Future
    t0: float


@dataclasses.dataclass
class BatchStats:
    calls: int = 0
    jobs: int = 0
    rows: int = 0
    largest: int = 0  # most jobs in one call
    dropped: int = 0  # jobs whose client left before their call
    busy_s: float = 0.0  # wall time spent inside calls (the sampler's share of the server's)


class Batcher:
    """run(key, payloads) -> results (same order) is called in the worker thread."""

    def __init__(
        self,
        run: Callable[[Hashable, list], list],
        *,
        max_rows: int = 64,
        max_wait: float = 0.01,
        max_gather: float | None = None,
        gather_fraction: float = 0.05,
        max_requests: int | None = None,
        max_pending: int = 4096,
    ):
        """max_gather: bound on a call's gathering time (default 10 x max_wait);
        gather_fraction: the quiet gap as a share of the previous call's duration (see above)."""
        max_gather = 10 * max_wait if max_gather is None else max_gather
        if max_rows < 1 or max_wait < 0 or max_pending < 1 or max_gather < max_wait:
            raise ValueError(
                "max_rows and max_pending must be >= 1, max_wait >= 0 and max_gather >= max_wait"
            )
        if not 0 <= gather_fraction <= 1:
            raise ValueError(f"gather_fraction must be in [0, 1], got {gather_fraction}")
        self._run, self.max_rows, self.max_wait = run, max_rows, max_wait
        self.max_gather, self.gather_fraction = max_gather, gather_fraction
        self._last_call_s = 0.0
        self._last_arrival: dict[Hashable, float] = {}
        self._last_end = float("-inf")
        self.max_requests, self.max_pending = max_requests, max_pending
        self._queues: dict[Hashable, collections.deque[_Job]] = {}
        self._pending = 0
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="sampler")
        self.stats = BatchStats()

    def start(self) -> None:
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        """Cancel the loop and fail what is still queued; waits for a running call."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        for queue in self._queues.values():
            for job in queue:
                if not job.future.done():
                    job.future.set_exception(Overloaded("the server is shutting down"))
        self._queues.clear()
        self._pool.shutdown(wait=True)

    @property
    def pending(self) -> int:
        return self._pending

    async def submit(self, key: Hashable, rows: int, payload):
        """The result of `payload` once its batch ran. Raises Overloaded when full."""
        if self._task is None or self._task.done():
            raise Overloaded("the batcher is not running")
        if self._pending >= self.max_pending:
            raise Overloaded(f"{self._pending} jobs are pending (limit {self.max_pending})")
        future = asyncio.get_running_loop().create_future()
        job = _Job(key, rows, payload, future, time.monotonic())
        self._queues.setdefault(key, collections.deque()).append(job)
        self._last_arrival[key] = job.t0
        self._pending += 1
        self._wake.set()
        return await job.future

    def _rows(self, key) -> int:
        return sum(j.rows for j in self._queues.get(key, ()) if not j.future.done())

    def _oldest_key(self):
        live = {k: q for k, q in self._queues.items() if q}
        return min(live, key=lambda k: live[k][0].t0) if live else None

    def _take(self, key) -> list[_Job]:
        queue, batch, rows = self._queues[key], [], 0
        limit = self.max_requests or float("inf")
        while queue and len(batch) < limit:
            job = queue[0]
            if job.future.done():  # cancelled: the client went away
                queue.popleft()
                self._pending -= 1
                self.stats.dropped += 1
                continue
            if batch and rows + job.rows > self.max_rows:
                break
            batch.append(queue.popleft())
            self._pending -= 1
            rows += job.rows
        if not queue:
            del self._queues[key]
            self._last_arrival.pop(key, None)
        return batch

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            key = self._oldest_key()
            if key is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            start = max(self._queues[key][0].t0, self._last_end)
            full = self.max_rows if self.max_requests != 1 else 0
            gap = max(self.max_wait, self.gather_fraction * self._last_call_s)
            bound = max(self.max_gather, 4 * gap)
            while self._rows(key) < full:
                quiet = max(self._last_arrival.get(key, start), start) + gap
                left = min(quiet, start + bound) - time.monotonic()
                if left <= 0:
                    break
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), left)
                except TimeoutError:
                    pass  # the loop condition decides
            batch = self._take(key)
            if not batch:
                continue
            self.stats.calls += 1
            self.stats.jobs += len(batch)
            self.stats.rows += sum(j.rows for j in batch)
            self.stats.largest = max(self.stats.largest, len(batch))
            began = time.monotonic()
            try:
                results = await loop.run_in_executor(
                    self._pool, self._run, key, [j.payload for j in batch]
                )
            except asyncio.CancelledError:  # stop() while a call runs: nobody gets a result
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(Overloaded("the server is shutting down"))
                raise
            except Exception as err:  # noqa: BLE001 - every job of the batch gets the error
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(err)
                continue
            finally:
                self._last_end = time.monotonic()
                self._last_call_s = self._last_end - began
                self.stats.busy_s += self._last_call_s
            for job, result in zip(batch, results, strict=True):
                if not job.future.done():
                    job.future.set_result(result)
