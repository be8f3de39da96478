"""Training data of the SFT warm start: LM text chunks and (prompt -> weak query list) pairs.

- `lm_corpus`: the training-window articles (title and abstract; never a test-week article),
  the world's text the tiny models learn their words from.
- `history_ids`: the training users' rendered prompts (their cleaned behaviour lists) at several
  history cuts, as token ids: text in which a user's phrases recur, so next-token prediction on
  it rewards copying from earlier in the context, the skill the query lists need.
- `lm_chunks`: those texts tokenized, joined with <|endoftext|> and cut into [N, L] rows.
- `instruction_examples`: per training user and per history cut (the full training window, and
  the same user as they were `d` days earlier, so that 270 tiny-world users give several
  distinct prompts each), the prompt the Grain pipeline renders and the weak labeller's list
  for exactly the events that prompt shows. Reads events, users and news; never test clicks,
  never oracle/.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxinterest.data.answer import format_queries
from jaxinterest.data.columns import column
from jaxinterest.data.prompts import PromptConfig
from jaxinterest.train.queries import user_prompts
from jaxinterest.train.validation import DAY, cut_events
from jaxinterest.train.weak_labels import LabelConfig, PhraseStats, fit_stats, label


@dataclasses.dataclass(frozen=True)
class Example:
    """One instruction pair: prompt and target token ids (target ends with the EOS)."""

    user_id: str
    cut_days: int
    prompt: list
    queries: list
    target: list


def lm_corpus(world) -> list[str]:
    """'title. abstract' of every article published before the test window."""
    end = int(world.meta["train_end"])
    pub = column(world.news, "published")
    titles, abstracts = column(world.news, "title"), column(world.news, "abstract")
    return [
        f"{t}. {a}" if a else t
        for t, a, p in zip(titles, abstracts, pub, strict=True)
        if int(p) < end
    ]


def cut_world(world, days: int):
    """The world as it was `days` days before the end of the training window (events cut)."""
    if days == 0:
        return world
    end = int(world.meta["train_end"])
    return dataclasses.replace(world, events=cut_events(world.events, end - days * DAY))


def history_ids(world, tokenizer, prompt_cfg: PromptConfig, *, clean_fn=None, cut_days=(0,),
                split: str = "train") -> list[list[int]]:  # fmt: skip
    """Token ids of the `split` users' prompts at each history cut (`cut_events`), rendered as
    the Grain pipeline renders them: the same cleaned, shown behaviours the policy reads (never
    test clicks, never oracle/)."""
    users = _split_users(world, split)
    out = []
    for d in cut_days:
        w = cut_world(world, d)
        present = set(column(w.events, "user_id"))
        out.extend(user_prompts(w, [u for u in users if u in present], tokenizer, prompt_cfg,
                                clean_fn))  # fmt: skip
    return out


def lm_chunks(texts, tokenizer, seq_len: int, eos_id: int, *, extra_ids=()) -> np.ndarray:
    """int32 [N, seq_len]: the texts' tokens, then the pre-tokenized `extra_ids` rows, each
    followed by eos_id, concatenated and cut (the last partial row dropped). Raises ValueError
    when there is not one full row."""
    texts = list(texts)
    ids = [*(tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []), *extra_ids]
    flat = np.fromiter((t for row in ids for t in (*row, eos_id)), np.int32)
    n = len(flat) // seq_len
    if n == 0:
        raise ValueError(f"{len(flat)} tokens of text do not fill one row of {seq_len}")
    return flat[: n * seq_len].reshape(n, seq_len)


def _split_users(world, split: str) -> list[str]:
    return [
        u
        for u, s in zip(column(world.users, "user_id"), column(world.users, "split"), strict=True)
        if s == split
    ]


def label_stats(world, tokenizer, prompt_cfg: PromptConfig, label_cfg: LabelConfig, clean_fn):
    """The labeller's phrase statistics over the training users' shown views."""
    from jaxinterest.rewards.view import ViewBuilder

    views = ViewBuilder(world, clean_fn, tokenizer, prompt_cfg)
    return fit_stats((views.view(u) for u in _split_users(world, "train")), label_cfg)


def instruction_examples(
    world,
    tokenizer,
    prompt_cfg: PromptConfig,
    label_cfg: LabelConfig,
    *,
    eos_id: int,
    clean_fn=None,
    cut_days=(0,),
    split: str = "train",
    stats: PhraseStats | None = None,
    progress: bool = False,
) -> tuple[list[Example], PhraseStats]:
    """(examples, the labeller's stats). Users whose view at a cut gives fewer than
    n_queries queries are left out: the target must be an answer in the prompt's format
    (exactly n distinct queries), or SFT would teach the policy an invalid answer."""
    from tqdm import tqdm

    from jaxinterest.rewards.view import ViewBuilder

    if label_cfg.n_queries != prompt_cfg.n_queries:
        raise ValueError(
            f"the labeller writes {label_cfg.n_queries} queries but the prompt asks for "
            f"{prompt_cfg.n_queries}"
        )
    stats = stats or label_stats(world, tokenizer, prompt_cfg, label_cfg, clean_fn)
    users = _split_users(world, split)
    out = []
    for d in tqdm(cut_days, desc="instruction examples", unit="cut", disable=not progress):
        w = cut_world(world, d)
        views = ViewBuilder(w, clean_fn, tokenizer, prompt_cfg)
        present = [u for u in users if u in views]
        labels = {u: label(views.view(u), stats, label_cfg) for u in present}
        kept = [u for u in present if len(labels[u]) == label_cfg.n_queries]
        if not kept:
            continue
        prompts = user_prompts(w, kept, tokenizer, prompt_cfg, clean_fn)
        for u, p in zip(kept, prompts, strict=True):
            ids = tokenizer(format_queries(labels[u]), add_special_tokens=False)["input_ids"]
            out.append(Example(u, int(d), p, labels[u], [*ids, eos_id]))
    return out, stats
