"""`jaxinterest generate`: sample continuations of text prompts with the jitted engine."""

from __future__ import annotations

import argparse
import json
import time

from jaxinterest.commands._model import add_model_args, load_model


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "generate",
        help="generate text from a model preset or checkpoint",
        description=(
            "Tokenizes the prompts (optionally through the tokenizer's chat template), samples "
            "continuations with jaxinterest.sampling.generate and prints them with their "
            "log-probabilities and the throughput. A preset gets random weights (useful for "
            "timing); a HF checkpoint directory gives real text."
        ),
    )
    add_model_args(p)
    p.add_argument(
        "--prompt", action="append", required=True, help="prompt text (repeat for a batch)"
    )
    p.add_argument("--chat", action="store_true", help="wrap each prompt as a user chat turn")
    p.add_argument("--system", help="system message for --chat")
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--num-samples", type=int, default=1, help="samples per prompt (G)")
    p.add_argument("--temperature", type=float, default=0.7, help="0 = greedy")
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def _stop_ids(tokenizer, vocab_size: int) -> list[int]:
    """The tokenizer's EOS plus the chat-turn terminators it knows (<|im_end|>, ...)."""
    ids = {tokenizer.eos_token_id}
    for name in ("<|im_end|>", "<|endoftext|>"):
        i = tokenizer.convert_tokens_to_ids(name)
        if i is not None and i != tokenizer.unk_token_id:
            ids.add(i)
    return sorted(i for i in ids if i is not None and 0 <= i < vocab_size)


def _encode(tokenizer, text: str, chat: bool, system: str | None) -> list[int]:
    if not chat:
        return list(tokenizer.encode(text))
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": text}
    ]
    enc = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, return_dict=True
    )
    return list(enc["input_ids"])


def run(args: argparse.Namespace) -> int:
    import jax
    import numpy as np

    from jaxinterest.sampling import SamplingParams, generate

    cfg, params, tokenizer, source = load_model(args)
    prompts = [_encode(tokenizer, t, args.chat, args.system) for t in args.prompt]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    key = jax.random.key(args.seed)
    try:
        sampling = SamplingParams(
            max_new_tokens=args.max_new_tokens,
            temperature=args.temperature,
            top_p=args.top_p,
            top_k=args.top_k,
            stop_ids=tuple(_stop_ids(tokenizer, cfg.vocab_size)),
            num_samples=args.num_samples,
        )
        t0 = time.perf_counter()
        out = generate(params, cfg, prompts, sampling, key=key, pad_id=pad)
        first_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = generate(params, cfg, prompts, sampling, key=key, pad_id=pad)  # steady state
        run_s = time.perf_counter() - t0
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None
    texts = out.texts(tokenizer)
    rows = [
        {
            "prompt": int(out.prompt_index[r]),
            "text": texts[r],
            "tokens": int(out.lengths[r]),
            "finished": bool(out.finished[r]),
            "logprob": round(float(out.logprobs_raw[r].sum()), 4),
        }
        for r in range(len(texts))
    ]
    report = {
        "model": source,
        "params": cfg.num_params,
        "prompt_tokens": [len(p) for p in prompts],
        "samples": rows,
        "first_call_s": round(first_s, 3),
        "generate_s": round(run_s, 3),
        "generated_tokens_per_s": round(float(np.sum(out.lengths)) / run_s, 1),
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"model: {source}, {cfg.num_params:,} params")
    for row in rows:
        print(f"[prompt {row['prompt']}] ({row['tokens']} tokens, log p {row['logprob']})")
        print(row["text"])
    print(
        f"compile + run {first_s:.2f} s; run {run_s:.3f} s; "
        f"{report['generated_tokens_per_s']} generated tokens/s"
    )
    return 0
