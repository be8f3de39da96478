"""Model selection shared by the commands that run a policy model (info, generate)."""

from __future__ import annotations

import argparse


def add_model_args(p: argparse.ArgumentParser, default_preset: str = "tiny-5m") -> None:
    p.add_argument(
        "--preset", default=default_preset, help=f"model preset (default: {default_preset})"
    )
    p.add_argument("--checkpoint", help="HF directory to load instead of a preset")
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="random seed: preset init, and sampling where a command samples",
    )


def load_model(args: argparse.Namespace):
    """(cfg, params, tokenizer, description) for --checkpoint or --preset (random init).

    A checkpoint brings its own tokenizer; a preset gets the real Qwen2.5 tokenizer when its
    vocabulary is Qwen's, else the tiny family's BPE.
    """
    import jax

    from jaxinterest import tokenizer as tok
    from jaxinterest.models import qwen2

    if args.checkpoint:
        import transformers

        cfg, params = qwen2.load_hf(args.checkpoint)
        tokenizer = transformers.AutoTokenizer.from_pretrained(args.checkpoint)
        return cfg, params, tokenizer, args.checkpoint
    cfg = qwen2.get_preset(args.preset)
    params = qwen2.init_params(cfg, jax.random.key(args.seed))
    tokenizer = tok.qwen25_tokenizer() if cfg.vocab_size > 100_000 else tok.tiny_tokenizer()
    return cfg, params, tokenizer, f"preset {args.preset} (random init, seed {args.seed})"
