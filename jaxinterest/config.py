"""Frozen dataclass configs from TOML / YAML files and `--set a.b=value` overrides.

  cfg = load_config(GRPOConfig, "run.toml", ["optim.lr=3e-5", "group_size=8"])
  save_config(cfg, run_dir / "config.json")   # or .toml

Every value is checked against the dataclass field's annotation (int, float, bool, str,
Literal, X | None, tuple[...], nested dataclasses) and a bad or unknown key raises `ConfigError`
(a ValueError) naming the key, so a command prints one clear line instead of a traceback.
Fields without a default must be given. TOML has no null: `dump_toml` leaves None-valued fields
out, which reads back as None only for fields whose default is None.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tomllib
import types
import typing
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A config value that does not fit its field, or a key the config does not have."""


def _hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _fields(cls) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls) if f.init}


def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value, tp, key: str):
    """value checked (and normalised: int -> float, list -> tuple) against annotation tp."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if dataclasses.is_dataclass(value) and isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a table of {tp.__name__} fields, got {value!r}")
        return from_dict(tp, value, prefix=key + ".")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for member in (a for a in args if a is not type(None)):
            try:
                return _convert(value, member, key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(f"{key}: {value!r} fits none of {_type_name(tp)} ({'; '.join(errors)})")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{key}: {value!r} is not one of {list(args)}")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ConfigError(f"{key}: expected {len(args)} items, got {len(value)}")
        return tuple(
            _convert(v, a, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True))
        )
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: fields of type {_type_name(tp)} are not supported in configs")


def from_dict(cls, data: dict, *, prefix: str = ""):
    """An instance of dataclass `cls` from a (nested) dict, every value type-checked. A nested
    table may be partial: the keys it leaves out keep the field's default instance's values."""
    fields, hints = _fields(cls), _hints(cls)
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f"{prefix.rstrip('.')} has" if prefix else f"{cls.__name__} has"
        raise ConfigError(
            f"unknown key {prefix + unknown[0]!r}; {where}: {', '.join(sorted(fields))}"
        )
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            value = data[name]
            default = _default(f)
            if isinstance(value, dict) and dataclasses.is_dataclass(default):
                # a partial table overrides the field's own default instance (e.g. the
                # quickstart's GRPO recipe), not the nested class's defaults
                value = _merge(to_dict(default), value)
            kwargs[name] = _convert(value, hints[name], prefix + name)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing key {prefix + name!r} ({_type_name(hints[name])})")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:  # the dataclass's own __post_init__ checks
        raise ConfigError(f"{prefix.rstrip('.') or cls.__name__}: {err}") from None


def _default(f: dataclasses.Field):
    """The field's default value (calling its default_factory), or None when it has none."""
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def to_dict(cfg) -> dict:
    """Nested plain dict (tuples as lists): what JSON / TOML dumps and `from_dict` read."""

    def plain(v):
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, tuple | list):
            return [plain(x) for x in v]
        return v

    return plain(cfg)


def _field_type(cls, path: list[str], item: str):
    tp = cls
    for i, part in enumerate(path):
        if not dataclasses.is_dataclass(tp):
            raise ConfigError(f"--set {item!r}: {'.'.join(path[:i])} is not a table")
        fields = _fields(tp)
        if part not in fields:
            where = ".".join(path[:i]) or cls.__name__
            raise ConfigError(
                f"--set {item!r}: unknown key {'.'.join(path[: i + 1])!r}; "
                f"{where} has: {', '.join(sorted(fields))}"
            )
        tp = _hints(tp)[part]
    return tp


def _accepts_str(tp) -> bool:
    if tp is str:
        return True
    args = typing.get_args(tp)
    if typing.get_origin(tp) is typing.Literal:
        return all(isinstance(a, str) for a in args)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return any(_accepts_str(a) for a in args if a is not type(None))
    return False


def parse_override(cls, item: str) -> tuple[list[str], Any]:
    """'a.b=value' -> (['a', 'b'], parsed value). The value is read as a TOML value (3e-5,
    true, [1, 2], "x") unless the field is a string; 'none' / 'null' give None. For a tuple
    field, `a,b` without brackets is a list and a lone scalar is a one-element list."""
    key, sep, raw = item.partition("=")
    path = key.strip().split(".")
    if not sep or not all(path):
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. optim.lr=3e-5")
    tp = _field_type(cls, path, item)
    raw = raw.strip()
    if raw.lower() in ("none", "null") and type(None) in typing.get_args(tp):
        return path, None
    if _accepts_str(tp) and not (raw.startswith('"') and raw.endswith('"')):
        return path, raw
    value = _toml_or_raw(raw)
    if _tuple_type(tp) is not None and not isinstance(value, list):
        # a,b,c without brackets (not a TOML value, so _toml_or_raw gave the text back); any
        # other scalar, e.g. cut_days=0 or tags="a,b", is the one-element list [value]
        unparsed = value is raw and "," in raw
        value = [_toml_or_raw(x.strip()) for x in raw.split(",")] if unparsed else [value]
    return path, value


def _tuple_type(tp):
    """The tuple annotation of tp (tuple[...] itself, or the tuple member of `tuple[...] | None`),
    else None. A union with a non-tuple member other than None keeps its scalars as they are."""
    if typing.get_origin(tp) is tuple:
        return tp
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(members) == 1 and typing.get_origin(members[0]) is tuple:
            return members[0]
    return None


def _toml_or_raw(raw: str):
    """A TOML value if `raw` is one (3e-5, true, [1, 2], "x"), else the text itself (the type
    check then names the key)."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def apply_overrides(data: dict, cls, overrides) -> dict:
    """A copy of `data` with each 'a.b=value' override written in (types checked later by
    `from_dict`, which names the key)."""
    out = json.loads(json.dumps(data))  # deep copy of plain data
    for item in overrides:
        path, value = parse_override(cls, item)
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return out


def read_file(path: str | os.PathLike) -> dict:
    """The dict in a .toml, .yaml / .yml or .json file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"config file {path} does not exist")
    text = path.read_text()
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            data = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError:
                raise ConfigError(
                    f"{path}: reading YAML needs PyYAML (pip install pyyaml)"
                ) from None
            data = yaml.safe_load(text) or {}
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise ConfigError(f"{path}: config files are .toml, .yaml/.yml or .json")
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"{path}: {err}") from None
    except Exception as err:  # yaml.YAMLError, without importing yaml when it is absent
        if type(err).__module__.startswith("yaml"):
            raise ConfigError(f"{path}: {err}") from None
        raise
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a table of keys at the top, got {type(data).__name__}")
    return data


def load_config(cls, path: str | os.PathLike | None = None, overrides=(), base=None):
    """`cls` from defaults (or `base`, an instance), then the file, then the overrides."""
    data = to_dict(base) if base is not None else {}
    if path is not None:
        data = _merge(data, read_file(path))
    data = apply_overrides(data, cls, overrides)
    try:
        return from_dict(cls, data)
    except ConfigError as err:
        raise ConfigError(f"{err} (config file {path})" if path else str(err)) from None


def _merge(base: dict, top: dict) -> dict:
    out = dict(base)
    for k, v in top.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def dump_json(cfg) -> str:
    return json.dumps(to_dict(cfg), indent=2, sort_keys=False) + "\n"


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise ConfigError(f"cannot write {v!r} as a TOML value")


def dump_toml(cfg) -> str:
    """TOML text of a config (None-valued fields left out: TOML has no null)."""
    lines: list[str] = []

    def table(d: dict, name: str):
        scalars = {k: v for k, v in d.items() if not isinstance(v, dict) and v is not None}
        if name and (scalars or not any(isinstance(v, dict) for v in d.values())):
            lines.append(f"\n[{name}]")
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in scalars.items())
        for k, v in d.items():
            if isinstance(v, dict):
                table(v, f"{name}.{k}" if name else k)

    table(to_dict(cfg), "")
    return "\n".join(lines).lstrip("\n") + "\n"


def save_config(cfg, path: str | os.PathLike) -> Path:
    """Writes the resolved config as .json or .toml (by suffix)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".json", ".toml"):
        raise ConfigError(f"{path}: resolved configs are written as .json or .toml")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump_json(cfg) if suffix == ".json" else dump_toml(cfg))
    return path
