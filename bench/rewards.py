"""Reward throughput for one GRPO batch, against the sampler generating that batch.

Prints one JSON object, measured in one run on the `small` world:
- the rubric-judge rewards of one GRPO batch (16 users x G = 8 lists of 5 queries), completions
  per second, split into parse/views, embed, themes, search and judge seconds, in three states:
  "cold" (the users' themes and the query cache empty: the first time a user is seen, as in a
  one-epoch GRPO run without `prepare`), "users_cached" (themes prepared, every query new: the
  steady state when `RewardModel.prepare` ran over the training users) and "all_cached" (the
  same batch again: every query in the LRU cache);
- the anchor: `jaxinterest.sampling.generate` producing the same batch (the 16 users' real
  prompts, tiny BPE, 1024-token budget; tiny-5m random init; G = 8 at temperature 1, no stop
  token, max_new_tokens = the median token length of the batch's completions), timed in turns
  with the rewards so load changes hit both;
- the goal (rewards <= 10% of generation) as ratios, plus the machine's jnp matmul rate and, for
  the cold and users_cached states, the encoder's share of it during the embed phase on useful
  tokens and on the tokens run after `embed` pads lengths and row counts to its buckets (is the
  embed step compute-bound, and how much of it is padding?).

The completions are realistic lists: per user, 5 distinct keyword queries (the first five
lower-case words of a behaviour text) drawn from the 12 most frequent of the user's own shown
behaviours, so the G lists of a user overlap as a partly trained policy's do.

  python bench/rewards.py [--world DIR] [--repeat 3] [--users 16] [--group 8]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from bench.common import emit, machine  # noqa: E402

MINILM_FLOPS_PER_TOKEN = 2 * 6 * (4 * 384 * 384 + 2 * 384 * 1536)  # 6 layers, d 384, ffw 1536


def matmul_rate() -> float:
    """The machine's float32 jnp matmul rate, GFLOP/s ([1024, 384] x [384, 1536], MiniLM's
    FFN shape)."""
    a = jnp.ones((1024, 384), jnp.float32)
    b = jnp.ones((384, 1536), jnp.float32)
    f = jax.jit(lambda a, b: a @ b)
    f(a, b).block_until_ready()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 1.0:
        f(a, b).block_until_ready()
        n += 1
    return 2 * 1024 * 384 * 1536 * n / (time.perf_counter() - t0) / 1e9


def batch_lists(model, users, group: int, rng) -> list[str]:
    """G lists per user of 5 keyword queries (the first 5 lower-case words of a behaviour text,
    as a policy writes them, so they are not cache hits on the behaviour texts)."""
    from jaxinterest.rewards.specificity import terms

    out = []
    for u in users:
        counts = Counter(" ".join(terms(t)[:5]) for t in model.views.view(u).texts)
        pool = [t for t, _ in counts.most_common(12) if t]
        for _ in range(group):
            pick = rng.choice(len(pool), min(5, len(pool)), replace=False)
            out.append(json.dumps([pool[i] for i in pick]))
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--world", help="a small world directory (default: generate one)")
    ap.add_argument("--users", type=int, default=16)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per variant (median)")
    ap.add_argument("--preset", default="tiny-5m", help="policy preset for the anchor")
    ap.add_argument("--cache-dir", help="reuse the article embeddings/index across runs")
    args = ap.parse_args(argv)

    from jaxinterest.data.io import load_world
    from jaxinterest.data.prompts import PromptConfig, render_prompt
    from jaxinterest.data.world import generate_world, make_config
    from jaxinterest.models.qwen2 import get_preset, init_params
    from jaxinterest.rewards import build_rewards
    from jaxinterest.sampling import SamplingParams, generate
    from jaxinterest.tokenizer import tiny_tokenizer

    tmp = None
    if args.world is None:
        tmp = tempfile.TemporaryDirectory()
        generate_world(make_config("small"), tmp.name, progress=False)
    world = load_world(args.world or tmp.name, parts=("news", "events", "users"))
    t0 = time.perf_counter()
    model = build_rewards(world, cache_dir=args.cache_dir)
    build_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    all_users = world.users.column("user_id").to_pylist()
    users = [all_users[i] for i in rng.choice(len(all_users), args.users, replace=False)]
    comps = batch_lists(model, users, args.group, rng)
    rows = [u for u in users for _ in range(args.group)]

    tok = tiny_tokenizer()
    ids, offsets = world.user_slices()
    at = {u: i for i, u in enumerate(ids)}
    prompts = []
    for u in users:
        ev = world.events.slice(int(offsets[at[u]]), int(offsets[at[u] + 1] - offsets[at[u]]))
        p = render_prompt(ev.column("domain").to_pylist(), ev.column("text").to_pylist(),
                          ev.column("url").to_pylist(), ev.column("timestamp").to_numpy(),
                          tok, PromptConfig())  # fmt: skip
        prompts.append(p.token_ids)
    new_tokens = int(np.median([len(tok(c, add_special_tokens=False)["input_ids"]) for c in comps]))
    cfg = get_preset(args.preset)
    params = init_params(cfg, jax.random.key(0))
    sp = SamplingParams(max_new_tokens=new_tokens, temperature=1.0, num_samples=args.group)

    def gen():
        g = generate(params, cfg, prompts, sp, key=jax.random.key(1))
        assert g.tokens.shape == (len(rows), new_tokens)

    def cold():
        model.states.clear()
        model.vectors.clear()
        return model.score(rows, comps).info["seconds"]

    def users_cached():
        model.prepare(users)
        model.vectors.clear()
        return model.score(rows, comps).info["seconds"]

    def all_cached():
        model.prepare(users)
        model.score(rows, comps)
        return model.score(rows, comps).info["seconds"]

    variants = {"cold": cold, "users_cached": users_cached, "all_cached": all_cached}
    gen()  # compile
    for f in variants.values():  # compile the encoder's shapes
        f()
    times = {k: [] for k in variants}
    gen_times = []
    for _ in range(args.repeat):  # in turns: load changes hit every variant alike
        t = time.perf_counter()
        gen()
        gen_times.append(time.perf_counter() - t)
        for k, f in variants.items():
            times[k].append(f())
    gen_s = statistics.median(gen_times)
    model.states.clear()
    model.vectors.clear()
    info = model.score(rows, comps).info
    result = {"bench": "rewards", "world": world.meta.get("preset"), "batch": {
        "users": args.users, "group": args.group, "completions": len(rows),
        "distinct_queries": info["n_distinct_queries"],
        "texts_embedded_cold": info["n_embedded_texts"]}}  # fmt: skip
    rate = matmul_rate()
    for k, ts in times.items():
        med = {p: round(statistics.median(t[p] for t in ts), 4) for p in ts[0]}
        result[k] = {"seconds": med, "completions_per_s": round(len(rows) / med["total"], 1),
                     "fraction_of_generation": round(med["total"] / gen_s, 3)}  # fmt: skip
    result["anchor_generation"] = {
        "preset": args.preset,
        "prompt_tokens_mean": round(float(np.mean([len(p) for p in prompts])), 1),
        "max_new_tokens": new_tokens, "seconds": round(gen_s, 4),
        "completions_per_s": round(len(rows) / gen_s, 1)}  # fmt: skip
    result["goal"] = "rewards <= 0.10 x generation"
    # what the embed phase of each state encodes: useful tokens, and the tokens `embed` runs
    # once lengths and row counts are rounded up to its buckets (padding)
    model.states.clear()
    model.vectors.clear()
    queries = list(dict.fromkeys(q for c in comps for q in json.loads(c)))
    behaviour = [t for u in users for t in sorted(set(model.views.view(u).texts))]
    embedded = {"cold": model.vectors.lookup(behaviour + queries)[1],
                "users_cached": model.vectors.lookup(queries)[1]}  # fmt: skip
    result["embed_compute"] = {"matmul_gflops": round(rate, 1)}
    for k, texts in embedded.items():
        useful, padded = embed_layout(model, texts)
        embed_s = result[k]["seconds"]["embed"]
        result["embed_compute"][k] = {
            "texts": len(texts), "tokens": useful, "padded_tokens": padded,
            "minilm_gflop": round(useful * MINILM_FLOPS_PER_TOKEN / 1e9, 2),
            # useful FLOPs of the embed phase over the matmul rate; with padding counted
            "fraction_of_matmul_rate": round(
                useful * MINILM_FLOPS_PER_TOKEN / 1e9 / embed_s / rate, 3),
            "fraction_of_matmul_rate_padded": round(
                padded * MINILM_FLOPS_PER_TOKEN / 1e9 / embed_s / rate, 3),
        }  # fmt: skip
    result["build_seconds"] = round(build_s, 1)
    result["machine"] = machine()
    result["load_avg"] = os.getloadavg()
    emit(result)
    if tmp:
        tmp.cleanup()


def embed_layout(model, texts, batch_size: int = 128) -> tuple[int, int]:
    """(useful tokens, tokens run) of `embed(texts)`: its own batch layout (`batch_layout`:
    each text padded to its power-of-two length bucket >= 8, every batch of a bucket to the
    same rows)."""
    from jaxinterest.embed import batch_layout, default_encoder
    from jaxinterest.models.encoder.load import token_ids

    enc = model.encoder or default_encoder()
    lengths = [len(r) for r in token_ids(enc, texts, enc.max_seq_length)]
    layout = batch_layout(lengths, enc.max_seq_length, batch_size)
    return int(sum(lengths)), int(sum(w * h for w, h, _ in layout))


if __name__ == "__main__":
    main()
