"""Calibrate the rubric judge's thresholds and R_align's range against labelled samples.

A diagnostic (it reads oracle/interests.parquet to LABEL samples; nothing it learns reaches a
reward except the printed numbers, which become RubricConfig / RewardConfig defaults):

1. Cleaning as in training: a hashed n-gram noise classifier trained on the world's noise
   labels (train-split users), applied to every event -> the rewards' behaviour view.
2. Specificity (spec_min_idf): hand-labelled generic queries (GENERIC below) against specific
   queries built from the world's structure (entity + sub-topic phrase, entity + keyword,
   entity alone, sub-topic phrase alone: "concrete topics/events/entities" in Appendix A's
   words). The threshold maximises balanced accuracy on a random half; the other half reports.
3. Coverage (theme_merge x cov_threshold): per sampled user, positives are queries from the
   user's visible latent interests (weight >= --min-weight), negatives are the same forms for
   interests of other users sharing no entity or sub-topic with this user (half of them from a
   category the user also follows: hard negatives). A query "targets a theme" when its best
   theme cosine is >= the threshold; each merge value gets its best threshold on one half of
   the users and is reported on the other half (balanced accuracy, AUC), with list-level R_cov
   of the user's own interest list against another user's list.
4. List level, under the defaults: every signal's mean for each user's own interest list
   (one "<entity> <sub-topic>" query per latent interest), another user's, a generic list and
   five random training titles. R_align's range: lo / hi printed as the generic lists' median
   and the own lists' 95th percentile.

    python experiments/calibrate_rewards.py --preset tiny --seed 0 --users 150 [--world DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

# Generic queries labelled by hand (Appendix A: "generic, overly broad, ambiguous, or mainly a
# platform/common category term"). About half are outside the lexicon on purpose, so the IDF
# part is tested, not only the word list.
GENERIC = """news|sports|technology|youtube|google|latest news|breaking news today|top stories|
world news|local news|business news|tech news|sports scores|weather|weather today|what's trending|
trending now|entertainment|celebrity gossip|movies|music|tv shows|politics|health tips|science|
facebook login|amazon|netflix|bank login|calculator|translate|horoscope|lottery numbers|recipes|
daily digest|what happened today|things to know|explained|more coverage|news update|headlines|
stories of the day|today's news|top news now|new articles|popular stories|must read|live updates|
the latest|this week|current events|breaking|latest|updates|hot topics|viral|highlights|
full coverage|analysis|opinion|press release|features|in depth|report|reports today""".replace(
    "\n", ""
).split("|")


def clean_world(world_dir: Path, world):
    """KeepLookup over the world's events from an n-gram classifier (train users' labels)."""
    import pyarrow as pa

    from jaxinterest.clean import (
        KeepLookup,
        join_labels,
        render_behaviors,
        train_classifier,
        user_split_mask,
    )
    from jaxinterest.data.io import load_noise_labels

    texts = render_behaviors(world.events)
    y = join_labels(world.events, load_noise_labels(world_dir))
    train = user_split_mask(world.events, world.users)
    first: dict = {}
    for t, label, tr in zip(texts, y, train, strict=True):
        if tr:
            first.setdefault(t, int(label))
    clf, _ = train_classifier("ngram", list(first), np.array(list(first.values())))
    distinct = sorted(set(texts))
    keep_of = dict(zip(distinct, clf.predict(distinct).astype(bool), strict=True))
    keep = np.array([keep_of[t] for t in texts])
    table = pa.table({"event_id": world.events.column("event_id"), "keep": keep})
    return KeepLookup(table), float(keep.mean()), float((keep == (y == 1)).mean())


def best_threshold(scores, labels) -> tuple[float, float]:
    """(threshold, balanced accuracy) maximising balanced accuracy; the threshold is the
    midpoint between the two scores that bound the best cut."""
    s, y = np.asarray(scores, float), np.asarray(labels, bool)
    cand = np.unique(s)
    mids = np.concatenate([[cand[0] - 1e-6], (cand[1:] + cand[:-1]) / 2, [cand[-1] + 1e-6]])
    best = (0.0, -1.0)
    for t in mids:
        p = s >= t
        bacc = 0.5 * (p[y].mean() + (~p[~y]).mean())
        if bacc > best[1] + 1e-12:
            best = (float(t), float(bacc))
    return best


def bacc_at(scores, labels, t) -> float:
    s, y = np.asarray(scores, float) >= t, np.asarray(labels, bool)
    return float(0.5 * (s[y].mean() + (~s[~y]).mean()))


def auc(scores, labels) -> float:
    s, y = np.asarray(scores, float), np.asarray(labels, bool)
    pos, neg = s[y], s[~y]
    return float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())


def specific_queries(space, rng, n: int) -> list[str]:
    out = []
    for _ in range(n):
        e = int(rng.integers(space.n_entities))
        name = space.entity_names[e]
        sub = (
            int(space.entity_home[e])
            if rng.random() < 0.7
            else int(rng.integers(len(space.sub_phrase)))
        )
        kw = space.sub_keywords[sub][int(rng.integers(len(space.sub_keywords[sub])))]
        form = rng.integers(4)
        out.append(
            [f"{name} {space.sub_phrase[sub]}", f"{name} {kw}", name, space.sub_phrase[sub]][form]
        )
    return out


def calibrate_spec(model, space, rng) -> dict:
    from jaxinterest.rewards.specificity import specificity_score

    pos = specific_queries(space, rng, 400)
    texts = pos + GENERIC
    labels = np.array([1] * len(pos) + [0] * len(GENERIC), bool)
    min_df = model.cfg.rubric.spec_min_df
    scores = np.array([specificity_score(q, model.stats, min_df) for q in texts])
    half = rng.random(len(texts)) < 0.5
    t, fit_bacc = best_threshold(scores[half], labels[half])
    errors = [q for q, s, y in zip(texts, scores, labels, strict=True) if (s >= t) != y]
    return {
        "n_specific": len(pos), "n_generic": len(GENERIC), "spec_min_idf": round(t, 2),
        "balanced_accuracy_fit_half": round(fit_bacc, 4),
        "balanced_accuracy_held_out_half": round(bacc_at(scores[~half], labels[~half], t), 4),
        "default_spec_min_idf": model.cfg.rubric.spec_min_idf,
        "balanced_accuracy_at_default": round(
            bacc_at(scores, labels, model.cfg.rubric.spec_min_idf), 4),
        "errors_at_threshold": errors[:20],
        "generic_score_quantiles": np.quantile(scores[~labels], [0.5, 0.9, 1.0]).round(2).tolist(),
        "specific_score_quantiles": np.quantile(scores[labels], [0.0, 0.1, 0.5]).round(2).tolist(),
    }  # fmt: skip


def interest_queries(row: dict, space_kw: dict) -> list[str]:
    """Query forms of one latent interest (entity may be None: topic-only interest)."""
    sub, ent = row["subtopic"], row["entity"]
    kws = space_kw.get(sub, ())
    if ent:
        out = [f"{ent} {sub}", ent.lower()]
        out += [f"{ent} {kws[0]}"] if kws else []
        return out
    return [sub] + ([f"{sub} {kws[0]}"] if kws else [])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--world", help="world directory (else one is generated)")
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--users", type=int, default=150, help="users sampled for coverage")
    ap.add_argument("--min-weight", type=float, default=0.15, help="visible interest weight")
    ap.add_argument("--merge", default="0.2,0.25,0.3,0.35,0.4,0.5", help="theme_merge grid")
    ap.add_argument("--out", help="also write the JSON report here")
    args = ap.parse_args(argv)

    import dataclasses

    from jaxinterest.data.entities import build_space
    from jaxinterest.data.io import load_oracle_interests, load_world
    from jaxinterest.data.world import generate_world, make_config
    from jaxinterest.embed import embed
    from jaxinterest.rewards import RewardConfig, build_rewards
    from jaxinterest.rewards.model import UserState

    tmp = None
    if args.world:
        world_dir = Path(args.world)
    else:
        tmp = tempfile.TemporaryDirectory()
        world_dir = Path(tmp.name)
        generate_world(make_config(args.preset, seed=args.seed), world_dir, progress=False)
    world = load_world(world_dir, parts=("news", "events", "users"))
    conf = world.meta["config"]
    space = build_space(int(world.meta["seed"]), int(conf["entities_per_category"]))
    space_kw = dict(zip(space.sub_phrase, space.sub_keywords, strict=True))
    clean_fn, kept, agree = clean_world(world_dir, world)
    base = RewardConfig()
    model = build_rewards(world, base, clean_fn=clean_fn, progress=True)
    rng = np.random.default_rng(args.seed)
    report = {"world": str(world_dir), "preset": world.meta.get("preset"),
              "clean": {"kept_share": kept, "agreement_with_labels": agree},
              "spec": calibrate_spec(model, space, rng)}  # fmt: skip

    # ---- coverage -----------------------------------------------------------------------
    oi = load_oracle_interests(world_dir).to_pylist()  # diagnostic labelling only
    by_user: dict = {}
    for r in oi:
        by_user.setdefault(r["user_id"], []).append(r)
    users = [u for u in world.users.column("user_id").to_pylist() if u in by_user]
    users = [users[i] for i in rng.choice(len(users), min(args.users, len(users)), replace=False)]
    samples = []  # (user index, query, label)
    for ui, u in enumerate(users):
        mine = by_user[u]
        ents = {r["entity"] for r in mine if r["entity"]}
        subs = {r["subtopic"] for r in mine}
        cats = {r["category"] for r in mine}
        for r in mine:
            if r["weight"] >= args.min_weight:
                samples += [(ui, q, 1) for q in interest_queries(r, space_kw)]
        n_neg = sum(1 for s in samples if s[0] == ui and s[2] == 1)
        for j in range(n_neg):
            hard = j % 2 == 0
            for _ in range(200):
                other = by_user[users[int(rng.integers(len(users)))]]
                r = other[int(rng.integers(len(other)))]
                if (
                    r["entity"] in ents
                    or r["subtopic"] in subs
                    or (hard and r["category"] not in cats)
                ):
                    continue
                q = interest_queries(r, space_kw)
                samples.append((ui, q[int(rng.integers(len(q)))], 0))
                break
    qtexts = sorted({q for _, q, _ in samples})
    qvec = dict(zip(qtexts, embed(qtexts), strict=True))
    vectors = user_vectors(model, users)
    half_users = rng.random(len(users)) < 0.5
    labels = np.array([y for _, _, y in samples], bool)
    in_fit = np.array([half_users[ui] for ui, _, _ in samples])
    grid = []
    for merge in (float(x) for x in args.merge.split(",")):
        rc = dataclasses.replace(base.rubric, theme_merge=merge)
        themes = {u: themes_of(vectors[u], rc) for u in users}
        best = np.array([
            float(np.max(themes[users[ui]].centroids @ qvec[q]))
            if len(themes[users[ui]]) else -1.0
            for ui, q, _ in samples
        ])  # fmt: skip
        t, fit_bacc = best_threshold(best[in_fit], labels[in_fit])
        n_themes = [len(themes[u]) for u in users]
        n_visible = [sum(r["weight"] >= args.min_weight for r in by_user[u]) for u in users]
        grid.append({
            "theme_merge": merge, "cov_threshold": round(t, 3),
            "balanced_accuracy_fit_users": round(fit_bacc, 4),
            "balanced_accuracy_held_out_users": round(
                bacc_at(best[~in_fit], labels[~in_fit], t), 4),
            "auc_held_out_users": round(auc(best[~in_fit], labels[~in_fit]), 4),
            "mean_themes": round(float(np.mean(n_themes)), 2),
            "mean_visible_interests": round(float(np.mean(n_visible)), 2),
        })  # fmt: skip
        print(json.dumps(grid[-1]), file=sys.stderr)
    report["coverage_grid"] = grid
    chosen = max(grid, key=lambda g: g["balanced_accuracy_fit_users"])
    report["coverage_chosen"] = chosen
    themes = {u: themes_of(vectors[u], base.rubric) for u in users}
    best = np.array([float(np.max(themes[users[ui]].centroids @ qvec[q]))
                     if len(themes[users[ui]]) else -1.0 for ui, q, _ in samples])  # fmt: skip
    report["coverage_at_defaults"] = {
        "theme_merge": base.rubric.theme_merge, "cov_threshold": base.rubric.cov_threshold,
        "balanced_accuracy_all_users": round(bacc_at(best, labels, base.rubric.cov_threshold), 4),
        "auc_all_users": round(auc(best, labels), 4),
        "n_positive": int(labels.sum()), "n_negative": int((~labels).sum()),
    }  # fmt: skip

    # ---- list-level probes (under the defaults) and R_align's range ------------------------
    final = build_from(model, dataclasses.replace(base, n_queries=None))
    for u in users:
        final.states[u] = UserState(model.views.view(u), themes_of(vectors[u], base.rubric))
    own = [[q for r in by_user[u] for q in interest_queries(r, space_kw)[:1]][:5] for u in users]
    other = own[1:] + own[:1]
    titles = world.news.column("title").to_pylist()
    title_lists = [[titles[int(i)] for i in rng.choice(len(titles), 5)] for _ in users]
    generic = [[GENERIC[int(i)] for i in rng.choice(len(GENERIC), 5, replace=False)] for _ in users]
    lists = {"own": own, "other": other, "generic": generic, "titles": title_lists}
    levels = {}
    for name, ls in lists.items():
        r = final.score(users, [json.dumps(x) for x in ls])
        ok = r.valid
        levels[name] = {s: round(float(r.raw[s][ok].mean()), 4) for s in r.raw}
        levels[name]["n_valid"] = int(ok.sum())
        if name in ("own", "generic"):
            levels[name]["align_quantiles_5_50_95"] = (
                np.quantile(r.raw["align"][ok], [0.05, 0.5, 0.95]).round(3).tolist()
            )
    report["lists"] = levels
    report["suggested"] = {
        "RubricConfig": {"theme_merge": chosen["theme_merge"],
                         "cov_threshold": chosen["cov_threshold"],
                         "spec_min_idf": report["spec"]["spec_min_idf"]},
        "align_range": [levels["generic"]["align_quantiles_5_50_95"][1],
                        levels["own"]["align_quantiles_5_50_95"][2]],
    }  # fmt: skip
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    if tmp:
        tmp.cleanup()


def user_vectors(model, users) -> dict:
    """user -> (distinct shown texts, counts, unit vectors [n, D]), embedding each text once."""
    from collections import Counter

    from jaxinterest.embed import embed

    per = {}
    for u in users:
        counts = Counter(model.views.view(u).texts)
        per[u] = (sorted(counts), np.array([counts[t] for t in sorted(counts)], float))
    todo = sorted({t for ts, _ in per.values() for t in ts if t not in model.title_row})
    vec = dict(zip(todo, embed(todo), strict=True)) if todo else {}
    out = {}
    for u, (ts, c) in per.items():
        rows = [
            model.title_vecs[model.title_row[t]] if t in model.title_row else vec[t] for t in ts
        ]
        out[u] = (ts, c, np.stack(rows) if rows else np.zeros((0, model.index.dim), np.float32))
    return out


def themes_of(vectors, rc):
    from jaxinterest.rewards.themes import major_themes

    ts, counts, vecs = vectors
    return major_themes(vecs, ts, counts, rc.theme_merge, rc.theme_min_share,
                        rc.theme_min_events, rc.max_themes)  # fmt: skip


def build_from(model, cfg):
    """A RewardModel sharing `model`'s index, statistics and views under another config."""
    from jaxinterest.rewards.model import RewardModel

    return RewardModel(
        cfg, model.index, model.stats, model.views, model.title_vecs, model.title_row,
        model.encoder,
    )  # fmt: skip


if __name__ == "__main__":
    main()
