"""The five baselines by name, in the order of the paper's Table 2."""

from __future__ import annotations

import dataclasses

from jaxinterest.baselines import gru, hstu, nrhub, pinsage, sasrec
from jaxinterest.baselines.data import check_domains

MODELS = {
    "gru": (gru, gru.GRUConfig),
    "sasrec": (sasrec, sasrec.SASRecConfig),
    "nrhub": (nrhub, nrhub.NRHUBConfig),
    "pinsage": (pinsage, pinsage.PinSageConfig),
    "hstu": (hstu, hstu.HSTUConfig),
}
NAMES = tuple(MODELS)
TITLES = {"gru": "GRU", "sasrec": "SASRec", "nrhub": "NRHUB", "pinsage": "PinSage", "hstu": "HSTU"}


def parse_models(spec: str) -> list[str]:
    """'all' or a comma-separated list of names -> names in Table 2 order (no duplicates)."""
    if spec.strip() == "all":
        return list(NAMES)
    names = [s.strip() for s in spec.split(",") if s.strip()]
    bad = [n for n in names if n not in MODELS]
    if bad or not names:
        raise ValueError(f"unknown model {bad[0] if bad else spec!r}; use 'all' or some of {NAMES}")
    return [n for n in NAMES if n in names]


def make_config(name: str, **overrides):
    """The model's default config with fields overridden (None values are ignored)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {NAMES}")
    cls = MODELS[name][1]
    kw = {k: v for k, v in overrides.items() if v is not None}
    unknown = set(kw) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise ValueError(f"{name} has no config field(s) {sorted(unknown)}")
    if "domains" in kw:
        kw["domains"] = check_domains(kw["domains"])
        kw.setdefault("max_len", 50 * len(kw["domains"]))
    return cls(**kw)


def module(name: str):
    return MODELS[name][0]
