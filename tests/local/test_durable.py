"""A run outlives its worker: killed (SIGKILL) or stopped, it waits INACTIVE (``WorkerLost``) and
is resumed from its last completed state by exactly one worker; a run created but never
started is started; an interactive run keeps waiting for its choice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tomocupy_gladier.local import LocalBackend, RunStore
from tomocupy_gladier.local.store import WORKER_LOST

COMPUTE_V3 = "https://compute.actions.globus.org/v3"
WEBOPTION = "https://actions.globus.org/weboption/wait_for_option"


def step(name, seconds, marks, hold=None, **data):
    """Append ``name`` to ``marks`` (one line per execution), then sleep ``seconds`` while the
    file ``<hold>.<name>`` exists."""
    import os
    import time

    hold = hold and f"{hold}.{name}"
    with open(marks, "a") as fh:
        fh.write(f"{name} {os.getpid()}\n")
    deadline = time.monotonic() + seconds
    while hold and os.path.exists(hold) and time.monotonic() < deadline:
        time.sleep(0.02)
    return {"step": name}


def _task(state: str, nxt: str | None) -> dict:
    sdef = {"Type": "Action", "ActionUrl": COMPUTE_V3, "WaitTime": 120,
            "Parameters": {"endpoint_id": "local", "tasks": [{
                "function_id.$": "$.fid",
                "kwargs": {"name": state, "seconds": 60, "marks.$": "$.marks", "hold.$": "$.hold"}}]},
            "ResultPath": f"$.{state}"}
    return {**sdef, "Next": nxt} if nxt else {**sdef, "End": True}


TWO_STEPS = {"StartAt": "First", "States": {
    "First": _task("First", "Mark"),
    "Mark": {"Type": "Pass", "Result": "between", "ResultPath": "$.mark", "Next": "Second"},
    "Second": _task("Second", None)}}


@pytest.fixture
def backend(tmp_path: Path):
    b = LocalBackend(tmp_path / "state", {"c0ffee00-0000-0000-0000-000000000000": tmp_path})
    yield b
    b.close()


def _wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _marks(path: Path) -> list[str]:
    return [line.split()[0] for line in path.read_text().splitlines()] if path.exists() else []


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _release(hold: Path, *states: str) -> None:
    for state in states:
        Path(f"{hold}.{state}").unlink()


def _start_held(tmp_path: Path, backend: LocalBackend) -> tuple[dict, Path, Path]:
    marks, hold = tmp_path / "marks", tmp_path / "hold"
    for state in ("First", "Second"):
        Path(f"{hold}.{state}").touch()
    fid = backend.functions.register(step)
    flow_id = backend.register_flow(TWO_STEPS)
    run = backend.start_run(flow_id, {"fid": fid, "marks": str(marks), "hold": str(hold)}, background=True)
    return run, marks, hold


def test_a_killed_worker_is_resumed_from_its_last_completed_state(tmp_path, backend):
    run, marks, hold = _start_held(tmp_path, backend)
    _wait_for(lambda: _marks(marks) == ["First"])
    _release(hold, "First")  # First completes, Mark passes, Second starts and is held
    _wait_for(lambda: _marks(marks) == ["First", "Second"])
    os.kill(backend.store.get_run(run["run_id"])["owner_pid"], signal.SIGKILL)
    _wait_for(lambda: LocalBackend.open(tmp_path / "state").store.get_run(run["run_id"])["status"] == "INACTIVE")

    waiting = RunStore(tmp_path / "state" / "runs.db").get_run(run["run_id"])
    assert (waiting["details"]["code"], waiting["details"]["state_name"]) == (WORKER_LOST, "Second")
    _release(hold, "Second")
    assert backend.resume_interrupted() == [run["run_id"]]
    final = backend.wait(run["run_id"], timeout=60)
    assert final["status"] == "SUCCEEDED", final["details"]
    assert _marks(marks) == ["First", "Second", "Second"], "only the interrupted state is repeated"
    assert final["details"]["output"]["mark"] == "between"  # the state before the kill is kept
    assert final["details"]["output"]["First"]["details"]["result"] == [{"step": "First"}]
    codes = [e["code"] for e in backend.store.get_log(run["run_id"])]
    assert codes.count("FlowStarted") == 1 and codes.count("FlowResumed") == 1
    assert codes[-1] == "FlowSucceeded"


def test_a_run_created_but_never_started_is_started_not_failed(tmp_path, backend):
    """The window of LocalBackend.start_run: the run exists, its starter died before a worker
    took it."""
    marks, hold = tmp_path / "marks", tmp_path / "hold"
    fid = backend.functions.register(step)
    flow_id = backend.register_flow(TWO_STEPS)
    record = backend.store.create_run(flow_id, {"fid": fid, "marks": str(marks), "hold": str(hold)},
                                      owner_pid=_dead_pid())
    reopened = LocalBackend.open(tmp_path / "state")
    assert reopened.store.get_run(record["run_id"])["details"]["code"] == WORKER_LOST
    assert reopened.resume_interrupted() == [record["run_id"]]
    final = reopened.wait(record["run_id"], timeout=60)
    reopened.close()
    assert final["status"] == "SUCCEEDED"
    assert _marks(marks) == ["First", "Second"]
    codes = [e["code"] for e in backend.store.get_log(record["run_id"])]
    assert codes.count("FlowStarted") == 1 and "FlowResumed" not in codes


def test_a_worker_whose_starter_died_before_the_hand_over_leaves_the_run(tmp_path, backend):
    flow_id = backend.register_flow({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    record = backend.store.create_run(flow_id, {}, owner_pid=_dead_pid())
    again = LocalBackend.open(tmp_path / "state")  # marks it WorkerLost
    # a late worker of the dead starter must not run it: a resumer may have it already
    assert again.execute_run(record["run_id"], handed_by=record["owner_pid"])["status"] == "INACTIVE"
    again.close()


RESUMER = textwrap.dedent("""
    import json, sys, time
    from tomocupy_gladier.local import LocalBackend
    backend = LocalBackend.open(sys.argv[1])
    while time.time() < float(sys.argv[2]):
        pass
    print(json.dumps(backend.resume_interrupted()))
""")


def test_two_resumers_racing_run_a_run_once(tmp_path, backend):
    run, marks, hold = _start_held(tmp_path, backend)
    _wait_for(lambda: _marks(marks) == ["First"])
    os.kill(run["owner_pid"], signal.SIGKILL)
    _wait_for(lambda: not backend.store.owner_alive(run["run_id"]))
    _release(hold, "First", "Second")
    at = time.time() + 1.5
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [subprocess.Popen([sys.executable, "-c", RESUMER, str(tmp_path / "state"), str(at)],
                              stdout=subprocess.PIPE, env=env) for _ in range(2)]
    outs = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    assert sorted(len(o) for o in outs) == [0, 1], outs
    final = backend.wait(run["run_id"], timeout=60)
    assert final["status"] == "SUCCEEDED"
    assert _marks(marks) == ["First", "First", "Second"]


def test_resume_all_leaves_live_runs_alone(tmp_path, backend):
    run, marks, hold = _start_held(tmp_path, backend)
    _wait_for(lambda: _marks(marks) == ["First"])
    assert backend.resume_interrupted() == []
    assert backend.store.get_run(run["run_id"])["status"] == "ACTIVE"
    _release(hold, "First", "Second")
    assert backend.wait(run["run_id"], timeout=60)["status"] == "SUCCEEDED"
    assert _marks(marks) == ["First", "Second"]


CHOOSE = {"StartAt": "Choose", "States": {
    "Choose": {"Type": "Action", "ActionUrl": WEBOPTION, "WaitTime": 600,
               "Parameters": {"options": [{"name": "left", "url_suffix": "l"},
                                          {"name": "right", "url_suffix": "r"}]},
               "ResultPath": "$.choice", "End": True}}}


@pytest.mark.parametrize("meanwhile", [True, False], ids=["chosen-meanwhile", "chosen-after"])
def test_an_interactive_run_keeps_waiting_for_its_choice_across_a_restart(tmp_path, backend, meanwhile):
    run = backend.start_run(backend.register_flow(CHOOSE), {}, background=True)
    run_id = run["run_id"]
    _wait_for(lambda: (backend.store.run_selection(run_id) or {}).get("status") == "WAITING")
    os.kill(backend.store.get_run(run_id)["owner_pid"], signal.SIGKILL)
    _wait_for(lambda: LocalBackend.open(tmp_path / "state").store.get_run(run_id)["status"] == "INACTIVE")
    if meanwhile:  # the scientist chooses while no worker runs it
        backend.store.select(run_id, "r")
    assert backend.resume_interrupted() == [run_id]
    if not meanwhile:
        _wait_for(lambda: backend.store.get_run(run_id)["details"].get("code") == "ActionStarted")
        assert backend.store.run_selection(run_id)["status"] == "WAITING"
        backend.store.select(run_id, "r")
    final = backend.wait(run_id, timeout=60)
    assert final["status"] == "SUCCEEDED"
    assert final["details"]["output"]["choice"]["details"] == {"name": "right", "url_suffix": "r"}
    assert len(backend.store._read("SELECT 1 FROM selections WHERE run_id=?", (run_id,))) == 1
