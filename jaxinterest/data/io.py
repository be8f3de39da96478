"""Reading a world directory with validation; the only readers of `oracle/`.

`load_world(dir, on_error="raise"|"skip", parts=...)` returns a `World` of pyarrow tables. The
prompt/training pipeline asks only for ("events", "users") so it never touches test clicks or
the oracle. Cross-file checks (unknown users, news ids, users without events) run when both
files are loaded. See docs/data.md for the layout.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from jaxinterest.data import checks as C
from jaxinterest.data import schema as S
from jaxinterest.data.schema import Problems, SchemaError, to_numpy

FILES = {
    "news": "news.parquet",
    "events": "events.parquet",
    "users": "users.parquet",
    "test_clicks": "test_clicks.parquet",
}
META_KEYS = ("train_start", "train_end", "test_start", "test_end")


@dataclass
class World:
    path: Path
    meta: dict
    news: pa.Table | None = None
    events: pa.Table | None = None
    users: pa.Table | None = None
    test_clicks: pa.Table | None = None
    skipped: dict[str, Counter] = field(default_factory=dict)  # file -> reason -> rows
    # rows dropped or values replaced by documented rules (not errors): file -> reason -> rows
    adjusted: dict[str, Counter] = field(default_factory=dict)

    def user_slices(self) -> tuple[list[str], np.ndarray]:
        """Events are sorted by user: ([n_users] ids, [n_users + 1] row offsets into events)."""
        u = self.events.column("user_id")
        starts = np.flatnonzero(to_numpy(pc.not_equal(u[1:], u[:-1]))) + 1 if len(u) > 1 else []
        offsets = (
            np.concatenate([[0], starts, [len(u)]]).astype(np.int64)
            if len(u)
            else np.zeros(1, np.int64)
        )
        ids = u.take(pa.array(offsets[:-1])).to_pylist() if len(u) else []
        return ids, offsets


def load_meta(path: str | Path) -> dict:
    p = Path(path) / "meta.json"
    if not p.exists():
        raise SchemaError(p, None, None, "file missing")
    try:
        meta = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise SchemaError(p, None, None, f"not valid JSON: {err}") from err
    for k in META_KEYS:
        if not isinstance(meta.get(k), int):
            raise SchemaError(p, None, k, "missing or not an integer (unix seconds)")
    return meta


def _read(path: Path, name: str, on_error: str) -> tuple[pa.Table, Problems]:
    """Read one Parquet file and run the generic checks. Invalid UTF-8 is found row by row."""
    if not path.exists():
        raise SchemaError(path, None, None, "file missing")
    try:
        table = _read_row_groups(path)
        # the reader does not validate every page's UTF-8, so check the decoded columns
        bad_utf8 = {} if _utf8_ok(table) else _read_binary(path)[1]
        if bad_utf8:
            table = _read_binary(path)[0]
    except pa.ArrowInvalid as err:
        if "utf8" not in str(err).lower():
            raise SchemaError(path, None, None, f"unreadable Parquet: {err}") from err
        table, bad_utf8 = _read_binary(path)
    if not bad_utf8:
        S.check_columns(table, name, str(path))
        table = S.normalize_types(table, name)
    if len(table) == 0 and name in ("news", "events", "users"):
        raise SchemaError(path, None, None, "the file has no rows")
    probs = Problems(str(path), len(table), on_error)
    for col, mask in bad_utf8.items():
        probs.add(mask, col, "invalid UTF-8 (e.g. a lone surrogate or stray byte)")
    if bad_utf8:  # back to strings, with the bad rows blanked so casting succeeds
        table = _restore_strings(table, probs.keep)
        S.check_columns(table, name, str(path))
        table = S.normalize_types(table, name)
    S.check_rows(table, name, probs)
    return table, probs


def _read_row_groups(path: Path) -> pa.Table:
    """Read group by group: peak memory ~ table + one group (a whole-file read decodes all
    groups at once and peaks near twice the table at the paper preset's size)."""
    f = pq.ParquetFile(path)
    if f.num_row_groups <= 1:
        return f.read()
    return pa.concat_tables([f.read_row_group(i) for i in range(f.num_row_groups)])


def _utf8_ok(table: pa.Table) -> bool:
    for col in table.columns:
        try:
            for chunk in col.chunks:
                chunk.validate(full=True)
        except pa.ArrowInvalid:
            return False
    return True


def _read_binary(path: Path) -> tuple[pa.Table, dict[str, np.ndarray]]:
    """Read string columns as bytes and mark rows whose bytes are not valid UTF-8."""
    sch = pq.read_schema(path)
    fields = []
    for f in sch:
        t = f.type
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            t = pa.binary()
        elif pa.types.is_list(t) and pa.types.is_string(t.value_type):
            t = pa.list_(pa.binary())
        fields.append(pa.field(f.name, t))
    table = pq.read_table(path, schema=pa.schema(fields))
    bad = {}
    for f in fields:
        if f.type not in (pa.binary(), pa.list_(pa.binary())):
            continue
        col = table.column(f.name).combine_chunks()
        flat = pc.list_flatten(col) if f.type == pa.list_(pa.binary()) else col
        mask = np.zeros(len(flat), bool)
        step = 65536
        for lo in range(0, len(flat), step):  # fast path per block, Python only on bad blocks
            part = flat.slice(lo, step)
            try:
                part.cast(pa.string())
            except pa.ArrowInvalid:
                for i, v in enumerate(part.to_pylist()):
                    try:
                        v is None or v.decode("utf-8")
                    except UnicodeDecodeError:
                        mask[lo + i] = True
        if f.type == pa.list_(pa.binary()):
            rows = np.zeros(len(col), bool)
            rows[to_numpy(pc.list_parent_indices(col))[mask]] = True
            mask = rows
        if mask.any():
            bad[f.name] = mask
    return table, bad


def _restore_strings(table: pa.Table, ok: np.ndarray) -> pa.Table:
    cols = []
    for name in table.column_names:
        col = table.column(name).combine_chunks()
        if col.type == pa.binary():
            col = pc.if_else(pa.array(ok), col, pa.scalar(b"", pa.binary())).cast(pa.string())
        elif col.type == pa.list_(pa.binary()):
            col = pc.if_else(pa.array(ok), col, pa.scalar([], pa.list_(pa.binary())))
            col = col.cast(pa.list_(pa.string()))
        cols.append(col)
    return pa.table(cols, names=table.column_names)


def _finish(table: pa.Table, probs: Problems, name: str, world: World) -> pa.Table:
    """Drop skipped and truncated rows (reporting counts) and cast to the canonical types."""
    if probs.counts:
        world.skipped[probs.file] = probs.counts
        for reason, n in sorted(probs.counts.items()):
            print(f"{probs.file}: skipped {n} rows ({reason})", file=sys.stderr)
    if probs.truncated:
        world.adjusted[probs.file] = probs.truncated
        for reason, n in sorted(probs.truncated.items()):
            print(f"{probs.file}: dropped {n} rows ({reason})", file=sys.stderr)
    if probs.counts or probs.truncated:
        table = table.filter(pa.array(probs.keep))
    target = S.ARROW[name]
    cols = [table.column(f.name).cast(f.type) for f in target]
    extra = [c for c in table.column_names if c not in target.names]
    return pa.table(cols + [table.column(c) for c in extra], names=target.names + extra)


def load_world(
    path: str | Path,
    *,
    on_error: str = "raise",
    parts: tuple[str, ...] = ("news", "events", "users", "test_clicks"),
    strict: bool = False,
) -> World:
    """Load and validate a world directory (never reads oracle/).

    on_error: "raise" -> SchemaError at the first bad row; "skip" -> bad rows are dropped,
    counted per reason in World.skipped and printed to stderr.
    Two documented rules adjust real logs instead of rejecting them (counted in
    World.adjusted and printed): a user's events beyond the 50 most recent per domain are
    dropped, and users.cold is derived from the training clicks where the file disagrees.
    strict=True turns both into errors.
    """
    path = Path(path)
    unknown = set(parts) - set(FILES)
    if unknown:
        raise ValueError(f"unknown parts {sorted(unknown)}; choose from {list(FILES)}")
    meta = load_meta(path)
    world = World(path=path, meta=meta)
    raw = {name: _read(path / FILES[name], name, on_error) for name in FILES if name in parts}
    if "news" in raw:
        t, p = raw["news"]
        C.check_news(t, p)
        world.news = _finish(t, p, "news", world)
    if "users" in raw:
        C.check_users(*raw["users"])
    if "events" in raw:
        t, p = raw["events"]
        C.check_events(t, p, meta, strict)
        if "users" in raw:
            C.check_refs(p, t, "user_id", raw["users"][0].column("user_id"), "user (not in users)")
        if world.news is not None:
            C.check_refs(p, t, "news_id", world.news.column("news_id"), "news_id (not in news)")
        world.events = _finish(t, p, "events", world)
    if "users" in raw:
        t, p = raw["users"]
        if world.events is not None:
            C.check_users_have_events(t, p, pc.unique(world.events.column("user_id")))
        world.users = _finish(t, p, "users", world)
        if world.events is not None:
            world.users = _derive_cold(world, strict)
    if "test_clicks" in raw:
        t, p = raw["test_clicks"]
        C.check_test_clicks(t, p, meta)
        if world.users is not None:
            C.check_refs(p, t, "user_id", world.users.column("user_id"), "user (not in users)")
        if world.news is not None:
            C.check_refs(p, t, "news_id", world.news.column("news_id"), "news_id (not in news)")
            C.check_fresh(t, p, world.news, meta)
        world.test_clicks = _finish(t, p, "test_clicks", world)
    return world


def _derive_cold(world: World, strict: bool) -> pa.Table:
    file = str(world.path / FILES["users"])
    users, n_bad, first = C.check_cold_flags(world.users, world.events, world.meta, file, strict)
    if n_bad:
        world.adjusted.setdefault(file, Counter())["cold: flag disagrees with training clicks"] = (
            n_bad
        )
        example = users.column("user_id")[int(first[0])].as_py()
        print(
            f"{file}: {n_bad} users' cold flag disagrees with their training clicks (e.g. "
            f"{example!r}); using the flag derived from the clicks (--strict to reject)",
            file=sys.stderr,
        )
    return users


def load_noise_labels(path: str | Path, *, on_error: str = "raise") -> pa.Table:
    """oracle/noise_labels.parquet (event_id, keep int8 in {0, 1}, kind). Noise cleaning only."""
    p = Path(path) / "oracle" / "noise_labels.parquet"
    t, probs = _read(p, "noise_labels", on_error)
    keep = to_numpy(t.column("keep"))
    probs.add(~np.isin(keep, (0, 1)), "keep", "keep must be 0 or 1")
    probs.add(C.duplicates(t.column("event_id")), "event_id", "duplicate event_id")
    if probs.counts:
        for reason, n in sorted(probs.counts.items()):
            print(f"{p}: skipped {n} rows ({reason})", file=sys.stderr)
        t = t.filter(pa.array(probs.keep))
    return t.set_column(t.column_names.index("keep"), "keep", t.column("keep").cast(pa.int8()))


def load_oracle_interests(path: str | Path) -> pa.Table:
    """oracle/interests.parquet: latent interests. World generator and diagnostics only."""
    p = Path(path) / "oracle" / "interests.parquet"
    if not p.exists():
        raise SchemaError(p, None, None, "file missing")
    return pq.read_table(p)
