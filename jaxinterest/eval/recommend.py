"""The evaluation protocol: query lists per user -> ranked test-week articles -> metrics.

For every user of the world: embed the user's queries, retrieve the top `per_query_k` articles
of each from the TEST-window news index (articles published in [test_start, test_end)), merge
the per-query lists into one top-`k` list with the user's training-window clicked articles
removed, and score it against the user's test-week clicks. Metrics are reported for all users,
warm users and cold users (`users.parquet` `cold`), with every skip counted.

Input policies (each counted in the report's `counts`):
- a world user absent from the queries, or with an empty list: empty ranked list (scores 0);
- empty / whitespace-only query strings are dropped before embedding;
- queries longer than the encoder's window (256 tokens for MiniLM) are truncated by `embed`;
- more than `max_queries_per_user` queries: the first ones are kept (the rest counted);
- a queries user not in the world: error by default, or skipped and counted
  (`unknown_users="skip"`);
- a test click on an article outside the test index can never be retrieved; it stays in the
  user's relevant set (recall stays honest) and is counted in `n_relevant_not_in_index`.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from jaxinterest.data.columns import column
from jaxinterest.eval.metrics import metric_names, per_user_metrics, ranking_metrics
from jaxinterest.retrieval.merge import DEFAULT_METHOD

UNKNOWN_USER_POLICIES = ("raise", "skip")


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    k: int = 10  # length of the merged list per user (the paper's K)
    per_query_k: int = 10  # articles retrieved per query before merging
    ks: tuple[int, ...] = (5, 10)
    # The retrieval module's measured default (CombSUM "score_fusion"; see retrieval/merge.py).
    merge_method: str = DEFAULT_METHOD
    index_kind: str = "flat"  # exact search: the test week is small, and exact removes ANN noise
    article_text: str = "title"  # "title" or "title_abstract": what an article is embedded from
    max_queries_per_user: int = 64
    embed_batch: int = 4096  # texts per `embed` call (one progress-bar tick)


def _embed_with_progress(texts: list[str], cfg: EvalConfig, model, desc: str, progress: bool):
    from tqdm import tqdm

    from jaxinterest.embed import embed

    parts = []
    starts = range(0, len(texts), cfg.embed_batch)
    for s in tqdm(starts, desc=desc, unit="chunk", disable=not progress):
        parts.append(embed(texts[s : s + cfg.embed_batch], model=model))
    if not parts:
        return embed([], model=model)
    return np.concatenate(parts)


def article_texts(news, how: str) -> list[str]:
    titles = column(news, "title")
    if how == "title":
        return titles
    if how == "title_abstract":
        return [
            f"{t}. {a}" if a else t for t, a in zip(titles, column(news, "abstract"), strict=True)
        ]
    raise ValueError(f"article_text must be 'title' or 'title_abstract', got {how!r}")


def build_test_index(world, cfg: EvalConfig = EvalConfig(), *, model=None, progress=False):
    """A NewsIndex over the articles published in the world's test window."""
    from jaxinterest.retrieval import build_index

    window = (int(world.meta["test_start"]), int(world.meta["test_end"]))
    published = np.asarray(column(world.news, "published"), np.int64)
    fresh = np.flatnonzero((published >= window[0]) & (published < window[1]))
    texts = article_texts(world.news, cfg.article_text)
    ids = column(world.news, "news_id")
    vecs = _embed_with_progress([texts[i] for i in fresh], cfg, model, "embed news", progress)
    return build_index([ids[i] for i in fresh], vecs, published[fresh], window, kind=cfg.index_kind)


def load_queries(path: str | Path) -> dict[str, list[str]]:
    """Queries per user from JSONL lines `{"user_id": str, "queries": [str, ...]}` or one JSON
    object `{user_id: [str, ...]}`. Errors name the file, line and field."""
    path = Path(path)
    text = path.read_text()
    if text.lstrip().startswith("{") and not path.suffix == ".jsonl":
        try:
            obj = json.loads(text)
        except json.JSONDecodeError:
            obj = None  # not one object: fall through to JSONL
        if isinstance(obj, dict) and "user_id" not in obj:
            rows = [(f"key {u!r}", {"user_id": u, "queries": q}) for u, q in obj.items()]
            return _check_rows(path, rows)
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append((f"line {n}", json.loads(line)))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} line {n}: not valid JSON ({err.msg})") from err
    return _check_rows(path, rows)


def _check_rows(path, rows) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for where, row in rows:
        if not isinstance(row, dict):
            raise ValueError(f"{path} {where}: expected an object with user_id and queries")
        uid, qs = row.get("user_id"), row.get("queries")
        if not isinstance(uid, str) or not uid:
            raise ValueError(f"{path} {where}: field 'user_id' must be a non-empty string")
        if not isinstance(qs, list) or not all(isinstance(q, str) for q in qs):
            raise ValueError(f"{path} {where}: field 'queries' must be a list of strings")
        if uid in out:
            raise ValueError(f"{path} {where}: user_id {uid!r} appears twice")
        out[uid] = qs
    return out


def seen_articles(world) -> dict[str, set[str]]:
    """user_id -> news ids the user clicked in the training window (removed from their list)."""
    seen: dict[str, set[str]] = {}
    for uid, dom, nid in zip(
        column(world.events, "user_id"),
        column(world.events, "domain"),
        column(world.events, "news_id"),
        strict=True,
    ):
        if dom == "click" and nid:
            seen.setdefault(uid, set()).add(nid)
    return seen


def held_out_clicks(world) -> dict[str, set[str]]:
    """user_id -> news ids clicked in the test week. The only reader of test_clicks."""
    rel: dict[str, set[str]] = {}
    tc = world.test_clicks
    for uid, nid in zip(column(tc, "user_id"), column(tc, "news_id"), strict=True):
        rel.setdefault(uid, set()).add(nid)
    return rel


def _clean_queries(queries, users, cfg, unknown_users, counts) -> list[list[str]]:
    if unknown_users not in UNKNOWN_USER_POLICIES:
        raise ValueError(f"unknown_users must be one of {UNKNOWN_USER_POLICIES}")
    known = set(users)
    unknown = [u for u in queries if u not in known]
    if unknown and unknown_users == "raise":
        raise KeyError(
            f"{len(unknown)} query users are not in the world (first: {unknown[0]!r}); "
            "pass unknown_users='skip' to count and skip them"
        )
    counts["n_unknown_users_skipped"] = len(unknown)
    out = []
    for u in users:
        qs = queries.get(u)
        if qs is None:
            counts["n_users_missing_queries"] += 1
            qs = []
        if isinstance(qs, str):
            raise TypeError(f"queries[{u!r}] is a str; expected a list of query strings")
        kept = [q for q in qs if isinstance(q, str) and q.strip()]
        bad_type = [q for q in qs if not isinstance(q, str)]
        if bad_type:
            raise TypeError(f"queries[{u!r}] holds {type(bad_type[0]).__name__}, expected str")
        counts["n_empty_queries_dropped"] += len(qs) - len(kept)
        counts["n_queries_over_cap"] += max(0, len(kept) - cfg.max_queries_per_user)
        kept = kept[: cfg.max_queries_per_user]
        counts["n_users_no_queries"] += not kept
        counts["n_queries"] += len(kept)
        out.append(kept)
    return out


def _jsonable(d: dict) -> dict:
    return {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in d.items()}


def user_stderr(per_user: dict, mask: np.ndarray, ks) -> dict:
    """Standard error of each user-averaged metric (std / sqrt(n) over evaluated users), so two
    recommenders' numbers can be told apart from noise: ±1.96 se is a 95% interval."""
    ok = mask & (per_user["n_relevant"] > 0)
    n = int(ok.sum())
    return {
        m: (float(per_user[m][ok].std(ddof=1) / np.sqrt(n)) if n > 1 else None)
        for m in metric_names(ks)
    }


def evaluate_queries(
    world,
    queries: Mapping[str, Sequence[str]],
    cfg: EvalConfig = EvalConfig(),
    *,
    index=None,
    model=None,
    unknown_users: str = "raise",
    progress: bool = False,
    embedder=None,
) -> tuple[dict, dict[str, list[str]]]:
    """Run the protocol. Returns (JSON-ready report, user_id -> ranked news ids).

    embedder: optional texts -> float32 [N, D] unit rows standing in for `embed` (e.g. a cache
    of the same embeddings); it must embed like the index's articles.
    """
    t0 = time.perf_counter()
    users = column(world.users, "user_id")
    counts = dict.fromkeys(
        ["n_users_missing_queries", "n_users_no_queries", "n_empty_queries_dropped",
         "n_queries_over_cap", "n_queries"], 0)  # fmt: skip
    per_user_queries = _clean_queries(queries, users, cfg, unknown_users, counts)
    if index is None:
        index = build_test_index(world, cfg, model=model, progress=progress)
    test_window = (int(world.meta["test_start"]), int(world.meta["test_end"]))
    if index.window != test_window:
        raise ValueError(
            f"index window {index.window} is not the world's test window "
            f"{test_window}: only test-week articles may be recommended"
        )
    t_index = time.perf_counter()
    # Embed and search each distinct query once (popularity gives everyone the same list).
    unique = list(dict.fromkeys(q for qs in per_user_queries for q in qs))
    counts["n_distinct_queries"] = len(unique)
    if embedder is None:
        vecs = _embed_with_progress(unique, cfg, model, "embed queries", progress)
    else:
        vecs = np.asarray(embedder(unique), np.float32).reshape(len(unique), -1)
    row = {q: i for i, q in enumerate(unique)}
    rows = [[row[q] for q in qs] for qs in per_user_queries]
    return _rank_and_report(world, index, vecs, rows, cfg, counts, (t0, t_index))


def _rank_and_report(world, index, vecs, rows, cfg, counts, times):
    """Retrieve per_query_k articles for each row of vecs [M, D], merge user u's rows[u]
    (training-window clicks removed) into one top-k list, score all / warm / cold users."""
    from jaxinterest.retrieval import merge_users, retrieve

    users = column(world.users, "user_id")
    cold = np.asarray(column(world.users, "cold"), bool)
    ids, scores = retrieve(index, vecs, cfg.per_query_k)
    seen = seen_articles(world)
    ranked = merge_users(
        [ids[r] for r in rows],
        [scores[r] for r in rows],
        cfg.k,
        cfg.merge_method,
        [seen.get(u, set()) for u in users],
    )
    t0, t_index = times
    rel = held_out_clicks(world)
    relevant = [rel.get(u, set()) for u in users]
    in_index = set(index.ids.tolist())
    counts["n_relevant_not_in_index"] = sum(len(r - in_index) for r in relevant)
    counts["n_test_articles"] = len(index)
    report = {"config": dataclasses.asdict(cfg), "counts": counts}
    per_user = per_user_metrics(ranked, relevant, cfg.ks)
    for name, mask in (("all", np.ones(len(users), bool)), ("warm", ~cold), ("cold", cold)):
        sel = np.flatnonzero(mask)
        m = ranking_metrics([ranked[i] for i in sel], [relevant[i] for i in sel], cfg.ks)
        report[name] = _jsonable(m) | {"stderr": user_stderr(per_user, mask, cfg.ks)}
    report["seconds"] = {
        "index": round(t_index - t0, 3),
        "retrieve_and_score": round(time.perf_counter() - t_index, 3),
    }
    return report, dict(zip(users, ranked, strict=True))


def evaluate_vectors(
    world,
    vectors: Mapping[str, np.ndarray],
    cfg: EvalConfig = EvalConfig(),
    *,
    index,
) -> tuple[dict, dict[str, list[str]]]:
    """The protocol for recommenders that output vectors instead of query texts.

    vectors: user_id -> float [Q_u, D] unit rows in the index's space (D = index.dim; one row
    for a single user vector, several for a multi-interest model). Each row retrieves
    per_query_k test-week articles and a user's rows merge like a user's queries do. A world
    user missing from `vectors` gets an empty list (counted); an unknown user is an error.
    Returns (report, user_id -> ranked news ids), in the layout of `evaluate_queries`.
    """
    t0 = time.perf_counter()
    users = column(world.users, "user_id")
    known = set(users)
    unknown = [u for u in vectors if u not in known]
    if unknown:
        raise KeyError(f"{len(unknown)} vector users are not in the world (first: {unknown[0]!r})")
    test_window = (int(world.meta["test_start"]), int(world.meta["test_end"]))
    if index.window != test_window:
        raise ValueError(f"index window {index.window} is not the test window {test_window}")
    counts = {"n_users_missing_vectors": 0, "n_vectors": 0}
    parts, rows, start = [], [], 0
    for u in users:
        v = np.asarray(vectors.get(u, np.zeros((0, index.dim))), np.float32)
        if v.ndim != 2 or v.shape[1] != index.dim:
            raise ValueError(f"vectors[{u!r}] has shape {v.shape}; expected [Q, {index.dim}]")
        counts["n_users_missing_vectors"] += u not in vectors
        parts.append(v)
        rows.append(np.arange(start, start + len(v)))
        start += len(v)
    counts["n_vectors"] = start
    vecs = np.concatenate(parts) if parts else np.zeros((0, index.dim), np.float32)
    return _rank_and_report(world, index, vecs, rows, cfg, counts, (t0, time.perf_counter()))


def per_user_scores(ranked: Mapping[str, list[str]], world, ks=(5, 10)) -> dict[str, np.ndarray]:
    """Per-user metric arrays for the world's users in users.parquet order (NaN: no clicks)."""
    users = column(world.users, "user_id")
    rel = held_out_clicks(world)
    return per_user_metrics(
        [ranked.get(u, []) for u in users], [rel.get(u, set()) for u in users], ks
    )
