"""Durable record of flows, runs and per-state log entries (SQLite in WAL mode).

Run records are shaped like the Globus Flows service's, so code that reads a production run
(``status``, ``details.code``, ``details.output[...]``) reads a local one unchanged. Any
process can open the same file: a CLI follows a run that another process executes.

A run is owned by the process executing it (pid, its start time and the host). After each
state the runner records where the run goes next and its state (``checkpoint``, in the same
transaction as that state's log entries). When the store is opened, every ACTIVE run whose
owner on this host is gone is made INACTIVE with code :data:`WORKER_LOST`: it waits to be
resumed from its checkpoint (:meth:`RunStore.take_over`), so that no run stays ACTIVE with no
process and none is lost with its process.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import sqlite3
import uuid
from collections.abc import Sequence
from typing import Any

from .errors import SelectionError, UnknownFlowError, UnknownRunError
from .interpreter import RunOutcome
from .sqlite import SQLiteFile
from .timestamps import now_iso

_SCHEMA = """
CREATE TABLE IF NOT EXISTS flows (
    flow_id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    definition TEXT NOT NULL,
    input_schema TEXT NOT NULL,
    checksum TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    flow_id TEXT NOT NULL,
    flow_title TEXT,
    status TEXT NOT NULL,
    label TEXT,
    tags TEXT NOT NULL,
    start_time TEXT NOT NULL,
    completion_time TEXT,
    details TEXT NOT NULL,
    input TEXT NOT NULL,
    username TEXT,
    owner_pid INTEGER,
    owner_start TEXT,
    owner_host TEXT,
    checkpoint TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_time ON runs(start_time);
CREATE TABLE IF NOT EXISTS logs (
    entry_id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    time TEXT NOT NULL,
    code TEXT NOT NULL,
    description TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_by_run ON logs(run_id, entry_id);
CREATE TABLE IF NOT EXISTS selections (
    action_id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    state_name TEXT,
    request TEXT NOT NULL,
    options TEXT NOT NULL,
    landing_page_url TEXT,
    status TEXT NOT NULL,
    chosen TEXT,
    chosen_by TEXT,
    created TEXT NOT NULL,
    decided TEXT
);
CREATE INDEX IF NOT EXISTS selections_by_run ON selections(run_id, created);
CREATE TABLE IF NOT EXISTS consents (
    collection_id TEXT PRIMARY KEY,
    granted TEXT NOT NULL
);
"""

WORKER_LOST = "WorkerLost"
"""``details.code`` of an INACTIVE run whose worker ended before the run did (ours: Flows has
no such state); it resumes from its last completed state."""

_RUN_COLUMNS = ("run_id, flow_id, flow_title, status, label, tags, start_time, completion_time, "
                "details, input, username, owner_pid, owner_start, owner_host")


def process_start_time(pid: int) -> str | None:
    """Start time of ``pid`` in clock ticks since boot (Linux), to tell a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return fields[19]  # field 22 of the whole line
    except (OSError, IndexError):
        return None


def process_alive(pid: int, start: str | None) -> bool:
    """True when ``pid`` is running, is not a zombie and (if known) started at ``start``."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
    except (OSError, IndexError):
        return True  # no /proc: trust kill(0)
    return start is None or process_start_time(pid) == start


class RunStore(SQLiteFile):
    """Flows, runs and logs in one SQLite file; safe to open from several processes.

    :param path: the database file (created with its parent folder)
    :param recover: mark runs of dead owners FAILED on open
    """

    def __init__(self, path: str | os.PathLike, recover: bool = True) -> None:
        super().__init__(path, _SCHEMA, synchronous="NORMAL")
        self._host = socket.gethostname()
        columns = {row[1] for row in self._read("PRAGMA table_info(runs)")}
        if "checkpoint" not in columns:  # a store written before runs were resumable
            try:
                self._write("ALTER TABLE runs ADD COLUMN checkpoint TEXT")
            except sqlite3.OperationalError as exc:  # another process added it first
                if "duplicate column" not in str(exc):
                    raise
        if recover:
            self.recover_interrupted()

    # ------------------------------------------------------------------ flows

    def put_flow(self, flow_id: str, title: str, definition: dict, input_schema: dict,
                 checksum: str | None = None) -> dict:
        """Create or update a flow."""
        now = now_iso()
        self._write(
            "INSERT INTO flows VALUES (?,?,?,?,?,?,?) ON CONFLICT(flow_id) DO UPDATE SET "
            "title=excluded.title, definition=excluded.definition, "
            "input_schema=excluded.input_schema, checksum=excluded.checksum, "
            "updated_at=excluded.updated_at",
            (flow_id, title, json.dumps(definition), json.dumps(input_schema), checksum, now, now),
        )
        return self.get_flow(flow_id)

    def get_flow(self, flow_id: str) -> dict:
        """The flow ``{id, title, definition, input_schema, checksum, created_at, updated_at}``."""
        row = self._read_one("SELECT * FROM flows WHERE flow_id=?", (flow_id,))
        if row is None:
            raise UnknownFlowError(f"no flow {flow_id} in {self.path}")
        return self._flow(row)

    def has_flow(self, flow_id: str) -> bool:
        """True when ``flow_id`` is stored."""
        return self._read_one("SELECT 1 FROM flows WHERE flow_id=?", (flow_id,)) is not None

    def list_flows(self) -> list[dict]:
        """Every flow, most recently updated first."""
        rows = self._read("SELECT * FROM flows ORDER BY updated_at DESC")
        return [self._flow(r) for r in rows]

    @staticmethod
    def _flow(row: tuple) -> dict:
        return {"id": row[0], "title": row[1], "definition": json.loads(row[2]),
                "input_schema": json.loads(row[3]), "checksum": row[4],
                "created_at": row[5], "updated_at": row[6]}

    # ------------------------------------------------------------------ runs

    def create_run(self, flow_id: str, body: dict, *, label: str | None = None,
                   tags: list[str] | None = None, username: str | None = None,
                   owner_pid: int | None = None) -> dict:
        """Insert a new ACTIVE run owned by ``owner_pid`` (default: this process)."""
        flow = self.get_flow(flow_id)
        run_id = str(uuid.uuid4())
        pid = os.getpid() if owner_pid is None else owner_pid
        details = {"code": "FlowStarting", "description": "The run was created"}
        self._write(
            f"INSERT INTO runs({_RUN_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (run_id, flow_id, flow["title"], "ACTIVE", label, json.dumps(tags or []),
             now_iso(), None, json.dumps(details), json.dumps(body), username,
             pid, process_start_time(pid), self._host),
        )
        return self.get_run(run_id)

    def claim_run(self, run_id: str, pid: int | None = None,
                  expect: Sequence[int] | None = None) -> bool:
        """Make ``pid`` (default: this process) the owner of an ACTIVE run. With ``expect``,
        only if the run is owned by one of those live processes (or already by ``pid``): an
        atomic hand-over, so that a run never has two workers. True when ``pid`` owns it."""
        pid = os.getpid() if pid is None else pid
        with self._lock, self._db:
            status, owner, start, host = self._begin_with_owner(run_id)
            if expect is not None:
                if status != "ACTIVE" or host != self._host:
                    return False
                if owner != pid and not (owner in expect and process_alive(owner, start)):
                    return False
            self._db.execute("UPDATE runs SET owner_pid=?, owner_start=?, owner_host=? WHERE run_id=?",
                             (pid, process_start_time(pid), self._host, run_id))
            return True

    def take_over(self, run_id: str, pid: int | None = None) -> bool:
        """Make an INACTIVE run whose owner is gone ACTIVE again, owned by ``pid`` (default:
        this process). Atomic: of several processes taking over one run at once,
        exactly one gets True."""
        pid = os.getpid() if pid is None else pid
        summary = {"code": "FlowResumed", "description": "The run was resumed", "time": now_iso()}
        with self._lock, self._db:
            status, owner, start, host = self._begin_with_owner(run_id)
            if status != "INACTIVE" or (host == self._host and owner is not None
                                        and process_alive(owner, start)):
                return False
            self._db.execute("UPDATE runs SET status='ACTIVE', details=?, owner_pid=?, owner_start=?, "
                             "owner_host=? WHERE run_id=?",
                             (json.dumps(summary), pid, process_start_time(pid), self._host, run_id))
            return True  # the runner logs FlowResumed, naming the state it goes on at

    def _begin_with_owner(self, run_id: str) -> tuple:
        """In a write transaction (the caller's ``with``): the run's status and owner."""
        self._db.execute("BEGIN IMMEDIATE")
        row = self._db.execute("SELECT status, owner_pid, owner_start, owner_host FROM runs "
                               "WHERE run_id=?", (run_id,)).fetchone()
        if row is None:
            raise UnknownRunError(f"no run {run_id} in {self.path}")
        return tuple(row)

    def owner_alive(self, run_id: str) -> bool:
        """Whether the process owning the run (on this host) is running."""
        row = self._read_one("SELECT owner_pid, owner_start, owner_host FROM runs WHERE run_id=?", (run_id,))
        if row is None:
            raise UnknownRunError(f"no run {run_id} in {self.path}")
        pid, start, host = row
        return host != self._host or (pid is not None and process_alive(pid, start))

    def get_checkpoint(self, run_id: str) -> dict | None:
        """Where the run goes on after its last completed state: ``{next, state, steps}``."""
        row = self._read_one("SELECT checkpoint FROM runs WHERE run_id=?", (run_id,))
        if row is None:
            raise UnknownRunError(f"no run {run_id} in {self.path}")
        return json.loads(row[0]) if row[0] else None

    def interrupt_run(self, run_id: str, description: str,
                      owner: tuple[int, str | None] | None = None) -> dict:
        """Make an ACTIVE run INACTIVE with :data:`WORKER_LOST` (its worker stops before the
        run ends: it waits to be resumed), and log it; with ``owner`` (pid, start), only while
        that process owns it."""
        details = {"code": WORKER_LOST, "description": description, "time": now_iso()}
        point = self.get_checkpoint(run_id)
        at = point["next"] if point else self.get_run(run_id)["details"].get("state_name")
        if at:
            details["state_name"] = at  # the state it resumes at
        sql = "UPDATE runs SET status='INACTIVE', details=? WHERE run_id=? AND status='ACTIVE'"
        args: tuple = (json.dumps(details), run_id)
        if owner is not None:
            sql += " AND owner_pid=? AND owner_start IS ?"
            args += owner
        if self._write(sql, args):
            self._write("INSERT INTO logs(run_id, time, code, description, details) VALUES (?,?,?,?,?)",
                        (run_id, now_iso(), "FlowInactive", description, json.dumps({"code": WORKER_LOST})))
        return self.get_run(run_id)

    def get_run_input(self, run_id: str) -> dict:
        """The body the run was started with."""
        row = self._read_one("SELECT input FROM runs WHERE run_id=?", (run_id,))
        if row is None:
            raise UnknownRunError(f"no run {run_id} in {self.path}")
        return json.loads(row[0])

    def append_log(self, run_id: str, code: str, description: str, details: dict,
                   time: str | None = None) -> None:
        """Add one log entry (see :meth:`append_logs`)."""
        self.append_logs(run_id, [(code, description, details, time)])

    def append_logs(self, run_id: str,
                    entries: Sequence[tuple[str, str, dict, str | None]],
                    checkpoint: dict | None = None) -> None:
        """Add log entries ``(code, description, details, time or None)`` in one transaction;
        while the run is ACTIVE its ``details`` summarise the latest entry. ``checkpoint``
        (where the run goes on after the last of them) is recorded in the same transaction."""
        if checkpoint is not None:
            with self._lock, self._db:
                self._db.execute("BEGIN")
                self._db.execute("UPDATE runs SET checkpoint=? WHERE run_id=?",
                                 (json.dumps(checkpoint, default=str), run_id))
                self._append_logs(run_id, entries)
            return
        if entries:
            with self._lock, self._db:
                self._db.execute("BEGIN")
                self._append_logs(run_id, entries)

    def _append_logs(self, run_id: str, entries: Sequence[tuple[str, str, dict, str | None]]) -> None:
        if not entries:
            return
        rows = [(run_id, stamp or now_iso(), code, desc, json.dumps(details, default=str))
                for code, desc, details, stamp in entries]
        code, desc, details, _ = entries[-1]
        summary = {"code": code, "description": desc, "time": rows[-1][1]}
        if "state_name" in details:
            summary["state_name"] = details["state_name"]
        # one transaction (the caller's): the entries and the progress summary
        self._db.executemany(
            "INSERT INTO logs(run_id, time, code, description, details) VALUES (?,?,?,?,?)",
            rows,
        )
        self._db.execute("UPDATE runs SET details=? WHERE run_id=? AND status='ACTIVE'",
                         (json.dumps(summary), run_id))

    def finish_run(self, run_id: str, outcome: RunOutcome) -> dict:
        """Record the end of a run."""
        self._write("UPDATE selections SET status='CLOSED', decided=? WHERE run_id=? AND status='WAITING'",
                    (now_iso(), run_id))
        self._write(
            "UPDATE runs SET status=?, completion_time=?, details=? WHERE run_id=?",
            (outcome.status, now_iso(), json.dumps(outcome.details(), default=str), run_id),
        )
        return self.get_run(run_id)

    def suspend_run(self, run_id: str, details: dict) -> dict:
        """Make an ACTIVE run INACTIVE (it waits for something only a person can give, as a
        consent) with ``details`` saying why, and log it."""
        if self._write("UPDATE runs SET status='INACTIVE', details=? WHERE run_id=? AND status='ACTIVE'",
                       (json.dumps(details), run_id)):
            self.append_log(run_id, "FlowInactive", details.get("description", "The run is inactive"),
                            {k: v for k, v in details.items() if k != "action_statuses"})
        return self.get_run(run_id)

    def resume_run(self, run_id: str) -> dict:
        """Make an INACTIVE run ACTIVE again (Flows' resume); its action looks again at what it
        waited for. A run that is not INACTIVE is left as it is."""
        row = self._read_one("SELECT status FROM runs WHERE run_id=?", (run_id,))
        if row is None:
            raise UnknownRunError(f"no run {run_id} in {self.path}")
        summary = {"code": "FlowResumed", "description": "The run was resumed", "time": now_iso()}
        if self._write("UPDATE runs SET status='ACTIVE', details=? WHERE run_id=? AND status='INACTIVE'",
                       (json.dumps(summary), run_id)):
            self.append_log(run_id, "FlowResumed", "The run was resumed", {})
        return self.get_run(run_id)

    def grant_consents(self, collections: list[str]) -> None:
        """Record the user's data_access consent for ``collections`` (a login on Globus)."""
        for collection in collections:
            self._write("INSERT OR IGNORE INTO consents VALUES (?,?)", (str(collection).lower(), now_iso()))

    def granted_consents(self) -> set[str]:
        """The collections whose data_access consent was given."""
        return {row[0] for row in self._read("SELECT collection_id FROM consents")}

    def fail_run(self, run_id: str, code: str, description: str) -> dict:
        """Mark an ACTIVE (or INACTIVE) run FAILED (no-op for a finished one) and log why."""
        changed = self._write(
            "UPDATE runs SET status='FAILED', completion_time=?, details=? "
            "WHERE run_id=? AND status IN ('ACTIVE', 'INACTIVE')",
            (now_iso(), json.dumps({"code": code, "description": description}), run_id),
        )
        if changed:
            self._write("UPDATE selections SET status='CLOSED', decided=? "
                        "WHERE run_id=? AND status='WAITING'", (now_iso(), run_id))
            self._write(
                "INSERT INTO logs(run_id, time, code, description, details) VALUES (?,?,?,?,?)",
                (run_id, now_iso(), "FlowFailed", description, json.dumps({"error": code})),
            )
        return self.get_run(run_id)

    def get_run(self, run_id: str) -> dict:
        """The run record, shaped like the Flows service's."""
        row = self._read_one(
            "SELECT run_id, flow_id, flow_title, status, label, tags, start_time, "
            "completion_time, details, username, owner_pid FROM runs WHERE run_id=?",
            (run_id,),
        )
        if row is None:
            raise UnknownRunError(f"no run {run_id} in {self.path}")
        return self._run(row)

    def list_runs(self, *, status: str | None = None, flow_id: str | None = None,
                  tag: str | None = None, limit: int | None = 100, offset: int = 0,
                  brief: bool = False) -> list[dict]:
        """Runs, newest first, optionally filtered by status, flow and tag (``limit`` None: all;
        ``offset``: skip that many first). ``brief``: ``details`` holds only the summary
        (``code``, ``description``, ``state_name``, ``time``, and of the run state only the
        failure the flow caught, ``output.RunFailure``), for lists of many runs."""
        where, args = self._run_filters(status, flow_id, tag)
        details = ("json_object('code', json_extract(details, '$.code'), "
                   "'description', json_extract(details, '$.description'), "
                   "'state_name', json_extract(details, '$.state_name'), "
                   "'time', json_extract(details, '$.time'), "
                   "'output', json_object('RunFailure', json_extract(details, '$.output.RunFailure')))"
                   ) if brief else "details"
        sql = ("SELECT run_id, flow_id, flow_title, status, label, tags, start_time, "
               f"completion_time, {details}, username, owner_pid FROM runs")
        if where:
            sql += " WHERE " + " AND ".join(where)
        # runs_by_time (start_time, rowid) gives this order without sorting
        sql += " ORDER BY start_time DESC, rowid DESC LIMIT ? OFFSET ?"
        rows = self._read(sql, (*args, -1 if limit is None else limit, max(0, offset)))
        return [self._run(r) for r in rows]

    def count_runs(self, *, status: str | None = None, flow_id: str | None = None,
                   tag: str | None = None) -> int:
        """How many runs :meth:`list_runs` would list without a limit."""
        where, args = self._run_filters(status, flow_id, tag)
        sql = "SELECT COUNT(*) FROM runs" + (" WHERE " + " AND ".join(where) if where else "")
        row = self._read_one(sql, tuple(args))
        return int(row[0]) if row else 0

    @staticmethod
    def _run_filters(status: str | None, flow_id: str | None,
                     tag: str | None) -> tuple[list[str], list[Any]]:
        where: list[str] = []
        args: list[Any] = []
        if tag:
            where.append("EXISTS (SELECT 1 FROM json_each(runs.tags) WHERE json_each.value=?)")
            args.append(tag)
        if status:
            where.append("status=?")
            args.append(status)
        if flow_id:
            where.append("flow_id=?")
            args.append(flow_id)
        return where, args

    @staticmethod
    def _run(row: tuple) -> dict:
        status = row[3]
        return {
            "run_id": row[0], "action_id": row[0], "flow_id": row[1], "flow_title": row[2],
            "status": status, "display_status": status, "label": row[4],
            "tags": json.loads(row[5]), "start_time": row[6], "completion_time": row[7],
            "details": json.loads(row[8]), "run_owner": row[9], "owner_pid": row[10],
        }

    def get_log(self, run_id: str, *, after: int = 0, limit: int | None = None) -> list[dict]:
        """Log entries of a run in order; ``after`` = the last ``entry_id`` already seen."""
        if not self._read_one("SELECT 1 FROM runs WHERE run_id=?", (run_id,)):
            raise UnknownRunError(f"no run {run_id} in {self.path}")
        sql = ("SELECT entry_id, time, code, description, details FROM logs "
               "WHERE run_id=? AND entry_id>? ORDER BY entry_id")
        args: tuple = (run_id, after)
        if limit:
            sql += " LIMIT ?"
            args += (limit,)
        return [{"entry_id": r[0], "time": r[1], "code": r[2], "description": r[3],
                 "details": json.loads(r[4])} for r in self._read(sql, args)]

    def state_durations(self, run_id: str) -> list[dict]:
        """Seconds spent in each state, in execution order: ``[{state_name, seconds, code}]``
        (``code`` = the state's last log code). A state's time runs from the end of the
        previous state (or FlowStarted) to its own last log entry."""
        steps: list[dict] = []
        mark = None
        for entry in self.get_log(run_id):
            stamp = dt.datetime.fromisoformat(entry["time"])
            if entry["code"] == "FlowStarted":
                mark = stamp
                continue
            name = entry["details"].get("state_name")
            if name is None or mark is None:
                continue
            if steps and steps[-1]["state_name"] == name and not steps[-1]["_closed"]:
                step = steps[-1]
            else:
                if steps:
                    steps[-1]["_closed"] = True
                    mark = steps[-1]["_end"]
                step = {"state_name": name, "_start": mark, "_closed": False}
                steps.append(step)
            step["_end"] = stamp
            step["code"] = entry["code"]
        return [{"state_name": s["state_name"], "code": s["code"],
                 "seconds": (s["_end"] - s["_start"]).total_seconds()} for s in steps]

    # ------------------------------------------------------------------ selections

    def open_selection(self, action_id: str, run_id: str, state_name: str, request: dict,
                       options: list[dict], landing_page_url: str | None = None) -> dict:
        """Record that an action waits for a person's choice among ``options`` (the request's
        options, each with its ``url``); :meth:`select` answers it from any process."""
        self._write("INSERT INTO selections VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (action_id, run_id, state_name, json.dumps(request), json.dumps(options),
                     landing_page_url, "WAITING", None, None, now_iso(), None))
        return self.get_selection(action_id)

    def get_selection(self, action_id: str) -> dict:
        """One selection: ``{action_id, run_id, state_name, request, options, landing_page_url,
        status (WAITING|SELECTED|EXPIRED), chosen (the option), chosen_by, created, decided}``."""
        row = self._read_one("SELECT * FROM selections WHERE action_id=?", (action_id,))
        if row is None:
            raise UnknownRunError(f"no selection {action_id} in {self.path}")
        return self._selection(row)

    def run_selection(self, run_id: str) -> dict | None:
        """The run's latest selection (waiting or answered), or None."""
        row = self._read_one("SELECT * FROM selections WHERE run_id=? ORDER BY created DESC, rowid DESC "
                             "LIMIT 1", (run_id,))
        return self._selection(row) if row else None

    def select(self, run_id: str, url_suffix: str, chosen_by: str = "") -> dict:
        """Answer the run's waiting selection with the option of ``url_suffix``; only the first
        answer counts. Raises :class:`SelectionError` when nothing waits or no option has it."""
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute(
                "SELECT * FROM selections WHERE run_id=? AND status='WAITING' ORDER BY created DESC "
                "LIMIT 1", (run_id,)).fetchone()
            status = self._db.execute("SELECT status FROM runs WHERE run_id=?", (run_id,)).fetchone()
            if status is None:
                raise UnknownRunError(f"no run {run_id} in {self.path}")
            waits = status[0] == "ACTIVE" or (status[0] == "INACTIVE" and self._interrupted(run_id))
            if row is None or not waits:  # a run whose worker is gone takes its choice on resume
                raise SelectionError(f"run {run_id} is not waiting for a choice")
            selection = self._selection(row)
            chosen = next((o for o in selection["options"] if o.get("url_suffix") == url_suffix), None)
            if chosen is None:
                raise SelectionError(f"run {run_id} offers no option {url_suffix!r}")
            # whoever chooses locally acts as the run's user (providers/weboption.py)
            from .providers.weboption import local_identity, selectable_by

            user = self._db.execute("SELECT username FROM runs WHERE run_id=?", (run_id,)).fetchone()
            allowed = selectable_by(chosen, (selection["request"] or {}).get("landing_page"))
            if allowed is not None and local_identity(user[0] or "") not in allowed:
                raise SelectionError(f"option {url_suffix!r} of run {run_id} is not selectable by "
                                     f"this run's user ({local_identity(user[0] or '')})")
            self._db.execute("UPDATE selections SET status='SELECTED', chosen=?, chosen_by=?, decided=? "
                             "WHERE action_id=? AND status='WAITING'",
                             (json.dumps(chosen), chosen_by, now_iso(), selection["action_id"]))
        return self.get_selection(selection["action_id"])

    def adopt_selection(self, old_action_id: str, action_id: str) -> bool:
        """Give the unfinished selection of an interrupted action (WAITING, or SELECTED before
        its action saw it) to the action that repeats it. True when there was one."""
        return bool(self._write("UPDATE selections SET action_id=? WHERE action_id=? "
                                "AND status IN ('WAITING', 'SELECTED')", (action_id, old_action_id)))

    def close_selection(self, action_id: str, status: str = "EXPIRED") -> None:
        """End a selection nobody answered (its action timed out or the run ended)."""
        self._write("UPDATE selections SET status=?, decided=? WHERE action_id=? AND status='WAITING'",
                    (status, now_iso(), action_id))

    @staticmethod
    def _selection(row: tuple) -> dict:
        return {"action_id": row[0], "run_id": row[1], "state_name": row[2],
                "request": json.loads(row[3]), "options": json.loads(row[4]),
                "landing_page_url": row[5], "status": row[6],
                "chosen": json.loads(row[7]) if row[7] else None, "chosen_by": row[8],
                "created": row[9], "decided": row[10]}

    def _interrupted(self, run_id: str) -> bool:
        row = self._db.execute("SELECT json_extract(details, '$.code') FROM runs WHERE run_id=?",
                               (run_id,)).fetchone()
        return bool(row) and row[0] == WORKER_LOST

    def recover_interrupted(self) -> list[str]:
        """Make INACTIVE (:data:`WORKER_LOST`, waiting to be resumed) every ACTIVE run whose
        owning process on this host is gone; return their ids. (An INACTIVE run whose owner
        is gone stays as it is: it waits for its resume either way.)"""
        rows = self._read("SELECT run_id, owner_pid, owner_start, owner_host FROM runs WHERE status='ACTIVE'")
        lost = []
        for run_id, pid, start, host in rows:
            if host != self._host or pid is None or process_alive(pid, start):
                continue
            record = self.interrupt_run(
                run_id, f"the process {pid} running this run ended before the run did; "
                        "it resumes from its last completed state", owner=(pid, start))
            if record["status"] == "INACTIVE":
                lost.append(run_id)
        return lost

    def resumable_runs(self) -> list[str]:
        """INACTIVE runs of this host whose owner is gone, oldest first."""
        rows = self._read("SELECT run_id, owner_pid, owner_start, owner_host FROM runs "
                          "WHERE status='INACTIVE' ORDER BY start_time, rowid")
        return [r for r, pid, start, host in rows
                if host == self._host and (pid is None or not process_alive(pid, start))]
