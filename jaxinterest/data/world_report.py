"""What a generated world offers a recommender, measured while it is generated.

The generator knows, for every test-week click, which latent interest it came from and how the
clicked article matches it, and for every interest what it showed of itself in each domain of
the training month. `WorldReport` gathers those per chunk and `finish` turns them into the
`generation` part of `report.json`: where test clicks come from, how many of them only a
reader of browsing and clicks could foresee (the cross-domain share), how late emerging
interests appear, and how many fresh articles each live interest has to be found among.
The measured ceiling (`jaxinterest world --report`) is added next to it by `eval/ceiling.py`.
"""

from __future__ import annotations

import numpy as np

from jaxinterest.data.world_context import Context, pair_key
from jaxinterest.data.world_test_week import SOURCES
from jaxinterest.data.world_users import DAY, K_MAX

INTEREST_SOURCES = ("pair", "entity", "subtopic", "wander")


def _dist(x: np.ndarray) -> dict:
    x = np.asarray(x, np.float64)
    if not len(x):
        return {"n": 0}
    q = np.percentile(x, [10, 50, 90])
    return {
        "n": len(x),
        "mean": round(float(x.mean()), 3),
        "p10": float(q[0]),
        "median": float(q[1]),
        "p90": float(q[2]),
    }


class WorldReport:
    """Accumulates per-chunk generation facts; `finish` returns the report dict."""

    def __init__(self, n_users: int):
        self.slot_counts = np.zeros((n_users, K_MAX, 3), np.int64)
        self.first_seen = np.zeros((n_users, K_MAX), np.int64)
        self.click_user, self.click_slot, self.click_source = [], [], []

    def add_chunk(self, lo: int, part: dict, provenance: dict) -> None:
        hi = lo + len(part["slot_counts"])
        self.slot_counts[lo:hi] = part["slot_counts"]
        self.first_seen[lo:hi] = part["slot_first_seen"]
        self.click_user.append(lo + provenance["user"])
        self.click_slot.append(provenance["slot"])
        self.click_source.append(provenance["source"])

    def finish(self, ctx: Context) -> dict:
        us = ctx.users
        user = np.concatenate(self.click_user)
        slot = np.concatenate(self.click_slot)
        source = np.concatenate(self.click_source)
        n = max(len(source), 1)
        shares = {s: round(float((source == i).sum() / n), 4) for i, s in enumerate(SOURCES)}
        from_interest = source < len(INTEREST_SOURCES)
        seen = self.slot_counts[user, slot]  # [m, 3] the source interest's training events
        blind = from_interest & (seen[:, 0] == 0) & (seen[:, 1:].sum(1) > 0)
        unseen = from_interest & (seen.sum(1) == 0)
        # per user: share of their test clicks that only browsing/click readers could foresee
        totals = np.bincount(user, minlength=len(us.ids))
        per_user = np.bincount(user, weights=blind, minlength=len(us.ids))[totals > 0]
        per_user = per_user / totals[totals > 0]
        emerging = (us.kind == 2) & (us.weight > 0)
        late = (ctx.train_end - self.first_seen[emerging]) / DAY
        late = late[self.slot_counts[emerging].sum(1) > 0]
        return {
            "test_click_sources": shares,
            "cross_domain": {
                "definition": "test clicks from an interest with browse/click events but no "
                "search event in the training month",
                "share_of_all_test_clicks": round(float(blind.sum() / n), 4),
                "share_of_interest_clicks": round(
                    float(blind.sum() / max(from_interest.sum(), 1)), 4
                ),
                "per_user_share": _dist(per_user),
                "unexpressed_share_of_all_test_clicks": round(float(unseen.sum() / n), 4),
            },
            "emerging_first_seen_days_before_test": _dist(late),
            "candidates_per_live_interest": self._candidates(ctx),
            "interests_per_user": {
                "all": round(float((us.weight > 0).sum(1).mean()), 3),
                "alive_in_test_week": round(float(self._alive(ctx).sum(1).mean()), 3),
            },
            "search_blind_interests": round(
                float(((self.slot_counts[:, :, 0] == 0) & (us.weight > 0)).sum())
                / max(int((us.weight > 0).sum()), 1),
                4,
            ),
        }

    @staticmethod
    def _alive(ctx: Context) -> np.ndarray:
        return (ctx.users.weight > 0) & (ctx.users.t1 >= ctx.test_start)

    @staticmethod
    def _candidates(ctx: Context) -> dict:
        """Fresh test-week articles sharing each live interest's entity+sub-topic / entity /
        sub-topic: how many articles an interest's clicks spread over."""
        us, news, sp = ctx.users, ctx.news, ctx.space
        fresh = news.published >= ctx.test_start
        alive = WorldReport._alive(ctx)
        ent, sub = us.entity[alive], us.sub[alive]
        by_ent = np.bincount(news.entity[fresh & (news.entity >= 0)], minlength=sp.n_entities)
        by_sub = np.bincount(news.sub[fresh & (news.sub >= 0)], minlength=sp.n_subtopics)
        keys = pair_key(sp, news.entity[fresh], news.sub[fresh])
        uniq, cnt = np.unique(keys[keys >= 0], return_counts=True)
        want = pair_key(sp, ent, sub)
        pos = np.clip(np.searchsorted(uniq, want), 0, max(len(uniq) - 1, 0))
        by_pair = np.where((want >= 0) & (uniq[pos] == want), cnt[pos], 0) if len(uniq) else 0
        has = ent >= 0
        return {
            "pair": _dist(np.asarray(by_pair)[has]),
            "entity": _dist(by_ent[ent[has]]),
            "subtopic": _dist(by_sub[sub]),
            "test_week_articles": int(fresh.sum()),
        }


def write_report(out, parts: dict) -> dict:
    """Merge `parts` into OUT/report.json (other parts kept) and return the whole report."""
    import json
    from pathlib import Path

    path = Path(out) / "report.json"
    report = json.loads(path.read_text()) if path.exists() else {}
    report.update(parts)
    path.write_text(json.dumps(report, indent=2) + "\n")
    return report
