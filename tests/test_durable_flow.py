"""kill -9 of a run's worker in the middle of its reconstruction, then `resume`: the run goes on
from its last completed state and ends SUCCEEDED, and its result is published once."""

from __future__ import annotations

import json
import os
import signal
import sys
import textwrap
import time
from pathlib import Path

from click.testing import CliRunner

from tomocupy_gladier.cli import main
from tomocupy_gladier.clients.client_factory import local_backend, make_client
from tomocupy_gladier.tools.registry import load_config
from tomocupy_gladier.planning.flow_input import build_flow_input, recon_parameters
from tomocupy_gladier.runs.catalog import SearchFilters, search_local

from tests.test_local_flow import ENGINE, engine_experiment  # noqa: F401 (a fixture)

# the engine, held before it starts while the file "gate" beside this program exists
GATED = textwrap.dedent("""
    import os, pathlib, sys, time
    here = pathlib.Path(__file__).parent
    if (here / "gate").exists():
        (here / "held").write_text(str(os.getpid()))
        while (here / "gate").exists():
            time.sleep(0.05)
    os.execv(sys.executable, [sys.executable, "-m", "tomocupy_gladier.engine", *sys.argv[1:]])
""")


def _wait_for(predicate, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    from tomocupy_gladier.local.store import process_alive

    return process_alive(pid, None)


def test_a_worker_killed_mid_reconstruction_is_resumed_and_published_once(engine_experiment, tmp_path):
    root = engine_experiment.parent
    gated = tmp_path / "gated.py"
    gated.write_text(GATED)
    text = engine_experiment.read_text()
    assert f"executable = {ENGINE}" in text
    engine_experiment.write_text(text.replace(f"executable = {ENGINE}",
                                              f"executable = {json.dumps([sys.executable, str(gated)])}"))
    config = load_config(engine_experiment)
    body = build_flow_input(config, "scan1.h5", recon_parameters(config, {}, "full"))
    first = make_client("tomocupy", config).run_flow(flow_input=body, label="first")
    assert first["status"] == "SUCCEEDED", first["details"]
    published = root / "portal/published/cells/scan1_rec"

    def published_by() -> str:
        return json.loads((published / "manifest.json").read_text())["run_id"]

    assert published_by() == first["run_id"]

    (tmp_path / "gate").touch()
    client = make_client("tomocupy", config, background=True)
    run_id = client.run_flow(flow_input=body, label="second")["run_id"]
    _wait_for(lambda: (tmp_path / "held").exists() and (tmp_path / "held").read_text())
    held = int((tmp_path / "held").read_text())
    backend = local_backend(config)
    record = backend.store.get_run(run_id)
    assert (record["status"], record["details"]["state_name"]) == ("ACTIVE", "TomocupyRecon")
    os.kill(record["owner_pid"], signal.SIGKILL)
    _wait_for(lambda: not _alive(record["owner_pid"]) and not _alive(held), timeout=10)

    runner = CliRunner()
    listed = runner.invoke(main, ["runs", "--config", str(engine_experiment), "--status", "INACTIVE"])
    assert "INACTIVE" in listed.output and "(WorkerLost)" in listed.output, listed.output
    shown = runner.invoke(main, ["status", run_id, "--config", str(engine_experiment)])
    assert f"run {run_id} is INACTIVE (WorkerLost)" in shown.output and "state TomocupyRecon" in shown.output
    assert published_by() == first["run_id"], "the earlier result stays intact"

    (tmp_path / "gate").unlink()
    resumed = runner.invoke(main, ["resume", "--config", str(engine_experiment)])
    assert resumed.exit_code == 0, resumed.output
    assert f"run {run_id}: ACTIVE" in resumed.output
    final = backend.wait(run_id, timeout=300)
    assert final["status"] == "SUCCEEDED", final["details"]
    codes = [e["code"] for e in backend.store.get_log(run_id)]
    assert codes.count("FlowStarted") == 1 and codes.count("FlowResumed") == 1
    # states completed before the kill are not repeated
    started = [e["details"]["state_name"] for e in backend.store.get_log(run_id) if e["code"] == "ActionStarted"]
    assert started.count("TomocupyRecon") == 2 and all(started.count(s) == 1 for s in set(started) - {"TomocupyRecon"})
    backend.close()

    output = root / "facility/raw_rec/scan1_rec"
    manifest = json.loads((output / "manifest.json").read_text())
    assert manifest["run_id"] == run_id
    assert published_by() == run_id
    files = {p.relative_to(published).as_posix() for p in published.rglob("*") if p.is_file()}
    assert files == {p.relative_to(output).as_posix() for p in output.rglob("*") if p.is_file()}
    [found] = search_local(config.local_state_dir, "scan1", SearchFilters(energy_kev=25.0))  # one entry
    assert found.subject.endswith("/published/cells/scan1_rec")
    assert not [p for p in output.parent.glob(".scan1_rec.*") if p.suffix in (".staging", ".old")]
