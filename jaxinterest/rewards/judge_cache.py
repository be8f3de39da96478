"""A persistent judge-answer cache: SQLite, keyed by sha256 of (judge model, prompt messages).

Only answers the server returned (HTTP 200) are stored, malformed ones included, so a rerun
reproduces every score and every fallback without a request. Transport failures (timeouts,
5xx, dead server) are not stored: a rerun tries again. Safe across threads (one connection per
call) and processes (SQLite locking); a corrupt or unreadable file raises naming it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from contextlib import closing
from pathlib import Path


def cache_key(model: str, messages: list[dict]) -> str:
    blob = json.dumps([model, messages], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


class JudgeCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._run(
                "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, model TEXT, answer TEXT)"
            )
        except sqlite3.DatabaseError as err:
            raise ValueError(f"judge cache {self.path} is not a usable SQLite file: {err}") from err

    def _run(self, sql: str, args: tuple = ()) -> list:
        """One statement on a fresh connection, committed and closed (thread-safe)."""
        with closing(sqlite3.connect(self.path, timeout=30.0)) as con:
            rows = con.execute(sql, args).fetchall()
            con.commit()
        return rows

    def get(self, key: str) -> str | None:
        rows = self._run("SELECT answer FROM answers WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def put(self, key: str, model: str, answer: str) -> None:
        self._run(
            "INSERT OR REPLACE INTO answers (key, model, answer) VALUES (?, ?, ?)",
            (key, model, answer),
        )

    def __len__(self) -> int:
        return int(self._run("SELECT COUNT(*) FROM answers")[0][0])
