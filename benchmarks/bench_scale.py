"""A beamline-size scan through the whole local flow, against the engine alone on the same scan.

Default 1500 projections x 512 rows x 2048 columns (a 2k detector cut to 512 rows; about
3 GB of raw data and a 8.6 GB reconstruction). Prints the engine's time, the flow's time and
the share of everything else (goal: the flow at most 1.15 x the engine's time), each state's
seconds beside its floor for the same bytes on this machine (benchmarks/floors.py, measured in
the same run on the reconstruction's own slices and chunks) and the ratio, the OME-Zarr step's
share of the engine's time (goal: at most 10 %), the local publication's (goal: under 2 %), the
bytes of flow state (goal: at most 64 KB), the bytes published and the peak RSS of any process
involved, and the machine's load before and after.

    python benchmarks/bench_scale.py [--workdir DIR] [--projections 1500 --rows 512 --columns 2048]

The scan is kept in ``--workdir`` and reused by later runs with the same shape.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tomocupy_gladier.clients.client_factory import local_backend
from tomocupy_gladier.tools.registry import load_config
from tomocupy_gladier.planning.flow_input import recon_parameters
from tomocupy_gladier.flows import TomocupyFlow
from tomocupy_gladier.planning.plan import plan_run
from tomocupy_gladier.runs.run_record import RECON_STATE, RunRecord

sys.path.insert(0, str(Path(__file__).resolve().parent))
from floors import measure  # noqa: E402

SOURCE = "5ca1e000-0000-4000-8000-00000000b001"
FACILITY = "5ca1e000-0000-4000-8000-00000000f001"
PORTAL = "5ca1e000-0000-4000-8000-00000000c001"
INDEX = "5ca1e000-0000-4000-8000-0000000051d1"
ENDPOINT = "5ca1e000-0000-4000-8000-0000000000e1"


def experiment(workdir: Path, axis: float) -> Path:
    text = f"""\
[experiment]
name = "scale"
backend = "local"
[source]
collection = "{SOURCE}"
path = "/"
[facility]
collection = "{FACILITY}"
path = "/raw"
[compute]
endpoint = "{ENDPOINT}"
executable = {json.dumps([sys.executable, "-m", "tomocupy_gladier.engine"])}
[compute.pbs]
walltime = "04:00:00"
[publish]
index = "{INDEX}"
collection = "{PORTAL}"
path = "/published"
[recon]
reconstruction-type = "full"
rotation-axis = {axis}
fbp-filter = "parzen"
[local]
state_dir = "state"
[local.collections]
"{SOURCE}" = "beamline"
"{FACILITY}" = "facility"
"{PORTAL}" = "portal"
"""
    path = workdir / "experiment.toml"
    path.write_text(text)
    return path


def tall_scan(path: Path, shape: tuple[int, int, int], block_rows: int = 64) -> float:
    """A scan of ``shape`` made of one synthetic block of rows repeated down the detector (the
    synthetic writer holds a whole scan in memory, several times over); returns its axis."""
    import h5py

    from tomocupy_gladier.demo.synthetic import write_scan

    nproj, nrows, ncols = shape
    block = path.with_name(f".block_{path.name}")
    truth = write_scan(block, nproj=nproj, nrows=min(block_rows, nrows), ncols=ncols, seed=11)
    with h5py.File(block, "r") as src, h5py.File(path, "w") as dst:
        for name in ("/exchange/data", "/exchange/data_white", "/exchange/data_dark"):
            part = src[name]
            out = dst.create_dataset(name, shape=(part.shape[0], nrows, ncols), dtype=part.dtype,
                                     chunks=(1, min(nrows, 64), ncols))
            for row in range(0, nrows, part.shape[1]):
                rows = min(part.shape[1], nrows - row)
                out[:, row:row + rows] = part[:, :rows]
        for name in src:
            if name != "exchange":
                src.copy(name, dst)
        for name in src["exchange"]:
            if name not in ("data", "data_white", "data_dark"):
                src.copy(f"exchange/{name}", dst["exchange"])
    block.unlink()
    return float(truth.rotation_axis)


def peak_rss_mib() -> float:
    """The largest resident set of this process and of every child waited for (Linux: KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--projections", type=int, default=1500)
    parser.add_argument("--rows", type=int, default=512)
    parser.add_argument("--columns", type=int, default=2048)
    args = parser.parse_args()
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="bench-scale-"))).resolve()
    for folder in ("beamline", "facility/raw", "portal"):
        (workdir / folder).mkdir(parents=True, exist_ok=True)
    shape = (args.projections, args.rows, args.columns)
    scan = workdir / "beamline" / f"scan_{shape[0]}x{shape[1]}x{shape[2]}.h5"
    axis_file = scan.with_suffix(".axis")
    if not (scan.is_file() and axis_file.is_file()):
        t = time.perf_counter()
        axis_file.write_text(str(tall_scan(scan, shape)))
        print(f"scan {shape} written in {time.perf_counter() - t:.0f} s: {scan}")
    axis = float(axis_file.read_text())
    config = load_config(experiment(workdir, axis))
    recon = recon_parameters(config)
    load_before = os.getloadavg()

    # the engine alone, with the arguments the reconstruction step gives it
    alone = workdir / "engine_alone"
    shutil.rmtree(alone, ignore_errors=True)
    argv = [sys.executable, "-m", "tomocupy_gladier.engine", "recon", "--file-name", str(scan),
            "--config", str(workdir / "no-such.conf"), "--out-path-name", str(alone),
            "--reconstruction-type", "full", "--rotation-axis", str(axis), "--fbp-filter", "parzen"]
    t = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    engine_seconds = time.perf_counter() - t
    engine_rss = peak_rss_mib()
    shutil.rmtree(alone, ignore_errors=True)

    # the whole flow: transfer, reconstruction (stage, verify, manifest, swap), previews,
    # metadata, publication (links to the finished files on this one filesystem), index
    plan = plan_run(config, scan.name, recon, flow=TomocupyFlow)
    client = plan.client(background=False)
    t = time.perf_counter()
    started = client.run_flow(flow_input=plan.body, label="bench scale")
    flow_seconds = time.perf_counter() - t
    backend = local_backend(config)
    record = RunRecord(backend.get_run(started["run_id"]))
    if not record.succeeded:
        raise SystemExit(f"the flow failed: {record.failure}")
    states = {s["state_name"]: s["seconds"] for s in backend.store.state_durations(record.run_id)}
    published = workdir / "portal" / "published" / "scale" / plan.output.name
    published_bytes = sum(p.stat().st_size for p in published.rglob("*") if p.is_file())
    state_bytes = len(json.dumps(record.state))

    load_after = os.getloadavg()
    facility = Path(record.result(RECON_STATE)["output"])
    slices = sorted(facility.glob("recon_*.tiff"))
    chunk_files = [p for p in (facility / "volume.ome.zarr").rglob("*") if p.is_file() and not p.name.startswith(".")]
    floors = measure(slices, chunk_files, workdir / "floors-scratch")
    volume_bytes = sum(p.stat().st_size for p in slices)
    chunk_bytes = sum(p.stat().st_size for p in chunk_files)
    zarr_seconds = float(record.result(RECON_STATE).get("zarr", {}).get("seconds") or 0.0)
    zarr_floor = floors.zarr_step(volume_bytes, chunk_bytes)[1]
    published_files = [p for p in published.rglob("*") if p.is_file()]
    floor_of = {
        "Transfer": floors.copy(scan.stat().st_size),  # one file: one thread copies it
        RECON_STATE: engine_seconds + zarr_floor,
        "Publishv2Transfer": len(published_files) * floors.link,
    }

    def row(name: str, seconds: float, floor: float | None) -> str:
        beside = f"   floor {floor:8.2f} s  ratio {seconds / floor:6.2f}" if floor else ""
        return f"  {name:<24}{seconds:9.2f} s{beside}"

    print(f"scan {shape[0]} x {shape[1]} x {shape[2]} ({scan.stat().st_size / 1e9:.2f} GB); {floors.cores} cores; "
          f"load {load_before[0]:.2f} before, {load_after[0]:.2f} after (1-min averages)")
    print(f"floors (this run, this volume's bytes): {floors.describe()}")
    print(f"engine alone            {engine_seconds:9.1f} s   peak RSS {engine_rss:7.0f} MiB")
    whole_floor = sum(floor_of.values())  # the engine's own time, and the floors of the rest
    print(f"whole flow              {flow_seconds:9.1f} s   peak RSS {peak_rss_mib():7.0f} MiB   "
          f"floor {whole_floor:.1f} s (the engine and the floors above it)  ratio {flow_seconds / whole_floor:.2f}")
    for name, seconds in states.items():
        print(row(name, seconds, floor_of.get(name)))
    in_flow = float(record.result(RECON_STATE).get("wall_seconds") or 0.0)
    print(f"    of which tomocupy      {in_flow:6.2f} s   (alone above: {engine_seconds:.2f} s; the load moves both)")
    print(f"    of which the OME-Zarr step {zarr_seconds:6.2f} s   floor {zarr_floor:8.2f} s  ratio "
          f"{zarr_seconds / zarr_floor if zarr_floor else float('nan'):6.2f}   "
          f"{100 * zarr_seconds / in_flow if in_flow else float('nan'):.1f} % of tomocupy's time in the flow")
    recon_state = states.get(RECON_STATE, 0.0)
    publication = states.get("Publishv2Transfer", 0.0)
    print(f"reconstruction step over the engine: {100 * (recon_state - engine_seconds) / engine_seconds:+.1f} %")
    print(f"OME-Zarr step:          {100 * zarr_seconds / engine_seconds:5.1f} % of the engine's time (goal <= 10 %)")
    print(f"local publication:      {100 * publication / engine_seconds:5.1f} % of the engine's time (goal < 2 %; "
          f"{len(published_files)} files)")
    print(f"whole flow:             {flow_seconds / engine_seconds:5.2f} x the engine's time (goal <= 1.15); everything "
          f"else {100 * (flow_seconds - engine_seconds) / engine_seconds:+.1f} %")
    print(f"flow state              {state_bytes:9d} bytes (goal <= 64000; Flows' limit 200000)")
    print(f"published               {published_bytes / 1e9:9.2f} GB in {len(published_files)} files")


if __name__ == "__main__":
    main()
