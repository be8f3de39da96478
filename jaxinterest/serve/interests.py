"""The paper's serving path as a batch job: each user's (cleaned) behaviour -> prompt -> the
policy's query list -> news retrieved for every query and merged into one top-k list.

Prompts are the training pipeline's (`data.pipeline.MakeExample`: the same cleaned view and
rendering the policy was trained on). Each user samples with its own key,
`fold_in(key(seed), crc32(user_id))`, through `generate(..., keys=...)`, so a user's queries do
not depend on the batch it lands in: an interrupted run resumed later writes what one
uninterrupted run would. Only events, users and news are read (never test clicks or oracle/).
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Iterator, Sequence

import jax
import jax.numpy as jnp

from jaxinterest.data.prompts import PromptConfig
from jaxinterest.retrieval.merge import DEFAULT_METHOD
from jaxinterest.serve.model import ServedModel


@dataclasses.dataclass(frozen=True)
class InterestsConfig:
    prompt: PromptConfig = PromptConfig()
    max_new_tokens: int = 96
    temperature: float = 0.0  # greedy by default: a served list is reproducible
    top_p: float = 1.0
    top_k: int = 0
    seed: int = 0
    batch_size: int = 32  # users per sampler call
    k: int = 10  # merged articles per user
    per_query_k: int = 10  # articles retrieved per query before merging
    merge_method: str = DEFAULT_METHOD


def user_key(seed: int, user_id: str) -> jax.Array:
    """The PRNG key of one user's sampling: independent of order and batching."""
    return jax.random.fold_in(jax.random.key(seed), zlib.crc32(user_id.encode()) & 0x7FFFFFFF)


def read_user_ids(path, known: Sequence[str]) -> list[str]:
    """User ids from a text file, one per line (blank lines skipped), each checked against the
    world's users; errors name the line."""
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"users file not found: {path}")
    known_set, out, seen = set(known), [], set()
    for n, line in enumerate(path.read_text().splitlines(), 1):
        uid = line.strip()
        if not uid:
            continue
        if uid not in known_set:
            raise KeyError(f"{path} line {n}: user {uid!r} is not in the world")
        if uid not in seen:
            seen.add(uid)
            out.append(uid)
    if not out:
        raise ValueError(f"{path} names no users")
    return out


def user_interests(
    model: ServedModel,
    world,
    user_ids: Sequence[str],
    index,
    cfg: InterestsConfig = InterestsConfig(),
    *,
    clean_fn=None,
    progress: bool = True,
) -> Iterator[list[dict]]:
    """Yields, per batch of users, one record per user: user_id, queries (parsed), valid and
    reason (the answer format check of `parse_queries`), articles (merged top-k news ids,
    training-window clicks removed) and text (the raw model output)."""
    from tqdm import tqdm

    from jaxinterest.data.answer import parse_queries
    from jaxinterest.data.pipeline import MakeExample, UserSource
    from jaxinterest.eval.recommend import seen_articles
    from jaxinterest.retrieval import retrieve_merged
    from jaxinterest.sampling import SamplingParams, generate

    source = UserSource(world, split=None)
    row = {u: i for i, u in enumerate(source.user_ids)}
    missing = [u for u in user_ids if u not in row]
    if missing:
        raise KeyError(f"{len(missing)} users have no events in the world (first: {missing[0]!r})")
    make = MakeExample(model.tokenizer, cfg.prompt, clean_fn)
    seen = seen_articles(world)
    sampling = SamplingParams(
        max_new_tokens=cfg.max_new_tokens,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        top_k=cfg.top_k,
        stop_ids=model.stop_ids,
    )
    bar = tqdm(total=len(user_ids), desc="users", unit="user", disable=not progress)
    for start in range(0, len(user_ids), cfg.batch_size):
        batch = list(user_ids[start : start + cfg.batch_size])
        prompts = []
        for u in batch:
            ex = make(source[row[u]])
            prompts.append(ex["input_ids"][len(ex["input_ids"]) - int(ex["length"]) :].tolist())
        keys = jnp.stack([user_key(cfg.seed, u) for u in batch])
        out = generate(model.params, model.cfg, prompts, sampling, keys=keys, pad_id=model.pad_id)
        texts = out.texts(model.tokenizer)
        parsed = [parse_queries(t, n_max=cfg.prompt.n_queries) for t in texts]
        ranked = retrieve_merged(
            index,
            [list(p.queries) for p in parsed],
            cfg.k,
            per_query_k=cfg.per_query_k,
            method=cfg.merge_method,
            exclude_per_user=[seen.get(u, set()) for u in batch],
        )
        yield [
            {
                "user_id": u,
                "queries": list(p.queries),
                "valid": p.valid,
                "reason": p.reason,
                "articles": r,
                "text": t,
            }
            for u, p, r, t in zip(batch, parsed, ranked, texts, strict=True)
        ]
        bar.update(len(batch))
    bar.close()
