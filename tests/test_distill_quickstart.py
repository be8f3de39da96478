"""The quickstart's distillation stage config: teacher = the GRPO stage's policy, student = the
SFT stage's, on the SFT prompt and answer length, into OUT/distill."""

from __future__ import annotations

from types import SimpleNamespace

from jaxinterest.train.quickstart import QuickstartConfig
from jaxinterest.train.quickstart_distill import distill_config


def test_distill_stage_config(tmp_path):
    cfg = QuickstartConfig(out=str(tmp_path))
    ctx = SimpleNamespace(
        cfg=cfg, out=tmp_path, world=str(tmp_path / "world"), keep_file="k.parquet",
        results={"grpo": {"policy": "g/best"}, "sft": {"policy": "s/policy"}},
    )  # fmt: skip
    d = distill_config(ctx)
    assert (d.teacher, d.student, d.keep_file) == ("g/best", "s/policy", "k.parquet")
    assert d.out == str(tmp_path / "distill") and d.world == str(tmp_path / "world")
    assert d.prompt == cfg.sft.prompt and d.max_new_tokens == cfg.sft.max_new_tokens
    assert (d.method, d.estimator, d.steps, d.optim.total_steps) == (
        "on_policy",
        "exact",
        cfg.distill_steps,
        cfg.distill_steps,
    )
    assert not d.validate
