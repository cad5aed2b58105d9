"""The demo's end-to-end time against calling the engine directly on the same scan.

Prints the whole flow's wall time, each state's seconds, the engine run alone with the same
arguments, and the overhead of the flow (target: at most 10% on the demo scan).

    python benchmarks/bench_demo.py [--workdir DIR] [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tomocupy_gladier.clients.client_factory import local_backend, make_client
from tomocupy_gladier.demo.demo import prepare
from tomocupy_gladier.planning.flow_input import build_flow_input, recon_parameters
from tomocupy_gladier.runs.run_record import METADATA_STATE, PREVIEWS_STATE, RECON_STATE


# States that do work of their own (PNG previews, reading the scan's metadata), not overhead.
EXTRA_WORK = (PREVIEWS_STATE, METADATA_STATE)


def engine_argv(recon: dict, scan: Path, out: Path) -> list[str]:
    """The engine command for the same parameters, as tomocupy_recon would build it."""
    argv = [sys.executable, "-m", "tomocupy_gladier.engine", recon.get("command", "recon"),
            "--file-name", str(scan), "--config", str(out / "no-such.conf"), "--out-path-name", str(out / "rec")]
    for name, value in recon.items():
        if name in ("command", "out-path-name") or value is None:
            continue
        argv += [f"--{name}", ("True" if value else "False") if isinstance(value, bool) else str(value)]
    return argv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-demo-"))
    setup = prepare(workdir)
    config = setup.config
    recon = recon_parameters(config)
    backend = local_backend(config)
    client = make_client("tomocupy", config)

    flow_times, recon_states, extra_states, direct_times = [], [], [], []
    for i in range(args.repeat):
        shutil.rmtree(workdir / "facility" / "raw_rec", ignore_errors=True)
        body = build_flow_input(config, setup.scan.name, recon)
        started = time.perf_counter()
        record = client.run_flow(flow_input=body, label=f"bench {i}")
        flow_times.append(time.perf_counter() - started)
        assert record["status"] == "SUCCEEDED", record["details"]
        states = {s["state_name"]: s["seconds"] for s in backend.store.state_durations(record["run_id"])}
        recon_states.append(states[RECON_STATE])
        extra_states.append(sum(states.get(name, 0.0) for name in EXTRA_WORK))

        out = Path(tempfile.mkdtemp(prefix="bench-direct-"))
        started = time.perf_counter()
        subprocess.run(engine_argv(recon, workdir / "facility/raw" / setup.scan.name, out), check=True,
                       capture_output=True)
        direct_times.append(time.perf_counter() - started)
        shutil.rmtree(out)

    flow, state, extra, direct = (statistics.median(t) for t in
                                  (flow_times, recon_states, extra_states, direct_times))
    print(f"demo scan: {setup.scan} ({workdir})")
    print("states of the last run (s): " + ", ".join(f"{k} {v:.2f}" for k, v in states.items()))
    print(f"engine called directly      : {direct:7.2f} s (median of {args.repeat})")
    print(f"TomocupyRecon state         : {state:7.2f} s  overhead {100 * (state / direct - 1):+.1f}%")
    print(f"{'whole flow (%d states)' % len(states):28s}: {flow:7.2f} s  {100 * (flow / direct - 1):+.1f}% "
          "against the engine alone")
    print(f"  of which previews+metadata: {extra:7.2f} s  (work the engine call does not do)")
    print(f"flow overhead without them  : {flow - extra:7.2f} s  overhead "
          f"{100 * ((flow - extra) / direct - 1):+.1f}% (target <= 10%)")


if __name__ == "__main__":
    main()
