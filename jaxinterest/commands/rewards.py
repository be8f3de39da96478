"""`jaxinterest rewards`: score any model's query-list outputs with the five rewards.

Input: JSONL, one object per line with "user_id" and "completion" (the raw output text).
Output: one JSON line per input line, in input order: the line number, user_id, whether the
output is valid (and why not), the parsed queries, every signal's raw and normalised value, the
total, who judged cov/spec, and the judge's details (themes, covered, spec_per_query). A JSON
summary (means per signal, judge sources and fallbacks, timings) is printed and written to
OUT.summary.json. --resume continues an interrupted run after its last complete line.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "rewards",
        help="score query-list outputs with the five rewards (align, cov, spec, div, struct)",
        description=(
            "Scores each (user_id, completion) line of a JSONL file against the user's cleaned "
            "behaviours in WORLD: R_align retrieves from the training-window news index, R_cov "
            "and R_spec come from the rubric judge (offline) or an OpenAI-compatible LLM judge "
            "(Appendix A prompt), R_div and R_struct from the queries. Writes one line per input "
            "line with raw and normalised values and the weighted total."
        ),
    )
    p.add_argument("--world", required=True, help="world directory")
    p.add_argument("--completions", required=True, metavar="FILE", help="JSONL input")
    p.add_argument("--out", required=True, metavar="FILE", help="JSONL output")
    p.add_argument("--judge", choices=("rubric", "llm"), default="rubric")
    p.add_argument("--judge-url", help="LLM judge base URL, e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--judge-model", default="judge", help="model name sent to the judge")
    p.add_argument("--judge-cache", metavar="FILE", help="SQLite judge cache (default OUT.judge)")
    p.add_argument("--judge-concurrency", type=int, default=8)
    p.add_argument("--judge-timeout", type=float, default=60.0, help="seconds per attempt")
    p.add_argument("--judge-retries", type=int, default=2)
    p.add_argument("--weights", default="", help="e.g. align=1,cov=1,spec=1,div=0,struct=1")
    p.add_argument("--normalise", choices=("fixed", "batch"), default="fixed")
    p.add_argument(
        "--n-queries", type=int, default=5, help="queries a valid list has (0 = any 1..10)"
    )
    clean = p.add_mutually_exclusive_group()
    clean.add_argument("--clean-model", metavar="DIR", help="noise classifier (clean --train)")
    clean.add_argument("--keep-file", metavar="FILE", help="keep.parquet from clean --apply")
    p.add_argument(
        "--tokenizer",
        help="judge only the events a prompt of this tokenizer shows: 'tiny', 'qwen2.5' or a "
        "HF tokenizer directory (default: every cleaned event)",
    )
    p.add_argument("--max-prompt-tokens", type=int, default=1024, help="with --tokenizer")
    p.add_argument(
        "--unknown-users",
        choices=("raise", "floor"),
        default="raise",
        help="a user_id not in the world: error (default) or a line with floors and 'error'",
    )
    p.add_argument("--batch-size", type=int, default=256, help="lines scored per batch")
    p.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="keep the training-window article embeddings and index here for reruns",
    )
    p.add_argument("--resume", action="store_true", help="continue after OUT's last line")
    p.set_defaults(func=run)


def read_completions(path) -> list[tuple[int, str, str]]:
    """(line number, user_id, completion) per non-blank line; errors name the line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such completions file")
    rows = []
    for n, raw in enumerate(path.read_bytes().split(b"\n"), 1):
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ValueError(f"{path} line {n}: not valid UTF-8 (byte {err.start})") from err
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} line {n}: not valid JSON ({err.msg})") from err
        if not isinstance(obj, dict):
            raise ValueError(f"{path} line {n}: expected an object with user_id and completion")
        uid, text = obj.get("user_id"), obj.get("completion")
        if not isinstance(uid, str) or not uid:
            raise ValueError(f"{path} line {n}: field 'user_id' must be a non-empty string")
        if not isinstance(text, str):
            raise ValueError(f"{path} line {n}: field 'completion' must be a string")
        rows.append((n, uid, text))
    return rows


def _done_lines(out: Path, rows) -> int:
    """Rows of `rows` already written to `out` (a prefix, checked line by line)."""
    if not out.is_file():
        return 0
    done = 0
    for text in out.read_text(encoding="utf-8").splitlines():
        try:
            obj = json.loads(text)
        except json.JSONDecodeError:
            break  # a torn last line: rewrite from here
        if done >= len(rows) or obj.get("line") != rows[done][0]:
            raise ValueError(f"{out} does not match {len(rows)} input lines; drop --resume")
        done += 1
    return done


def _config(args):
    from jaxinterest.rewards import LLMJudgeConfig, RewardConfig, parse_weights

    if args.judge == "llm" and not args.judge_url:
        raise ValueError("--judge llm needs --judge-url")
    if args.batch_size < 1:
        raise ValueError("--batch-size must be >= 1")
    llm = LLMJudgeConfig(
        url=args.judge_url or LLMJudgeConfig().url, model=args.judge_model,
        concurrency=args.judge_concurrency, timeout=args.judge_timeout,
        retries=args.judge_retries, cache_path=args.judge_cache or f"{args.out}.judge",
    )  # fmt: skip
    return RewardConfig(
        weights=parse_weights(args.weights), normalise=args.normalise,
        n_queries=args.n_queries or None, judge=args.judge, llm=llm,
    )  # fmt: skip


def _clean_fn(args):
    import pyarrow.parquet as pq

    from jaxinterest.clean import KeepLookup, load_classifier, make_clean_fn

    if args.clean_model:
        return make_clean_fn(load_classifier(args.clean_model))
    if args.keep_file:
        return KeepLookup(pq.read_table(args.keep_file))
    return None


def _tokenizer(name):
    from jaxinterest import tokenizer as tok

    if name is None:
        return None
    if name == "tiny":
        return tok.tiny_tokenizer()
    if name == "qwen2.5":
        return tok.qwen25_tokenizer()
    if not Path(name).is_dir():
        raise FileNotFoundError(f"--tokenizer {name!r}: not 'tiny', 'qwen2.5' or a directory")
    import transformers

    return transformers.AutoTokenizer.from_pretrained(name)


def _floor_row(n, uid, error) -> dict:
    from jaxinterest.rewards import SIGNALS

    zero = dict.fromkeys(SIGNALS, 0.0)
    return {"line": n, "user_id": uid, "valid": False, "reason": error, "error": error,
            "queries": [], "raw": zero, "norm": dict(zero), "total": 0.0,
            "judge": "floor"}  # fmt: skip


def summarise(out: Path, cfg, seconds: dict) -> dict:
    from jaxinterest.rewards import SIGNALS

    rows = [json.loads(t) for t in out.read_text(encoding="utf-8").splitlines()]
    n = len(rows)
    mean = lambda xs: sum(xs) / len(xs) if xs else None  # noqa: E731
    return {
        "lines": n, "valid": sum(r["valid"] for r in rows),
        "mean_raw": {s: mean([r["raw"][s] for r in rows]) for s in SIGNALS},
        "mean_norm": {s: mean([r["norm"][s] for r in rows]) for s in SIGNALS},
        "mean_total": mean([r["total"] for r in rows]),
        "judge": dict(Counter(r["judge"] for r in rows)),
        "invalid_reasons": dict(
            Counter(r["reason"] for r in rows if not r["valid"]).most_common(10)),
        "weights": dict(cfg.weights), "normalise": cfg.normalise, "judge_kind": cfg.judge,
        "seconds": seconds,
    }  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from jaxinterest.data.io import load_world
    from jaxinterest.data.prompts import PromptConfig
    from jaxinterest.rewards import build_rewards

    t0 = time.perf_counter()
    cfg = _config(args)
    rows = read_completions(args.completions)
    out = Path(args.out)
    done = _done_lines(out, rows) if args.resume else 0
    world = load_world(args.world, parts=("news", "events", "users"))
    known = set(world.users.column("user_id").to_pylist())
    unknown = [(n, u) for n, u, _ in rows if u not in known]
    if unknown and args.unknown_users == "raise":
        n, u = unknown[0]
        raise KeyError(
            f"{args.completions} line {n}: user_id {u!r} is not in the world "
            f"({len(unknown)} unknown; --unknown-users floor scores them at the floor)"
        )
    model = build_rewards(
        world, cfg, clean_fn=_clean_fn(args), tokenizer=_tokenizer(args.tokenizer),
        prompt_cfg=PromptConfig(
            n_queries=args.n_queries or PromptConfig().n_queries,
            max_prompt_tokens=args.max_prompt_tokens,
        ),
        cache_dir=args.cache_dir, progress=True,
    )  # fmt: skip
    t_build = time.perf_counter() - t0
    out.parent.mkdir(parents=True, exist_ok=True)
    if done:  # drop a torn last line before appending
        keep = out.read_text(encoding="utf-8").splitlines()[:done]
        out.write_text("".join(line + "\n" for line in keep), encoding="utf-8")
    fallbacks: Counter = Counter()
    with open(out, "a" if done else "w", encoding="utf-8") as f:
        starts = range(done, len(rows), args.batch_size)
        for s in tqdm(starts, desc="score", unit="batch"):
            chunk = rows[s : s + args.batch_size]
            known = [r for r in chunk if r[1] in model.views]
            res = model.score([u for _, u, _ in known], [c for _, _, c in known])
            fallbacks.update(res.info["fallbacks"])
            at = {r[0]: i for i, r in enumerate(known)}
            for n, u, _ in chunk:
                i = at.get(n)
                line = _floor_row(n, u, "unknown user") if i is None else {
                    "line": n, "user_id": u, **res.row(i)}  # fmt: skip
                f.write(json.dumps(line, ensure_ascii=False) + "\n")
            f.flush()
    seconds = {"build": round(t_build, 2), "total": round(time.perf_counter() - t0, 2)}
    summary = summarise(out, cfg, seconds)
    summary["fallbacks_this_run"] = dict(fallbacks)
    summary["resumed_after_line"] = rows[done - 1][0] if done else None
    Path(f"{out}.summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return 0
