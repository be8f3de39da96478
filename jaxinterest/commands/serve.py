"""`jaxinterest serve`: an OpenAI-compatible HTTP server over the jitted sampler."""

from __future__ import annotations

import argparse

from jaxinterest.commands._model import add_model_args


def register(sub: argparse._SubParsersAction) -> None:
    from jaxinterest.serve.protocol import Limits

    d = Limits()
    p = sub.add_parser(
        "serve",
        help="OpenAI-compatible HTTP server (/v1/completions, /v1/chat/completions)",
        description=(
            "Serves a checkpoint (or a preset with random weights) over HTTP: /v1/completions, "
            "/v1/chat/completions (the checkpoint's chat template), /v1/models, /health, "
            "/stats. Concurrent requests are batched into one sampler call (bounded wait). "
            "Binds 127.0.0.1 by default: there is no authentication. Stops gracefully on "
            "SIGINT/SIGTERM. See docs/serving.md."
        ),
    )
    add_model_args(p)
    p.add_argument("--name", help="model id clients send (default: checkpoint dir / preset)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (0 = any free port)")
    p.add_argument("--max-batch-rows", type=int, default=64, help="decode rows per call")
    p.add_argument("--max-wait-ms", type=float, default=10.0, help="batching wait bound")
    p.add_argument(
        "--prefill-rows", type=int, default=4, help="prompts prefilled together (default 4)"
    )
    p.add_argument(
        "--no-batching", action="store_true", help="one request per sampler call (baseline)"
    )
    p.add_argument("--max-body-bytes", type=int, default=d.max_body_bytes)
    p.add_argument("--max-prompt-tokens", type=int, default=d.max_prompt_tokens)
    p.add_argument("--max-tokens", type=int, default=d.max_tokens, help="cap on max_tokens")
    p.add_argument("--max-n", type=int, default=d.max_n, help="cap on n")
    p.add_argument("--max-pending", type=int, default=4096, help="queued jobs before 503")
    p.add_argument("--graceful-timeout", type=float, default=30.0, help="seconds on shutdown")
    p.add_argument("--warmup", action="store_true", help="compile a short request first")
    p.add_argument("--log-level", default="warning", help="uvicorn log level")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from jaxinterest.serve import Limits, build_app, load_served_model, serve_forever, warm_up

    for name in (
        "max_batch_rows",
        "prefill_rows",
        "max_body_bytes",
        "max_prompt_tokens",
        "max_tokens",
        "max_n",
    ):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1")
    if args.max_wait_ms < 0:
        raise ValueError("--max-wait-ms must be >= 0")
    model = load_served_model(
        args.checkpoint, None if args.checkpoint else args.preset, seed=args.seed, name=args.name
    )
    limits = dataclasses.replace(
        Limits(),
        max_body_bytes=args.max_body_bytes,
        max_prompt_tokens=args.max_prompt_tokens,
        max_tokens=args.max_tokens,
        max_n=args.max_n,
    )
    if args.warmup:
        warm_up(model)
    app = build_app(
        model,
        limits=limits,
        max_batch_rows=args.max_batch_rows,
        max_wait=args.max_wait_ms / 1000,
        batching=not args.no_batching,
        max_pending=args.max_pending,
        prefill_rows=args.prefill_rows,
    )
    print(f"serving {model.name!r}: {model.source}, {model.cfg.num_params:,} params", flush=True)
    serve_forever(app, args.host, args.port, args.graceful_timeout, args.log_level)
    return 0
