"""What a prune costs at a beamline's sizes, against removing the same files by hand.

Runs the demo's flow on a tall, narrow scan (``--rows`` slices: thousands, as a 2k detector
gives, cut narrow to keep it quick) on the local backend, then prunes its full reconstruction
and the scan's copy (``raw`` and ``reconstruction`` at ``"0d"``) and prints: the files and bytes
removed, the seconds to plan (read the run records, size the folders) and to remove (each
target recorded before and after), and ``rm -rf`` of an identical hard-linked copy of the same
folders, timed on the same disk: the ratio is the prune's own overhead.

    python benchmarks/bench_prune.py [--rows 2048] [--columns 64] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tomocupy_gladier.campaign.prune import run_prune
from tomocupy_gladier.compute.disk_space import human
from tomocupy_gladier.demo.demo import prepare
from tomocupy_gladier.flows import TomocupyFlow
from tomocupy_gladier.planning.plan import RunRequest, plan
from tomocupy_gladier.runs.run_following import follow_run
from tomocupy_gladier.tools.registry import load_config
from tomocupy_gladier.tools.retention.config import retention_rules


def _linked_copy(folder: Path, into: Path) -> Path:
    copy = into / folder.name
    subprocess.run(["cp", "-al", str(folder), str(copy)], check=True)
    return copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=2048)
    parser.add_argument("--columns", type=int, default=64)
    parser.add_argument("--projections", type=int, default=180)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-prune-"))
    setup = prepare(workdir, nproj=args.projections, nrows=args.rows, ncols=args.columns)
    config_path = setup.config.path
    config_path.write_text(config_path.read_text() + '\n[retention]\nraw = "0d"\nreconstruction = "0d"\n')
    config = load_config(config_path)
    planned = plan(config, RunRequest(setup.scan.name, flow=TomocupyFlow))
    client = planned.client(background=True)
    started = time.perf_counter()
    run = client.run_flow(flow_input=planned.body, label=planned.label)
    record = follow_run(client, run["run_id"], delay=0.5)
    print(f"run: {record.status} in {time.perf_counter() - started:.1f} s ({args.rows} slices of "
          f"{args.columns} x {args.columns})")
    if not record.succeeded:
        raise SystemExit(f"the run failed: {record.failure}")

    facility = workdir / "facility"
    targets = [facility / "raw" / setup.scan.name, facility / "raw_rec" / f"{setup.scan.stem}_rec"]
    files = sum(1 for t in targets for p in ([t] if t.is_file() else t.rglob("*")) if p.is_file())
    spare = Path(tempfile.mkdtemp(prefix="linked-", dir=workdir))
    copies = [_linked_copy(t, spare) for t in targets]

    rules = retention_rules(config)
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    t0 = time.perf_counter()
    planned_prune = run_prune(config, rules, local=True, dry_run=True, now=later)
    t_plan = time.perf_counter() - t0
    freed = sum(planned_prune.plan.freed().values())
    t0 = time.perf_counter()
    done = run_prune(config, rules, local=True, dry_run=False, now=later)
    t_prune = time.perf_counter() - t0
    assert done.outcome is not None and not done.outcome.problems, done.outcome
    t0 = time.perf_counter()
    for copy in copies:
        if copy.is_dir():
            shutil.rmtree(copy)
        else:
            os.unlink(copy)
    t_rm = time.perf_counter() - t0
    print(f"removed: {len(done.outcome.done)} targets, {files} files, {human(freed)}")
    print(f"plan (records, sizes):  {t_plan:.3f} s")
    print(f"prune (plan + remove):  {t_prune:.3f} s")
    print(f"rm -rf of the same:     {t_rm:.3f} s")
    print(f"prune / rm -rf:         {t_prune / max(t_rm, 1e-6):.2f}")
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
