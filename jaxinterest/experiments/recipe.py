"""The stages the experiment scripts share, each skipping work whose output already exists.

  world      a world directory: given, or generated once per (preset, seed, size) into a cache
             shared by every run (generation is deterministic, so sharing it changes nothing)
  clean      the hashed n-gram noise classifier trained and applied once per world, its keep
             mask cached beside the world; every later stage reads the kept behaviours only
  sft        the warm start of a tiny-family preset (`train.sft.run_sft`); a real checkpoint
             (an HF directory, or "smollm2") skips it unless `Recipe.sft_pretrained`
  grpo       Dr.GRPO from a policy (`train.loop.run_grpo`, resumed when interrupted)
  evaluate   a policy's greedy query lists on the test week -> the metrics of Table 2, and
             the mean over `Recipe.answer_samples` sampled answer sets (`sampled`)

One prompt and one answer budget serve every stage of a run (`Recipe.prompt`,
`Recipe.max_new_tokens`): a policy must be evaluated on the prompt it was trained on. Likewise
one keep mask serves every stage: the stages take it as `keep_file` (None: raw behaviours, and
the configs keep whatever keep_file they were given).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

from jaxinterest.data.prompts import PromptConfig
from jaxinterest.data.subset import pick_users, user_subset  # noqa: F401 (the scripts' R.*)
from jaxinterest.train.distill_run import DistillConfig
from jaxinterest.train.grpo import GRPOConfig
from jaxinterest.train.optim import OptimConfig
from jaxinterest.train.sft import TINY_SYSTEM_PROMPT, SFTConfig, StageConfig

TINY_PROMPT = PromptConfig(max_prompt_tokens=256, system_prompt=TINY_SYSTEM_PROMPT)
METRICS = ("recall@5", "recall@10", "ndcg@5", "ndcg@10", "mrr")
COHORTS = ("all", "cold")


@dataclasses.dataclass(frozen=True)
class WorldSpec:
    """path: an existing world directory ("" = generate `preset` with `seed`, n_users and
    n_news overriding the preset's when > 0, into `cache`).

    clean: the paper's policy reads a user's cleaned behaviours (section 4.2), so by default
    the hashed n-gram noise classifier is trained on the world's noise labels (training users
    only) and applied to every event (`ensure_clean`); policies (SFT, GRPO, distillation,
    evaluation, best-of-N sampling and its rewards, throughput prompts), the own-searches rows
    and the baselines then read the kept behaviours. It lives here, not on a `Recipe`, because
    the keep mask belongs to the world: every row of a table (several recipes, a distillation,
    baselines, reference recommenders) must read the same behaviours, and a script without a
    recipe (Table 6) needs it too. False: raw behaviours everywhere."""

    path: str = ""
    preset: str = "small"
    seed: int = 0
    n_users: int = 0
    n_news: int = 0
    cache: str = "checkpoints/worlds"
    clean: bool = True


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How one policy is trained. model: a tiny-family preset name (SFT from scratch, then
    GRPO), "smollm2", or a local HF checkpoint directory (GRPO from it, no SFT). seed, prompt
    and max_new_tokens are copied into sft and grpo by `resolve` (theirs are overwritten).
    sft_pretrained: a real checkpoint (SmolLM2 or an HF directory) gets the `sft` stage too,
    e.g. a short instruction stage that teaches it the answer format before GRPO (its `sft`
    should then set pretrain steps to 0: the article pretraining is for random inits).
    train=False takes `model` as already trained (a policy another run wrote): `sft_stage` and
    `train_policy` return it as it is, so scripts can share one teacher or warm start.
    answer_samples: the evaluation also scores this many answer sets sampled at
    answer_temperature (0: the greedy answer only). GRPO trains the sampled answer; a small
    policy's greedy answer is often one query repeated and barely moves (docs/training.md,
    "Which answer is scored")."""

    model: str = "tiny-5m"
    train: bool = True
    sft_pretrained: bool = False
    seed: int = 0
    max_new_tokens: int = 48
    answer_samples: int = 4
    answer_temperature: float = 1.0
    prompt: PromptConfig = TINY_PROMPT
    # the SFT recipe whose tiny-2m+ policies copy from their prompt (docs/training.md,
    # "Policies that read their prompt"): history pretraining, 15 history cuts, 400 steps
    sft: SFTConfig = SFTConfig(
        pretrain_corpus="histories",
        cut_days=tuple(range(15)),
        pretrain=StageConfig(steps=100, lr=3e-3),
        instruct=StageConfig(steps=400, lr=2e-3, warmup_steps=30),
    )
    # the learning proof's GRPO (tests/tiny_learning.py): on tiny-2m it raises the sampled
    # answers' test-week R@10 .145 -> .192; 40 iterations at lr 3e-4 lowered the greedy
    # answer's (docs/training.md, "The learning proof"). No validation during training
    # (eval_every=0): the scripts score the test week afterwards, the training window's last
    # week did not track the test week's gains, and validating every 100 iterations took 37%
    # of a tiny-2m run (717 s against 452 s; the trained policy is the same to the last digit)
    grpo: GRPOConfig = GRPOConfig(
        steps=300,
        prompts_per_step=8,
        group_size=8,
        inner_epochs=1,
        optim=OptimConfig(lr=1e-4, warmup_steps=0, total_steps=300),
        eval_every=0,
        checkpoint_every=50,
        validation_samples=4,
    )

    def resolve(self) -> Recipe:
        """sft and grpo with this recipe's seed, prompt and answer budget."""
        common = dict(seed=self.seed, prompt=self.prompt, max_new_tokens=self.max_new_tokens)
        return dataclasses.replace(
            self,
            sft=dataclasses.replace(self.sft, **common),
            grpo=dataclasses.replace(self.grpo, **common),
        )


# The teacher/student pair and the distillation budget that Tables 2 and 3 share: Table 2's
# student row is Table 3's on-policy row, so both scripts default to the same three values.
TEACHER = Recipe(model="tiny-21m")
STUDENT = Recipe(model="tiny-2m")
# 300 steps of 8 users x 2 lists: 4,800 sampled lists, a quarter of the recipe's GRPO (300 x 64).
# Distilling the tiny-2m GRPO teacher into the tiny-1.5m SFT student, 60 steps closed 18-21% of
# the sampled answers' R@10 gap and 300 steps 44-56%, against 38% for the student's own GRPO
# (docs/results.md, Table 3)
DISTILL = DistillConfig(
    steps=300, batch_size=8, samples=2, validate=False,
    optim=OptimConfig(lr=3e-4, warmup_steps=5, total_steps=300),
)  # fmt: skip


def is_preset(model: str) -> bool:
    from jaxinterest.models.qwen2.config import PRESETS

    return model in PRESETS


def world_dir(spec: WorldSpec) -> Path:
    if spec.path:
        return Path(spec.path)
    size = f"-u{spec.n_users}" * (spec.n_users > 0) + f"-n{spec.n_news}" * (spec.n_news > 0)
    return Path(spec.cache) / f"{spec.preset}-seed{spec.seed}{size}"


def ensure_world(spec: WorldSpec, progress: bool = True) -> Path:
    """The world directory, generated into the cache when absent. Generation goes to a private
    temporary directory renamed into place, so parallel runs never see half a world."""
    from jaxinterest.data.world import generate_world, make_config

    path = world_dir(spec)
    if spec.path:
        if not (path / "meta.json").is_file() and not path.is_dir():
            raise FileNotFoundError(f"world {path} does not exist")
        return path
    if path.is_dir():
        return path
    cfg = make_config(spec.preset, seed=spec.seed, n_users=spec.n_users or None,
                      n_news=spec.n_news or None)  # fmt: skip
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    generate_world(cfg, tmp, progress=progress)
    try:
        os.rename(tmp, path)
    except OSError:  # another process finished the same world first: same bytes, keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
    return path


CLEAN_MODEL = "ngram"  # the classifier kind the clean stage trains (docs/cleaning.md)


def clean_dir(world: Path) -> Path:
    """Where the clean stage caches a world's classifier and keep mask: beside the world."""
    return world.with_name(f"{world.name}.clean-{CLEAN_MODEL}")


def ensure_clean(spec: WorldSpec, world: Path, out: Path, progress: bool = True) -> str | None:
    """The keep mask of `world` (keep.parquet of `jaxinterest clean --apply`), or None when
    spec.clean is off. The hashed n-gram classifier is trained on the training users' noise
    labels (seed 0, no held-out comparison, as the quickstart does) and applied to every event,
    once per world: the result is cached in `clean_dir(world)` and shared by every run, like
    the world itself. Generation goes to a private temporary directory renamed into place, so
    parallel runs never see half a result; when the world's directory is read-only the cache
    goes to out/clean instead."""
    if not spec.clean:
        return None
    for cache in (clean_dir(world), out / "clean"):
        if (cache / "keep.parquet").is_file():
            check_same_world(world, cache)
            return str(cache / "keep.parquet")
        tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            tmp.mkdir(parents=True)
        except OSError:  # the world's directory is read-only: the run's own directory then
            continue
        return str(_clean_into(world, tmp, cache, progress))
    raise OSError(f"the keep mask of {world} can be written neither beside it nor into {out}")


def _clean_into(world: Path, tmp: Path, cache: Path, progress: bool) -> Path:
    """`clean --train` (n-gram, no comparison) then `clean --apply` into tmp, renamed to cache."""
    import contextlib
    import io

    from jaxinterest.cli import build_parser
    from jaxinterest.commands import clean

    parser = build_parser()
    train = parser.parse_args(["clean", "--train", str(world), "--out", str(tmp / "model"),
                               "--model", CLEAN_MODEL, "--splits", "none"])  # fmt: skip
    apply = parser.parse_args(["clean", "--apply", str(tmp / "model"), "--world", str(world),
                               "--out", str(tmp)])  # fmt: skip
    # the command's own progress bars go to stderr; silenced unless progress is on
    quiet = contextlib.nullcontext() if progress else contextlib.redirect_stderr(io.StringIO())
    with quiet:
        clean.train(train)
        clean.apply(apply)
    for report in (tmp / "report.json", tmp / "model" / "report.json"):  # name the final place
        report.write_text(report.read_text().replace(str(tmp), str(cache)))
    shutil.copyfile(world / "meta.json", tmp / "world_meta.json")
    try:
        os.rename(tmp, cache)
    except OSError:  # another process finished the same world first: same bytes, keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
    return cache / "keep.parquet"


def check_same_world(world: Path, cache: Path) -> None:
    """Refuses a cached keep mask of another world that once had this world's path."""
    before, now = cache / "world_meta.json", world / "meta.json"
    if before.is_file() and now.is_file() and before.read_bytes() != now.read_bytes():
        raise ValueError(f"{cache} cleans another world than {world} (meta.json differs): "
                         "delete it to clean this one")  # fmt: skip


def keep_lookup(keep_file: str | None):
    """The `clean_fn` of a keep mask (a `KeepLookup` by event_id), or None for raw behaviours."""
    if not keep_file:
        return None
    import pyarrow.parquet as pq

    from jaxinterest.clean import KeepLookup

    return KeepLookup(pq.read_table(keep_file))


def prepare_world(spec: WorldSpec, out: Path, manifest, progress: bool = True):
    """The world and clean stages, each timed in the manifest: (world dir, the loaded world,
    keep_file or None)."""
    from jaxinterest.data.io import load_world

    with manifest.stage("world"):
        wdir = ensure_world(spec, progress)
        world = load_world(wdir)
    with manifest.stage("clean"):
        keep_file = ensure_clean(spec, wdir, out, progress)
    return wdir, world, keep_file


def with_keep(cfg, keep_file: str | None):
    """cfg (an SFT, GRPO or distillation config) reading `keep_file`; unchanged when None."""
    return dataclasses.replace(cfg, keep_file=keep_file) if keep_file else cfg


def sft_stage(recipe: Recipe, world: Path, out: Path, progress: bool = True, *,
              keep_file: str | None = None) -> str:  # fmt: skip
    """The policy GRPO starts from: the SFT output of a preset (or of a real checkpoint when
    `recipe.sft_pretrained`), else the checkpoint itself."""
    from jaxinterest.train.sft import run_sft

    preset = is_preset(recipe.model)
    if not recipe.train or not (preset or recipe.sft_pretrained):
        return recipe.model
    start = f"preset:{recipe.model}" if preset else recipe.model
    cfg = dataclasses.replace(recipe.sft, world=str(world), out=str(out), policy=start)
    run_sft(with_keep(cfg, keep_file), progress=progress)
    return str(out / "policy")


def grpo_stage(cfg: GRPOConfig, world: Path, policy: str, out: Path, progress=True, *,
               keep_file: str | None = None, reuse=()) -> str:  # fmt: skip
    """Dr.GRPO from `policy` into `out` (resumed from its checkpoints); the final policy dir.
    `reuse`: finished GRPO run directories; when one trained exactly this run (`reuse.py`), `out`
    becomes a link to it instead of training again."""
    from jaxinterest.experiments.reuse import find_finished, link_run
    from jaxinterest.train.loop import run_grpo

    summary = out / "summary.json"
    if not summary.is_file():
        cfg = with_keep(dataclasses.replace(cfg, world=str(world), policy=policy, out=str(out)),
                        keep_file)  # fmt: skip
        source = find_finished(cfg, reuse) if reuse and not out.exists() else None
        if source is not None:
            link_run(out, source)
            if progress:
                print(f"{out}: the same training as the finished run {source}, reused")
        else:
            share_rewards_cache(world, out)
            run_grpo(cfg, resume=True, progress=progress)
    return json.loads(summary.read_text())["policy"]


def share_rewards_cache(world: Path, out: Path) -> None:
    """Points out/rewards_cache at one directory beside the world, so every GRPO run on a world
    embeds its training-window articles once (the cache is keyed by the articles and the
    encoder: a stale or foreign entry is a miss, never a wrong hit). Left alone when out already
    has its own cache or the world's directory is read-only."""
    link, shared = out / "rewards_cache", world.with_name(world.name + ".rewards_cache")
    if link.exists() or link.is_symlink():
        return
    try:
        shared.mkdir(exist_ok=True)
        out.mkdir(parents=True, exist_ok=True)
        link.symlink_to(shared.resolve(), target_is_directory=True)
    except OSError:
        return


def train_policy(recipe: Recipe, world: Path, out: Path, manifest, progress=True, *,
                 keep_file: str | None = None) -> dict:  # fmt: skip
    """SFT (presets only) then GRPO under `out`, both reading `keep_file`; {"sft": spec,
    "grpo": policy dir}, each stage timed in the manifest under out's name. An untrained recipe
    (train=False) is its model."""
    if not recipe.train:
        return {"sft": recipe.model, "grpo": recipe.model}
    name = out.name
    with manifest.stage(f"{name}.sft"):
        start = sft_stage(recipe, world, out / "sft", progress, keep_file=keep_file)
    with manifest.stage(f"{name}.grpo"):
        final = grpo_stage(recipe.grpo, world, start, out / "grpo", progress, keep_file=keep_file)
    return {"sft": start, "grpo": final}


_INDEX: dict = {}


def week_index(world):
    """The test-week index of a loaded world, built once per process."""
    from jaxinterest.eval import EvalConfig, build_test_index

    key = str(world.path)
    if key not in _INDEX:
        _INDEX[key] = build_test_index(world, EvalConfig())
    return _INDEX[key]


def summarize(report: dict) -> dict:
    """The Table 2 metrics per cohort of an `evaluate_queries` report, with the standard error
    of Recall@10 and NDCG@10 and the user count."""
    out = {}
    for c in COHORTS:
        row = {m: float(report[c][m]) for m in METRICS}
        row |= {f"stderr_{m}": float(report[c]["stderr"][m]) for m in ("recall@10", "ndcg@10")}
        out[c] = row
    return out


def evaluate_queries_row(world, queries: dict) -> dict:
    from jaxinterest.eval import EvalConfig, evaluate_queries

    report, _ = evaluate_queries(world, queries, EvalConfig(), index=week_index(world))
    return summarize(report)


def evaluate_policy_row(world, policy_spec: str, recipe: Recipe, out_json: Path, cache_dir: Path,
                        progress: bool = True, *, clean_fn=None) -> dict:  # fmt: skip
    """A policy's greedy lists on the test week, its prompts read through `clean_fn` (None: raw
    behaviours): summarize() + the share of answers in the exact format; with
    `recipe.answer_samples` > 0 also `sampled`: summarize() of the mean over that many sampled
    answer sets (standard errors over users' means) + their valid share and count. Cached in
    out_json; a cached row without the sampled part asked for gains it."""
    from jaxinterest.eval import EvalConfig
    from jaxinterest.train.policy import load_policy
    from jaxinterest.train.queries import evaluate_policy, evaluate_sampled

    n = recipe.answer_samples
    row = json.loads(out_json.read_text()) if out_json.is_file() else None
    if row is not None and (not n or row.get("sampled", {}).get("samples") == n):
        return row
    policy = load_policy(policy_spec, seed=recipe.seed, cache_dir=cache_dir)
    kw = dict(index=week_index(world), clean_fn=clean_fn, max_new_tokens=recipe.max_new_tokens)
    if row is None:
        report, _ = evaluate_policy(policy, world, recipe.prompt, EvalConfig(), progress=progress,
                                    **kw)  # fmt: skip
        row = summarize(report) | {"valid_share": float(report["answers"]["valid_share"])}
    if n:
        rep = evaluate_sampled(policy, world, recipe.prompt, EvalConfig(), samples=n,
                               temperature=recipe.answer_temperature, seed=recipe.seed,
                               **kw)  # fmt: skip
        answers = {"valid_share": rep["answers"]["valid_share"], "samples": n,
                   "temperature": recipe.answer_temperature}  # fmt: skip
        row["sampled"] = summarize(rep) | answers
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(row, indent=2) + "\n")
    return row


def distill_stage(cfg, world: Path, teacher: str, student: str, out: Path, recipe: Recipe,
                  progress: bool = True, *, keep_file: str | None = None,
                  reuse=()) -> str:  # fmt: skip
    """`train.distill_run.run_distill` (a DistillConfig) from `student` toward `teacher` with
    the recipe's prompt and answer budget, reading `keep_file`; resumed from its checkpoints;
    the student's dir. `reuse`: finished run directories; when one distilled exactly this
    (`reuse.py`), `out` becomes a link to it instead of training again."""
    from jaxinterest.experiments.reuse import find_finished, link_run
    from jaxinterest.train.distill_run import run_distill

    report = out / "report.json"
    if not (report.is_file() and "steps" in json.loads(report.read_text())):
        cfg = dataclasses.replace(
            cfg, world=str(world), teacher=teacher, student=student, out=str(out),
            prompt=recipe.prompt, max_new_tokens=recipe.max_new_tokens,
        )  # fmt: skip
        cfg = with_keep(cfg, keep_file)
        source = find_finished(cfg, reuse) if reuse and not out.exists() else None
        if source is not None:
            link_run(out, source)
            if progress:
                print(f"{out}: the same distillation as the finished run {source}, reused")
        else:
            run_distill(cfg, progress=progress)
    return str(out / "policy")


TRAINING_KEYS = ("reward_mean", "entropy", "loss", "grad_norm", "valid_share", "teacher_kl")


def training_summary(run_dir: Path) -> dict:
    """The last logged update of a stage's metrics.jsonl (SFT, GRPO or distillation): its loss,
    gradient norm and, where logged, reward, entropy and KL. Timings are left out, so these
    figures reproduce bit for bit and make `reproduce` sensitive to every parameter."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return {}
    lines = path.read_text().splitlines()
    last = json.loads(lines[-1]) if lines else {}
    return {k: last[k] for k in TRAINING_KEYS if k in last}
