"""Export a model as a HF directory that transformers and vLLM load as is.

The directory holds `config.json` and safetensors (`qwen2.save_hf`), the tokenizer files
(`tokenizers.save_tokenizer`: tokenizer.json, tokenizer_config.json, the chat template) and a
`generation_config.json` whose `eos_token_id` lists every stop token the sampler uses (EOS,
`<|im_end|>`, `<|endoftext|>`), so transformers' `generate` and vLLM stop where we stop. The
same ids go into config.json (`eos_token_id`, `pad_token_id`), as in the official Qwen2.5
releases.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np

from jaxinterest.serve.model import ServedModel

DTYPES = ("float32", "bfloat16", "float16")


def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ValueError(f"{out} is not empty; pass overwrite=True (--force) to replace it")


def export_hf(
    model: ServedModel,
    out: str | Path,
    *,
    dtype: str | None = None,
    overwrite: bool = False,
    verify: bool = True,
) -> Path:
    """Writes `model` to the HF directory `out` and returns its path.

    dtype: stored parameter dtype ("float32", "bfloat16", "float16"; default: the params').
    verify: reload the directory with `qwen2.load_hf` and check that every parameter comes
    back bit for bit (after the dtype cast) and the config is the same.
    """
    import transformers

    from jaxinterest.models import qwen2

    if dtype is not None and dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    out = Path(out)
    _check_out(out, overwrite)
    stops = list(model.stop_ids)
    if not stops:
        raise ValueError(f"the tokenizer of {model.name!r} has no EOS or end-of-turn token")
    qwen2.save_hf(out, model.cfg, model.params, dtype=dtype, tokenizer=model.tokenizer)
    config_path = out / "config.json"
    config = json.loads(config_path.read_text())
    config["eos_token_id"] = stops[0] if len(stops) == 1 else stops
    config["pad_token_id"] = model.pad_id
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    gen = transformers.GenerationConfig(eos_token_id=stops, pad_token_id=model.pad_id)
    gen.save_pretrained(str(out))
    if verify:
        _verify(model, out, dtype)
    return out


def _verify(model: ServedModel, out: Path, dtype: str | None) -> None:
    from jaxinterest.models import qwen2

    cfg, params = qwen2.load_hf(out)
    if cfg != model.cfg:
        raise AssertionError(f"{out}: exported config reloads as {cfg}, not {model.cfg}")
    cast = (lambda x: x) if dtype is None else (lambda x: x.astype(dtype))
    stored = jax.tree.map(lambda x: np.asarray(cast(jax.device_get(x))), model.params)
    for (path, ours), theirs in zip(
        jax.tree_util.tree_leaves_with_path(stored), jax.tree.leaves(params), strict=True
    ):
        if not np.array_equal(ours.astype(np.float32), np.asarray(theirs, np.float32)):
            where = jax.tree_util.keystr(path)
            raise AssertionError(f"{out}: parameter {where} does not reload bit for bit")
