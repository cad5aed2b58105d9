"""Runs are durable: records and logs in SQLite, readable from another process, and a run
whose process died waits, INACTIVE, to be resumed, never left ACTIVE (tests/local/test_durable.py
resumes them)."""

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

from tomocupy_gladier.local import InputValidationError, LocalBackend, RunStore

COMPUTE_V3 = "https://compute.actions.globus.org/v3"


def nap(seconds, **data):
    import time

    time.sleep(seconds)
    return {"slept": seconds}


def _nap_flow(wait_time: float = 60) -> dict:
    return {"StartAt": "Nap", "States": {"Nap": {
        "Type": "Action", "ActionUrl": COMPUTE_V3, "WaitTime": wait_time,
        "Parameters": {"endpoint_id": "local",
                       "tasks": [{"function_id.$": "$.input.fid",
                                  "kwargs": {"seconds.$": "$.input.seconds"}}]},
        "ResultPath": "$.Nap", "End": True}}}


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    b = LocalBackend(tmp_path / "state", {"c0ffee00-0000-0000-0000-000000000000": tmp_path})
    yield b
    b.close()


def test_a_run_record_is_shaped_like_flows(backend):
    fid = backend.functions.register(nap)
    flow_id = backend.register_flow(_nap_flow(), title="Nap flow")
    run = backend.start_run(flow_id, {"input": {"fid": fid, "seconds": 0}},
                            label="short nap", tags=["a", "b"])
    assert run["status"] == "SUCCEEDED"
    assert (run["flow_id"], run["flow_title"], run["label"], run["tags"]) == (
        flow_id, "Nap flow", "short nap", ["a", "b"])
    assert run["details"]["code"] == "FlowSucceeded"
    assert run["details"]["output"]["Nap"]["details"]["results"][0]["output"] == {"slept": 0}
    assert run["start_time"] <= run["completion_time"]
    codes = [e["code"] for e in backend.store.get_log(run["run_id"])]
    assert codes == ["FlowStarted", "ActionStarted", "ActionCompleted", "FlowSucceeded"]
    assert backend.store.list_runs()[0]["run_id"] == run["run_id"]
    assert backend.store.list_runs(status="FAILED") == []


def test_a_schema_violation_is_refused_before_any_run(backend):
    schema = {"type": "object", "required": ["input"], "properties": {"input": {
        "type": "object", "required": ["fid", "seconds"],
        "properties": {"seconds": {"type": "number", "maximum": 10}}}}}
    flow_id = backend.register_flow(_nap_flow(), schema)
    with pytest.raises(InputValidationError) as info:
        backend.start_run(flow_id, {"input": {"seconds": 99}})
    text = str(info.value)
    assert "'fid' is a required property" in text
    assert "input/seconds: 99 is greater than the maximum of 10" in text
    assert backend.store.list_runs() == []


def test_a_failing_compute_state_ends_failed_with_the_traceback(backend):
    fid = backend.functions.register_source(
        "broken", "def broken(**data):\n    raise RuntimeError('reconstruction exploded')\n",
        "checksum-broken")
    run = backend.start_run(backend.register_flow(_nap_flow()),
                            {"input": {"fid": fid, "seconds": 0}})
    assert run["status"] == "FAILED"
    assert run["details"]["code"] == "ActionFailedException"
    last = backend.store.get_log(run["run_id"])[-1]
    assert last["code"] == "FlowFailed"
    failed_action = last["details"]["result"]["details"]
    assert "RuntimeError: reconstruction exploded" in failed_action["details"]["exception"]


def test_a_compute_timeout_ends_failed(backend):
    fid = backend.functions.register(nap)
    run = backend.start_run(backend.register_flow(_nap_flow(wait_time=1)),
                            {"input": {"fid": fid, "seconds": 20}})
    assert (run["status"], run["details"]["code"]) == ("FAILED", "ActionTimeout")
    assert run["details"]["state_name"] == "Nap"
    # as on Globus, the task goes on after the state failed; closing the backend ends it
    provider = backend.providers.get(COMPUTE_V3)
    pids = provider.detached()
    assert len(pids) == 1 and _alive(pids[0])
    provider.close()
    assert provider.detached() == [] and not _alive(pids[0])


def test_another_process_reads_runs_and_logs(backend):
    fid = backend.functions.register(nap)
    run = backend.start_run(backend.register_flow(_nap_flow()),
                            {"input": {"fid": fid, "seconds": 0}})
    script = textwrap.dedent(f"""
        import json
        from tomocupy_gladier.local import RunStore
        store = RunStore({str(backend.store.path)!r})
        run = store.get_run({run['run_id']!r})
        print(json.dumps([run['status'], [e['code'] for e in store.get_log(run['run_id'])]]))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}, check=True)
    status, codes = json.loads(out.stdout)
    assert status == "SUCCEEDED" and codes[-1] == "FlowSucceeded"


def test_a_background_run_can_be_followed(backend):
    fid = backend.functions.register(nap)
    flow_id = backend.register_flow(_nap_flow())
    run = backend.start_run(flow_id, {"input": {"fid": fid, "seconds": 0.2}}, background=True)
    assert run["status"] == "ACTIVE"
    assert run["owner_pid"] != os.getpid()
    entries = list(backend.follow(run["run_id"], poll=0.05))
    assert [e["code"] for e in entries] == [
        "FlowStarted", "ActionStarted", "ActionCompleted", "FlowSucceeded"]
    # the task's own output can be found from the ActionStarted entry
    log = backend.task_log(entries[1]["details"]["action_id"])
    assert log.is_file()
    details = entries[2]["details"]["output"]["details"]
    assert details == {"result": [{"slept": 0.2}],
                       "results": [{"task_id": details["results"][0]["task_id"],
                                    "output": {"slept": 0.2}}]}
    assert backend.get_run(run["run_id"])["status"] == "SUCCEEDED"


def nap_noting_pid(seconds, pid_file, **data):
    import os
    import time

    with open(pid_file, "w") as fh:
        fh.write(str(os.getpid()))
    time.sleep(seconds)


def _wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    from tomocupy_gladier.local.store import process_alive

    return process_alive(pid, None)


def test_a_killed_run_waits_to_be_resumed_never_failed(tmp_path, backend):
    fid = backend.functions.register(nap_noting_pid)
    flow = _nap_flow()
    flow["States"]["Nap"]["Parameters"]["tasks"][0]["kwargs"]["pid_file.$"] = "$.input.pid_file"
    flow_id = backend.register_flow(flow)
    pid_file = tmp_path / "task.pid"
    run = backend.start_run(flow_id, {"input": {"fid": fid, "seconds": 30,
                                                "pid_file": str(pid_file)}}, background=True)
    run_id = run["run_id"]
    _wait_for(lambda: pid_file.exists() and pid_file.read_text())
    task_pid = int(pid_file.read_text())
    os.kill(run["owner_pid"], signal.SIGKILL)
    # the worker is gone (a zombie until reaped counts as dead) and its task goes with it
    _wait_for(lambda: not _alive(run["owner_pid"]) and not _alive(task_pid), timeout=5)

    reopened = LocalBackend.open(tmp_path / "state")  # e.g. the next CLI start
    record = reopened.store.get_run(run_id)
    reopened.close()
    assert record["status"] == "INACTIVE"
    assert record["details"]["code"] == "WorkerLost"
    assert record["details"]["state_name"] == "Nap"
    assert f"process {run['owner_pid']}" in record["details"]["description"]
    assert record["completion_time"] is None
    assert RunStore(tmp_path / "state" / "runs.db").get_log(run_id)[-1]["code"] == "FlowInactive"


def test_a_terminated_worker_leaves_its_run_waiting_to_be_resumed_at_once(tmp_path, backend):
    fid = backend.functions.register(nap_noting_pid)
    flow = _nap_flow()
    flow["States"]["Nap"]["Parameters"]["tasks"][0]["kwargs"]["pid_file.$"] = "$.input.pid_file"
    pid_file = tmp_path / "task.pid"
    run = backend.start_run(backend.register_flow(flow),
                            {"input": {"fid": fid, "seconds": 30, "pid_file": str(pid_file)}},
                            background=True)
    _wait_for(lambda: pid_file.exists() and pid_file.read_text())
    os.kill(run["owner_pid"], signal.SIGTERM)  # what a shutdown sends first
    _wait_for(lambda: backend.store.get_run(run["run_id"])["status"] == "INACTIVE", timeout=10)
    final = backend.store.get_run(run["run_id"])
    assert final["details"]["code"] == "WorkerLost"
    assert "SystemExit" in final["details"]["description"]
    _wait_for(lambda: not _alive(int(pid_file.read_text())), timeout=5)
    _wait_for(lambda: not _alive(run["owner_pid"]), timeout=5)


def test_a_live_owner_is_not_recovered(tmp_path, backend):
    flow_id = backend.register_flow({"StartAt": "P", "States": {"P": {"Type": "Pass",
                                                                      "End": True}}})
    record = backend.store.create_run(flow_id, {})  # owned by this (live) process
    reopened = LocalBackend.open(tmp_path / "state")
    assert reopened.store.get_run(record["run_id"])["status"] == "ACTIVE"
    reopened.close()


def test_a_transfer_killed_midway_leaves_only_a_temporary_file(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    (src / "scan.h5").write_bytes(os.urandom(4 << 20))
    script = textwrap.dedent(f"""
        import time
        from tomocupy_gladier.local.providers.transfer import TransferProvider
        from tomocupy_gladier.local.actions import ActionRequest

        class Slow(ActionRequest):
            def remaining(self):
                time.sleep(0.01)  # about 2.5 s for the whole file
                return 1000.0

        provider = TransferProvider({{"s": {str(src)!r}, "d": {str(dst)!r}}}, chunk_size=1 << 14)
        provider(Slow("a", "u", "T", {{"source_endpoint": "s", "destination_endpoint": "d",
            "DATA": [{{"source_path": "/scan.h5", "destination_path": "/scan.h5"}}]}}, 1000, 0))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script],
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    deadline = time.monotonic() + 20
    while not list(dst.glob(".scan.h5.part-*")):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.02)
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (dst / "scan.h5").exists()  # nothing at the final name
    [partial] = list(dst.iterdir())
    assert partial.name.startswith(".scan.h5.part-")  # hidden, and named as incomplete
    assert partial.stat().st_size < (4 << 20)


def test_seconds_per_state(backend):
    fid = backend.functions.register(nap)
    flow = _nap_flow()
    flow["States"]["Nap"]["Next"] = "Done"
    del flow["States"]["Nap"]["End"]
    flow["States"]["Done"] = {"Type": "Pass", "End": True}
    run = backend.start_run(backend.register_flow(flow), {"input": {"fid": fid, "seconds": 0.3}})
    steps = backend.store.state_durations(run["run_id"])
    assert [(s["state_name"], s["code"]) for s in steps] == [
        ("Nap", "ActionCompleted"), ("Done", "PassCompleted")]
    assert 0.3 <= steps[0]["seconds"] < 10
    assert 0 <= steps[1]["seconds"] < 0.5


def test_a_crashing_provider_fails_the_action_not_the_engine(backend):
    def crash(request):
        raise ZeroDivisionError("oops")

    backend.providers.register("https://crash.example.org", crash)
    flow = {"StartAt": "A", "States": {"A": {"Type": "Action", "ActionUrl":
                                             "https://crash.example.org", "Parameters": {},
                                             "End": True}}}
    run = backend.start_run(backend.register_flow(flow), {"input": {}})
    assert (run["status"], run["details"]["code"]) == ("FAILED", "ActionFailedException")
    assert "ZeroDivisionError: oops" in run["details"]["description"]


def test_runs_in_threads_share_one_backend(backend):
    from concurrent.futures import ThreadPoolExecutor

    fid = backend.functions.register(nap)
    flow_id = backend.register_flow(_nap_flow())
    with ThreadPoolExecutor(3) as pool:
        runs = list(pool.map(
            lambda i: backend.start_run(flow_id, {"input": {"fid": fid, "seconds": 0.1 * i}}),
            range(3)))
    assert [r["status"] for r in runs] == ["SUCCEEDED"] * 3
    for run in runs:
        assert [e["code"] for e in backend.store.get_log(run["run_id"])] == [
            "FlowStarted", "ActionStarted", "ActionCompleted", "FlowSucceeded"]


def test_options_survive_reopening(tmp_path):
    first = LocalBackend(tmp_path / "s", {"abc": tmp_path}, {"PATH": "/opt/bin"},
                         fsync_transfers=True)
    first.close()
    again = LocalBackend.open(tmp_path / "s")
    assert again.collections == {"abc": str(tmp_path)}
    assert again.env == {"PATH": "/opt/bin"}
    assert again.fsync_transfers is True
    again.close()


def test_a_timed_out_task_of_a_background_run_goes_on_and_completes(tmp_path, backend):
    fid = backend.functions.register(nap_noting_pid)
    flow = _nap_flow(wait_time=1)
    flow["States"]["Nap"]["Parameters"]["tasks"][0]["kwargs"]["pid_file.$"] = "$.input.pid_file"
    pid_file = tmp_path / "task.pid"
    run = backend.start_run(backend.register_flow(flow),
                            {"input": {"fid": fid, "seconds": 2.5, "pid_file": str(pid_file)}},
                            background=True)
    final = backend.wait(run["run_id"], timeout=20)
    assert (final["status"], final["details"]["code"]) == ("FAILED", "ActionTimeout")
    started = [e for e in backend.store.get_log(run["run_id"]) if e["code"] == "ActionStarted"]
    task_dir = backend.task_log(started[0]["details"]["action_id"]).parent
    # the worker waits for its detached task, which finishes as it would on an endpoint
    _wait_for(lambda: not _alive(run["owner_pid"]), timeout=20)
    assert json.loads((task_dir / "result.json").read_text()) == {
        "ok": True, "output": None}
    assert not _alive(int(pid_file.read_text()))


def test_an_input_over_the_run_state_limit_is_refused(backend):
    flow_id = backend.register_flow({"StartAt": "P", "States": {"P": {"Type": "Pass",
                                                                      "End": True}}})
    with pytest.raises(InputValidationError) as info:
        backend.start_run(flow_id, {"input": {"blob": "x" * 200_000}})
    assert "over the 200000-byte limit of a run state" in str(info.value)
    assert backend.store.list_runs() == []
