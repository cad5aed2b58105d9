"""The OME-Zarr step against the reconstruction on the same volume, beside its floors (printed,
not asserted).

Reconstructs a synthetic scan with tomocupy-cpu (``recon --reconstruction-type full``, TIFF
slices), then writes its multiscale OME-Zarr as the reconstruction step does
(compute/multiscale.py: the sha256 of every slice read and every chunk written taken on the way,
then the manifest's entries), each in its own process: once pinned to one core (one worker),
once on all cores, and once on all cores without the checksums (the Zarr alone). Prints the engine's time, the step's on 1 core and on all (and the speed-up),
beside each the floor for the same bytes measured in the same run (benchmarks/floors.py: read
and write bandwidth, Blosc, sha256 and the 2 x 2 x 2 mean on this volume's own bytes) and the
ratio; the step's share of the engine's time (goal: at most 10 %), both peak RSS (goal for the
step: under 1 GB), what the manifest still had to read, and the bytes per level.

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
from floors import measure  # noqa: E402
from tomocupy_gladier.compute.multiscale import DEFAULT_CHUNKS  # noqa: E402

ZARR_STEP = """
import json, os, pathlib, resource, shutil, sys, time
folder, exports, workers = pathlib.Path(sys.argv[1]), [e for e in sys.argv[3].split(",") if e], int(sys.argv[4])
hashing = sys.argv[5] == "hash"
if workers == 1:
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, as a 1-core machine
from tomocupy_gladier.compute.checksums import Digests, files_under, manifest_entries
from tomocupy_gladier.compute.multiscale import write_ome_zarr
chunks = [int(c) for c in sys.argv[2].split(",")]
slices = sorted(folder.glob("recon_*.tiff"))
target = folder / "volume.ome.zarr"
for old in folder.glob("volume*.ome.zarr"):
    shutil.rmtree(old)
digests = Digests() if hashing else None
started = time.perf_counter()
summary = write_ome_zarr(slices, target, 1.0, chunks, exports, digests=digests, workers=workers)
summary["seconds"] = time.perf_counter() - started
read_back = []
import tomocupy_gladier.compute.checksums as checksums
hash_file = checksums.sha256_of
checksums.sha256_of = lambda path: read_back.append(path.stat().st_size) or hash_file(path)
started = time.perf_counter()
entries = manifest_entries(folder, files_under(folder), digests, workers)
summary["manifest_seconds"] = time.perf_counter() - started
summary["manifest_read"] = [len(read_back), sum(read_back)]
summary["files"] = len(entries)
summary["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(summary))
"""


def child_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux


def zarr_step(folder: Path, chunks: list[int], exports: str, workers: int, hashing: bool = True) -> dict:
    done = subprocess.run([sys.executable, "-c", ZARR_STEP, str(folder), ",".join(map(str, chunks)), exports,
                           str(workers), "hash" if hashing else "no"], check=True, capture_output=True, text=True,
                          cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--projections", type=int, default=750)
    ap.add_argument("--rows", type=int, default=64)
    ap.add_argument("--columns", type=int, default=1024)
    ap.add_argument("--chunks", type=int, nargs=3, default=list(DEFAULT_CHUNKS), help="z y x")
    ap.add_argument("--exports", default="", help="comma-separated: uint8,uint16")
    a = ap.parse_args()
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="bench-zarr-") as tmp:
        scan = Path(tmp) / "raw" / "scan.h5"
        scan.parent.mkdir()
        axis = a.columns / 2 + 3.25
        write_big_scan(scan, a.projections, a.rows, a.columns, axis)
        engine = [sys.executable, "-m", "tomocupy_gladier.engine", "recon", "--file-name", str(scan),
                  "--reconstruction-type", "full", "--rotation-axis", str(axis), "--save-format", "tiff",
                  "--nsino-per-chunk", "8", "--config", "/nonexistent.conf"]
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        subprocess.run(engine, check=True, capture_output=True, cwd=ROOT)
        engine_s, engine_rss = time.perf_counter() - started, child_rss_mib()
        [folder] = (Path(tmp) / "raw_rec").glob("*_rec")
        one = zarr_step(folder, a.chunks, a.exports, 1)
        unhashed = zarr_step(folder, a.chunks, a.exports, cores, hashing=False)
        everyone = zarr_step(folder, a.chunks, a.exports, cores)
        slices = sorted(folder.glob("recon_*.tiff"))
        chunk_files = [p for p in (folder / "volume.ome.zarr").rglob("*") if p.is_file() and not p.name.startswith(".")]
        floors = measure(slices, chunk_files, Path(tmp) / "scratch", cores)
        volume_bytes = sum(p.stat().st_size for p in slices)
        chunk_bytes = sum(p.stat().st_size for p in chunk_files)
        load_after = os.getloadavg()[0]
    floor_one, floor_all = floors.zarr_step(volume_bytes, chunk_bytes)
    bare_floor = floors.zarr_step(volume_bytes, chunk_bytes, hashing=False)[1]
    slab = a.chunks[0] * a.columns * a.columns * 4
    print(f"volume {a.rows} x {a.columns} x {a.columns} float32 ({volume_bytes / 2**20:.0f} MiB of slices) from "
          f"{a.projections} projections; {cores} cores, load {load_before:.2f} before, {load_after:.2f} after")
    print(f"floors (this run, this volume's bytes): {floors.describe()}")
    print(f"reconstruction (tomocupy-cpu) {engine_s:8.1f} s   peak RSS {engine_rss:7.0f} MiB")
    for label, step, floor in (("OME-Zarr step on 1 core ", one, floor_one),
                               (f"OME-Zarr step on {cores} cores", everyone, floor_all)):
        print(f"{label}  {step['seconds']:8.1f} s   floor {floor:6.1f} s  ratio {step['seconds'] / floor:4.2f}   "
              f"{100 * step['seconds'] / engine_s:5.1f} % of the engine's time (goal <= 10 %)   "
              f"peak RSS {step['peak_rss_mib']:5.0f} MiB")
    print(f"speed-up on {cores} cores  {one['seconds'] / everyone['seconds']:8.2f} x (goal >= 1.7 on 2 cores)")
    print(f"without the checksums on {cores} cores {unhashed['seconds']:6.1f} s   floor {bare_floor:6.1f} s  ratio "
          f"{unhashed['seconds'] / bare_floor:4.2f}   {100 * unhashed['seconds'] / engine_s:5.1f} % of the engine's time "
          "(the Zarr alone, as before the manifest's hashing moved into it)")
    print(f"OME-Zarr peak RSS             {everyone['peak_rss_mib']:8.0f} MiB (goal < 1024; chunks {a.chunks}; a "
          f"level-0 slab of {a.chunks[0]} slices would be {slab / 2**20:.0f} MiB)")
    count, nbytes = everyone["manifest_read"]
    print(f"manifest of {everyone['files']} files: {everyone['manifest_seconds']:.2f} s, read back for it: {count} "
          f"files, {nbytes / 2**20:.1f} MiB (the slices and chunks were hashed as they were read and written)")
    for image in [everyone] + everyone.get("exports", []):
        for level in image["levels"]:
            print(f"  {image['path']}/{level['path']}  {'x'.join(map(str, level['shape'])):>16}  "
                  f"{level['bytes'] / 2**20:9.1f} MiB in {level['files']} files")


if __name__ == "__main__":
    main()
