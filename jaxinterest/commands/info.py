"""`jaxinterest info`: load a model, run one jitted forward pass, report what it computed."""

from __future__ import annotations

import argparse
import json
import time

DEFAULT_TEXT = "cheap flights to lisbon in may; champions league quarter final results"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "info",
        help="load a model preset or checkpoint and run a forward pass",
        description=(
            "Builds a Qwen2-family model (a preset with random weights, or a HF checkpoint "
            "directory), runs one jitted forward pass on a tokenized text and prints the "
            "parameter count, next-token predictions, the loss on the text and throughput."
        ),
    )
    p.add_argument("--preset", default="tiny-5m", help="model preset (default: tiny-5m)")
    p.add_argument("--checkpoint", help="HF directory to load instead of a preset")
    p.add_argument("--text", default=DEFAULT_TEXT, help="text to run through the model")
    p.add_argument("--seed", type=int, default=0, help="init seed for preset weights")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def _tokenizer(cfg, checkpoint):
    from jaxinterest import tokenizer as tok

    if checkpoint:
        import transformers

        return transformers.AutoTokenizer.from_pretrained(checkpoint)
    return tok.qwen25_tokenizer() if cfg.vocab_size > 100_000 else tok.tiny_tokenizer()


def run(args: argparse.Namespace) -> int:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxinterest.models import qwen2

    if args.checkpoint:
        cfg, params = qwen2.load_hf(args.checkpoint)
        source = args.checkpoint
    else:
        cfg = qwen2.get_preset(args.preset)
        params = qwen2.init_params(cfg, jax.random.key(args.seed))
        source = f"preset {args.preset} (random init, seed {args.seed})"
    tokenizer = _tokenizer(cfg, args.checkpoint)
    ids = tokenizer.encode(args.text)
    if not ids:
        raise SystemExit("error: --text encodes to no tokens")
    tokens = jnp.asarray([ids])
    fwd = jax.jit(qwen2.forward, static_argnums=2)
    t0 = time.perf_counter()
    logits = fwd(params, tokens, cfg).block_until_ready()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    logits = fwd(params, tokens, cfg).block_until_ready()
    run_s = time.perf_counter() - t0

    logp = jax.nn.log_softmax(logits[0], axis=-1)
    nll = -np.asarray(jnp.take_along_axis(logp[:-1], tokens[0, 1:, None], axis=-1)).mean()
    top = np.argsort(-np.asarray(logits[0, -1]))[:5]
    report = {
        "model": source,
        "params": cfg.num_params,
        "layers": cfg.num_layers,
        "hidden": cfg.hidden_size,
        "heads": f"{cfg.num_heads} q / {cfg.num_kv_heads} kv x {cfg.head_dim}",
        "vocab": cfg.vocab_size,
        "devices": [str(d) for d in jax.devices()],
        "tokens": len(ids),
        "loss_nats_per_token": round(float(nll), 4),
        "uniform_loss": round(float(np.log(cfg.vocab_size)), 4),
        "next_token_top5": [tokenizer.decode([int(i)]) for i in top],
        "compile_plus_first_run_s": round(compile_s, 3),
        "forward_tokens_per_s": round(len(ids) / run_s, 1),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        width = max(map(len, report))
        for key, value in report.items():
            print(f"{key:<{width}}  {value}")
    return 0
