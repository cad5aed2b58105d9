"""One SQLite file shared by processes and threads: the base of the local backend's stores."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterable


class SQLiteFile:
    """A WAL-mode SQLite database with one connection that threads share under a lock.

    :param path: the database file (created with its parent folder)
    :param schema: SQL script creating the tables (``IF NOT EXISTS``)
    :param synchronous: the ``PRAGMA synchronous`` level, when not SQLite's default
    """

    def __init__(self, path: str | os.PathLike, schema: str, *, synchronous: str | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None,
                                   check_same_thread=False)
        self._lock = threading.RLock()
        self._use_wal()
        if synchronous:
            self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._db.executescript(schema)

    def _use_wal(self) -> None:
        """Switch a new database to WAL (the mode stays with the file). Two processes opening
        a new database at once may both try: the switch needs the file alone and SQLite does
        not wait for it (no busy handler), so a refused switch is tried again."""
        mode = self._db.execute("PRAGMA journal_mode").fetchone()[0]
        deadline = time.monotonic() + 30
        while str(mode).lower() != "wal":
            try:
                mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def _write(self, sql: str, args: Iterable[Any] = ()) -> int:
        with self._lock:
            return self._db.execute(sql, tuple(args)).rowcount

    def _read(self, sql: str, args: Iterable[Any] = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, tuple(args)).fetchall()

    _query = _read

    def _read_one(self, sql: str, args: Iterable[Any] = ()) -> tuple | None:
        rows = self._read(sql, args)
        return rows[0] if rows else None
