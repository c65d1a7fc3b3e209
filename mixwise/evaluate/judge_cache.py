"""A persistent SQLite cache of judge calls, so re-running an evaluation costs nothing.

The key is a SHA-256 of the judge id and version, the judge model, the full
message list and every sampling parameter (temperature, max_tokens, the
repeat index for re-judging). Each answer is committed as soon as it arrives,
so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path


def cache_key(judge_id: str, judge_version: int, model: str, messages: list[dict], params: dict) -> str:
    """The cache key of one call: everything that can change the judge's answer."""
    payload = {"judge": judge_id, "version": judge_version, "model": model, "messages": messages, "params": params}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class JudgeCache:
    """``key -> (text, prompt_tokens, completion_tokens)`` in one SQLite file."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, judge TEXT, model TEXT, text TEXT, "
            "prompt_tokens INTEGER, completion_tokens INTEGER, created REAL)"
        )
        self.db.commit()

    def get(self, key: str) -> tuple[str, int, int] | None:
        row = self.db.execute("SELECT text, prompt_tokens, completion_tokens FROM calls WHERE key = ?", (key,)).fetchone()
        return (row[0], row[1], row[2]) if row else None

    def put(self, key: str, judge: str, model: str, text: str, prompt_tokens: int, completion_tokens: int) -> None:
        self.db.execute("INSERT OR REPLACE INTO calls VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (key, judge, model, text, prompt_tokens, completion_tokens, time.time()))
        self.db.commit()

    def __len__(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM calls").fetchone()[0]

    def close(self) -> None:
        self.db.close()
