"""Column access that works on a pyarrow Table or on a plain mapping of column name -> values.

World tables are pyarrow Tables; tests and small callers pass dicts of lists. Code that reads
a few columns row by row (cleaning, evaluation, rewards, baselines) takes either through these.
"""

from __future__ import annotations


def column(table, name: str) -> list:
    """One column of a pyarrow Table or a mapping of columns, as a Python list."""
    try:
        col = table[name]
    except (KeyError, TypeError) as err:
        names = getattr(table, "column_names", None) or list(getattr(table, "keys", list)())
        raise KeyError(f"table has no column {name!r} (it has {names})") from err
    return col.to_pylist() if hasattr(col, "to_pylist") else list(col)


def num_rows(table, probe: str = "text") -> int:
    """Rows of a pyarrow Table, or the length of column `probe` of a mapping."""
    return table.num_rows if hasattr(table, "num_rows") else len(column(table, probe))
