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
    p.add_argument(
        "--max-wait-ms", type=float, default=10.0,
        help="batching: a call starts after a quiet gap of this long (or 5%% of the previous "
        "call's duration, whichever is longer) with no new request (default 10)",
    )  # fmt: skip
    p.add_argument(
        "--prefill-rows", type=int, default=4, help="prompts prefilled together (default 4)"
    )
    p.add_argument(
        "--no-batching", action="store_true", help="one request per sampler call (baseline)"
    )
    p.add_argument(
        "--no-continuous", action="store_true",
        help="no continuous batching: every request goes through the dynamic batcher, which "
        "gathers whole calls (docs/serving.md)",
    )  # fmt: skip
    p.add_argument("--max-body-bytes", type=int, default=d.max_body_bytes)
    p.add_argument("--max-prompt-tokens", type=int, default=d.max_prompt_tokens)
    p.add_argument("--max-tokens", type=int, default=d.max_tokens, help="cap on max_tokens")
    p.add_argument("--max-n", type=int, default=d.max_n, help="cap on n")
    p.add_argument("--max-pending", type=int, default=4096, help="queued jobs before 503")
    p.add_argument("--graceful-timeout", type=float, default=30.0, help="seconds on shutdown")
    p.add_argument(
        "--no-warmup",
        action="store_true",
        help="skip compiling the common shapes at start-up (they then compile on first use)",
    )
    p.add_argument(
        "--prompt-bucket",
        type=int,
        default=512,
        help="prompts up to this many tokens share one decode width (powers of two above)",
    )
    p.add_argument(
        "--compile-cache",
        metavar="DIR",
        help="JAX persistent compilation cache directory (restarts skip compiling)",
    )
    p.add_argument("--log-level", default="warning", help="uvicorn log level")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from jaxinterest.sampling import ShapeBuckets
    from jaxinterest.serve import Limits, build_app, load_served_model, serve_forever, warm_up
    from jaxinterest.serve.compiles import compile_counter
    from jaxinterest.serve.worker import SHAPES

    for name in (
        "max_batch_rows",
        "prefill_rows",
        "max_body_bytes",
        "max_prompt_tokens",
        "max_tokens",
        "max_n",
        "prompt_bucket",
    ):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1")
    if args.max_wait_ms < 0:
        raise ValueError("--max-wait-ms must be >= 0")
    if args.compile_cache:
        import jax

        jax.config.update("jax_compilation_cache_dir", args.compile_cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    shapes = ShapeBuckets(prompt_width=args.prompt_bucket, new_tokens=SHAPES.new_tokens)
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
    compile_counter()  # /stats counts the warm-up's compilations too
    if not args.no_warmup:
        rows = 1 if args.no_batching else args.max_batch_rows
        print(f"warm-up: compiling decode rows 1..{rows}, prompts <= {shapes.prompt_width}")
        count = warm_up(model, rows, args.prefill_rows, shapes, log=lambda m: print(m, flush=True))
        print(f"warm-up: done ({count} calls)", flush=True)
    app = build_app(
        model,
        limits=limits,
        max_batch_rows=args.max_batch_rows,
        max_wait=args.max_wait_ms / 1000,
        batching=not args.no_batching,
        max_pending=args.max_pending,
        prefill_rows=args.prefill_rows,
        shapes=shapes,
        continuous=not args.no_continuous,
    )
    print(f"serving {model.name!r}: {model.source}, {model.cfg.num_params:,} params", flush=True)
    serve_forever(app, args.host, args.port, args.graceful_timeout, args.log_level)
    return 0
