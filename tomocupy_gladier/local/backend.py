"""One object that owns the local engine room: store, function registry, search index, action
providers, and the runs themselves.

Layout of ``state_dir``::

    backend.json    collections, task environment, options (a worker process reopens them)
    runs.db         flows, runs, log entries          (store.RunStore)
    functions.db    registered compute functions      (registry.FunctionRegistry)
    endpoints.db    user endpoints and the tasks each ran (user_endpoints.UserEndpoints)
    search.db       the local search index            (providers.search.SearchIndex)
    mailbox         emails of runs when no SMTP server is named (providers.notify, mbox format)
    deletes/<task>.jsonl  what each delete task removed, each path written before it goes (providers.delete)
    gladier.cfg     kept here by the Gladier adapter (:mod:`tomocupy_gladier.clients.gladier_local`)
    tasks/<action>-<i>/  working folder and output.log of each compute task
    workers/<run>.log  stdout/stderr of background run workers
"""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
import threading
import time
import traceback
import uuid
from pathlib import Path
from typing import Iterator, Mapping

import jsonschema

from tomocupy_gladier.action_urls import (
    COMPUTE_V2_URL,
    COMPUTE_V3_URL,
    NOTIFY_URL,
    RETIRED_DELETE_URL,
    RETIRED_LS_URL,
    RETIRED_TRANSFER_URL,
    TRANSFER_DELETE_URL,
    TRANSFER_LS_URL,
    TRANSFER_STAT_URL,
    WAIT_FOR_OPTION_URL,
)

from .definition import validate_definition
from .errors import InputValidationError
from .flow_rules import FINAL_STATUSES, MAX_STATE_BYTES, check_input
from .providers.compute import ComputeProvider
from .providers.delete import DeleteProvider
from .providers.listing import LsProvider, StatProvider
from .providers.notify import NotifyProvider
from .providers.search import SEARCH_INGEST_URL, SearchIndex, SearchIngestProvider
from .providers.transfer import TRANSFER_URL, TransferProvider
from .providers.weboption import DEFAULT_SERVE_URL, WaitForOptionProvider, local_identity
from .user_endpoints import UserEndpoints
from .registry import FunctionRegistry
from .actions import ActionRegistry
from .interpreter import FlowRunner, RunOutcome
from .store import WORKER_LOST, RunStore
from .consent import CONSENT_REQUIRED, ConsentGate, collections_of
from .timestamps import now_iso



class LocalBackend:
    """Runs Globus flows (definitions as Globus Flows takes them) on this machine.

    :param state_dir: where everything is kept (created if needed)
    :param collections: Globus collection UUID -> local root folder. None reopens the
        collections saved in ``state_dir`` by an earlier backend.
    :param env: extra environment for compute tasks (e.g. ``{"PATH": ...}``)
    :param username: ``$._context.username`` of runs (default: the login name)
    :param max_state_bytes: run state size limit (Flows: 200 kB); None disables it
    :param fsync_transfers: flush every transferred file to disk before its rename (survives
        power loss; a killed process never leaves a partial file under a final name anyway)
    :param serve_url: the address of ``tomocupy-gladier serve`` that the "Wait For User
        Selection" provider's option URLs point at (default: the saved one, else
        ``http://127.0.0.1:8765``)
    :param consent_required: collections whose data_access consent a Transfer needs: without
        it the run goes INACTIVE as on Flows (:mod:`.consent`) until :meth:`resume_run`
        (default: the saved ones, else none)
    :param endpoints: the Compute endpoints this machine stands for: endpoint id ->
        ``{"name", "multi_user", "owner", "schema"}`` (:mod:`.user_endpoints`; default: the
        saved ones; an endpoint not described is a single-user one of ``username``)
    """

    def __init__(
        self,
        state_dir: str | os.PathLike,
        collections: Mapping[str, str | os.PathLike] | None = None,
        env: Mapping[str, str] | None = None,
        *,
        username: str | None = None,
        max_state_bytes: int | None = MAX_STATE_BYTES,
        fsync_transfers: bool | None = None,
        serve_url: str | None = None,
        consent_required: list[str] | None = None,
        endpoints: Mapping[str, Mapping] | None = None,
    ) -> None:
        self.state_dir = Path(state_dir).absolute()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        saved = self._load_config()
        if collections is None:
            collections = saved.get("collections", {})
            env = saved.get("env") if env is None else env
        self.collections = {str(k): str(Path(v).absolute()) for k, v in collections.items()}
        self.env = dict(env or {})
        self.username = username or saved.get("username") or _login_name()
        self.fsync_transfers = bool(saved.get("fsync_transfers", False)
                                    if fsync_transfers is None else fsync_transfers)
        self.serve_url = serve_url or saved.get("serve_url") or DEFAULT_SERVE_URL
        self.consent_required = [str(c).lower() for c in (
            saved.get("consent_required", []) if consent_required is None else consent_required)]
        self.endpoints = {str(k): dict(v) for k, v in (
            saved.get("endpoints", {}) if endpoints is None else endpoints).items()}
        self.max_state_bytes = max_state_bytes
        self._save_config()

        self.store = RunStore(self.state_dir / "runs.db")
        self.functions = FunctionRegistry(self.state_dir / "functions.db")
        self.search_index = SearchIndex(self.state_dir / "search.db")
        self.user_endpoints = UserEndpoints(self.state_dir / "endpoints.db", self.endpoints,
                                            default_owner=local_identity(self.username))
        tasks = self.state_dir / "tasks"
        consent = ConsentGate(self.store, self.consent_required, creator=self.username)
        transfer = TransferProvider(self.collections, fsync=self.fsync_transfers, consent=consent)
        deletes = self.state_dir / "deletes"
        self.providers = ActionRegistry({
            TRANSFER_URL: transfer,
            RETIRED_TRANSFER_URL: transfer,
            TRANSFER_DELETE_URL: DeleteProvider(transfer.resolve, consent, deletes),
            RETIRED_DELETE_URL: DeleteProvider(transfer.resolve, consent, deletes, retired=True),
            TRANSFER_LS_URL: LsProvider(transfer.resolve, consent=consent),
            RETIRED_LS_URL: LsProvider(transfer.resolve, retired=True, consent=consent),
            TRANSFER_STAT_URL: StatProvider(transfer.resolve, consent=consent),
            COMPUTE_V2_URL: ComputeProvider(self.functions, tasks, env=self.env, version=2,
                                            user_endpoints=self.user_endpoints),
            COMPUTE_V3_URL: ComputeProvider(self.functions, tasks, env=self.env, version=3,
                                            user_endpoints=self.user_endpoints),
            SEARCH_INGEST_URL: SearchIngestProvider(self.search_index),
            NOTIFY_URL: NotifyProvider(self.state_dir / "mailbox"),
            WAIT_FOR_OPTION_URL: WaitForOptionProvider(self.store, self.serve_url),
        })
        self._runners: dict[tuple[str, str], FlowRunner] = {}
        self._workers: dict[str, subprocess.Popen] = {}

    @classmethod
    def open(cls, state_dir: str | os.PathLike) -> "LocalBackend":
        """Reopen a backend with the configuration saved in ``state_dir``."""
        return cls(state_dir)

    def close(self, wait_for_tasks: bool = False) -> None:
        """Close the databases. Compute tasks that outlived their state's WaitTime are killed,
        or, with ``wait_for_tasks``, waited for (each at most its provider's
        ``detached_limit``)."""
        for url in (COMPUTE_V2_URL, COMPUTE_V3_URL):
            provider = self.providers.get(url)
            if isinstance(provider, ComputeProvider):
                provider.close(wait=wait_for_tasks)
        self.store.close()
        self.functions.close()
        self.search_index.close()
        self.user_endpoints.close()

    # ---------------------------------------------------------------- flows

    def register_flow(self, definition: dict, input_schema: dict | None = None,
                      title: str = "Local flow", flow_id: str | None = None,
                      checksum: str | None = None) -> str:
        """Check and store a flow definition; return its id (new unless ``flow_id`` given)."""
        schema = input_schema or {"additionalProperties": True}
        validate_definition(definition, schema)  # the checks Globus Flows applies
        flow_id = flow_id or str(uuid.uuid4())
        self.store.put_flow(flow_id, title, definition, schema, checksum)
        return flow_id

    def validate_input(self, flow_id: str, body: dict) -> None:
        """Raise :class:`InputValidationError` listing every violation of the flow's schema."""
        schema = self.store.get_flow(flow_id)["input_schema"]
        validator = jsonschema.validators.validator_for(schema)(schema)
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
        lines = [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
                 for e in errors]
        lines += [p.message for p in check_input(body)]  # the run state size limit
        if lines:
            raise InputValidationError(
                "the run input does not match the flow's input schema:\n  " + "\n  ".join(lines)
            )

    # ---------------------------------------------------------------- runs

    def start_run(self, flow_id: str, body: dict, *, label: str | None = None,
                  tags: list[str] | None = None, background: bool = False) -> dict:
        """Validate ``body`` and run the flow: to its end (default), or in a background
        worker process (the record returned is then ACTIVE; follow it with :meth:`wait` or
        :meth:`follow`).

        :raises InputValidationError: before any run is created
        """
        self.validate_input(flow_id, body)
        record = self.store.create_run(flow_id, body, label=label, tags=tags,
                                       username=self.username)
        run_id = record["run_id"]
        if not background:
            return self.execute_run(run_id)
        self._spawn_worker(run_id)
        return self.store.get_run(run_id)

    def _spawn_worker(self, run_id: str) -> None:
        """Start a worker for a run this process owns and hand the run over to it. If this
        process dies before the hand-over, the worker finds the run's owner gone and leaves it
        (the run is then resumed, never run twice)."""
        log_dir = self.state_dir / "workers"
        log_dir.mkdir(exist_ok=True)
        with open(log_dir / f"{run_id}.log", "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "tomocupy_gladier.local.worker", str(self.state_dir),
                 run_id, str(os.getpid())],
                env=_child_env(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the caller does not kill the run
            )
        self.store.claim_run(run_id, proc.pid, expect=[os.getpid()])
        self._workers[run_id] = proc

    def execute_run(self, run_id: str, *, handed_by: int | None = None) -> dict:
        """Execute a created (ACTIVE) run in this process, or go on with one whose worker
        died from its last completed state; return its final record. ``handed_by``: the pid
        that owns the run and started this worker; if the run is no longer that process's
        (it died and the run was resumed elsewhere), nothing is done."""
        if not self.store.claim_run(run_id, expect=None if handed_by is None else [handed_by]):
            return self.store.get_run(run_id)
        record = self.store.get_run(run_id)
        log = _LogBuffer(self.store, run_id)
        try:
            flow = self.store.get_flow(record["flow_id"])
            runner = self._runner(flow)
            context = {
                "run_id": run_id, "flow_id": flow["id"], "flow_title": flow["title"],
                "username": self.username, "user_id": local_identity(self.username),
                "identities": [local_identity(self.username)],
                "label": record["label"], "tags": record["tags"],
                "start_time": record["start_time"],
            }
            run_input = self.store.get_run_input(run_id)
            try:
                outcome = runner.run(run_input, context, log.emit, checkpoint=log.checkpoint,
                                     resume=self._resume_point(run_id, flow, run_input))
            finally:
                log.flush()
        except Exception as exc:  # a bug in the engine must still end the run
            outcome = RunOutcome("FAILED", "InternalError",
                                 f"{exc.__class__.__name__}: {exc}\n{traceback.format_exc()}", {})
        except BaseException as exc:  # Ctrl-C, SIGTERM (see worker.py): resumable, then stop
            self.store.interrupt_run(run_id, f"the run's worker was stopped ({exc.__class__.__name__}: "
                                             f"{exc}); it resumes from its last completed state")
            raise
        return self.store.finish_run(run_id, outcome)

    def _resume_point(self, run_id: str, flow: dict, run_input: dict) -> dict | None:
        """Where a run whose worker died goes on: its checkpoint (or its start, if it had
        started), with the action its next state had started, if any (a Wait For User
        Selection takes up that action's choice). None for a run never started."""
        log = self.store.get_log(run_id)
        point = self.store.get_checkpoint(run_id)
        if point is None:
            if not any(e["code"] == "FlowStarted" for e in log):
                return None
            state = {k: v for k, v in run_input.items() if k != "_context"}
            point = {"next": flow["definition"]["StartAt"], "state": state, "steps": 0}
        # the log up to the checkpoint is written with it: what follows is the next state's
        last = next((e for e in reversed(log) if "state_name" in e["details"]
                     and e["code"] not in ("FlowInactive", "FlowResumed", "FlowFailed")), None)
        if (last is not None and last["code"] == "ActionStarted"
                and last["details"]["state_name"] == point["next"]):
            point = {**point, "action_id": last["details"].get("action_id")}
        return point

    def _runner(self, flow: dict) -> FlowRunner:
        key = (flow["id"], flow["updated_at"])
        if key not in self._runners:
            self._runners[key] = FlowRunner(flow["definition"], self.providers,
                                            max_state_bytes=self.max_state_bytes)
        return self._runners[key]

    def get_run(self, run_id: str) -> dict:
        """The run record; reaps a finished background worker first."""
        proc = self._workers.get(run_id)
        if proc is not None and proc.poll() is not None:
            self._workers.pop(run_id)
            self.store.recover_interrupted()
        return self.store.get_run(run_id)

    def resume_run(self, run_id: str, *, grant: bool = True) -> dict:
        """Resume an INACTIVE run (Flows' ``POST /runs/{id}/resume``). With ``grant``, the
        consents its ``required_scope`` names are given first (what logging in for that scope
        does on Globus); without them the run's action finds the consent still missing and the
        run goes INACTIVE again."""
        record = self.get_run(run_id)
        details = record.get("details") or {}
        if grant and record["status"] == "INACTIVE" and details.get("code") == CONSENT_REQUIRED:
            self.store.grant_consents(collections_of(str(details.get("required_scope", ""))))
        if record["status"] == "INACTIVE" and not self.store.owner_alive(run_id):
            # its worker is gone (WorkerLost, or a worker that waited for a consent): a new one
            # goes on from the last completed state
            if self.store.take_over(run_id):
                self._spawn_worker(run_id)
            return self.store.get_run(run_id)
        return self.store.resume_run(run_id)

    def resume_interrupted(self) -> list[str]:
        """Resume every run whose worker died (INACTIVE, :data:`WORKER_LOST`), each in a new
        worker, from its last completed state; return their ids. Runs that wait for a consent
        are left to :meth:`resume_run`. Safe to call from several processes at once: each run
        is taken over by one of them."""
        self.store.recover_interrupted()
        resumed = []
        for run_id in self.store.resumable_runs():
            if self.store.get_run(run_id)["details"].get("code") != WORKER_LOST:
                continue
            if self.store.take_over(run_id):
                self._spawn_worker(run_id)
                resumed.append(run_id)
        return resumed

    def wait(self, run_id: str, timeout: float | None = None, poll: float = 0.1) -> dict:
        """Block until the run is SUCCEEDED or FAILED (or ``timeout`` passes); return it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            record = self.get_run(run_id)
            if record["status"] in FINAL_STATUSES:
                return record
            if deadline is not None and time.monotonic() > deadline:
                return record
            time.sleep(poll)

    def follow(self, run_id: str, poll: float = 0.2) -> Iterator[dict]:
        """Yield the run's log entries as they are written, until the run ends."""
        last = 0
        while True:
            finished = self.get_run(run_id)["status"] in FINAL_STATUSES
            for entry in self.store.get_log(run_id, after=last):
                last = entry["entry_id"]
                yield entry
            if finished:
                return
            time.sleep(poll)

    def run_user_endpoints(self, run_id: str) -> list[dict]:
        """The user endpoints that ran the run's compute tasks, each with its endpoint, identity,
        ``user_endpoint_config`` and the tasks it ran (one, for a flow whose compute steps all
        send the same endpoint and configuration)."""
        return self.user_endpoints.of_run(run_id)

    def task_log(self, action_id: str, index: int = 0) -> Path:
        """The ``output.log`` of compute task ``index`` of an action (it exists once the task
        has started); the action id is in the state's ``ActionStarted`` log entry."""
        return self.state_dir / "tasks" / f"{action_id}-{index}" / "output.log"

    # ---------------------------------------------------------------- config

    def _load_config(self) -> dict:
        path = self.state_dir / "backend.json"
        if path.exists():
            return json.loads(path.read_text())
        return {}

    def _save_config(self) -> None:
        """Keep the configuration for workers and later processes; written only when it
        changed, through a temporary file of this process and thread (backends of one state
        folder may be opened at the same time)."""
        path = self.state_dir / "backend.json"
        text = json.dumps({"collections": self.collections, "env": self.env,
                           "username": self.username,
                           "fsync_transfers": self.fsync_transfers,
                           "serve_url": self.serve_url,
                           "consent_required": self.consent_required,
                           "endpoints": self.endpoints}, indent=2)
        try:
            if path.read_text() == text:
                return
        except OSError:
            pass
        tmp = path.with_name(f".backend.json.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)


RESUME_INTERVAL = 30.0  # seconds between two looks for runs to resume (serve, watch, campaign run)


def keep_resuming(state_dir: str | os.PathLike, interval: float = RESUME_INTERVAL) -> threading.Event:
    """Resume the runs of ``state_dir`` whose worker died (:meth:`LocalBackend.resume_interrupted`)
    now and every ``interval`` seconds, in a daemon thread, until the returned event is set.
    What the long-lived commands do; other resumers may run at the same time."""
    stop = threading.Event()

    def loop() -> None:
        backend = LocalBackend.open(state_dir)
        try:
            while not stop.is_set():
                backend.resume_interrupted()
                for run_id in list(backend._workers):
                    backend.get_run(run_id)  # reaps a worker that ended
                stop.wait(interval)
        finally:
            backend.close()

    threading.Thread(target=loop, name="resume-interrupted-runs", daemon=True).start()
    return stop


class _LogBuffer:
    """Groups log entries into few transactions (a commit costs far more than a state).

    Everything is written before the run can block (an action starts, a Wait starts) and when
    it ends, so a reader never misses an entry for longer than the runner's own bookkeeping
    between two such points, nor more than ``max_age`` seconds.
    """

    FLUSH_ON = frozenset({"FlowStarted", "ActionStarted", "WaitStarted", "FlowSucceeded",
                          "FlowFailed"})

    def __init__(self, store: RunStore, run_id: str, max_age: float = 0.25) -> None:
        self.store, self.run_id, self.max_age = store, run_id, max_age
        self.pending: list[tuple[str, str, dict, str]] = []
        self.point: dict | None = None  # the latest checkpoint, written with the entries
        self.since = time.monotonic()

    def checkpoint(self, point: dict) -> None:
        self.point = point

    def emit(self, code: str, description: str, details: dict) -> None:
        self.pending.append((code, description, details, now_iso()))
        if code in self.FLUSH_ON or time.monotonic() - self.since > self.max_age:
            self.flush()

    def flush(self) -> None:
        self.store.append_logs(self.run_id, self.pending, self.point)
        self.pending, self.point = [], None
        self.since = time.monotonic()


def run_identity(state_dir: str | os.PathLike) -> str:
    """The identity URN the runs of a local backend in ``state_dir`` run as (its saved user, else
    the login name), without opening it."""
    try:
        saved = json.loads((Path(state_dir) / "backend.json").read_text()).get("username")
    except (OSError, ValueError):
        saved = None
    return local_identity(saved or _login_name())


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "local-user"


def _child_env() -> dict[str, str]:
    # The worker imports this package the way this process did (also from a source checkout).
    env = dict(os.environ)
    paths = [p for p in sys.path if p]
    if env.get("PYTHONPATH"):
        paths.insert(0, env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env
