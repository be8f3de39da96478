"""Table 3: how the student learns. The teacher (SFT warm start + Dr.GRPO) against the same
student warm start trained three ways:

  start        the student warm start itself (SFT only): the gap the distillations close
  supervised   sequence-level KD: fine-tuned on lists the teacher samples
  on_policy    on-policy distillation: the student samples, the teacher's per-token reverse KL
  none         no distillation: the student trained with Dr.GRPO itself (student.grpo)

Both distillation rows use one DistillConfig (same steps, users per step, samples), differing
only in `method`. Every stage reads the users' cleaned behaviours (`world.clean`, on by
default). Writes OUT/results.json, OUT/table3.md and OUT/teacher/, OUT/student/,
OUT/eval/.

  python experiments/table3_distill.py --out checkpoints/experiments/table3
  python experiments/table3_distill.py --set teacher.model=tiny-10m --set distill.steps=100
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import ClassVar

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jaxinterest.experiments import recipe as R  # noqa: E402
from jaxinterest.experiments import script, tables  # noqa: E402
from jaxinterest.train.distill_run import DistillConfig  # noqa: E402

ROWS = ("teacher", "start", "supervised", "on_policy", "none")
TITLE = {
    "teacher": "Teacher (GRPO)",
    "start": "Student warm start (SFT only)",
    "supervised": "Supervised distillation",
    "on_policy": "On-policy distillation",
    "none": "No distillation (student GRPO)",
}


@dataclasses.dataclass(frozen=True)
class Table3Config:
    """seed is copied into both recipes and the distillation (see resolve)."""

    # rows pick the rows and reuse where a trained row may come from, never what a row
    # computes: a rerun into the same directory may change them
    SELECTORS: ClassVar[tuple[str, ...]] = ("rows", "reuse")

    world: R.WorldSpec = R.WorldSpec()
    seed: int = 0
    rows: tuple[str, ...] = ROWS
    teacher: R.Recipe = R.TEACHER
    student: R.Recipe = R.STUDENT
    distill: DistillConfig = R.DISTILL
    # finished GRPO and distillation run directories (e.g. Figure 2's cells' teacher/grpo, Table
    # 2's student/distill): a row that would train exactly what one of them trained links to it
    # instead (jaxinterest/experiments/reuse.py)
    reuse: tuple[str, ...] = ()

    def __post_init__(self):
        bad = [r for r in self.rows if r not in ROWS]
        if bad:
            raise ValueError(f"rows: unknown {bad}; choose from {list(ROWS)}")


def resolve(cfg: Table3Config) -> Table3Config:
    s = cfg.seed
    return dataclasses.replace(
        cfg,
        teacher=dataclasses.replace(cfg.teacher, seed=s).resolve(),
        student=dataclasses.replace(cfg.student, seed=s).resolve(),
        distill=dataclasses.replace(cfg.distill, seed=s),
    )


def body(cfg: Table3Config, out, manifest, progress):
    wdir, world, keep_file = R.prepare_world(cfg.world, out, manifest, progress)
    clean_fn = R.keep_lookup(keep_file)
    ev, rows = out / "eval", {}

    def evaluate(name, spec, recipe):
        with manifest.stage(f"{name}.eval"):
            rows[name] = R.evaluate_policy_row(world, spec, recipe, ev / f"{name}.json", out,
                                               progress, clean_fn=clean_fn)  # fmt: skip

    need_teacher = any(r in cfg.rows for r in ("teacher", "supervised", "on_policy"))
    if need_teacher:
        teacher = R.train_policy(cfg.teacher, wdir, out / "teacher", manifest, progress,
                                 keep_file=keep_file)["grpo"]  # fmt: skip
        if "teacher" in cfg.rows:
            evaluate("teacher", teacher, cfg.teacher)
    with manifest.stage("student.sft"):
        start = R.sft_stage(cfg.student, wdir, out / "student" / "sft", progress,
                            keep_file=keep_file)  # fmt: skip
    if "start" in cfg.rows:
        evaluate("start", start, cfg.student)
    for method in ("supervised", "on_policy"):
        if method in cfg.rows:
            dcfg = dataclasses.replace(cfg.distill, method=method)
            with manifest.stage(f"{method}.distill"):
                final = R.distill_stage(dcfg, wdir, teacher, start, out / "student" / method,
                                        cfg.student, progress, keep_file=keep_file,
                                        reuse=cfg.reuse)  # fmt: skip
            evaluate(method, final, cfg.student)
    if "none" in cfg.rows:
        with manifest.stage("none.grpo"):
            final = R.grpo_stage(cfg.student.grpo, wdir, start, out / "student" / "grpo", progress,
                                 keep_file=keep_file, reuse=cfg.reuse)  # fmt: skip
        evaluate("none", final, cfg.student)
    md = tables.metric_table(
        rows, ("recall@10", "ndcg@10"), paper=tables.PAPER_TABLE3, titles=TITLE,
        title=f"Table 3 on world `{wdir}`: teacher {cfg.teacher.model}, student "
        f"{cfg.student.model}, seed {cfg.seed}",
    )  # fmt: skip
    (out / "table3.md").write_text(md)
    training = {
        "teacher": R.training_summary(out / "teacher" / "grpo"),
        **{m: R.training_summary(out / "student" / m) for m in ("supervised", "on_policy")},
        "none": R.training_summary(out / "student" / "grpo"),
    }
    training = {k: v for k, v in training.items() if v}
    return {"rows": rows, "training": training}, ["table3.md"]


if __name__ == "__main__":
    sys.exit(script.main(__file__, Table3Config, body, __doc__.split("\n\n")[0], resolve=resolve))
