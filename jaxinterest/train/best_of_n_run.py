"""Best-of-N end to end: S sampled query lists per user -> composite rewards -> retrieval
metrics of every sample -> the curves of `best_of_n.curve` for every N.

1. `sample_lists`: the policy's S lists per user (the training prompts, `train.queries`), each
   user with its own key (`serve.interests.user_key`), so a resumed run equals an uninterrupted
   one; written to a JSONL file as it goes (one line per user) and resumed from it.
2. `score_lists`: the composite reward of every sample (`rewards.build_rewards`, behaviours
   only, so choosing by it never sees the test week) and each sample's Recall/NDCG/MRR on the
   evaluation world (`eval.evaluate_queries`, one call per sample index, every distinct query
   embedded once).
3. `report`: for all / warm / cold users, the reward and each metric of the kept sample, with
   standard errors, for each N.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jaxinterest.data.answer import parse_queries
from jaxinterest.data.columns import column
from jaxinterest.data.prompts import PromptConfig
from jaxinterest.train.best_of_n import DEFAULT_NS, METHODS, curve


@dataclasses.dataclass(frozen=True)
class BestOfNConfig:
    """samples: lists drawn per user (S >= max(ns)); batch_size: users per sampler call."""

    samples: int = 32
    ns: tuple[int, ...] = DEFAULT_NS
    method: str = "expected"
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 64
    seed: int = 0
    batch_size: int = 8
    prompt: PromptConfig = PromptConfig()

    def __post_init__(self):
        if self.samples < 1 or not self.ns or min(self.ns) < 1 or max(self.ns) > self.samples:
            raise ValueError(f"ns {self.ns} must lie in [1, samples={self.samples}]")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.temperature <= 0:
            raise ValueError("best-of-N needs temperature > 0 (greedy lists are all the same)")


def read_samples(path: Path, samples: int) -> dict[str, list[str]]:
    """user_id -> texts from a samples JSONL; a torn last line (a killed run) is dropped."""
    out: dict[str, list[str]] = {}
    if not path.is_file():
        return out
    lines = path.read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines, 1):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            if n == len(lines):
                break
            raise ValueError(f"{path} line {n}: not valid JSON") from None
        texts = obj.get("texts") if isinstance(obj, dict) else None
        if not isinstance(texts, list) or len(texts) != samples:
            raise ValueError(
                f"{path} line {n}: expected {samples} texts per user (was it written with "
                "another --samples?)"
            )
        out[obj["user_id"]] = texts
    return out


def sample_lists(policy, world, user_ids, cfg: BestOfNConfig, *, out: Path, clean_fn=None,
                 progress: bool = False) -> dict[str, list[str]]:  # fmt: skip
    """user_id -> S sampled answer texts, resumed from and appended to `out` (JSONL)."""
    import jax.numpy as jnp
    from tqdm import tqdm

    from jaxinterest.sampling import SamplingParams, generate
    from jaxinterest.serve.interests import user_key
    from jaxinterest.train.queries import user_prompts

    done = read_samples(out, cfg.samples)
    if out.is_file():  # rewrite without a torn last line before appending
        out.write_text(
            "".join(json.dumps({"user_id": u, "texts": t}) + "\n" for u, t in done.items())
        )
    todo = [u for u in user_ids if u not in done]
    sampling = SamplingParams(
        max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, top_p=cfg.top_p,
        stop_ids=policy.stop_ids, num_samples=cfg.samples,
    )  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=len(user_ids), initial=len(user_ids) - len(todo), desc="best-of-n samples",
               unit="user", disable=not progress)  # fmt: skip
    with out.open("a", encoding="utf-8") as f:
        for s in range(0, len(todo), cfg.batch_size):
            batch = todo[s : s + cfg.batch_size]
            prompts = user_prompts(world, batch, policy.tokenizer, cfg.prompt, clean_fn)
            keys = jnp.stack([user_key(cfg.seed, u) for u in batch])
            gen = generate(policy.params, policy.cfg, prompts, sampling, keys=keys,
                           pad_id=policy.pad_id)  # fmt: skip
            texts = gen.texts(policy.tokenizer)
            for i, u in enumerate(batch):
                done[u] = texts[i * cfg.samples : (i + 1) * cfg.samples]
                f.write(json.dumps({"user_id": u, "texts": done[u]}) + "\n")
            f.flush()
            bar.update(len(batch))
    bar.close()
    return {u: done[u] for u in user_ids}


def users_world(world, user_ids):
    """`world` restricted to these users (their test clicks, their cold flags)."""
    ids = column(world.users, "user_id")
    missing = sorted(set(user_ids) - set(ids))
    if missing:
        raise KeyError(f"{len(missing)} users are not in the world (first: {missing[0]!r})")
    keep = pc.is_in(world.users.column("user_id"), value_set=pa.array(user_ids, pa.string()))
    return dataclasses.replace(world, users=world.users.filter(keep))


def score_lists(world, samples: dict, reward_model, cfg: BestOfNConfig, eval_cfg, *,
                index=None, progress: bool = False) -> tuple:  # fmt: skip
    """(rewards [U, S] composite totals, {metric: [U, S]} per-sample metrics, user ids in
    evaluation order). `world`: the evaluation world (test week, or a holdout world)."""
    from tqdm import tqdm

    from jaxinterest.embed import embed
    from jaxinterest.eval import build_test_index, evaluate_queries, metric_names
    from jaxinterest.eval.recommend import per_user_scores

    world = users_world(world, list(samples))
    users = column(world.users, "user_id")
    s = cfg.samples
    texts = [t for u in users for t in samples[u]]
    total = []
    for start in tqdm(range(0, len(texts), 1024), desc="best-of-n rewards", disable=not progress):
        part = texts[start : start + 1024]
        owners = [users[(start + i) // s] for i in range(len(part))]
        total.append(np.asarray(reward_model.score(owners, part).total, np.float64))
    rewards = np.concatenate(total).reshape(len(users), s)
    n = cfg.prompt.n_queries
    queries = [[list(parse_queries(t, n_max=n, n_exact=n).queries) for t in samples[u]]
               for u in users]  # fmt: skip
    distinct = sorted({q for qs in queries for lst in qs for q in lst})
    table = dict(zip(distinct, embed(distinct), strict=True))
    # evaluate_queries cannot reshape an empty custom embedding: leave it None then
    embedder = (lambda xs: np.stack([table[x] for x in xs])) if distinct else None
    index = index or build_test_index(world, eval_cfg)
    metrics = {m: np.zeros((len(users), s)) for m in metric_names(eval_cfg.ks)}
    for j in tqdm(range(s), desc="best-of-n metrics", disable=not progress):
        per = {u: queries[i][j] for i, u in enumerate(users)}
        have = embedder if any(per.values()) else None
        _, ranked = evaluate_queries(world, per, eval_cfg, index=index, embedder=have)
        scores = per_user_scores(ranked, world, eval_cfg.ks)
        for m in metrics:
            metrics[m][:, j] = scores[m]
    return rewards, metrics, users


def report(world, users, rewards, metrics, cfg: BestOfNConfig) -> dict:
    """{"ns", "method", cohort: {"reward": {N: {mean, stderr, users}}, metric: {...}}}."""
    world = users_world(world, users)
    cold = np.asarray(column(world.users, "cold"), bool)
    row = {u: i for i, u in enumerate(column(world.users, "user_id"))}
    cold = cold[[row[u] for u in users]]
    out = {"ns": list(cfg.ns), "method": cfg.method, "samples": cfg.samples, "users": len(users)}
    for name, sel in (("all", slice(None)), ("warm", ~cold), ("cold", cold)):
        part = {"reward": curve(rewards[sel], rewards[sel], cfg.ns, cfg.method)}
        for m, values in metrics.items():
            part[m] = curve(values[sel], rewards[sel], cfg.ns, cfg.method)
        out[name] = {
            k: {
                str(n): {"mean": _num(v[0]), "stderr": _num(v[1]), "users": v[2]}
                for n, v in c.items()
            }  # fmt: skip
            for k, c in part.items()
        }
    return out


def _num(x: float) -> float | None:
    """NaN (no user to average) as None, so the report is valid JSON."""
    return None if np.isnan(x) else float(x)
