"""Figure 3: best-of-N. The policy samples S query lists per user once; for each N the list with
the highest composite reward (computed from the user's behaviours only) is kept and scored on
the test week (`train.best_of_n_run`: the expected kept list over all N-subsets of the S
samples, with standard errors over users).

The prompts, sampled and scored, hold the users' cleaned behaviours (`world.clean`, on by
default): the rewards judge each list against the view the policy saw. The policy is trained
here with the recipe (SFT warm start, Dr.GRPO) unless `policy` names one
(a checkpoint directory from another run, "preset:NAME" or "smollm2"). Writes
OUT/results.json, OUT/fig3.md, OUT/fig3.png and OUT/samples.jsonl (resumed when interrupted).

  python experiments/fig3_best_of_n.py --out checkpoints/experiments/fig3
  python experiments/fig3_best_of_n.py --set policy=checkpoints/experiments/table5/grpo_full/policy
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import ClassVar

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jaxinterest.experiments import recipe as R  # noqa: E402
from jaxinterest.experiments import script, tables  # noqa: E402
from jaxinterest.experiments.plots import publish  # noqa: E402
from jaxinterest.train.best_of_n_run import BestOfNConfig  # noqa: E402

METRICS = ("recall@10", "ndcg@10", "mrr")


@dataclasses.dataclass(frozen=True)
class Fig3Config:
    """max_users: a seeded subset of the world's users (0 = all). best_of_n's prompt, answer
    budget and seed come from the recipe (see resolve)."""

    world: R.WorldSpec = R.WorldSpec()
    recipe: R.Recipe = R.Recipe()
    policy: str = ""
    best_of_n: BestOfNConfig = BestOfNConfig(samples=32, ns=(1, 2, 4, 8, 16, 32))
    max_users: int = 1000
    publish: str = ""  # a directory to copy fig3.png into, e.g. docs/figures

    SELECTORS: ClassVar[tuple[str, ...]] = ("publish",)  # where the figure goes, not what it is


def resolve(cfg: Fig3Config) -> Fig3Config:
    r = cfg.recipe.resolve()
    bon = dataclasses.replace(cfg.best_of_n, prompt=r.prompt, max_new_tokens=r.max_new_tokens,
                              seed=r.seed)  # fmt: skip
    return dataclasses.replace(cfg, recipe=r, best_of_n=bon)


def body(cfg: Fig3Config, out, manifest, progress):
    from jaxinterest.eval import EvalConfig
    from jaxinterest.rewards import build_rewards
    from jaxinterest.train import best_of_n_run as bon
    from jaxinterest.train.policy import load_policy

    wdir, world, keep_file = R.prepare_world(cfg.world, out, manifest, progress)
    clean_fn = R.keep_lookup(keep_file)
    spec = cfg.policy or R.train_policy(cfg.recipe, wdir, out / "policy", manifest, progress,
                                        keep_file=keep_file)["grpo"]  # fmt: skip
    policy = load_policy(spec, seed=cfg.recipe.seed, cache_dir=out)
    users = R.pick_users(world, cfg.max_users, cfg.recipe.seed)
    with manifest.stage("samples"):
        samples = bon.sample_lists(policy, world, users, cfg.best_of_n, clean_fn=clean_fn,
                                   out=out / "samples.jsonl", progress=progress)  # fmt: skip
    with manifest.stage("score"):
        reward_model = build_rewards(
            world, cfg.recipe.grpo.rewards, clean_fn=clean_fn, tokenizer=policy.tokenizer,
            prompt_cfg=cfg.best_of_n.prompt, cache_dir=out / "rewards_cache", progress=progress,
        )  # fmt: skip
        rewards, metrics, order = bon.score_lists(world, samples, reward_model, cfg.best_of_n,
                                                  EvalConfig(), index=R.week_index(world),
                                                  progress=progress)  # fmt: skip
        rep = bon.report(world, order, rewards, metrics, cfg.best_of_n)
    write_figure(rep, out / "fig3.png")
    publish(out / "fig3.png", cfg.publish)

    def cell(k, n):
        v = rep["all"][k][str(n)]
        return f"{tables.fmt(v['mean'], 4)} ± {tables.fmt(v['stderr'], 4)}"

    rows = [[n, *[cell(k, n) for k in ("reward", *METRICS)]] for n in rep["ns"]]
    title = (
        f"Figure 3 on world `{wdir}`, policy `{spec}`, {len(users)} users x "
        f"{cfg.best_of_n.samples} samples (all users); ![fig3](fig3.png)"
    )
    md = tables.markdown(["N", "reward", "R@10", "N@10", "MRR"], rows, title)
    (out / "fig3.md").write_text(md)
    training = R.training_summary(out / "policy" / "grpo")
    return {"best_of_n": rep, "training": training}, ["fig3.md", "fig3.png"]


def write_figure(rep: dict, path) -> None:
    from jaxinterest.experiments.plots import line_plot

    ns = rep["ns"]
    series = {
        tables.SHORT[m]: ([rep["all"][m][str(n)]["mean"] for n in ns],
                          [rep["all"][m][str(n)]["stderr"] for n in ns])
        for m in ("recall@10", "ndcg@10")
    }  # fmt: skip
    line_plot(path, ns, series, xlabel="N (lists sampled, best kept by reward)",
              ylabel="test week", logx=True, xticks=[str(n) for n in ns],
              title="Best-of-N (mean ± s.e. over users)")  # fmt: skip


if __name__ == "__main__":
    sys.exit(script.main(__file__, Fig3Config, body, __doc__.split("\n\n")[0], resolve=resolve))
