"""`build_rewards(world, cfg) -> RewardModel`; `model.score(user_ids, completions) -> Rewards`.

The model holds what does not change during training: the training-window news index (every
article published before the test window starts; never a test-week article), the IDF statistics
of those articles, the behaviour view builder (the prompt's cleaned view) and, per user, the
view's themes (computed on first use or by `prepare`, kept in an LRU of `user_cache_size`
users). A user's themes depend on their behaviours alone, like the prompt, so a GRPO run that
sees every training user prepares them all once before its first iteration. One `score` call embeds
everything new in the batch (new users' behaviour texts and the distinct queries not in the LRU
text cache) in one `embed` call and retrieves for all distinct queries in one index search.
Click texts are news titles, so their embeddings come from the index's article matrix instead of
the encoder. A text's vector is the same bits whichever call embeds it (embed.py), so the reward
of a (user, completion) pair is a pure function of the pair: the caches, `prepare`, the other
pairs of the batch and the process change only the time it takes (tests/test_train_reproducible).

Reads news, events and users only: never test_clicks.parquet, never oracle/.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jaxinterest.data.answer import ParseResult, parse_queries
from jaxinterest.data.columns import column
from jaxinterest.data.io import World, load_world
from jaxinterest.embed import embed
from jaxinterest.retrieval import build_index, retrieve
from jaxinterest.rewards import signals
from jaxinterest.rewards.combine import Rewards, normalise, total
from jaxinterest.rewards.config import FLOOR, SIGNALS, RewardConfig
from jaxinterest.rewards.judges import JudgeBatch, RubricJudge
from jaxinterest.rewards.lru import LRU
from jaxinterest.rewards.specificity import term_stats
from jaxinterest.rewards.text_vectors import TextVectors
from jaxinterest.rewards.themes import Themes, major_themes
from jaxinterest.rewards.view import UserView, ViewBuilder, normalise_text

EMBED_CHUNK = 4096  # texts per embed call while building (one progress tick)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UserState:
    view: UserView
    themes: Themes


def _embed_chunks(texts: list[str], model, desc: str, progress: bool) -> np.ndarray:
    from tqdm import tqdm

    parts = [np.zeros((0, 0), np.float32)]
    starts = range(0, len(texts), EMBED_CHUNK)
    for s in tqdm(starts, desc=desc, unit="chunk", disable=not progress):
        parts.append(embed(texts[s : s + EMBED_CHUNK], model=model))
    return np.concatenate(parts[1:]) if len(parts) > 1 else embed([], model=model)


def build_rewards(
    world,
    cfg: RewardConfig | None = None,
    *,
    clean_fn=None,
    tokenizer=None,
    prompt_cfg=None,
    encoder=None,
    cache_dir=None,
    progress: bool = False,
) -> RewardModel:
    """The reward model of a world (a directory or a World with news and events loaded).

    clean_fn, tokenizer, prompt_cfg: what the data pipeline uses, so the rewards judge the view
    the prompt shows (see view.py); encoder: the embedding model (default all-MiniLM-L6-v2);
    cache_dir: keep the article embeddings and index there for reruns (news_cache.py).
    """
    cfg = cfg or RewardConfig()
    if prompt_cfg is not None and cfg.n_queries not in (None, prompt_cfg.n_queries):
        raise ValueError(
            f"RewardConfig.n_queries={cfg.n_queries} but the prompt asks for "
            f"{prompt_cfg.n_queries} queries; R_struct would reject every list the prompt asks for"
        )
    if not isinstance(world, World):
        world = load_world(Path(world), parts=("news", "events", "users"))
    if world.news is None or world.events is None:
        raise ValueError("build_rewards needs the world's news and events")
    train_end = int(world.meta["train_end"])
    published = np.asarray(column(world.news, "published"), np.int64)
    rows = np.flatnonzero(published < train_end)  # never the test week
    ids = column(world.news, "news_id")
    titles, abstracts = column(world.news, "title"), column(world.news, "abstract")
    cats = column(world.news, "category")
    index, vecs = _news_index(
        [ids[i] for i in rows], [titles[i] for i in rows], published[rows], world.meta, cfg,
        encoder, cache_dir, progress,
    )  # fmt: skip
    stats = term_stats([f"{titles[i]} {abstracts[i] or ''}" for i in rows], [cats[i] for i in rows])
    views = ViewBuilder(world, clean_fn, tokenizer, prompt_cfg)
    cap = views.cfg.max_chars_per_event
    title_row = {normalise_text(titles[i], cap): j for j, i in enumerate(rows)}
    return RewardModel(cfg, index, stats, views, vecs, title_row, encoder)


def _news_index(ids, titles, published, meta, cfg, encoder, cache_dir, progress):
    """(NewsIndex, title vectors [N, D]) of the training-window articles, from cache_dir when
    it holds them."""
    from jaxinterest.embed import default_encoder
    from jaxinterest.rewards.news_cache import load_news, news_key, save_news

    key = None
    if cache_dir is not None:
        key = news_key(ids, titles, cfg.index_kind, (encoder or default_encoder()).path)
        hit = load_news(cache_dir, key)
        if hit is not None:
            return hit
    vecs = _embed_chunks(titles, encoder, "embed news", progress)
    start = min(int(meta["train_start"]), int(published.min()) if len(published) else 0)
    index = build_index(ids, vecs, published, (start, int(meta["train_end"])), kind=cfg.index_kind)
    if cache_dir is not None:
        save_news(cache_dir, key, index, vecs)
    return index, vecs


class RewardModel:
    """See the module docstring. `score` is the trainer's entry point."""

    def __init__(self, cfg, index, stats, views, title_vecs, title_row, encoder=None):
        self.cfg, self.index, self.stats, self.views = cfg, index, stats, views
        self.title_vecs, self.title_row, self.encoder = title_vecs, title_row, encoder
        self.states = LRU(cfg.user_cache_size)  # user_id -> UserState
        self.vectors = TextVectors(title_row, title_vecs, cfg.text_cache_size)
        self.rubric = RubricJudge(stats, cfg.rubric)
        if cfg.judge == "llm":
            from jaxinterest.rewards.llm_judge import LLMJudge

            self.judge = LLMJudge(cfg.llm, self.rubric)
        else:
            self.judge = self.rubric

    # ---- per-user state -------------------------------------------------------------------
    def _distinct(self, view: UserView) -> tuple[list[str], np.ndarray]:
        counts = Counter(view.texts)
        texts = sorted(counts)
        return texts, np.array([counts[t] for t in texts], np.float64)

    def _pending(self, user_ids) -> tuple[dict, list]:
        """({user: cached UserState}, the views still to build: [(user, view, distinct texts,
        counts)]) over the distinct users."""
        known, todo = {}, []
        for u in dict.fromkeys(user_ids):
            state = self.states.get(u)
            if state is None:
                v = self.views.view(u)
                todo.append((u, v, *self._distinct(v)))
            else:
                known[u] = state
        return known, todo

    def _finish(self, todo, vec: dict) -> dict:
        """{user: UserState} of the pending users, themes from their texts' vectors (text ->
        [D]); also cached."""
        rc, out = self.cfg.rubric, {}
        for u, v, ts, counts in todo:
            tv = np.stack([vec[t] for t in ts]) if ts else np.zeros((0, self.index.dim))
            th = major_themes(tv.astype(np.float32), ts, counts, rc.theme_merge,
                              rc.theme_min_share, rc.theme_min_events, rc.max_themes)  # fmt: skip
            out[u] = self.states[u] = UserState(v, th)
        return out

    def _vectors(self, texts, progress: bool = False) -> tuple[dict, int]:
        """(text -> vector for all `texts`, how many were embedded): one embed call (chunked
        with a progress bar when `progress`) for those neither titles nor cached."""
        have, todo = self.vectors.lookup(texts)
        if progress:
            vecs = _embed_chunks(todo, self.encoder, "embed texts", True)
        else:
            vecs = embed(todo, model=self.encoder)
        self.vectors.store(todo, vecs)
        have.update(zip(todo, vecs, strict=True))
        return have, len(todo)

    def prepare(self, user_ids, progress: bool = False) -> None:
        """Compute and cache the states of these users up front (e.g. all training users, so
        a GRPO iteration embeds only its queries). Of more users than `user_cache_size`, only
        the first that many are prepared (logged): the rest would only evict them."""
        user_ids = list(dict.fromkeys(user_ids))
        for u in user_ids:
            if u not in self.views:
                raise KeyError(f"user_id {u!r} has no events in the world")
        if len(user_ids) > self.states.size:
            log.warning("prepare: %d users but user_cache_size=%d; preparing the first %d",
                        len(user_ids), self.states.size, self.states.size)  # fmt: skip
            user_ids = user_ids[: self.states.size]
        _, todo = self._pending(user_ids)
        vec, _ = self._vectors([t for _, _, ts, _ in todo for t in ts], progress)
        self._finish(todo, vec)

    def themes(self, user_id: str) -> Themes:
        known, todo = self._pending([user_id])
        if todo:
            vec, _ = self._vectors(todo[0][2])
            known = self._finish(todo, vec)
        return known[user_id].themes

    # ---- scoring ---------------------------------------------------------------------------
    def score(self, user_ids, completions) -> Rewards:
        """Rewards of N (user, raw completion text) pairs; see Rewards and the signals.
        Unknown users raise KeyError naming the position; bad completions get the floors."""
        clock = _Clock()
        user_ids, completions = list(user_ids), list(completions)
        if len(user_ids) != len(completions):
            raise ValueError(f"{len(user_ids)} user ids for {len(completions)} completions")
        for i, u in enumerate(user_ids):
            if u not in self.views:
                raise KeyError(f"user_ids[{i}] = {u!r} has no events in the world")
        parsed = [_parse(c, self.cfg) for c in completions]
        n, valid = len(parsed), np.array([p.valid for p in parsed], bool).reshape(-1)
        queries = [p.queries if p.valid else () for p in parsed]
        distinct = list(dict.fromkeys(q for qs in queries for q in qs))
        states, todo = self._pending(user_ids)
        clock.lap("parse_views")
        # the batch's one embed call: new users' behaviour texts and the queries, minus
        # article titles and cached texts
        vec, n_embedded = self._vectors([t for _, _, ts, _ in todo for t in ts] + distinct)
        clock.lap("embed")
        states |= self._finish(todo, vec)
        clock.lap("themes")
        dim = self.index.dim
        dvecs = np.stack([vec[q] for q in distinct]) if distinct else np.zeros((0, dim))
        _, dscores = retrieve(self.index, dvecs.astype(np.float32), self.cfg.k)  # one search
        clock.lap("search")
        pos = {q: i for i, q in enumerate(distinct)}
        flat = [pos[q] for qs in queries for q in qs]
        owner = np.repeat(np.arange(n), [len(qs) for qs in queries])
        qvecs = dvecs[flat].astype(np.float32) if flat else np.zeros((0, dim), np.float32)
        raw = {
            "align": signals.alignment(dscores[flat], owner, n),
            "div": signals.diversity(qvecs, owner, n),
            "struct": signals.structure(valid),
        }
        judged, rows = self._judge(user_ids, states, queries, qvecs, owner, valid)
        for name, values in (("spec", judged.spec), ("cov", judged.cov)):
            raw[name] = np.full(n, FLOOR, np.float32)
            raw[name][rows] = values
        judge, details = ["floor"] * n, [{} for _ in range(n)]
        for r, src, d in zip(rows, judged.source, judged.details, strict=True):
            judge[r], details[r] = src, d
        clock.lap("judge")
        raw = {s: raw[s].astype(np.float32) for s in SIGNALS}
        norm = normalise(raw, self.cfg)
        info = {
            "n": n, "n_valid": int(valid.sum()), "n_queries": len(flat),
            "n_distinct_queries": len(distinct), "n_embedded_texts": n_embedded,
            "n_new_users": len(todo),
            "fallbacks": dict(judged.fallbacks), "seconds": clock.laps,
        }  # fmt: skip
        return Rewards(
            raw, norm, total(norm, self.cfg), valid, tuple(p.reason for p in parsed),
            tuple(queries), tuple(judge), tuple(details), info,
        )  # fmt: skip

    def _judge(self, user_ids, states: dict, queries, qvecs, owner, valid):
        """cov and spec of the valid rows by the configured judge: (JudgeScores, rows)."""
        rows = np.flatnonzero(valid)
        states = [states[user_ids[r]] for r in rows]
        llm = self.judge is not self.rubric
        batch = JudgeBatch(
            queries=tuple(queries[r] for r in rows),
            qvecs=tuple(qvecs[owner == r] for r in rows),
            themes=tuple(s.themes for s in states),
            contexts=tuple(s.view.context() if llm else "" for s in states),
        )
        return self.judge.score(batch), rows


class _Clock:
    """Wall seconds per named phase (laps) plus the total."""

    def __init__(self):
        self.t0 = self.last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = now - self.last
        self.laps["total"] = now - self.t0
        self.last = now


def _parse(completion, cfg: RewardConfig) -> ParseResult:
    """parse_queries with the config's list rules; text that cannot be UTF-8 (lone surrogates
    from a broken decoder) is an invalid output, not a crash in the tokenizer."""
    if isinstance(completion, str):
        try:
            completion.encode("utf-8")
        except UnicodeEncodeError:
            return ParseResult((), False, "not valid UTF-8 text (lone surrogate)")
    return parse_queries(completion, cfg.max_queries, cfg.n_queries)
