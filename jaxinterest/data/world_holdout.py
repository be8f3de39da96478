"""A time split of a world's users, written as a world directory (`write_holdout_world`).

It lives beside the generator, not in `train/`, because it writes oracle/ (a copy cut like the
events): no training code imports it (tests/test_oracle_boundary.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq


def write_holdout_world(src, dst, days: int = 7) -> dict:
    """Writes to `dst` the world directory of `holdout_world(load_world(src), days, None)`:
    every user's events before the cut, their fresh clicks after it as `test_clicks`, the cut
    meta, the news, and oracle/ cut alike (noise labels of the kept events, the interests as
    they are). Returns its meta.

    A time split of the same users, on disk, so a whole pipeline (clean, SFT, GRPO,
    distillation) trains on the window before the cut and is scored on the days after it: the
    users it trained on, later, as the test week scores them. `holdout_world`'s `valid` users
    answer another question (users never trained on). The real test week is not copied. Each
    user's cold flag is derived again from the clicks before the cut."""
    from jaxinterest.data.checks import check_cold_flags
    from jaxinterest.data.io import FILES, load_world
    from jaxinterest.data.world import PARQUET
    from jaxinterest.train.validation import holdout_world

    src, dst = Path(src), Path(dst)
    cut = holdout_world(load_world(src, parts=("news", "events", "users")), days, split=None)
    users, _, _ = check_cold_flags(cut.users, cut.events, cut.meta, FILES["users"], strict=False)
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "oracle").mkdir(parents=True)
    tables = {
        "news": cut.news,
        "events": cut.events,
        "users": users,
        "test_clicks": cut.test_clicks,
    }
    for name, table in tables.items():
        pq.write_table(table, tmp / FILES[name], **PARQUET)
    labels = pq.read_table(src / "oracle" / "noise_labels.parquet")
    kept = pc.is_in(labels.column("event_id"), value_set=cut.events.column("event_id"))
    pq.write_table(labels.filter(kept), tmp / "oracle" / "noise_labels.parquet", **PARQUET)
    shutil.copyfile(src / "oracle" / "interests.parquet", tmp / "oracle" / "interests.parquet")
    meta = cut.meta | {"holdout": cut.meta["holdout"] | {"source": str(src)}}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    shutil.rmtree(dst, ignore_errors=True)
    tmp.rename(dst)
    return meta
