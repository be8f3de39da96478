"""`jaxinterest export`: write a model as a HF directory transformers and vLLM load as is."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    from jaxinterest.serve.export import DTYPES

    p = sub.add_parser(
        "export",
        help="write a HF directory (safetensors, config, tokenizer, generation config)",
        description=(
            "Loads --checkpoint DIR (a HF directory) or --preset P (random weights) and writes "
            "config.json, model safetensors, the tokenizer files with its chat template and "
            "generation_config.json (the stop tokens) to --to OUT, then reloads OUT and checks "
            "every parameter bit for bit. transformers' AutoModelForCausalLM and vLLM load OUT "
            "as is."
        ),
    )
    from jaxinterest.commands._model import add_model_args

    add_model_args(p)
    p.add_argument("--to", required=True, metavar="OUT", help="output directory")
    p.add_argument("--dtype", choices=DTYPES, help="stored dtype (default: the params')")
    p.add_argument("--force", action="store_true", help="replace a non-empty OUT")
    p.add_argument("--no-verify", action="store_true", help="skip the reload check")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jaxinterest.serve import export_hf, load_served_model

    model = load_served_model(
        args.checkpoint, None if args.checkpoint else args.preset, seed=args.seed
    )
    out = export_hf(
        model, args.to, dtype=args.dtype, overwrite=args.force, verify=not args.no_verify
    )
    files = sorted(p.name for p in out.iterdir())
    report = {
        "model": model.source,
        "params": model.cfg.num_params,
        "out": str(out),
        "dtype": args.dtype or "as loaded",
        "verified": not args.no_verify,
        "files": files,
    }
    print(json.dumps(report, indent=2))
    return 0
