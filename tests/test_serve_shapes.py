"""The server's compiled shapes are a small fixed set: after `warm_up`, requests of other sizes
within the buckets (row count, prompt lengths, max_tokens, temperature) compile nothing; the
bucketed `generate` samples what the default one does; the host-side cache assembly equals
`engine.assemble` exactly."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterest.models import qwen2
from jaxinterest.sampling import SamplingParams, ShapeBuckets, engine, generate
from jaxinterest.sampling.shapes import assemble_on_host, power_of_two
from jaxinterest.serve.compiles import compile_counter
from jaxinterest.serve.model import load_served_model
from jaxinterest.serve.protocol import Sampling
from jaxinterest.serve.worker import Job, batch_key, run_batch, warm_up

SHAPES = ShapeBuckets(prompt_width=128, new_tokens=16)


@pytest.fixture(scope="module")
def model():
    return load_served_model(preset="tiny-1m")


def _run(model, temperature, jobs):
    sampling = Sampling(temperature, 1.0, 0, 1)
    key = batch_key(sampling, max(j.max_tokens for j in jobs), SHAPES)
    return run_batch(model, key, sampling, jobs, 4, SHAPES)


def test_after_warm_up_other_sizes_in_the_buckets_compile_nothing(model):
    counter = compile_counter()
    warm_up(model, max_rows=2, prefill_rows=4, shapes=SHAPES, log=lambda _: None)
    assert counter.count > 0
    rng = np.random.default_rng(1)
    before = counter.count
    # Two rows (bucket 2), prompts of 37 and 90 tokens (group widths 64 and 128 at P=128),
    # max_tokens 10 and 13 (one output width), temperatures and seeds the warm-up never used.
    for temperature, lengths, max_tokens in ((0.5, (37, 90), 10), (1.3, (90, 37), 13)):
        jobs = [
            Job(tuple(int(t) for t in rng.integers(3, 500, n)), max_tokens, seed=7 + n)
            for n in lengths
        ]
        results = _run(model, temperature, jobs)
        assert len(results) == 2 and all(len(r.choices) == 1 for r in results)
    _run(model, 0.0, [Job(tuple(range(3, 103)), 12, seed=0)])  # one greedy row, 100 tokens
    assert counter.count == before, f"{counter.count - before} new compilations"


def test_a_new_row_bucket_compiles_and_then_is_reused(model):
    counter = compile_counter()
    jobs = [Job(tuple(range(3, 3 + n)), 8, seed=n) for n in (5, 9, 20)]
    _run(model, 0.7, jobs)  # 3 jobs: row bucket 4
    before = counter.count
    _run(model, 0.9, [Job(tuple(range(3, 3 + n)), 16, seed=n) for n in (6, 11, 30, 60)])
    assert counter.count == before, f"{counter.count - before} new compilations"


@pytest.mark.parametrize(
    "options",
    [
        SamplingParams(max_new_tokens=12, temperature=0.8, stop_ids=(1,)),
        SamplingParams(max_new_tokens=9, temperature=0.0, stop_ids=(1,)),
        SamplingParams(max_new_tokens=7, temperature=1.0, top_k=20, num_samples=2),
    ],
    ids=["sampled", "greedy", "top_k-n2"],
)
@pytest.mark.slow  # ~25 s each; the default suite checks the same through test_serve.py
def test_bucketed_generate_samples_what_the_default_does(options):
    cfg = qwen2.get_preset("tiny-1m")
    params = qwen2.init_params(cfg, jax.random.key(3))
    rng = np.random.default_rng(0)
    prompts = [rng.integers(3, cfg.vocab_size, int(n)).tolist() for n in rng.integers(3, 150, 5)]
    keys = None if options.greedy else jnp.stack([jax.random.key(100 + i) for i in range(5)])
    plain = generate(params, cfg, prompts, options, keys=keys, prefill_rows=2)
    coarse = generate(params, cfg, prompts, options, keys=keys, prefill_rows=2, buckets=SHAPES)
    np.testing.assert_array_equal(coarse.tokens, plain.tokens)
    np.testing.assert_array_equal(coarse.lengths, plain.lengths)
    np.testing.assert_allclose(coarse.logprobs_raw, plain.logprobs_raw, atol=1e-5)


@pytest.mark.parametrize("backend", ["kernel", "xla"])
def test_host_assembly_equals_the_jitted_one(backend):
    rng = np.random.default_rng(2)
    r_axis = 2 if backend == "kernel" else 3

    def group(rows, slots):
        shape = [rows, 2, 5, 4]  # [R, K, S, H] (kernel) or [R, K, S, H] / [R, K, H, S] (xla)
        shape[r_axis] = slots
        keys = rng.standard_normal(shape).astype(np.float32)
        values = rng.standard_normal((rows, 2, slots, 4)).astype(np.float32)
        return ((keys, values), (keys + 1, values - 1))  # two layers

    parts = [group(2, 7), group(2, 3), group(1, 5)]
    logits = [rng.standard_normal((n, 11)).astype(np.float32) for n in (2, 2, 1)]
    layout = {"repeat": 3, "prompt_len": 8, "cache_len": 12, "backend": backend}
    want_cache, want_logits = engine.assemble(
        tuple(jax.tree.map(jnp.asarray, parts)), tuple(map(jnp.asarray, logits)), **layout
    )
    got_cache, got_logits = assemble_on_host(parts, logits, **layout)
    np.testing.assert_array_equal(got_logits, want_logits)
    for got, want in zip(jax.tree.leaves(got_cache), jax.tree.leaves(want_cache), strict=True):
        np.testing.assert_array_equal(got, want)


def test_bucket_rules():
    assert [power_of_two(n) for n in (1, 2, 3, 5, 33, 64)] == [1, 2, 4, 8, 64, 64]
    s = ShapeBuckets(prompt_width=512, new_tokens=64)
    assert (s.rows(3), s.prompt(300), s.prompt(513), s.new(1), s.new(65)) == (4, 512, 1024, 64, 128)
    assert [s.group(n, 512) for n in (1, 64, 65, 300, 512)] == [64, 64, 128, 320, 512]
    assert s.group(600, 1024) == 640 and s.group(300, 256) == 256
    with pytest.raises(ValueError, match="prompt_width"):
        ShapeBuckets(prompt_width=0)
