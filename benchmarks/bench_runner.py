"""Per-state overhead of the local Flows runner, with no-op actions.

    python benchmarks/bench_runner.py [--states 200] [--repeats 15]

Prints the median (and p90) time per state for:
  * runner only: FlowRunner with a no-op provider, log entries discarded;
  * runner + store: the full LocalBackend path, every log entry written to SQLite (WAL);
  * Pass states only, through the store.
Target (issue 4): median under 2 ms per state.

Then the fixed costs of the local providers, which the demo's flow overhead is made of:
  * a no-op Compute v3 task (a fresh interpreter that execs the registered source);
  * a Transfer of one 256 MiB file (atomic, checksum-verified) against shutil.copyfile.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tomocupy_gladier.local import LocalBackend  # noqa: E402
from tomocupy_gladier.local.actions import ActionRegistry, ActionRequest, ActionResult  # noqa: E402
from tomocupy_gladier.local.interpreter import FlowRunner  # noqa: E402
from tomocupy_gladier.local.providers.compute import ComputeProvider  # noqa: E402
from tomocupy_gladier.local.providers.transfer import TransferProvider  # noqa: E402
from tomocupy_gladier.local.registry import FunctionRegistry  # noqa: E402

NOOP_URL = "https://noop.example.org/run"


def noop(request):
    return ActionResult("SUCCEEDED", {"ok": True})


def action_chain(n: int) -> dict:
    states = {}
    for i in range(n):
        states[f"S{i}"] = {
            "Type": "Action", "ActionUrl": NOOP_URL, "WaitTime": 60,
            "Parameters": {"scan.$": "$.input.scan", "index.$": "$.input.index",
                           "nested": {"name.=": "pathsplit(input.scan)[1]"}},
            "ResultPath": "$.last",
            **({"Next": f"S{i + 1}"} if i < n - 1 else {"End": True}),
        }
    return {"StartAt": "S0", "States": states}


def pass_chain(n: int) -> dict:
    states = {f"P{i}": {"Type": "Pass", "Parameters": {"i": i, "scan.$": "$.input.scan"},
                        "ResultPath": "$.last",
                        **({"Next": f"P{i + 1}"} if i < n - 1 else {"End": True})}
              for i in range(n)}
    return {"StartAt": "P0", "States": states}


BODY = {"input": {"scan": "/data/2026-11/scan_001.h5", "index": "tomo"}}


def per_state_times(run_once, n: int, repeats: int) -> list[float]:
    run_once()  # warm caches (JSONPath parsing, SQLite pages)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run_once()
        times.append((time.perf_counter() - start) / n * 1000.0)
    return times


def report(name: str, times: list[float]) -> None:
    times = sorted(times)
    p90 = times[min(len(times) - 1, int(0.9 * len(times)))]
    print(f"{name:<28} median {statistics.median(times):6.3f} ms/state   "
          f"p90 {p90:6.3f}   min {times[0]:6.3f}")


def noop_function(**data):
    return None


def provider_costs(tmp: Path, repeats: int) -> None:
    import os
    import shutil

    registry = FunctionRegistry(tmp / "functions.db")
    fid = registry.register(noop_function)
    compute = ComputeProvider(registry, tmp / "tasks")
    body = {"endpoint_id": "local", "tasks": [{"function_id": fid, "kwargs": {}}]}
    times = []
    for i in range(max(3, repeats // 3)):
        start = time.perf_counter()
        result = compute(ActionRequest(f"c{i}", "", "C", body, 60, time.monotonic() + 60))
        times.append((time.perf_counter() - start) * 1000)
        assert result.status == "SUCCEEDED", result.details
    print(f"{'Compute v3 no-op task':<28} median {statistics.median(times):6.1f} ms/task")

    src, dst = tmp / "src", tmp / "dst"
    src.mkdir()
    dst.mkdir()
    size = 256 << 20
    with open(src / "scan.h5", "wb") as fh:
        for _ in range(size >> 20):
            fh.write(os.urandom(1 << 20))
    transfer = TransferProvider({"s": src, "d": dst})
    body = {"source_endpoint": "s", "destination_endpoint": "d",
            "DATA": [{"source_path": "/scan.h5", "destination_path": "/scan.h5"}]}
    start = time.perf_counter()
    assert transfer(ActionRequest("t", "", "T", body, 600, time.monotonic() + 600)).status == \
        "SUCCEEDED"
    local = time.perf_counter() - start
    start = time.perf_counter()
    shutil.copyfile(src / "scan.h5", tmp / "plain-copy.h5")
    plain = time.perf_counter() - start
    print(f"{'Transfer 256 MiB, verified':<28} {local:6.2f} s ({size / local / 2**20:6.0f} MiB/s)"
          f"   shutil.copyfile {plain:5.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--states", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--no-providers", action="store_true",
                        help="skip the Compute and Transfer measurements")
    args = parser.parse_args()
    n = args.states

    registry = ActionRegistry({NOOP_URL: noop})
    runner = FlowRunner(action_chain(n), registry)
    runner_only = per_state_times(lambda: runner.run(BODY, {"run_id": "bench"}), n, args.repeats)

    with tempfile.TemporaryDirectory() as tmp:
        backend = LocalBackend(Path(tmp) / "state", {})
        backend.providers.register(NOOP_URL, noop)
        action_flow = backend.register_flow(action_chain(n))
        pass_flow = backend.register_flow(pass_chain(n))

        def through_store(flow_id):
            record = backend.start_run(flow_id, BODY)
            assert record["status"] == "SUCCEEDED", record["details"]

        with_store = per_state_times(lambda: through_store(action_flow), n, args.repeats)
        passes = per_state_times(lambda: through_store(pass_flow), n, args.repeats)
        backend.close()

    print(f"{n} states per run, {args.repeats} runs, Python {sys.version.split()[0]}")
    report("Action, runner only", runner_only)
    report("Action, runner + store", with_store)
    report("Pass, runner + store", passes)
    target = statistics.median(with_store)
    print(f"target: median < 2 ms/state -> {'met' if target < 2 else 'NOT met'} "
          f"({target:.3f} ms with the store)")
    if not args.no_providers:
        with tempfile.TemporaryDirectory() as tmp:
            provider_costs(Path(tmp), args.repeats)


if __name__ == "__main__":
    main()
