"""The served model: config, params and tokenizer, plus the token <-> text helpers the HTTP
layer needs (stop ids, chat rendering, per-token text and bytes for log-prob listings)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from jaxinterest.tokenizers.bytelevel import BYTE_TO_CHAR

_CHAR_TO_BYTE = {c: b for b, c in BYTE_TO_CHAR.items()}


def stop_ids(tokenizer, vocab_size: int) -> tuple[int, ...]:
    """The tokenizer's EOS plus the end-of-turn / end-of-text tokens it knows (sorted)."""
    ids = {tokenizer.eos_token_id}
    for name in ("<|im_end|>", "<|endoftext|>"):
        i = tokenizer.convert_tokens_to_ids(name)
        if i is not None and i != tokenizer.unk_token_id:
            ids.add(i)
    return tuple(sorted(i for i in ids if i is not None and 0 <= i < vocab_size))


def pad_id(tokenizer) -> int:
    """The tokenizer's pad id, else its EOS id, else 0 (pad slots are masked either way)."""
    for i in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if i is not None:
            return int(i)
    return 0


@dataclasses.dataclass(frozen=True, eq=False)
class ServedModel:
    """What the server serves. `name` is the id clients pass as `model`."""

    name: str
    cfg: object  # Qwen2Config
    params: dict
    tokenizer: object  # a transformers fast tokenizer
    source: str  # where it came from, for /v1/models and logs

    @property
    def stop_ids(self) -> tuple[int, ...]:
        return stop_ids(self.tokenizer, self.cfg.vocab_size)

    @property
    def pad_id(self) -> int:
        return pad_id(self.tokenizer)

    @property
    def context(self) -> int:
        return int(self.cfg.max_position_embeddings)

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def encode_chat(self, messages: list[dict]) -> list[int]:
        """Token ids of `messages` through the tokenizer's chat template, ready for the
        assistant's turn. Raises ValueError when the tokenizer has no template."""
        if not getattr(self.tokenizer, "chat_template", None):
            raise ValueError(f"model {self.name!r} has no chat template; use /v1/completions")
        text = self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )
        return self.encode(text)

    def decode(self, ids) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True)

    def token_text(self, token_id: int) -> str:
        """One token's text (special tokens as written, e.g. "<|im_end|>")."""
        return self.tokenizer.decode([int(token_id)], skip_special_tokens=False)

    def token_bytes(self, token_id: int) -> list[int]:
        """One token's raw UTF-8 bytes (byte-level BPE symbols mapped back to bytes)."""
        piece = self.tokenizer.convert_ids_to_tokens(int(token_id))
        if piece is not None and all(c in _CHAR_TO_BYTE for c in piece):
            if piece not in self.tokenizer.all_special_tokens:
                return [_CHAR_TO_BYTE[c] for c in piece]
        return list(self.token_text(token_id).encode("utf-8"))


def load_served_model(
    checkpoint: str | Path | None = None,
    preset: str | None = None,
    *,
    seed: int = 0,
    name: str | None = None,
) -> ServedModel:
    """A HF checkpoint directory (its own tokenizer) or a preset with random weights (the tiny
    BPE for the tiny family, the Qwen2.5 tokenizer for Qwen vocabularies)."""
    import jax

    from jaxinterest import tokenizer as tok
    from jaxinterest.models import qwen2

    if checkpoint is not None:
        import transformers

        cfg, params = qwen2.load_hf(checkpoint)
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(str(checkpoint))
        except (OSError, ValueError) as err:
            raise ValueError(f"{checkpoint}: no loadable tokenizer files ({err})") from None
        default = Path(checkpoint).resolve().name
        return ServedModel(name or default, cfg, params, tokenizer, str(checkpoint))
    if preset is None:
        raise ValueError("give a checkpoint directory or a preset")
    cfg = qwen2.get_preset(preset)
    params = qwen2.init_params(cfg, jax.random.key(seed))
    tokenizer = tok.qwen25_tokenizer() if cfg.vocab_size > 100_000 else tok.tiny_tokenizer()
    source = f"preset {preset} (random init, seed {seed})"
    return ServedModel(name or preset, cfg, params, tokenizer, source)
