"""`jaxinterest info`: load a model, run one jitted forward pass, report what it computed."""

from __future__ import annotations

import argparse
import json
import time

from jaxinterest.commands._model import add_model_args, load_model

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
    add_model_args(p)
    p.add_argument("--text", default=DEFAULT_TEXT, help="text to run through the model")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxinterest.models import qwen2

    cfg, params, tokenizer, source = load_model(args)
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
