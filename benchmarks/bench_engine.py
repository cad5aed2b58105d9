"""tomocupy-cpu speed and memory figures (printed, not asserted).

1. Seconds per slice of the finufft gridding FBP for 2048-wide slices from 1500 projections,
   and algotom's ``fbp_reconstruction(..., gpu=False)`` on the same sinogram in the same run.
2. A streamed ``tomocupy-cpu recon --reconstruction-type full`` over a 1500 x 256 x 2048 uint16
   scan written to a temporary directory: wall time and the child process's peak RSS.

    python benchmarks/bench_engine.py            # full sizes (a few minutes, ~6 GB of temp disk)
    python benchmarks/bench_engine.py --quick    # 750 x 32 x 1024
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tomocupy_gladier.engine.fbp import FourierRec  # noqa: E402
from tomocupy_gladier.demo.synthetic import FLAT_COUNTS, _project, default_ellipsoids  # noqa: E402


def sinograms(nproj: int, n: int, rows: int, axis: float) -> np.ndarray:
    theta = np.linspace(0, np.pi, nproj, endpoint=False)
    ells = default_ellipsoids(n, rows, axis - n / 2)
    return _project(ells, theta, rows, n, axis).transpose(1, 0, 2).copy()


def bench_slices(nproj: int, n: int, nslices: int) -> None:
    axis = n / 2 + 3.25
    sino = sinograms(nproj, n, nslices, axis)
    theta = np.linspace(0, np.pi, nproj, endpoint=False)
    t = time.perf_counter()
    rec = FourierRec(n, theta, "parzen")
    rec.reconstruct(sino, axis)  # builds the NUFFT plan (sorting of the polar points), FFT plans
    plan = time.perf_counter() - t
    runs = []
    for _ in range(3):
        t = time.perf_counter()
        rec.reconstruct(sino, axis)
        runs.append((time.perf_counter() - t) / nslices)
    ours = min(runs)
    print(f"[slices] {nproj} projections x {n} columns, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.2f} at start (other jobs on the machine slow every figure)")
    print(f"[slices] tomocupy-cpu (finufft gridding): {ours:.3f} s/slice best of 3 "
          f"(all: {', '.join(f'{r:.3f}' for r in runs)}; first call incl. plans {plan / nslices:.3f} s/slice)")

    from algotom.rec.reconstruction import fbp_reconstruction

    small = sinograms(90, 64, 1, 32.0)[0]
    th_small = np.linspace(0, np.pi, 90, endpoint=False)
    for _ in range(2):  # numba compile and warm-up, not timed
        fbp_reconstruction(small, 32.0, angles=th_small, apply_log=False, gpu=False, filter_name="hann")
    t = time.perf_counter()
    fbp_reconstruction(sino[0], axis, angles=theta, apply_log=False, gpu=False, filter_name="hann")
    alg = time.perf_counter() - t
    print(f"[slices] algotom fbp_reconstruction(gpu=False): {alg:.3f} s/slice")
    print(f"[slices] speed-up vs algotom: {alg / ours:.1f}x")


def write_big_scan(path: Path, nproj: int, nrows: int, n: int, axis: float, block: int = 8) -> None:
    """Write a uint16 DXchange scan block by block (bounded memory)."""
    rng = np.random.default_rng(0)
    theta_deg = np.linspace(0, 180, nproj, endpoint=False)
    line = sinograms(nproj, n, block, axis).transpose(1, 0, 2)  # (nproj, block, n)
    with h5py.File(path, "w") as f:
        d = f.create_dataset("/exchange/data", (nproj, nrows, n), np.uint16, chunks=(nproj // 4, 1, n))
        for r0 in range(0, nrows, block):
            k = min(block, nrows - r0)
            exp = FLAT_COUNTS * np.exp(-line[:, :k] * (1 + 0.1 * r0 / nrows))
            exp += np.sqrt(exp) * rng.standard_normal(exp.shape, dtype=np.float32) + 100
            d[:, r0 : r0 + k] = np.clip(exp, 0, 65535).astype(np.uint16)
        f["/exchange/data_white"] = np.full((10, nrows, n), FLAT_COUNTS + 100, np.uint16)
        f["/exchange/data_dark"] = np.full((5, nrows, n), 100, np.uint16)
        f["/exchange/theta"] = theta_deg


def bench_stream(nproj: int, nrows: int, n: int, save_format: str) -> None:
    axis = n / 2 + 3.25
    with tempfile.TemporaryDirectory(prefix="bench-tomocupy-cpu-") as tmp:
        scan = Path(tmp) / "raw" / "scan.h5"
        scan.parent.mkdir()
        t = time.perf_counter()
        write_big_scan(scan, nproj, nrows, n, axis)
        print(f"[stream] wrote {nproj} x {nrows} x {n} uint16 scan "
              f"({scan.stat().st_size / 2**30:.2f} GiB) in {time.perf_counter() - t:.1f} s")
        cmd = [sys.executable, "-m", "tomocupy_gladier.engine", "recon", "--verbose", "--file-name", str(scan),
               "--reconstruction-type", "full", "--rotation-axis", str(axis), "--save-format", save_format,
               "--nsino-per-chunk", "8", "--config", "/nonexistent.conf"]
        t = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
        wall = time.perf_counter() - t
        if p.returncode:
            print(p.stderr)
            raise SystemExit(f"streamed run failed ({p.returncode})")
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20  # KiB -> GiB
        log_time = [ln for ln in p.stderr.splitlines() if "Reconstruction time" in ln]
        print(f"[stream] recon full, {save_format}: wall {wall:.1f} s ({wall / nrows:.3f} s/slice incl. "
              f"start-up, read, pre-processing, write); {log_time[-1].split(' - ')[-1] if log_time else ''}")
        print(f"[stream] peak RSS of the tomocupy-cpu process: {peak:.2f} GiB")
        for ln in p.stderr.splitlines():
            if "main thread:" in ln:
                print(f"[stream] {ln.split(' - ', 1)[-1]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller sizes (about half a minute)")
    ap.add_argument("--skip-stream", action="store_true")
    ap.add_argument("--save-format", default="tiff", choices=["tiff", "h5"])
    a = ap.parse_args()
    if a.quick:
        bench_slices(750, 1024, 4)
        if not a.skip_stream:
            bench_stream(750, 32, 1024, a.save_format)
    else:
        bench_slices(1500, 2048, 4)
        if not a.skip_stream:
            bench_stream(1500, 256, 2048, a.save_format)


if __name__ == "__main__":
    main()
