"""Validation of world files: every kind of bad input names file, row and field, or is skipped
with a count per reason (nothing dropped silently)."""

import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jaxinterest.data.io import load_noise_labels, load_world
from jaxinterest.data.schema import MAX_TEXT_CHARS, SchemaError
from jaxinterest.data.world import generate_world, make_config


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    out = tmp_path_factory.mktemp("schema") / "w"
    generate_world(make_config("tiny", n_users=40, n_news=800, seed=1), out, progress=False)
    return out


@pytest.fixture
def world(base, tmp_path):
    shutil.copytree(base, tmp_path / "w")
    return tmp_path / "w"


def _edit(path, column, fn):
    """Rewrite one column of a Parquet file through Python lists: fn(list) -> list."""
    t = pq.read_table(path)
    values = fn(t.column(column).to_pylist())
    i = t.column_names.index(column)
    pq.write_table(
        t.set_column(i, t.schema.field(column).name, pa.array(values, t.schema.field(column).type)),
        path,
    )


def _set(row, value):
    def fn(xs):
        xs[row] = value
        return xs

    return fn


def _err(world, **kw) -> SchemaError:
    with pytest.raises(SchemaError) as info:
        load_world(world, **kw)
    return info.value


def test_clean_world_loads(base):
    w = load_world(base)
    assert w.skipped == {} and len(w.events) > 0


def test_missing_column(world):
    t = pq.read_table(world / "events.parquet").drop(["text"])
    pq.write_table(t, world / "events.parquet")
    e = _err(world)
    assert e.file.endswith("events.parquet") and e.field == "text" and e.row is None
    assert "missing column" in str(e)
    assert _err(world, on_error="skip").field == "text"  # file-level: no row to skip


def test_wrong_type(world):
    t = pq.read_table(world / "events.parquet")
    i = t.column_names.index("timestamp")
    t = t.set_column(i, "timestamp", t.column("timestamp").cast(pa.string()))
    pq.write_table(t, world / "events.parquet")
    e = _err(world)
    assert e.field == "timestamp" and "wrong type" in e.message


@pytest.mark.parametrize(
    "column,value,field,reason",
    [
        ("domain", "email", "domain", "unknown domain"),
        ("text", None, "text", "null value"),
        ("text", "x" * (MAX_TEXT_CHARS + 1), "text", "longer than"),
        ("text", "bad\x00byte", "text", "NUL"),
        ("user_id", "", "user_id", "empty user id"),
        ("timestamp", 0, "timestamp", "outside the training window"),
    ],
)
def test_bad_event_row_raises_or_is_skipped(world, column, value, field, reason):
    _edit(world / "events.parquet", column, _set(7, value))
    e = _err(world)
    assert (e.file.endswith("events.parquet"), e.row, e.field) == (True, 7, field)
    assert reason in e.message
    n = pq.read_metadata(world / "events.parquet").num_rows
    w = load_world(world, on_error="skip")
    ((file, counts),) = w.skipped.items()
    assert file.endswith("events.parquet") and sum(counts.values()) == 1
    assert reason in next(iter(counts)) and len(w.events) == n - 1


@pytest.mark.parametrize("payload", [b"\xff\xfe", b"\xed\xa0\x80"])  # stray bytes, lone surrogate
def test_bad_unicode(world, payload):
    t = pq.read_table(world / "events.parquet")
    texts = [s.encode() for s in t.column("text").to_pylist()]
    texts[11] = b"query " + payload
    data = b"".join(texts)
    offs = np.concatenate([[0], np.cumsum([len(x) for x in texts])]).astype(np.int32)
    arr = pa.Array.from_buffers(
        pa.string(), len(texts), [None, pa.py_buffer(offs.tobytes()), pa.py_buffer(data)]
    )
    pq.write_table(
        t.set_column(t.column_names.index("text"), "text", arr), world / "events.parquet"
    )
    e = _err(world)
    assert (e.row, e.field) == (11, "text") and "UTF-8" in e.message
    w = load_world(world, on_error="skip")
    assert len(w.events) == len(t) - 1
    assert "query" not in " ".join(w.events.column("text").to_pylist()[10:12])


def test_timestamps_out_of_order(world):
    t = pq.read_table(world / "events.parquet")
    ts = t.column("timestamp").to_pylist()
    users = t.column("user_id").to_pylist()
    r = next(i for i in range(1, len(ts)) if users[i] == users[i - 1] and ts[i] > ts[i - 1] + 10)
    _edit(world / "events.parquet", "timestamp", _set(r, ts[r - 1] - 5))
    e = _err(world)
    assert (e.row, e.field) == (r, "timestamp") and "out of order" in e.message
    assert len(load_world(world, on_error="skip").events) == len(t) - 1


def test_user_order_is_a_file_level_error(world):
    t = pq.read_table(world / "events.parquet")
    pq.write_table(pa.concat_tables([t.slice(200), t.slice(0, 200)]), world / "events.parquet")
    e = _err(world, on_error="skip")
    assert e.field == "user_id" and "sorted" in e.message


def test_duplicate_event_id_and_over_limit(world):
    _edit(world / "events.parquet", "event_id", _set(5, 4))
    assert "duplicate event_id" in _err(world).message
    t = pq.read_table(world / "events.parquet")
    # 51 more search events for one user: the oldest beyond 50 are dropped and counted
    # (the paper's rule), or reported with strict=True
    u = t.column("user_id")[0].as_py()
    extra = t.slice(0, 1).to_pylist()[0]
    rows = [
        dict(
            extra,
            event_id=10_000_000 + i,
            domain="search",
            timestamp=extra["timestamp"],
            url=None,
            news_id=None,
            text=f"q{i}",
        )
        for i in range(51)
    ]
    t2 = pa.concat_tables([pa.Table.from_pylist(rows, schema=t.schema), t.slice(1)])
    t2 = t2.filter(pa.compute.not_equal(t2.column("event_id"), 4))
    pq.write_table(t2, world / "events.parquet")
    mine = t2.filter(pa.compute.equal(t2.column("user_id"), u))
    mine = mine.filter(pa.compute.equal(mine.column("domain"), "search"))
    n_search = len(mine)
    w = load_world(world)
    dropped = w.adjusted[str(world / "events.parquet")]
    assert sum(dropped.values()) == n_search - 50
    ev = w.events.filter(pa.compute.equal(w.events.column("user_id"), u))
    kept = ev.filter(pa.compute.equal(ev.column("domain"), "search"))
    assert len(kept) == 50
    # the dropped ones are the oldest: every kept timestamp >= every dropped one
    all_ts = sorted(mine.column("timestamp").to_pylist())
    assert min(kept.column("timestamp").to_pylist()) >= all_ts[-50]
    e = _err(world, strict=True)
    assert e.field == "domain" and "more than 50" in e.message


def test_empty_user_and_unknown_references(world):
    t = pq.read_table(world / "users.parquet")
    ghost = pa.table({"user_id": ["u_ghost"], "split": ["train"], "cold": [True]}, schema=t.schema)
    pq.write_table(pa.concat_tables([t, ghost]), world / "users.parquet")
    e = _err(world)
    assert e.file.endswith("users.parquet") and e.row == len(t) and "no events" in e.message
    w = load_world(world, on_error="skip")
    assert len(w.users) == len(t)
    _edit(world / "test_clicks.parquet", "news_id", _set(0, "N0000000"))  # a training article
    e = _err(world, on_error="raise")
    assert e.file.endswith("users.parquet")  # users are checked first
    w = load_world(world, on_error="skip")
    assert any(
        "not published in the test week" in k for k in w.skipped[str(world / "test_clicks.parquet")]
    )


def test_multiple_problems_counted_per_reason(world, capsys):
    def fn(xs):
        xs[3], xs[9], xs[20] = None, "y" * (MAX_TEXT_CHARS + 5), None
        return xs

    _edit(world / "events.parquet", "text", fn)
    _edit(world / "events.parquet", "domain", _set(30, "shopping"))
    n = pq.read_metadata(world / "events.parquet").num_rows
    w = load_world(world, on_error="skip")
    counts = dict(w.skipped[str(world / "events.parquet")])
    assert counts == {
        "text: null value": 2,
        f"text: string longer than {MAX_TEXT_CHARS} characters": 1,
        "domain: unknown domain (allowed: search, browse, click)": 1,
    }
    assert len(w.events) == n - 4
    assert "skipped 2 rows (text: null value)" in capsys.readouterr().err


def test_meta_and_labels(world):
    meta = json.loads((world / "meta.json").read_text())
    del meta["test_start"]
    (world / "meta.json").write_text(json.dumps(meta))
    e = _err(world)
    assert e.file.endswith("meta.json") and e.field == "test_start"
    _edit(world / "oracle" / "noise_labels.parquet", "keep", _set(2, 7))
    with pytest.raises(SchemaError, match="keep must be 0 or 1"):
        load_noise_labels(world)
    assert (
        len(load_noise_labels(world, on_error="skip"))
        == pq.read_metadata(world / "oracle" / "noise_labels.parquet").num_rows - 1
    )


def test_cold_flag_is_checked_against_training_clicks(world):
    """Flipping every user's cold flag would silently swap the cohorts: the loader derives the
    flag from the clicks (counting the disagreements), or rejects it with strict=True."""
    truth = load_world(world).users
    _edit(world / "users.parquet", "cold", lambda xs: [not x for x in xs])
    w = load_world(world)
    assert w.users.column("cold").to_pylist() == truth.column("cold").to_pylist()
    adjusted = w.adjusted[str(world / "users.parquet")]
    assert sum(adjusted.values()) == len(truth)
    e = _err(world, strict=True)
    assert e.file.endswith("users.parquet") and e.field == "cold" and e.row == 0
    assert "disagrees with the training clicks" in e.message


def test_pandas_style_columns_load(world):
    """An all-null column (Arrow type null) and category columns (dictionary-encoded strings)
    are what pandas writes naturally; both load as the schema's types."""
    news = pq.read_table(world / "news.parquet")
    i = news.column_names.index("abstract")
    news = news.set_column(i, pa.field("abstract", pa.null()), pa.nulls(len(news)))
    i = news.column_names.index("category")
    news = news.set_column(i, "category", news.column("category").dictionary_encode())
    assert pa.types.is_dictionary(news.schema.field("category").type)
    pq.write_table(news, world / "news.parquet")
    ev = pq.read_table(world / "events.parquet")
    i = ev.column_names.index("domain")
    pq.write_table(
        ev.set_column(i, "domain", ev.column("domain").dictionary_encode()),
        world / "events.parquet",
    )
    w = load_world(world)
    assert w.news.schema.field("abstract").type == pa.string()
    assert w.news.column("abstract").null_count == len(w.news)
    assert w.news.schema.field("category").type == pa.string()
    assert w.events.schema.field("domain").type == pa.string()
    assert set(w.events.column("domain").to_pylist()) == {"search", "browse", "click"}
    # a null-typed column that may not be null is still an error, named
    i = news.column_names.index("title")
    pq.write_table(
        news.set_column(i, pa.field("title", pa.null()), pa.nulls(len(news))),
        world / "news.parquet",
    )
    e = _err(world)
    assert e.field == "title" and "wrong type null" in e.message


def test_empty_events_file_is_named(world):
    ev = pq.read_table(world / "events.parquet")
    pq.write_table(ev.slice(0, 0), world / "events.parquet")
    e = _err(world)
    assert e.file.endswith("events.parquet") and "no rows" in e.message
