"""The Globus Compute action provider (v2 and v3 request shapes), run on this machine.

Each task runs in a fresh ``sys.executable`` interpreter that receives only the function's
registered *source text*, executes it and calls the function, as a Compute endpoint does:
a function that leans on anything outside its own body fails here as it would on Polaris.
Every endpoint id is served by this machine.

``details`` (both versions) is what the Compute action provider documents:
``{"result": [output, ...], "results": [{"task_id", "output"}, ...]}``, so the function's
result is counted twice in the run state, as on Globus. A failed task has ``exception`` (the
traceback text; Globus sends a Compute-serialised exception) instead of ``output`` and the
action's ``details.exception`` repeats the first one (what Gladier reads). The task's stdout
and stderr go to ``<work_dir>/<action_id>-<i>/output.log`` (:meth:`ComputeProvider.task_dir`);
the action id is in the ``ActionStarted`` log entry, so a CLI can follow a task's output.

Past the state's ``WaitTime`` the runner fails the state with ``ActionTimeout`` and the task
goes on, detached, as it would on an endpoint: for at most ``detached_limit`` seconds (default
600), and never beyond the process that ran the flow (it is killed on :meth:`close`, at that
process's exit, or by the kernel if that process dies).
"""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Mapping

from ..actions import ActionRequest, ActionResult
from ..errors import ActionTimeout, InvalidRequest
from ..registry import FunctionRegistry
from ..user_endpoints import ConfigRefused, EndpointRefused, UserEndpoints

MAX_RESULT_BYTES = 10 * 1024 * 1024  # Globus Compute's payload/result limit
DETACHED_LIMIT = 600.0  # seconds a timed-out task may go on (see ComputeProvider)

_V3_KEYS = {"endpoint_id", "tasks", "task_group_id", "user_endpoint_config",
            "resource_specification", "create_queue"}

# The child reads {source, name, args, kwargs, result_file} on stdin. It writes its result to a
# file rather than stdout, so whatever the function prints cannot corrupt it.
_CHILD = r"""
import __future__, json, sys, traceback
job = json.load(sys.stdin)
# Compute's deserializer execs the source from a module compiled with postponed annotations,
# and exec inherits that flag: annotations naming unimported types (List, Mapping) are fine.
_FLAGS = __future__.annotations.compiler_flag
def _write(doc):
    with open(job["result_file"], "w") as fh:
        json.dump(doc, fh)
try:
    namespace = {"__name__": "__compute_function__"}
    code = compile(job["source"], "<registered function " + job["name"] + ">", "exec", _FLAGS, True)
    exec(code, namespace)
    output = namespace[job["name"]](*job["args"], **job["kwargs"])
except BaseException:
    _write({"ok": False, "exception": traceback.format_exc()})
    sys.exit(1)
try:
    text = json.dumps({"ok": True, "output": output})
except (TypeError, ValueError) as exc:
    _write({"ok": False, "exception": "The function's result is not JSON serialisable: %s" % exc})
    sys.exit(1)
if len(text) > job["max_bytes"]:
    _write({"ok": False, "exception": "The function's result is %d bytes, over the %d-byte limit"
            % (len(text), job["max_bytes"])})
    sys.exit(1)
with open(job["result_file"], "w") as fh:
    fh.write(text)
"""


class ComputeProvider:
    """Runs registered functions in subprocesses.

    :param registry: where registered functions are looked up
    :param work_dir: per-task folders (the working directory and ``output.log``)
    :param env: extra environment for every task (e.g. ``PATH``)
    :param inherit_sys_path: put this interpreter's ``sys.path`` on the task's PYTHONPATH
        (imports of installed or in-tree packages work; module globals still do not)
    :param version: 2 or 3, the request shape accepted
    :param detached_limit: seconds a task may go on after its state's ``WaitTime`` passed
        (Flows fails the state with ActionTimeout, the task goes on at the endpoint); it is
        killed then, or when :meth:`close` is called, or when this process exits
    :param user_endpoints: the endpoints and their user endpoints (:mod:`..user_endpoints`):
        a task runs in the user endpoint of its run's identity, endpoint and
        ``user_endpoint_config`` (v2 sends none), which the endpoint may refuse; without it
        every endpoint takes every task
    """

    def __init__(self, registry: FunctionRegistry, work_dir: str | os.PathLike, *,
                 env: Mapping[str, str] | None = None, inherit_sys_path: bool = True,
                 version: int = 3, detached_limit: float = DETACHED_LIMIT,
                 user_endpoints: UserEndpoints | None = None) -> None:
        self.registry = registry
        self.user_endpoints = user_endpoints
        self.work_dir = Path(work_dir)
        self.env = dict(env or {})
        self.inherit_sys_path = inherit_sys_path
        self.version = version
        self.detached_limit = detached_limit
        self._detached = _Detached()

    def __call__(self, request: ActionRequest) -> ActionResult:
        tasks, endpoint, body = self._parse(request.body)
        uep = None
        if self.user_endpoints is not None:
            try:
                uep = self.user_endpoints.admit(str(endpoint), request.user_id or self.user_endpoints.default_owner,
                                                body.get("user_endpoint_config"))
            except EndpointRefused as exc:  # the Compute service refuses the submission
                raise InvalidRequest(str(exc)) from None
            except ConfigRefused as exc:  # the endpoint cannot start the user endpoint: the task fails
                return ActionResult("FAILED", {"result": [str(exc)], "results": [], "exception": str(exc)})
        running = [self._start(task, request, i, uep) for i, task in enumerate(tasks)]
        entries: list[dict] = []
        try:
            for proc, task_id, result_file, log_file in running:
                try:
                    _wait(proc, max(request.remaining(), 0.01))
                except subprocess.TimeoutExpired:
                    still = [r for r in running if r[0].poll() is None]
                    for other in still:
                        self._detached.add(other[0], self.detached_limit)
                    raise ActionTimeout(
                        f"compute task {task_id} still running after the state's "
                        f"{request.wait_time:g} s WaitTime; it goes on for at most "
                        f"{self.detached_limit:g} s more (then it is killed)",
                        _details(entries + [{"task_id": r[1]} for r in running[len(entries):]]),
                    ) from None
                entries.append(self._collect(proc, task_id, result_file, log_file))
                if uep is not None and self.user_endpoints is not None:
                    self.user_endpoints.task_ended(task_id, "FAILED" if "exception" in entries[-1]
                                                   else "SUCCEEDED")
        except ActionTimeout:
            raise
        except BaseException:  # Ctrl-C, SIGTERM, a bug: no task outlives its action
            for proc, *_ in running:
                if proc.poll() is None:
                    _kill(proc)
            raise
        details = _details(entries)
        failed = [e for e in entries if "exception" in e]
        if failed:
            details["exception"] = failed[0]["exception"]
            return ActionResult("FAILED", details)
        return ActionResult("SUCCEEDED", details)

    def detached(self) -> list[int]:
        """Process ids of timed-out tasks still running."""
        return self._detached.pids()

    def close(self, wait: bool = False) -> None:
        """End timed-out tasks: wait for them (each up to its limit) or kill them now."""
        self._detached.close(wait)

    # ---------------------------------------------------------------- internals

    def _parse(self, body: Any) -> tuple[list[dict], Any, dict]:
        if not isinstance(body, dict):
            raise InvalidRequest("a compute request must be an object")
        raw = body.get("tasks")
        if not isinstance(raw, list) or not raw:
            raise InvalidRequest("'tasks' must be a non-empty list")
        tasks = []
        if self.version == 3:
            unknown = set(body) - _V3_KEYS
            if unknown:
                raise InvalidRequest(f"unknown compute v3 fields {sorted(unknown)}")
            if not isinstance(body.get("endpoint_id"), str):
                raise InvalidRequest("'endpoint_id' is required")
            for i, task in enumerate(raw):
                if not isinstance(task, dict) or "function_id" not in task:
                    raise InvalidRequest(f"tasks[{i}] needs 'function_id'")
                tasks.append({"function_id": task["function_id"],
                              "args": task.get("args", []), "kwargs": task.get("kwargs", {})})
            endpoint = body["endpoint_id"]
        else:
            endpoints = []
            for i, task in enumerate(raw):
                if not isinstance(task, dict) or "function" not in task:
                    raise InvalidRequest(f"tasks[{i}] needs 'function'")
                if "endpoint" not in task:
                    raise InvalidRequest(f"tasks[{i}] needs 'endpoint'")
                payload = task.get("payload", {})
                args, kwargs = ([], payload) if isinstance(payload, dict) else ([payload], {})
                tasks.append({"function_id": task["function"], "args": args, "kwargs": kwargs})
                endpoints.append(task["endpoint"])
            endpoint = endpoints[0]
        for i, task in enumerate(tasks):
            if not isinstance(task["args"], list) or not isinstance(task["kwargs"], dict):
                raise InvalidRequest(f"tasks[{i}]: args must be a list and kwargs an object")
            if self.registry.get(str(task["function_id"])) is None:
                raise InvalidRequest(f"function {task['function_id']} is not registered")
        return tasks, endpoint, body

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.inherit_sys_path:
            paths = [p for p in sys.path if p]
            if env.get("PYTHONPATH"):
                paths.insert(0, env["PYTHONPATH"])
            env["PYTHONPATH"] = os.pathsep.join(paths)
        env.update(self.env)
        return env

    def task_dir(self, action_id: str, index: int = 0) -> Path:
        """Working folder of task ``index`` of an action; known as soon as the runner logs
        ``ActionStarted`` (with the action id), so its ``output.log`` can be followed live."""
        return self.work_dir / f"{action_id}-{index}"

    def _start(self, task: dict, request: ActionRequest, index: int, uep: str | None = None):
        fn = self.registry.get(str(task["function_id"]))
        assert fn is not None  # _parse refused unregistered functions
        task_id = str(uuid.uuid4())
        if uep is not None and self.user_endpoints is not None:
            self.user_endpoints.task_submitted(uep, task_id, run_id=request.run_id, action_id=request.action_id,
                                               state_name=request.state_name,
                                               function_id=str(task["function_id"]), function_name=fn.name)
        task_dir = self.task_dir(request.action_id, index)
        task_dir.mkdir(parents=True, exist_ok=True)
        result_file = task_dir / "result.json"
        log_file = task_dir / "output.log"
        job = {"source": fn.source, "name": fn.name, "args": task["args"],
               "kwargs": task["kwargs"], "result_file": str(result_file),
               "max_bytes": MAX_RESULT_BYTES}
        with open(log_file, "wb") as log, tempfile.TemporaryFile() as stdin:
            stdin.write(json.dumps(job).encode())
            stdin.seek(0)
            proc = subprocess.Popen(
                [sys.executable, "-c", _CHILD], stdin=stdin, stdout=log,
                stderr=subprocess.STDOUT, cwd=task_dir, env=self._environment(),
                start_new_session=True,  # its own process group: a timeout kills all of it
                preexec_fn=_die_with_parent,
            )
        return proc, task_id, result_file, log_file

    @staticmethod
    def _collect(proc, task_id: str, result_file: Path, log_file: Path) -> dict:
        try:
            doc = json.loads(result_file.read_text())
        except (OSError, ValueError):
            tail = _tail(log_file)
            doc = {"ok": False, "exception":
                   f"The task process ended with exit code {proc.returncode} and no result.\n"
                   f"{tail}"}
        if doc["ok"]:
            return {"task_id": task_id, "output": doc["output"]}
        return {"task_id": task_id, "exception": doc["exception"]}


def _details(entries: list[dict]) -> dict:
    """``details`` as the Compute action provider documents it: ``result`` (the outputs, or
    the traceback of a failed task) and ``results`` (``{task_id, output}`` per task; a failed
    task has ``exception`` instead of ``output``; an unfinished one only ``task_id``)."""
    return {
        "result": [e.get("output", e.get("exception")) for e in entries if len(e) > 1],
        "results": entries,
    }


class _Detached:
    """Timed-out tasks that go on running, each until its own deadline."""

    def __init__(self) -> None:
        self._procs: dict[int, tuple[subprocess.Popen, float]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        atexit.register(self.close, False)

    def add(self, proc: subprocess.Popen, limit: float) -> None:
        with self._lock:
            self._procs[proc.pid] = (proc, time.monotonic() + limit)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._reap, daemon=True,
                                                 name="compute-detached-tasks")
                self._thread.start()

    def pids(self) -> list[int]:
        with self._lock:
            return [pid for pid, (proc, _) in self._procs.items() if proc.poll() is None]

    def _sweep(self) -> bool:
        with self._lock:
            for pid, (proc, deadline) in list(self._procs.items()):
                if proc.poll() is not None:
                    del self._procs[pid]
                elif time.monotonic() >= deadline:
                    _kill(proc)
                    del self._procs[pid]
            return bool(self._procs)

    def _reap(self) -> None:
        while self._sweep():
            time.sleep(0.2)

    def close(self, wait: bool = False) -> None:
        if wait:
            while self._sweep():
                time.sleep(0.2)
        with self._lock:
            for proc, _ in self._procs.values():
                if proc.poll() is None:
                    _kill(proc)
            self._procs.clear()


def _load_prctl():
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()  # loaded here: the forked child should do as little as possible


def _die_with_parent() -> None:
    """In the child, before exec: get SIGKILL when the runner process dies (Linux), so a
    killed run does not leave its reconstruction running."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _wait(proc: subprocess.Popen, timeout: float) -> None:
    """``proc.wait(timeout)`` that wakes as soon as the process ends (Popen.wait with a
    timeout polls with sleeps of up to 50 ms)."""
    if proc.poll() is not None:
        return
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        proc.wait(timeout=timeout)
        return
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        if not poller.poll(max(timeout, 0) * 1000):
            raise subprocess.TimeoutExpired(proc.args, timeout)
    finally:
        os.close(fd)
    proc.wait()


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()


def _tail(path: Path, limit: int = 4000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return text[-limit:]
