"""Dataclass configs from TOML / YAML / JSON with --set overrides: types, errors, round trips."""

from __future__ import annotations

import dataclasses
from typing import Literal

import pytest

from jaxinterest.config import (
    ConfigError,
    dump_toml,
    from_dict,
    load_config,
    read_file,
    save_config,
    to_dict,
)
from jaxinterest.train.optim import OptimConfig


@dataclasses.dataclass(frozen=True)
class Run:
    name: str
    optim: OptimConfig = OptimConfig()
    group_size: int = 8
    ratio: Literal["token", "sequence"] = "token"
    beta: float = 0.0
    eval_every: int | None = None
    tags: tuple[str, ...] = ()
    sizes: tuple[int, int] = (1, 2)
    remat: bool = False


def test_defaults_file_then_overrides(tmp_path):
    f = tmp_path / "run.toml"
    f.write_text('name = "a"\ngroup_size = 4\n[optim]\nlr = 3e-4\nwarmup_steps = 5\n')
    cfg = load_config(Run, f, ["optim.lr=1e-3", "ratio=sequence", "tags=x,y", "eval_every=7"])
    assert cfg.name == "a" and cfg.group_size == 4 and cfg.ratio == "sequence"
    assert cfg.optim.lr == 1e-3 and cfg.optim.warmup_steps == 5 and cfg.optim.b1 == 0.9
    assert cfg.tags == ("x", "y") and cfg.eval_every == 7
    hash(cfg)  # frozen and hashable: usable as a static jit argument
    # Ints are accepted for floats; strings keep their text; none clears an optional.
    cfg = load_config(Run, overrides=["name=1e3", "beta=1", "eval_every=none", "sizes=[3, 4]"])
    assert cfg.name == "1e3" and cfg.beta == 1.0 and isinstance(cfg.beta, float)
    assert cfg.eval_every is None and cfg.sizes == (3, 4)
    assert load_config(Run, overrides=["name=a", "remat=true"]).remat is True


def test_yaml_and_json_files(tmp_path):
    (tmp_path / "r.yaml").write_text("name: b\noptim:\n  lr: 0.002\ntags: [p, q]\n")
    cfg = load_config(Run, tmp_path / "r.yaml")
    assert cfg.optim.lr == 0.002 and cfg.tags == ("p", "q")
    (tmp_path / "r.json").write_text('{"name": "c", "sizes": [5, 6]}')
    assert load_config(Run, tmp_path / "r.json").sizes == (5, 6)


@pytest.mark.parametrize(
    "overrides,match",
    [
        (["optim.lrr=1"], "unknown key 'optim.lrr'; optim has: b1, b2"),
        (["nme=x"], "unknown key 'nme'"),
        (["name=a", "group_size=2.5"], "group_size: expected an integer, got 2.5"),
        (["name=a", "group_size=true"], "group_size: expected an integer"),
        (["name=a", "optim.lr=fast"], "optim.lr: expected a number, got 'fast'"),
        (["name=a", "ratio=list"], "ratio: 'list' is not one of"),
        (["name=a", "remat=1"], "remat: expected true or false"),
        (["name=a", "sizes=[1]"], "sizes: expected 2 items"),
        (["name=a", "optim.total_steps=0"], "optim: total_steps=0"),
        (["name=a", "group_size"], "expected KEY=VALUE"),
        (["name=a", "optim=3"], "optim: expected a table"),
        (["name=a", "beta.x=3"], "beta is not a table"),
        ([], "missing key 'name'"),
    ],
)
def test_bad_values_name_the_key(overrides, match):
    with pytest.raises(ConfigError, match=match):
        load_config(Run, overrides=overrides)


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_config(Run, tmp_path / "nope.toml")
    (tmp_path / "bad.toml").write_text("name = \n")
    with pytest.raises(ConfigError, match="bad.toml"):
        read_file(tmp_path / "bad.toml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="table of keys"):
        read_file(tmp_path / "list.yaml")
    (tmp_path / "x.ini").write_text("")
    with pytest.raises(ConfigError, match="toml"):
        read_file(tmp_path / "x.ini")
    (tmp_path / "wrong.toml").write_text('name = "a"\n[optim]\nlr = "x"\n')
    with pytest.raises(ConfigError, match="optim.lr.*wrong.toml"):
        load_config(Run, tmp_path / "wrong.toml")


@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_resolved_config_round_trips(tmp_path, suffix):
    cfg = load_config(
        Run, overrides=['name=q"uote', "tags=[a, b]", "optim.lr=2.5e-5", "eval_every=3"]
    )
    path = save_config(cfg, tmp_path / f"resolved{suffix}")
    assert load_config(Run, path) == cfg
    assert from_dict(Run, to_dict(cfg)) == cfg


def test_toml_dump_is_readable_toml():
    text = dump_toml(load_config(Run, overrides=["name=a"]))
    assert 'name = "a"' in text and "[optim]" in text and "eval_every" not in text
    import tomllib

    assert tomllib.loads(text)["optim"]["lr"] == OptimConfig().lr


@dataclasses.dataclass(frozen=True)
class Cuts:
    cut_days: tuple[int, ...] = (0, 4)
    tags: tuple[str, ...] = ()
    pair: tuple[int, int] = (1, 2)
    maybe: tuple[float, ...] | None = None


def test_scalar_for_a_tuple_field_is_a_one_element_tuple():
    # `--set sft.cut_days=0` used to need `[0]`
    cfg = load_config(Cuts, overrides=["cut_days=0", "tags=x", "maybe=0.5"])
    assert cfg.cut_days == (0,) and cfg.tags == ("x",) and cfg.maybe == (0.5,)
    cfg = load_config(Cuts, overrides=["cut_days=3,5", 'tags="a,b"', "maybe=none"])
    assert cfg.cut_days == (3, 5) and cfg.tags == ("a,b",) and cfg.maybe is None
    assert load_config(Cuts, overrides=["cut_days=[]"]).cut_days == ()
    with pytest.raises(ConfigError, match=r"pair: expected 2 items, got 1"):
        load_config(Cuts, overrides=["pair=7"])
    with pytest.raises(ConfigError, match=r"cut_days\[0\]: expected an integer, got 'x'"):
        load_config(Cuts, overrides=["cut_days=x"])


@dataclasses.dataclass(frozen=True)
class Recipe:
    run: Run = Run(name="tuned", group_size=4, optim=OptimConfig(lr=1e-3, warmup_steps=3))
    other: Run | None = None


def test_partial_nested_table_keeps_the_fields_own_default(tmp_path):
    # `--set grpo.steps=2` on the quickstart used to rebuild grpo from GRPOConfig's defaults,
    # silently dropping the quickstart's recipe (group size, learning rate, ...)
    cfg = load_config(Recipe, overrides=["run.beta=0.5", "run.optim.b1=0.8"])
    assert cfg.run == dataclasses.replace(
        Recipe().run, beta=0.5, optim=dataclasses.replace(Recipe().run.optim, b1=0.8)
    )
    (tmp_path / "r.toml").write_text("[run.optim]\nwarmup_steps = 7\n")
    cfg = load_config(Recipe, tmp_path / "r.toml")
    assert cfg.run.name == "tuned" and cfg.run.group_size == 4
    assert cfg.run.optim.lr == 1e-3 and cfg.run.optim.warmup_steps == 7
    # a field whose default is None has no instance to keep: its table must be complete
    assert from_dict(Recipe, {"other": {"name": "x"}}).other == Run(name="x")
    with pytest.raises(ConfigError, match="missing key 'other.name'"):
        from_dict(Recipe, {"other": {"group_size": 3}})
