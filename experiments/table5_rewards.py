"""Table 5: the reward ablation. One SFT warm start, then Dr.GRPO with the full composite reward
and with each of its five signals removed (weight 0), every run with the same budget and seed;
each policy's greedy lists are scored on the test week. Every stage reads the users' cleaned
behaviours (`world.clean`, on by default).

Writes OUT/results.json (metrics per variant and cohort), OUT/table5.md (ours beside the
paper's R@10 / N@10) and OUT/sft/, OUT/grpo_VARIANT/, OUT/eval/.

  python experiments/table5_rewards.py --out checkpoints/experiments/table5
  python experiments/table5_rewards.py --set variants=full,no_cov --set recipe.model=tiny-2m
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import ClassVar

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jaxinterest.experiments import recipe as R  # noqa: E402
from jaxinterest.experiments import script, tables  # noqa: E402
from jaxinterest.rewards.config import SIGNALS  # noqa: E402

VARIANTS = ("full", *(f"no_{s}" for s in SIGNALS))
TITLE = {"full": "Full reward", **{f"no_{s}": f"w/o R_{s}" for s in SIGNALS}}


@dataclasses.dataclass(frozen=True)
class Table5Config:
    """recipe.seed is the run's seed (`--set recipe.seed=1`)."""

    # variants pick the rows and reuse where a trained row may come from, never what a row
    # computes: a rerun into the same directory may change them
    SELECTORS: ClassVar[tuple[str, ...]] = ("variants", "reuse")

    world: R.WorldSpec = R.WorldSpec()
    recipe: R.Recipe = R.Recipe()
    # finished GRPO run directories (e.g. Figure 2's cells' teacher/grpo): a row that would train
    # exactly what one of them trained links to it instead (jaxinterest/experiments/reuse.py)
    reuse: tuple[str, ...] = ()
    variants: tuple[str, ...] = VARIANTS

    def __post_init__(self):
        bad = [v for v in self.variants if v not in VARIANTS]
        if bad:
            raise ValueError(f"variants: unknown {bad}; choose from {list(VARIANTS)}")


def resolve(cfg: Table5Config) -> Table5Config:
    return dataclasses.replace(cfg, recipe=cfg.recipe.resolve())


def ablated(recipe: R.Recipe, variant: str) -> R.Recipe:
    """The recipe with the removed signal's weight set to 0 (the others keep theirs)."""
    if variant == "full":
        return recipe
    off = variant.removeprefix("no_")
    rewards = recipe.grpo.rewards
    weights = tuple((s, 0.0 if s == off else w) for s, w in rewards.weights)
    grpo = dataclasses.replace(recipe.grpo, rewards=dataclasses.replace(rewards, weights=weights))
    return dataclasses.replace(recipe, grpo=grpo)


def body(cfg: Table5Config, out, manifest, progress):
    wdir, world, keep_file = R.prepare_world(cfg.world, out, manifest, progress)
    clean_fn = R.keep_lookup(keep_file)
    with manifest.stage("sft"):
        start = R.sft_stage(cfg.recipe, wdir, out / "sft", progress, keep_file=keep_file)
    rows, training = {}, {"sft": R.training_summary(out / "sft")}
    for variant in cfg.variants:
        recipe = ablated(cfg.recipe, variant)
        with manifest.stage(f"{variant}.grpo"):
            final = R.grpo_stage(recipe.grpo, wdir, start, out / f"grpo_{variant}", progress,
                                 keep_file=keep_file, reuse=cfg.reuse)  # fmt: skip
        training[variant] = R.training_summary(out / f"grpo_{variant}")
        with manifest.stage(f"{variant}.eval"):
            rows[variant] = R.evaluate_policy_row(world, final, recipe,
                                                  out / "eval" / f"{variant}.json", out, progress,
                                                  clean_fn=clean_fn)  # fmt: skip
    md = tables.metric_table(
        rows, ("recall@10", "ndcg@10"), paper=tables.PAPER_TABLE5, titles=TITLE,
        title=f"Table 5 on world `{wdir}`, model {cfg.recipe.model}, seed {cfg.recipe.seed}",
    )  # fmt: skip
    (out / "table5.md").write_text(md)
    return {"rows": rows, "training": training}, ["table5.md"]


if __name__ == "__main__":
    sys.exit(script.main(__file__, Table5Config, body, __doc__.split("\n\n")[0], resolve=resolve))
