"""Dynamic batching without HTTP: the Batcher's grouping, limits, drops and errors with a fake
sampler, and the sampler property it relies on (per-prompt keys = each prompt alone)."""

from __future__ import annotations

import asyncio
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterest.models import qwen2
from jaxinterest.sampling import SamplingParams, generate
from jaxinterest.serve.batcher import Batcher, Overloaded


class FakeSampler:
    """Records every call; each result names the call it came from."""

    def __init__(self, delay: float = 0.05, fail_on=None):
        self.calls, self.delay, self.fail_on = [], delay, fail_on
        self.threads = set()

    def __call__(self, key, payloads):
        self.threads.add(threading.get_ident())
        if self.fail_on is not None and self.fail_on in payloads:
            raise RuntimeError("sampler exploded")
        time.sleep(self.delay)
        self.calls.append((key, list(payloads)))
        return [(len(self.calls), p) for p in payloads]


def run(coro):
    return asyncio.run(coro)


async def _submit_all(batcher, items, spacing=0.0):
    batcher.start()
    tasks = []
    for key, rows, payload in items:
        tasks.append(asyncio.ensure_future(batcher.submit(key, rows, payload)))
        await asyncio.sleep(spacing)
    try:
        return await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await batcher.stop()


def test_concurrent_jobs_share_calls_and_get_their_own_results():
    fake = FakeSampler()
    b = Batcher(fake, max_rows=64, max_wait=0.05)
    results = run(_submit_all(b, [("k", 1, i) for i in range(10)]))
    assert [p for _, p in results] == list(range(10))  # each job its own result
    assert len(fake.calls) < 10 and b.stats.largest > 1
    assert sum(len(p) for _, p in fake.calls) == 10
    assert len(fake.threads) == 1  # one worker thread: the model lock


def test_jobs_with_different_keys_never_share_a_call():
    fake = FakeSampler()
    b = Batcher(fake, max_rows=64, max_wait=0.05)
    items = [("a" if i % 2 else "b", 1, i) for i in range(8)]
    results = run(_submit_all(b, items))
    for key, payloads in fake.calls:
        assert all((p % 2 == 1) == (key == "a") for p in payloads)
    assert sorted(p for _, p in results) == list(range(8))


def test_max_rows_bounds_a_call_but_a_big_job_still_runs():
    fake = FakeSampler()
    b = Batcher(fake, max_rows=4, max_wait=0.05)
    items = [("k", 3, 0), ("k", 3, 1), ("k", 9, 2), ("k", 1, 3)]
    run(_submit_all(b, items))
    rows = {0: 3, 1: 3, 2: 9, 3: 1}
    for _, payloads in fake.calls:
        assert len(payloads) == 1 or sum(rows[p] for p in payloads) <= 4
    assert sorted(p for _, ps in fake.calls for p in ps) == [0, 1, 2, 3]


def test_a_call_takes_everything_queued_up_to_max_rows():
    fake = FakeSampler(delay=0.2)
    b = Batcher(fake, max_rows=5, max_wait=0.05)
    run(_submit_all(b, [("k", 1, i) for i in range(7)]))
    assert [len(p) for _, p in fake.calls] == [5, 2]


def test_batching_off_runs_one_job_per_call():
    fake = FakeSampler(delay=0.01)
    b = Batcher(fake, max_rows=64, max_wait=0.0, max_requests=1)
    run(_submit_all(b, [("k", 1, i) for i in range(6)]))
    assert [len(p) for _, p in fake.calls] == [1] * 6


def test_wait_is_bounded_for_a_lone_job():
    fake = FakeSampler(delay=0.0)
    b = Batcher(fake, max_rows=64, max_wait=0.2)

    async def one():
        b.start()
        t0 = time.monotonic()
        await b.submit("k", 1, "x")
        await b.stop()
        return time.monotonic() - t0

    assert 0.15 < run(one()) < 5.0


def test_clients_answered_by_a_call_join_the_next_one():
    """A closed loop of clients whose next requests come back spread over more than max_wait:
    jobs keep gathering while they arrive within max_wait of each other (counted from the end of
    the previous call), so each wave is one call; with the wait counted from each wave's first
    arrival alone, every wave would split in two."""
    fake = FakeSampler(delay=0.05)
    b = Batcher(fake, max_rows=64, max_wait=0.1, max_gather=2.0)
    clients, waves, spacing = 6, 3, 0.04  # a wave's arrivals span 0.2 s > max_wait

    async def client(i):
        for _ in range(waves):
            await asyncio.sleep(i * spacing)  # think time: client i answers i * 40 ms later
            await b.submit("k", 1, i)

    async def scenario():
        b.start()
        await asyncio.gather(*(client(i) for i in range(clients)))
        await b.stop()

    run(scenario())
    assert sum(len(p) for _, p in fake.calls) == clients * waves
    assert len(fake.calls) <= waves + 1, [len(p) for _, p in fake.calls]


def test_the_quiet_gap_grows_with_the_call_duration():
    """After a 1 s call the gap is 5% of it (50 ms), not max_wait (1 ms): clients answering
    5 ms apart still land in one call."""
    fake = FakeSampler(delay=1.0)
    b = Batcher(fake, max_rows=64, max_wait=0.001, max_gather=0.001)

    async def client(i):
        await b.submit("k", 1, ("first", i))
        await asyncio.sleep(0.005 * i)
        await b.submit("k", 1, ("second", i))

    async def scenario():
        b.start()
        await asyncio.gather(*(client(i) for i in range(4)))
        await b.stop()

    run(scenario())
    assert [len(p) for _, p in fake.calls] == [4, 4]


def test_gathering_is_bounded_under_a_steady_trickle():
    fake = FakeSampler(delay=0.0)
    b = Batcher(fake, max_rows=1000, max_wait=0.1, max_gather=0.3)

    async def scenario():
        b.start()
        t0 = time.monotonic()
        first = asyncio.ensure_future(b.submit("k", 1, "first"))
        while not first.done():  # a job every 20 ms: never a quiet gap of 100 ms
            asyncio.ensure_future(b.submit("k", 1, "more"))
            await asyncio.sleep(0.02)
        took = time.monotonic() - t0
        await b.stop()
        return took

    assert 0.25 < run(scenario()) < 5.0


def test_an_error_fails_only_its_own_batch():
    fake = FakeSampler(fail_on="bad")
    b = Batcher(fake, max_rows=64, max_wait=0.05)
    results = run(_submit_all(b, [("k", 1, "bad"), ("k", 1, "ok1"), ("other", 1, "ok2")]))
    assert isinstance(results[0], RuntimeError) and isinstance(results[1], RuntimeError)
    assert results[2] == (1, "ok2")


def test_cancelled_jobs_are_dropped_before_their_call():
    fake = FakeSampler(delay=0.2)
    b = Batcher(fake, max_rows=1, max_wait=0.0)

    async def scenario():
        b.start()
        first = asyncio.ensure_future(b.submit("k", 1, "first"))
        await asyncio.sleep(0.05)  # "first" is running now
        gone = asyncio.ensure_future(b.submit("k", 1, "gone"))
        kept = asyncio.ensure_future(b.submit("k", 1, "kept"))
        await asyncio.sleep(0.01)
        gone.cancel()  # the client disconnected while queued
        out = await asyncio.gather(first, kept)
        await b.stop()
        return out

    assert [p for _, p in run(scenario())] == ["first", "kept"]
    assert all("gone" not in ps for _, ps in fake.calls) and b.stats.dropped == 1


def test_queue_limit_gives_overloaded():
    fake = FakeSampler(delay=0.1)
    b = Batcher(fake, max_rows=1, max_wait=0.0, max_pending=2)
    results = run(_submit_all(b, [("k", 1, i) for i in range(5)]))
    assert any(isinstance(r, Overloaded) for r in results)
    assert any(not isinstance(r, Exception) for r in results)


@pytest.mark.parametrize(
    "sampling",
    [
        SamplingParams(10, temperature=1.0, num_samples=3),
        SamplingParams(10, temperature=0.7, top_k=40, top_p=0.9, num_samples=2),
    ],
)
def test_per_prompt_keys_draw_as_each_prompt_alone(sampling):
    """What makes batching exact: generate(prompts, keys=K) gives prompt i the tokens of
    generate([prompts[i]], key=K[i])."""
    cfg = qwen2.get_preset("tiny-1m")
    params = qwen2.init_params(cfg, jax.random.key(0))
    rng = np.random.default_rng(1)
    # lengths in one shape bucket: the solo calls share one compiled program
    prompts = [list(rng.integers(3, cfg.vocab_size, n)) for n in (10, 15, 13)]
    seeds = [11, 22, 11]  # a repeated seed: its prompt still draws independently of the rest
    keys = jnp.stack([jax.random.key(s) for s in seeds])
    together = generate(params, cfg, prompts, sampling, keys=keys)
    g = sampling.num_samples
    for i, (p, s) in enumerate(zip(prompts, seeds, strict=True)):
        alone = generate(params, cfg, [p], sampling, key=jax.random.key(s))
        rows = slice(i * g, (i + 1) * g)
        np.testing.assert_array_equal(together.tokens[rows], alone.tokens)
        np.testing.assert_allclose(together.logprobs_raw[rows], alone.logprobs_raw, atol=1e-5)
    # prompt 0 follows its own key: given another one, its tokens change
    swapped = jnp.stack([jax.random.key(s) for s in (22, 22, 11)])
    other = generate(params, cfg, prompts, sampling, keys=swapped)
    assert not np.array_equal(other.tokens[:g], together.tokens[:g])


def test_keys_and_key_are_exclusive():
    cfg = qwen2.get_preset("tiny-1m")
    params = qwen2.init_params(cfg, jax.random.key(0))
    sampling = SamplingParams(4)
    with pytest.raises(ValueError, match="not both"):
        generate(
            params,
            cfg,
            [[1, 2]],
            sampling,
            key=jax.random.key(0),
            keys=jnp.stack([jax.random.key(0)]),
        )
    with pytest.raises(ValueError, match="one per prompt"):
        generate(params, cfg, [[1, 2], [3]], sampling, keys=jnp.stack([jax.random.key(0)]))
