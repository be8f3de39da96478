"""`jaxinterest interests`: batch inference of every user's query list and retrieved articles.

Output: JSONL, one line per user, `{"user_id", "queries", "valid", "reason", "articles",
"text"}`, appended and flushed per batch. Rerunning with the same --out skips the users already
written (a torn last line from an interrupted run is cut off first), so a long run resumes
where it stopped. The file is a valid `evaluate --queries` input.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from jaxinterest.commands._model import add_model_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "interests",
        help="users -> prompts -> query lists -> retrieved news (JSONL, resumable)",
        description=(
            "For each user of --world (or of --users FILE, one user_id per line): render the "
            "prompt from the user's behaviour, generate the query list with the model, "
            "retrieve top articles per query from the test-week news index and merge them per "
            "user. Writes one JSON line per user to --out; rerun to resume."
        ),
    )
    add_model_args(p)
    p.add_argument("--world", required=True, help="world directory")
    p.add_argument("--users", metavar="FILE", help="user ids to serve, one per line")
    p.add_argument("--out", required=True, help="JSONL output (resumed if it exists)")
    p.add_argument("--keep-file", metavar="FILE", help="keep.parquet from `clean --apply`")
    p.add_argument("--index", metavar="DIR", help="saved news index (default: test week)")
    p.add_argument("--n-queries", type=int, default=5, help="queries asked for per user")
    p.add_argument("--max-prompt-tokens", type=int, default=1024)
    p.add_argument("--max-new-tokens", type=int, default=96)
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=32, help="users per sampler call")
    p.add_argument("--k", type=int, default=10, help="merged articles per user")
    p.add_argument("--per-query-k", type=int, default=10, help="articles per query")
    p.add_argument("--no-progress", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def done_users(path: Path) -> set[str]:
    """Users already in `path`; a torn last line (no newline) is truncated away."""
    if not path.exists():
        return set()
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        with open(path, "r+b") as f:
            f.truncate(end)
    out = set()
    for n, line in enumerate(data[:end].decode().splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.add(json.loads(line)["user_id"])
        except (json.JSONDecodeError, KeyError, TypeError):
            raise ValueError(
                f"{path} line {n}: not an interests record; use another --out"
            ) from None
    return out


def _keep_fn(path):
    import numpy as np
    import pyarrow.parquet as pq

    from jaxinterest.data.columns import column

    t = pq.read_table(path)
    keep = dict(zip(column(t, "event_id"), column(t, "keep"), strict=True))

    def clean(events):
        ids = column(events, "event_id")
        missing = [e for e in ids if e not in keep]
        if missing:
            raise KeyError(f"{path}: no keep value for event_id {missing[0]}")
        return np.array([bool(keep[e]) for e in ids], bool)

    return clean


def run(args: argparse.Namespace) -> int:
    from jaxinterest.data.columns import column
    from jaxinterest.data.io import load_world
    from jaxinterest.data.prompts import PromptConfig
    from jaxinterest.eval.recommend import EvalConfig, build_test_index
    from jaxinterest.retrieval import load_index
    from jaxinterest.serve import load_served_model
    from jaxinterest.serve.interests import InterestsConfig, read_user_ids, user_interests

    cfg = InterestsConfig(
        prompt=PromptConfig(n_queries=args.n_queries, max_prompt_tokens=args.max_prompt_tokens),
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        top_k=args.top_k,
        seed=args.seed,
        batch_size=args.batch_size,
        k=args.k,
        per_query_k=args.per_query_k,
    )
    if min(args.batch_size, args.k, args.per_query_k, args.n_queries) < 1:
        raise ValueError("--batch-size, --k, --per-query-k and --n-queries must be >= 1")
    world = load_world(args.world, parts=("news", "events", "users"))
    everyone = column(world.users, "user_id")
    users = read_user_ids(args.users, everyone) if args.users else everyone
    out = Path(args.out)
    done = done_users(out)
    todo = [u for u in users if u not in done]
    print(f"{len(users)} users, {len(users) - len(todo)} already in {out}, {len(todo)} to go")
    if not todo:
        return 0
    model = load_served_model(
        args.checkpoint, None if args.checkpoint else args.preset, seed=args.seed
    )
    progress = not args.no_progress
    index = (
        load_index(args.index)
        if args.index
        else build_test_index(world, EvalConfig(), progress=progress)
    )
    clean_fn = _keep_fn(args.keep_file) if args.keep_file else None
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a") as f:
        for records in user_interests(
            model, world, todo, index, cfg, clean_fn=clean_fn, progress=progress
        ):
            f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
            f.flush()
    print(f"wrote {len(todo)} users to {out}")
    return 0
