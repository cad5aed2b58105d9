"""How fast the runs page of ``tomocupy-gladier serve`` is with many runs.

    python benchmarks/bench_serve.py [--runs 10000] [--repeats 15] [--per-page 50]

Fills a RunStore with ``--runs`` runs shaped like real TomocupyFlow runs (the flow input, each
step's result, ~85% SUCCEEDED, ~10% FAILED with a reason, a few ACTIVE; log entries for each),
then times the runs page (first page, a middle page and the last page) and its JSON twin
through Flask's test client: median and max milliseconds over ``--repeats`` requests each.
Target (issue 12): the runs page of 10,000 runs in under 300 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tomocupy_gladier.local.interpreter import RunOutcome  # noqa: E402
from tomocupy_gladier.local.store import RunStore  # noqa: E402
from tomocupy_gladier.runs.run_record import (  # noqa: E402
    GATHER_STATE,
    METADATA_STATE,
    PREVIEWS_STATE,
    RECON_STATE,
)

STATES = ("Transfer", RECON_STATE, PREVIEWS_STATE, METADATA_STATE, GATHER_STATE, "Publishv2Ingest",
          "ReturnDataSkipped")


def _compute_result(output: dict) -> dict:
    return {"action_id": str(uuid.uuid4()), "status": "SUCCEEDED",
            "details": {"results": [{"task_id": str(uuid.uuid4()), "output": output}]}}


def run_document(i: int, root: str = "/eagle/TOMO/raw") -> tuple[dict, dict]:
    """(flow input, final run state) of the ``i``-th synthetic scan."""
    scan = f"scan_{i:05d}.h5"
    output = f"{root}_rec/scan_{i:05d}_rec"
    body = {"input": {
        "source": {"id": str(uuid.UUID(int=1)), "path": f"/data/2026-11/{scan}"},
        "destination": {"id": str(uuid.UUID(int=2)), "path": f"/raw/{scan}"},
        "recon": {"reconstruction-type": "full", "rotation-axis": 1024.5 + i % 7,
                  "remove-stripe-method": "vo-all", "nsino-per-chunk": 8, "binning": 0},
        "tomocupy": {"file_name": f"{root}/{scan}", "output": output, "logs": f"{output}.logs",
                     "timeout": 3500},
        "compute_endpoint": str(uuid.UUID(int=3)),
        "tomocupy_endpoint_config": {"queue": "preemptable", "account": "TOMO", "walltime": "00:30:00"},
        "previews": {},
        "publishv2": {"dataset": output, "index": str(uuid.UUID(int=4)), "visible_to": ["public"]},
        "return_data": {"enable": False},
    }}
    state = dict(body)
    state[STATES[0]] = {"status": "SUCCEEDED", "details": {"files_transferred": 1, "bytes": 8_500_000_000}}
    state[RECON_STATE] = _compute_result({
        "output": output, "file_count": 2048, "rotation_axis": 1024.5 + i % 7, "tool": "tomocupy",
        "tool_version": "1.1.0", "log_file": f"{output}.logs/run.log", "seconds": 38.2,
        "command": ["tomocupy", "recon", "--file-name", f"{root}/{scan}"] + ["--x", "1"] * 40})
    state[PREVIEWS_STATE] = _compute_result({
        "output": output, "folder": f"{output}/previews", "kind": "full",
        "previews": [f"{output}/previews/{n}.png" for n in ("xy", "xz", "yz")],
        "sections": {n: {"file": f"{output}/previews/{n}.png", "size": [512, 512], "window": [0.0, 1.0]}
                     for n in ("xy", "xz", "yz")}})
    state[METADATA_STATE] = _compute_result({"dc": {"titles": [{"title": f"cells: {scan}"}]},
                                             "files": [{"path": f"recon_{r:05d}.tiff"} for r in range(40)]})
    state[GATHER_STATE] = _compute_result({"search": {"subject": f"globus://x/{scan}"}})
    return body, state


def fill_store(store: RunStore, runs: int, *, flow_id: str = "bench-flow") -> None:
    """Add ``runs`` runs (oldest first) with their log entries to ``store``."""
    store.put_flow(flow_id, "TomocupyFlow", {"StartAt": "A", "States": {}}, {})
    for i in range(runs):
        body, state = run_document(i)
        run_id = store.create_run(flow_id, body, label=f"scan_{i:05d} full", tags=["bench"])["run_id"]
        failed = i % 10 == 3
        active = i >= runs - 3
        done = STATES[:2] if failed else STATES[: (3 if active else len(STATES))]
        entries: list = [("FlowStarted", "started", {}, None)]
        for name in done:
            entries.append(("ActionStarted", f"{name} started", {"state_name": name}, None))
            entries.append(("ActionCompleted" if not (failed and name == RECON_STATE) else "ActionFailed",
                            f"{name} done", {"state_name": name}, None))
        store.append_logs(run_id, entries)
        if active:
            continue
        if failed:
            outcome = RunOutcome("FAILED", "ActionFailedException",
                                 f"tomocupy exited with status 1: scan_{i:05d}.h5: CUDA out of memory",
                                 state, RECON_STATE)
        else:
            outcome = RunOutcome("SUCCEEDED", "FlowSucceeded", "The Flow Instance completed successfully", state)
        store.finish_run(run_id, outcome)


def time_requests(client, url: str, repeats: int) -> tuple[float, float, int]:
    """(median ms, max ms, body bytes) of ``repeats`` GETs of ``url``."""
    times = []
    size = 0
    for _ in range(repeats):
        start = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (url, response.status_code)
        size = len(response.data)
    return statistics.median(times), max(times), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--per-page", type=int, default=50)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()

    from tomocupy_gladier.web.app import Sources, create_app
    from tomocupy_gladier.web.data import LocalRuns

    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore(Path(tmp) / "runs.db")
        start = time.perf_counter()
        fill_store(store, args.runs)
        size_mb = os.path.getsize(Path(tmp) / "runs.db") / 1e6
        print(f"filled {args.runs} runs in {time.perf_counter() - start:.1f} s (runs.db {size_mb:.0f} MB)")
        client = create_app(Sources(LocalRuns(store), experiment="bench")).test_client()
        pages = max(1, -(-args.runs // args.per_page))
        figures = {}
        for name, url in (("first page", f"/?per_page={args.per_page}"),
                          ("middle page", f"/?page={pages // 2}&per_page={args.per_page}"),
                          ("last page", f"/?page={pages}&per_page={args.per_page}"),
                          ("first page, JSON", f"/api/runs?per_page={args.per_page}"),
                          ("last page, JSON", f"/api/runs?page={pages}&per_page={args.per_page}")):
            client.get(url)  # warm up (templates compiled, pages cached)
            median, worst, size = time_requests(client, url, args.repeats)
            figures[name] = {"median_ms": round(median, 2), "max_ms": round(worst, 2), "bytes": size}
            print(f"{name:>18}: median {median:6.1f} ms, max {worst:6.1f} ms  ({size / 1e3:.0f} kB, "
                  f"{args.per_page} runs of {args.runs})")
        store.close()
    if args.json:
        args.json.write_text(json.dumps({"runs": args.runs, "per_page": args.per_page, "pages": figures}, indent=1))


if __name__ == "__main__":
    main()
