"""The campaign ledger: one SQLite file (WAL) that records every step before the next one.

A job moves PENDING -> SUBMITTING (intent committed *before* the request is sent)
-> ACTIVE (run id committed) -> SUCCEEDED | FAILED, or to CANCELLED. A job found in
SUBMITTING after a crash may or may not have a run at the service: the runner
reconciles it by tag before it submits again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from tomocupy_gladier.campaign.manifest import Job
from tomocupy_gladier.errors import UserError

PENDING, SUBMITTING, ACTIVE = "PENDING", "SUBMITTING", "ACTIVE"
SUCCEEDED, FAILED, CANCELLED = "SUCCEEDED", "FAILED", "CANCELLED"
STATES = (PENDING, SUBMITTING, ACTIVE, SUCCEEDED, FAILED, CANCELLED)
OPEN_STATES = (PENDING, SUBMITTING, ACTIVE)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    key TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    dataset TEXT NOT NULL,
    param_set TEXT NOT NULL,
    params TEXT NOT NULL,
    state TEXT NOT NULL,
    run_id TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    created_at REAL NOT NULL,
    submitted_at REAL,
    finished_at REAL,
    updated_at REAL NOT NULL,
    summary TEXT
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, seq);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    key TEXT,
    kind TEXT NOT NULL,
    detail TEXT
);
"""


@dataclass(frozen=True)
class JobRow:
    """A job as the ledger knows it."""

    key: str
    dataset: str
    param_set: str
    params: dict[str, Any]
    state: str
    run_id: str | None
    attempts: int
    error: str | None
    submitted_at: float | None
    finished_at: float | None
    summary: dict[str, Any] | None = None  # what its run made (runs.summary.RunSummary), once it ended

    @property
    def job(self) -> Job:
        return Job(self.dataset, self.param_set, self.params)


class Ledger:
    """Durable record of one campaign. Safe to share between threads of one process."""

    def __init__(self, path: str | Path, *, synchronous: str = "FULL") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
        if "summary" not in columns:  # a ledger from before the run summaries
            self._db.execute("ALTER TABLE jobs ADD COLUMN summary TEXT")

    # -- plumbing -------------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _tx(self, statements: Iterable[tuple[str, tuple]]) -> list[int]:
        """Run statements in one committed transaction; return each one's rowcount."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                counts = [self._db.execute(sql, args).rowcount for sql, args in statements]
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return counts

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    @staticmethod
    def _event(key: str | None, kind: str, detail: str | None = None) -> tuple[str, tuple]:
        return ("INSERT INTO events (time, key, kind, detail) VALUES (?, ?, ?, ?)",
                (time.time(), key, kind, detail))

    # -- campaign metadata ------------------------------------------------------------------
    def set_meta(self, values: Mapping[str, Any]) -> None:
        self._tx([("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (k, json.dumps(v)))
                  for k, v in values.items()])

    def meta(self) -> dict[str, Any]:
        return {name: json.loads(value) for name, value in self._query("SELECT name, value FROM meta")}

    # -- jobs -------------------------------------------------------------------------------
    def add_jobs(self, jobs: Iterable[Job]) -> list[str]:
        """Record jobs as PENDING; a job already known (same key) is left alone.
        Returns the keys that were new."""
        now = time.time()
        jobs = list(jobs)
        (start,) = self._query("SELECT COALESCE(MAX(seq), -1) + 1 FROM jobs")[0]
        insert = ("INSERT OR IGNORE INTO jobs (key, seq, dataset, param_set, params, state, "
                  "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        statements = [(insert,
                       (j.key, start + i, j.dataset, j.param_set, json.dumps(dict(j.params), sort_keys=True),
                        PENDING, now, now)) for i, j in enumerate(jobs)]
        counts = self._tx(statements)
        added = [j.key for j, n in zip(jobs, counts) if n]
        if added:
            self._tx([self._event(None, "added", f"{len(added)} job(s)")])
        return added

    def jobs(self, states: Iterable[str] | None = None) -> list[JobRow]:
        """Jobs in manifest order, optionally only those in ``states``."""
        sql = f"SELECT {_JOB_COLUMNS} FROM jobs"
        args: tuple = ()
        if states is not None:
            states = tuple(states)
            sql += f" WHERE state IN ({','.join('?' * len(states))})"
            args = states
        rows = self._query(sql + " ORDER BY seq", args)
        return [_job_row(r) for r in rows]

    def job(self, key: str) -> JobRow:
        found = [j for j in self._jobs_by_key(key)]
        if not found:
            raise KeyError(key)
        return found[0]

    def _jobs_by_key(self, key: str) -> Iterator[JobRow]:
        rows = self._query(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE key = ?", (key,))
        return (_job_row(r) for r in rows)

    def counts(self) -> dict[str, int]:
        """Number of jobs in each state (every state present, zero included)."""
        counts = dict.fromkeys(STATES, 0)
        counts.update(dict(self._query("SELECT state, COUNT(*) FROM jobs GROUP BY state")))
        return counts

    # -- transitions (each one committed before it returns) ----------------------------------
    def _move(self, key: str, from_states: tuple[str, ...], sets: str, args: tuple,
              kind: str, detail: str | None = None) -> bool:
        """One transition, and its event, in one transaction; False if the job was not in
        ``from_states`` (nothing is written then)."""
        where = f"key = ? AND state IN ({','.join('?' * len(from_states))})"
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                count = self._db.execute(f"UPDATE jobs SET {sets}, updated_at = ? WHERE {where}",
                                         args + (time.time(), key) + from_states).rowcount
                if count == 1:
                    self._db.execute(*self._event(key, kind, detail))
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return count == 1

    def mark_submitting(self, key: str) -> bool:
        """Record the intent to submit (PENDING -> SUBMITTING); False if the job is not pending."""
        return self._move(key, (PENDING,), "state = ?, attempts = attempts + 1, submitted_at = ?",
                          (SUBMITTING, time.time()), "submitting")

    def mark_active(self, key: str, run_id: str, *, how: str = "submitted") -> bool:
        """Record the run id (SUBMITTING -> ACTIVE). ``how``: submitted or reconciled."""
        return self._move(key, (SUBMITTING,), "state = ?, run_id = ?, error = NULL", (ACTIVE, run_id),
                          how, run_id)

    def mark_adopted(self, key: str, run_id: str, *, how: str = "timer") -> bool:
        """A run started elsewhere (by a timer) for a pending job: PENDING -> ACTIVE."""
        return self._move(key, (PENDING,), "state = ?, run_id = ?, error = NULL, submitted_at = ?",
                          (ACTIVE, run_id, time.time()), how, run_id)

    def mark_pending(self, key: str, reason: str) -> bool:
        """Back to PENDING: the service has no run for this submission (safe to submit again)."""
        return self._move(key, (SUBMITTING,), "state = ?, error = ?", (PENDING, reason), "unsubmitted", reason)

    def mark_finished(self, key: str, state: str, error: str | None = None,
                      summary: Mapping[str, Any] | None = None) -> bool:
        """Record the result: SUCCEEDED, FAILED or CANCELLED (from any open state), with what
        the run made (``summary``: the axis and how it was decided, the folder, the quality)."""
        assert state in (SUCCEEDED, FAILED, CANCELLED)
        return self._move(key, OPEN_STATES, "state = ?, error = ?, finished_at = ?, summary = ?",
                          (state, error, time.time(), json.dumps(dict(summary)) if summary else None),
                          state.lower(), error)

    def reopen(self, states: Iterable[str]) -> int:
        """Put jobs in ``states`` (FAILED, CANCELLED) back to PENDING; their run id is kept
        in the event log. Returns how many."""
        states = tuple(s for s in states if s not in OPEN_STATES and s != SUCCEEDED)
        if not states:
            return 0
        keys = [j.key for j in self.jobs(states)]
        update = ("UPDATE jobs SET state = ?, run_id = NULL, error = NULL, finished_at = NULL, "
                  f"updated_at = ? WHERE key = ? AND state IN ({','.join('?' * len(states))})")
        statements = [(update,
                       (PENDING, time.time(), key) + states) for key in keys]
        statements += [self._event(key, "retry") for key in keys]
        self._tx(statements)
        return len(keys)

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the campaign's runner lock: two runners on one ledger could each take the
        other's in-flight submission for a lost one. The lock dies with its process (SIGKILL too).

        :raises UserError: another process holds it
        """
        lock_path = self.path.with_name(self.path.name + ".lock")
        with open(lock_path, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise UserError(f"campaign ledger {self.path.name} is in use by {holder}") from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}")
            handle.flush()
            yield

    def events(self, key: str | None = None) -> list[tuple[float, str | None, str, str | None]]:
        sql = "SELECT time, key, kind, detail FROM events"
        args: tuple = ()
        if key is not None:
            sql += " WHERE key = ?"
            args = (key,)
        return [tuple(r) for r in self._query(sql + " ORDER BY id", args)]


_JOB_COLUMNS = ("key, dataset, param_set, params, state, run_id, attempts, error, submitted_at, "
                "finished_at, summary")


def _job_row(row: tuple) -> JobRow:
    key, dataset, param_set, params, state, run_id, attempts, error, submitted_at, finished_at, summary = row
    return JobRow(key, dataset, param_set, json.loads(params), state, run_id, attempts, error, submitted_at,
                  finished_at, json.loads(summary) if summary else None)


def open_ledger(path: str | Path, *, must_exist: bool = True) -> Ledger:
    """Open a campaign's ledger; a missing one is a :class:`UserError` unless ``must_exist`` is False."""
    path = Path(path)
    if must_exist and not path.is_file():
        raise UserError(f"no campaign ledger at {path}")
    return Ledger(path)
