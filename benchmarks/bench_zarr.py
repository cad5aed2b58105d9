"""The OME-Zarr step against the reconstruction step on the same volume (printed, not asserted).

Reconstructs a synthetic scan with tomocupy-cpu (``recon --reconstruction-type full``, TIFF
slices), then writes its multiscale OME-Zarr as the reconstruction step does
(compute/multiscale.py), each in its own process. Prints both wall times, the Zarr's share of
the engine's time (goal: under 15 %), both peak RSS (goal for the Zarr: under 1 GB), the time
to hash the Zarr's files (what it adds to the manifest) and the bytes written per level.

    python benchmarks/bench_zarr.py                       # 750 x 64 x 1024 (a few minutes)
    python benchmarks/bench_zarr.py --rows 512 --columns 2048 --projections 1500   # bench_scale's
    python benchmarks/bench_zarr.py --exports uint8       # with a compact copy
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine import write_big_scan  # noqa: E402
from tomocupy_gladier.compute.multiscale import DEFAULT_CHUNKS  # noqa: E402

ZARR_STEP = """
import json, pathlib, resource, sys, time
from tomocupy_gladier.compute.multiscale import write_ome_zarr
from tomocupy_gladier.compute.recon import sha256_of
folder, exports = pathlib.Path(sys.argv[1]), [e for e in sys.argv[3].split(",") if e]
chunks = [int(c) for c in sys.argv[2].split(",")]
slices = sorted(folder.glob("recon_*.tiff"))
started = time.perf_counter()
summary = write_ome_zarr(slices, folder / "volume.ome.zarr", 1.0, chunks, exports)
summary["seconds"] = time.perf_counter() - started
summary["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
started = time.perf_counter()
files = [p for p in folder.glob("volume*.ome.zarr/**/*") if p.is_file()]
for path in files:  # what the manifest adds for the Zarr (the step hashes in a thread per core)
    sha256_of(path)
summary["sha256_seconds"], summary["zarr_files"] = time.perf_counter() - started, len(files)
print(json.dumps(summary))
"""


def child_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--projections", type=int, default=750)
    ap.add_argument("--rows", type=int, default=64)
    ap.add_argument("--columns", type=int, default=1024)
    ap.add_argument("--chunks", type=int, nargs=3, default=list(DEFAULT_CHUNKS), help="z y x")
    ap.add_argument("--exports", default="", help="comma-separated: uint8,uint16")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-zarr-") as tmp:
        scan = Path(tmp) / "raw" / "scan.h5"
        scan.parent.mkdir()
        axis = a.columns / 2 + 3.25
        write_big_scan(scan, a.projections, a.rows, a.columns, axis)
        engine = [sys.executable, "-m", "tomocupy_gladier.engine", "recon", "--file-name", str(scan),
                  "--reconstruction-type", "full", "--rotation-axis", str(axis), "--save-format", "tiff",
                  "--nsino-per-chunk", "8", "--config", "/nonexistent.conf"]
        started = time.perf_counter()
        subprocess.run(engine, check=True, capture_output=True, cwd=ROOT)
        engine_s, engine_rss = time.perf_counter() - started, child_rss_mib()
        [folder] = (Path(tmp) / "raw_rec").glob("*_rec")
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", ZARR_STEP, str(folder), ",".join(map(str, a.chunks)), a.exports],
                              check=True, capture_output=True, text=True, cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        zarr_wall = time.perf_counter() - started
        summary = json.loads(done.stdout.strip().splitlines()[-1])
    slab = a.chunks[0] * a.columns * a.columns * 4
    print(f"volume {a.rows} x {a.columns} x {a.columns} float32 ({a.rows * a.columns ** 2 * 4 / 2**20:.0f} MiB) "
          f"from {a.projections} projections; {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    print(f"reconstruction (tomocupy-cpu) {engine_s:8.1f} s   peak RSS {engine_rss:7.0f} MiB")
    print(f"OME-Zarr step                 {summary['seconds']:8.1f} s   ({zarr_wall:.1f} s with start-up; "
          f"{100 * summary['seconds'] / engine_s:.1f} % of the engine's time)")
    print(f"OME-Zarr peak RSS             {summary['peak_rss_mib']:8.0f} MiB (chunks {a.chunks}; a level-0 slab of {a.chunks[0]} slices "
          f"would be {slab / 2**20:.0f} MiB)")
    print(f"sha256 of its {summary['zarr_files']} files   {summary['sha256_seconds']:8.1f} s   (one thread; "
          "the manifest adds this for the Zarr, spread over the cores)")
    for image in [summary] + summary.get("exports", []):
        for level in image["levels"]:
            print(f"  {image['path']}/{level['path']}  {'x'.join(map(str, level['shape'])):>16}  "
                  f"{level['bytes'] / 2**20:9.1f} MiB in {level['files']} files")


if __name__ == "__main__":
    main()
