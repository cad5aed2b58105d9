"""What a reconstruction takes on disk, measured, against the estimate that refuses a run up front.

For synthetic scans of a few sizes (the demo's 720 x 32 x 512 and larger), reconstructs with
the CPU engine through the reconstruction step (OME-Zarr on), makes the previews, then prints
the bytes of each part (slices, each OME-Zarr level and its stored / float32 ratio, previews,
logs and manifest) next to ``compute.disk_space.reconstruction_bytes``. The OME-Zarr ratio it
prints is what ``ZARR_STORED_RATIO`` should stay above.

    python benchmarks/bench_space.py [--sizes 720x32x512,900x64x1024] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path

from tomocupy_gladier.compute.disk_space import ZARR_STORED_RATIO, human, reconstruction_bytes
from tomocupy_gladier.compute.multiscale import ZARR_NAME, level_shapes, zarr_options
from tomocupy_gladier.compute.previews import make_previews
from tomocupy_gladier.compute.recon import expected_output
from tomocupy_gladier.demo.synthetic import write_scan
from tomocupy_gladier.tools.recon.tomocupy_recon import tomocupy_recon


def size_of(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def measure(workdir: Path, nproj: int, nrows: int, ncols: int) -> None:
    scan = workdir / f"{nproj}x{nrows}x{ncols}" / "raw" / "scan.h5"
    truth = write_scan(scan, nproj=nproj, nrows=nrows, ncols=ncols, seed=11)
    params = {"reconstruction-type": "full", "rotation-axis": float(truth.rotation_axis),
              "remove-stripe-method": "fw"}
    output = scan.parent.parent / "raw_rec" / "scan_rec"
    result = tomocupy_recon(recon=params, tomocupy={"file_name": str(scan), "output": str(output),
                                                    "logs": f"{output}.logs"}, run_id="bench")
    make_previews(recon_result=result, recon=params, run_id="bench")
    estimate = reconstruction_bytes(expected_output(scan, params, "full"), zarr_options(None), params)
    slices = sum(size_of(p) for p in output.glob("recon_*.tiff"))
    zarr = output / ZARR_NAME
    print(f"scan {nproj} x {nrows} x {ncols} ({human(size_of(scan))})")
    shapes = level_shapes((nrows, ncols, ncols))
    for level, shape in enumerate(shapes):
        stored = size_of(zarr / str(level))
        raw = math.prod(shape) * 4
        print(f"  OME-Zarr level {level} {shape}: {human(stored)}, {stored / raw:.3f} of its float32 bytes")
    parts = {"slices": slices, "OME-Zarr": size_of(zarr), "previews": size_of(output / "previews")
             + size_of(Path(f"{output}.logs") / "bench.previews"),
             "logs and manifest": size_of(Path(f"{output}.logs") / "bench.log") + size_of(output / "manifest.json")
             + size_of(output / "tomocupy.log") + size_of(output / "rec_line.txt")}
    written = size_of(output) + size_of(Path(f"{output}.logs"))
    print(f"  written {human(written)}: " + ", ".join(f"{k} {human(v)}" for k, v in parts.items()))
    print(f"  estimate {human(estimate.total)}: {estimate.describe()} "
          f"({estimate.total / written:.2f} x what was written; OME-Zarr ratio used {ZARR_STORED_RATIO})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="720x32x512,900x64x1024")
    parser.add_argument("--workdir")
    args = parser.parse_args()
    os.environ.setdefault("TOMOCUPY_GLADIER_PROGRAM", json.dumps([sys.executable, "-m", "tomocupy_gladier.engine"]))
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench_space_"))
    try:
        for size in args.sizes.split(","):
            nproj, nrows, ncols = (int(v) for v in size.split("x"))
            measure(workdir, nproj, nrows, ncols)
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
