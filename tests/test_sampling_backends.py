"""Which decode backend generate uses, and the fallback when the CPU kernels cannot load."""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterest import kernels
from jaxinterest import sharding as shd
from jaxinterest.models.qwen2 import forward, param_axes
from jaxinterest.sampling import SamplingParams, generate
from jaxinterest.sampling.generate import choose_backend
from tests.qwen2_helpers import random_params, tiny_config

CFG = tiny_config(vocab_size=300, max_position_embeddings=128)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def params():
    return random_params(CFG, seed=5, scale=0.25)


def test_auto_takes_the_kernels_on_cpu_float32(params):
    if not kernels.kernel_available():
        pytest.skip(kernels.build.status())
    assert choose_backend("auto", params, CFG) == "kernel"
    assert choose_backend("xla", params, CFG) == "xla"


def test_auto_falls_back_where_the_kernels_do_not_apply(params):
    half = jax.tree.map(lambda x: x.astype(jnp.bfloat16), params)
    assert choose_backend("auto", half, CFG) == "xla"
    with pytest.raises(ValueError, match="float32 only"):
        choose_backend("kernel", half, CFG)
    odd = tiny_config(vocab_size=300, head_dim=12)
    assert choose_backend("auto", random_params(odd), odd) == "xla"
    mesh = shd.make_mesh((2, 1, 1), jax.devices()[:2])
    sharded = shd.shard_params(params, param_axes(CFG), mesh, shd.get_rules("dp"))
    assert choose_backend("auto", sharded, CFG, mesh) == "xla"
    with pytest.raises(ValueError, match="sharded"):
        choose_backend("kernel", sharded, CFG, mesh)
    with pytest.raises(ValueError, match="backend must be"):
        choose_backend("fast", params, CFG)


def test_both_backends_give_the_same_greedy_tokens(params):
    rng = np.random.default_rng(1)
    prompts = [rng.integers(1, CFG.vocab_size, n).tolist() for n in (3, 9, 21, 40)]
    outs = [
        generate(params, CFG, prompts, SamplingParams(16, temperature=0.0), backend=b)
        for b in ("kernel", "xla")
    ]
    np.testing.assert_array_equal(outs[0].tokens, outs[1].tokens)
    np.testing.assert_allclose(outs[0].logprobs_raw, outs[1].logprobs_raw, atol=1e-5, rtol=0)


@pytest.mark.parametrize("backend", ["kernel", "xla"])
def test_temperature_draws_follow_the_key_step_by_step(params, backend):
    """Without top-k/top-p, token t of decode row r is the inverse CDF of softmax(logits / T)
    at (1 - u) of its mass, u = uniform(fold_in(fold_in(key, chunk), t), (R,))[r], on both
    backends: checked here in float64 from the model's own logits over 10 steps, so a key
    reused across steps or rows on either backend fails."""
    if backend == "kernel" and not kernels.kernel_available():
        pytest.skip(f"kernels unavailable: {kernels.build.status()}")
    rng = np.random.default_rng(4)
    prompts = [rng.integers(1, CFG.vocab_size, n).tolist() for n in (7, 4)]  # longest first
    t_ = 0.8
    key = jax.random.key(21)
    sp = SamplingParams(max_new_tokens=10, temperature=t_, num_samples=2)
    out = generate(params, CFG, prompts, sp, key=key, backend=backend)
    rows = len(prompts) * 2  # one chunk of 2 prompts x G = 2, decode row r = output row r
    assert (out.lengths == 10).all()
    model = jax.jit(forward, static_argnums=2)
    step_u = [
        np.asarray(jax.random.uniform(jax.random.fold_in(jax.random.fold_in(key, 0), t), (rows,)))
        for t in range(10)
    ]
    for r in range(rows):
        prompt = prompts[out.prompt_index[r]]
        seq = np.asarray([prompt + out.tokens[r].tolist()])
        logits = np.asarray(model(params, jnp.asarray(seq), CFG)[0], np.float64)
        for t in range(10):
            z = logits[len(prompt) - 1 + t] / t_
            cdf = np.cumsum(np.exp(z - z.max()))
            want = int(np.searchsorted(cdf, (1.0 - step_u[t][r]) * cdf[-1]))
            assert out.tokens[r, t] == want, f"row {r} step {t}"


@pytest.mark.parametrize(
    "env,status",
    [
        ({"JAXINTEREST_KERNELS": "0"}, "switched off"),
        ({"CXX": "false"}, "build or load failed"),
    ],
)
def test_generate_runs_on_xla_when_the_kernels_are_unavailable(tmp_path, env, status):
    """A fresh process with an empty kernel cache and no way to build: auto picks "xla",
    backend="kernel" says why it cannot, and generation still works."""
    script = textwrap.dedent(
        f"""
        import jax
        from jaxinterest import kernels
        from jaxinterest.sampling import SamplingParams, generate
        from jaxinterest.sampling.generate import choose_backend
        from tests.qwen2_helpers import random_params, tiny_config
        cfg = tiny_config(vocab_size=300)
        params = random_params(cfg, seed=5, scale=0.25)
        assert not kernels.kernel_available()
        assert {status!r} in kernels.build.status(), kernels.build.status()
        assert choose_backend("auto", params, cfg) == "xla"
        try:
            choose_backend("kernel", params, cfg)
            raise SystemExit("kernel backend accepted without kernels")
        except ValueError as err:
            assert {status!r} in str(err)
        out = generate(params, cfg, [[1, 2, 3]], SamplingParams(4, temperature=0.0))
        assert out.tokens.shape == (1, 4)
        print("ok")
        """
    )
    env = {**os.environ, "JAXINTEREST_CACHE": str(tmp_path), **env}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ok")
    assert not list(tmp_path.glob("kernels/*.so"))
