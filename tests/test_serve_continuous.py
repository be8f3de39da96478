"""Continuous batching without HTTP: a request that joins the running decode, rows with their
own temperature and top-p, cache shifts, a full temperature table and dropped jobs all give
what `generate` gives each prompt alone (same tokens, log-probs to float rounding)."""

from __future__ import annotations

import concurrent.futures
import time

import jax
import numpy as np
import pytest

from jaxinterest.sampling import SamplingParams, ShapeBuckets, generate
from jaxinterest.serve import load_served_model
from jaxinterest.serve.continuous import ContinuousEngine, accepts
from jaxinterest.serve.protocol import Sampling
from jaxinterest.serve.worker import Job

LP_TOL = 1e-5  # another batch or padding width reorders float32 sums (see serve/worker.py)
SHAPES = ShapeBuckets(prompt_width=128, new_tokens=64)  # small caches: quick tests


@pytest.fixture(scope="module")
def model():
    return load_served_model(preset="tiny-1m")


def prompt(model, n: int, seed: int) -> tuple[int, ...]:
    rng = np.random.default_rng(seed)
    return tuple(int(t) for t in rng.integers(3, model.cfg.vocab_size, n))


def alone(model, job: Job, sampling: Sampling):
    """(token ids without the final EOS, their raw log-probs, generated count) of `generate`
    on this prompt alone with key(seed)."""
    options = SamplingParams(
        max_new_tokens=job.max_tokens,
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        stop_ids=model.stop_ids,
    )
    out = generate(
        model.params,
        model.cfg,
        [list(job.prompt)],
        options,
        key=jax.random.key(job.seed),
        pad_id=model.pad_id,
    )
    ids = out.completions(strip_eos=True)[0]
    return list(ids), out.logprobs_raw[0, : len(ids)], int(out.lengths[0])


def check(model, job, sampling, result):
    ids, lps, generated = alone(model, job, sampling)
    choice = result.choices[0]
    assert list(choice.tokens) == ids, (job, sampling)
    np.testing.assert_allclose(choice.logprobs, lps, atol=LP_TOL)
    assert choice.generated == generated


def run_all(engine, jobs):
    """Starts the engine, submits every (job, sampling) at once, returns the results in order."""
    engine.start()
    try:
        futures = [engine.submit(job, s) for job, s in jobs]
        return [f.result(timeout=120) for f in futures]
    finally:
        engine.stop()


@pytest.mark.parametrize("backend", ["kernel", "xla"])
def test_a_request_joining_mid_decode_gets_its_greedy_output_alone(model, backend):
    engine = ContinuousEngine(model, rows=4, prefill_rows=2, backend=backend, shapes=SHAPES)
    engine.start()
    try:
        greedy = Sampling(0.0, 1.0, 0, 1)
        first = Job(prompt(model, 90, 0), 60, 0)
        joiner = Job(prompt(model, 37, 1), 20, 1)
        for job in (first, joiner):  # compile their programs: no compilation mid-test
            engine.submit(job, greedy).result(timeout=120)
        start = engine.stats.steps
        long_run = engine.submit(first, greedy)
        deadline = time.monotonic() + 120
        while engine.stats.steps < start + 5 and time.monotonic() < deadline:
            time.sleep(0.002)
        assert not long_run.done()  # the first row is mid-decode
        joined = engine.submit(joiner, greedy)
        check(model, joiner, greedy, joined.result(timeout=120))
        check(model, first, greedy, long_run.result(timeout=120))
        steps, row_steps = engine.stats.steps - start, engine.stats.row_steps
        assert steps <= 61  # the joiner decoded within the first's steps
        first_alone = alone(model, first, greedy)[2]
        assert first_alone == 60 or steps > first_alone  # (unless the first ended early)
    finally:
        engine.stop()
    assert row_steps > engine.stats.steps  # some steps carried two rows


@pytest.mark.parametrize("backend", ["kernel", "xla"])
def test_per_row_temperature_and_top_p_equal_separate_calls(model, backend):
    """Rows with different temperatures (and greedy, and top-p) in the same steps: each equals
    a call of its own with that temperature and seed."""
    engine = ContinuousEngine(model, rows=8, prefill_rows=4, backend=backend, shapes=SHAPES)
    settings = [(0.5, 1.0), (1.0, 1.0), (1.7, 1.0), (0.0, 1.0), (0.9, 0.8), (1.0, 0.5)]
    jobs = [
        (Job(prompt(model, 20 + 13 * i, 10 + i), 12 + 3 * i, 100 + i), Sampling(t, p, 0, 1))
        for i, (t, p) in enumerate(settings)
    ]
    results = run_all(engine, jobs)
    assert engine.stats.row_steps / engine.stats.steps > 2  # they decoded together
    for (job, s), result in zip(jobs, results, strict=True):
        check(model, job, s, result)


def test_cache_shifts_and_a_full_temperature_table_keep_outputs_exact(model):
    """Few spare slots (the cache shifts often) and more distinct temperatures than table
    entries (jobs wait for an entry): every output is still each prompt's own."""
    engine = ContinuousEngine(
        model, rows=6, prefill_rows=2, spare_slots=1, shapes=ShapeBuckets(128, 32)
    )
    temps = [0.3, 0.6, 0.9, 1.2, 1.5, 0.0, 0.45, 0.6]
    jobs = [
        (Job(prompt(model, 10 + 15 * i, 30 + i), 4 + 4 * i, 200 + i), Sampling(t, 1.0, 0, 1))
        for i, t in enumerate(temps)
    ]
    results = run_all(engine, jobs)
    assert engine.stats.shifts >= 1, engine.stats
    assert engine.stats.table_waits > 0, engine.stats
    for (job, s), result in zip(jobs, results, strict=True):
        check(model, job, s, result)


def test_cancelled_jobs_are_dropped_and_stop_fails_the_rest(model):
    engine = ContinuousEngine(model, rows=1, prefill_rows=1, shapes=SHAPES)
    engine.start()
    greedy = Sampling(0.0, 1.0, 0, 1)
    try:
        busy = engine.submit(Job(prompt(model, 50, 0), 60, 0), greedy)
        waiting = engine.submit(Job(prompt(model, 50, 1), 60, 1), greedy)
        assert waiting.cancel()  # still queued: one row, taken by the first
        busy.result(timeout=120)
        deadline = time.monotonic() + 30
        while engine.stats.dropped == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert engine.stats.dropped == 1 and engine.stats.jobs == 1
        blocker = engine.submit(Job(prompt(model, 50, 2), 60, 2), greedy)
        queued = engine.submit(Job(prompt(model, 50, 3), 60, 3), greedy)
    finally:
        engine.stop()
    for f in (blocker, queued):  # answered before the stop, or failed by it
        assert f.done()
        if f.exception() is not None:
            assert "shutting down" in str(f.exception())
    with pytest.raises(Exception, match="not running"):
        engine.submit(Job(prompt(model, 5, 0), 4, 0), greedy)


def test_what_the_engine_takes():
    one = Sampling(1.0, 1.0, 0, 1)
    job = Job((1, 2, 3), 16, 0)
    assert accepts(job, one)
    assert not accepts(job, Sampling(1.0, 1.0, 0, 2))  # n > 1: shared prefill, batcher
    assert not accepts(job, Sampling(1.0, 1.0, 40, 1))  # top-k: batcher
    assert accepts(job, Sampling(0.0, 1.0, 40, 1))  # greedy ignores top-k
    assert not accepts(Job((1,), 0, 0, prompt_scores=0), one)  # scoring only
    assert not accepts(Job((1,), 16, 0, alternatives=3), one)
    assert not accepts(Job((1,), 65, 0), one)  # past the output bucket
    assert not accepts(Job((1,) * 513, 16, 0), one)  # past the prompt bucket


@pytest.mark.slow  # ~30 s: worker.warm_up compiles every bucket
def test_warm_up_compiles_what_the_engine_runs(model):
    """After `worker.warm_up`, serving jobs of every kind the engine takes compiles nothing."""
    from jaxinterest.serve.compiles import compile_counter
    from jaxinterest.serve.worker import warm_up

    shapes = ShapeBuckets(prompt_width=128, new_tokens=16)
    counter = compile_counter()
    warm_up(model, 4, 4, shapes, log=lambda m: None)
    before = counter.snapshot()["count"]
    engine = ContinuousEngine(model, rows=4, prefill_rows=4, shapes=shapes)
    engine.start()
    try:
        kinds = [Sampling(0.0, 1.0, 0, 1), Sampling(0.7, 0.9, 0, 1), Sampling(1.2, 1.0, 0, 1)]
        futures = [
            engine.submit(Job(prompt(model, 30 + 31 * (i % 3), i), 3 + i, i), kinds[i % 3])
            for i in range(9)
        ]
        concurrent.futures.wait(futures, timeout=120)
        assert all(f.exception() is None for f in futures)
    finally:
        engine.stop()
    assert counter.snapshot()["count"] == before
