"""The world's file schema and row-level validation (docs/data.md documents it for researchers).

`check_table(table, spec, file, on_error)` runs the generic checks (missing columns, wrong types,
nulls, over-long strings, bad unicode) and returns a boolean keep mask plus a count per reason;
table-specific checks (unknown domains, order, duplicates, cross-file references) live in
`io.py` and use the same `Problems` collector. With on_error="raise" the first problem raises a
`SchemaError` naming file, row (0-based data row) and field; with "skip" bad rows are dropped
and every dropped row is counted under its reason: nothing disappears silently.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SCHEMA_VERSION = 1
DOMAINS = ("search", "browse", "click")
SPLITS = ("train", "valid")
MAX_TEXT_CHARS = 2000  # query, page title, article title
MAX_URL_CHARS = 2048
MAX_ABSTRACT_CHARS = 10000
MAX_ID_CHARS = 128
MAX_EVENTS_PER_DOMAIN = 50

EVENTS_SCHEMA = pa.schema(
    [
        ("event_id", pa.int64()),
        ("user_id", pa.string()),
        ("domain", pa.string()),
        ("timestamp", pa.int64()),
        ("text", pa.string()),
        ("url", pa.string()),
        ("news_id", pa.string()),
    ]
)
NEWS_SCHEMA = pa.schema(
    [
        ("news_id", pa.string()),
        ("title", pa.string()),
        ("abstract", pa.string()),
        ("category", pa.string()),
        ("entities", pa.list_(pa.string())),
        ("published", pa.int64()),
    ]
)
USERS_SCHEMA = pa.schema([("user_id", pa.string()), ("split", pa.string()), ("cold", pa.bool_())])
TEST_CLICKS_SCHEMA = pa.schema(
    [("user_id", pa.string()), ("news_id", pa.string()), ("timestamp", pa.int64())]
)
LABELS_SCHEMA = pa.schema(
    [
        ("event_id", pa.int64()),
        ("keep", pa.int8()),
        ("kind", pa.string()),
        ("phrasing", pa.string()),
    ]
)


class SchemaError(ValueError):
    """A file breaks the schema. `row` is the 0-based data row (None for file-level problems)."""

    def __init__(self, file: str, row: int | None, field: str | None, message: str):
        self.file, self.row, self.field, self.message = str(file), row, field, message
        where = f"row {row}" if row is not None else "file"
        super().__init__(f"{file}: {where}, field {field!r}: {message}")


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # "string" | "int" | "bool" | "list_string"
    nullable: bool = False
    max_chars: int | None = None


SPECS = {
    "events": (
        Field("event_id", "int"),
        Field("user_id", "string", max_chars=MAX_ID_CHARS),
        Field("domain", "string", max_chars=16),
        Field("timestamp", "int"),
        Field("text", "string", max_chars=MAX_TEXT_CHARS),
        Field("url", "string", nullable=True, max_chars=MAX_URL_CHARS),
        Field("news_id", "string", nullable=True, max_chars=MAX_ID_CHARS),
    ),
    "news": (
        Field("news_id", "string", max_chars=MAX_ID_CHARS),
        Field("title", "string", max_chars=MAX_TEXT_CHARS),
        Field("abstract", "string", nullable=True, max_chars=MAX_ABSTRACT_CHARS),
        Field("category", "string", max_chars=MAX_ID_CHARS),
        Field("entities", "list_string", nullable=True, max_chars=MAX_TEXT_CHARS),
        Field("published", "int"),
    ),
    "users": (
        Field("user_id", "string", max_chars=MAX_ID_CHARS),
        Field("split", "string"),
        Field("cold", "bool"),
    ),
    "test_clicks": (
        Field("user_id", "string", max_chars=MAX_ID_CHARS),
        Field("news_id", "string", max_chars=MAX_ID_CHARS),
        Field("timestamp", "int"),
    ),
    "noise_labels": (Field("event_id", "int"), Field("keep", "int")),
}
ARROW = {
    "events": EVENTS_SCHEMA,
    "news": NEWS_SCHEMA,
    "users": USERS_SCHEMA,
    "test_clicks": TEST_CLICKS_SCHEMA,
}


class Problems:
    """Collects bad rows per reason; raises at once in "raise" mode."""

    def __init__(self, file: str, n_rows: int, on_error: str):
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.file, self.on_error = file, on_error
        self.keep = np.ones(n_rows, bool)
        self.counts: Counter[str] = Counter()
        self.truncated: Counter[str] = Counter()  # rows dropped by a rule, not an error

    def add(self, bad: np.ndarray, field: str, reason: str, detail=None) -> None:
        """bad: [n_rows] bool mask of rows with this problem (only rows still kept count)."""
        bad = np.asarray(bad, bool) & self.keep
        if not bad.any():
            return
        if self.on_error == "raise":
            row = int(np.flatnonzero(bad)[0])
            msg = reason if detail is None else f"{reason} ({detail(row)})"
            raise SchemaError(self.file, row, field, msg)
        self.counts[f"{field}: {reason}"] += int(bad.sum())
        self.keep &= ~bad

    def truncate(self, drop: np.ndarray, reason: str) -> None:
        """Drop rows by a documented rule in both modes (e.g. the 50-most-recent cap),
        counted apart from errors."""
        drop = np.asarray(drop, bool) & self.keep
        if drop.any():
            self.truncated[reason] += int(drop.sum())
            self.keep &= ~drop


def _type_ok(kind: str, t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):  # pandas "category" columns
        return _type_ok(kind, t.value_type)
    if kind == "string":
        return pa.types.is_string(t) or pa.types.is_large_string(t)
    if kind == "int":
        return pa.types.is_integer(t)
    if kind == "bool":
        return pa.types.is_boolean(t)
    if kind == "list_string":
        return (pa.types.is_list(t) or pa.types.is_large_list(t)) and _type_ok(
            "string", t.value_type
        )
    return False


def check_columns(table: pa.Table, name: str, file: str) -> None:
    """Missing columns and wrong types are file-level errors in both modes."""
    for f in SPECS[name]:
        if f.name not in table.column_names:
            raise SchemaError(file, None, f.name, f"missing column (have {table.column_names})")
        t = table.schema.field(f.name).type
        if pa.types.is_null(t) and f.nullable:  # an all-null column as pandas writes it
            continue
        if not _type_ok(f.kind, t):
            raise SchemaError(file, None, f.name, f"wrong type {t}, expected {f.kind}")


def normalize_types(table: pa.Table, name: str) -> pa.Table:
    """Decode dictionary (category) columns and give all-null columns the spec's type, so the
    row checks and every reader see plain types. Call after `check_columns`."""
    arrow = ARROW.get(name)
    for i, f in enumerate(table.schema):
        target = None
        if pa.types.is_dictionary(f.type):
            target = f.type.value_type
        elif pa.types.is_null(f.type) and arrow is not None and f.name in arrow.names:
            target = arrow.field(f.name).type
        if target is not None:
            table = table.set_column(i, pa.field(f.name, target), table.column(i).cast(target))
    return table


def check_rows(table: pa.Table, name: str, probs: Problems) -> None:
    """Null, over-long and NUL-containing values, per field."""
    for f in SPECS[name]:
        col = table.column(f.name)
        if not f.nullable:
            probs.add(to_numpy(pc.is_null(col)), f.name, "null value")
        if f.kind == "string" and f.max_chars:
            long = to_numpy(pc.fill_null(pc.greater(pc.utf8_length(col), f.max_chars), False))
            probs.add(long, f.name, f"string longer than {f.max_chars} characters")
            nul = to_numpy(pc.fill_null(pc.match_substring(col, "\x00"), False))
            probs.add(nul, f.name, "NUL character")
        if f.kind == "list_string" and f.max_chars:
            flat = pc.list_flatten(col)
            long = pc.fill_null(pc.greater(pc.utf8_length(flat), f.max_chars), False)
            parent = to_numpy(pc.list_parent_indices(col))
            bad = np.zeros(len(table), bool)
            bad[parent[to_numpy(long)]] = True
            probs.add(bad, f.name, f"list item longer than {f.max_chars} characters")


def to_numpy(a) -> np.ndarray:
    """A pyarrow array or chunked array as numpy (zero-copy where Arrow allows it)."""
    if isinstance(a, pa.ChunkedArray):
        a = a.combine_chunks()
    return a.to_numpy(zero_copy_only=False)
