"""The GPU path of issue 7, measured in one run: tomocupy direct vs through tomocupy-gladier.

Phases (each prints one or two lines; all figures also go to ``<out>/results.json``):

  scan     write a synthetic DXchange scan (default 1500 x 256 x 2048, ``--small`` 360 x 16 x 512)
  direct   ``<engine> recon ...`` as a subprocess, timed (same arguments the wrapper builds)
  wrapper  the compute function ``tomocupy_recon`` itself, timed (same executable, parameters)
  flow     TomocupyReconFlow on the local backend (needs gladier), timed per state
  post     the reconstruction step's post-processing (the OME-Zarr with the sha256 of every slice
           read and chunk written, then the manifest's entries) on the direct run's slices, in a
           fresh process on all of this machine's cores, timed (needs zarr 3, numcodecs and
           ome-zarr-models)
  compare  ``tomocupy-cpu`` on the same scan; Pearson r and least-squares scale of the engine's
           slices against it over the common rows (whole slice and field-of-view disc)

Targets: wrapper overhead <= 5 % of the direct time; post-processing <= 50 % of tomocupy's
reconstruction time; r >= 0.99 and scale 0.95-1.05. The wrapper runs the whole compute
function, post-processing included (its OME-Zarr seconds are reported beside it).

    python benchmarks/bench_gpu_path.py --out gpu-check                 # GPU machine, real tomocupy
    python benchmarks/bench_gpu_path.py --engine tomocupy-cpu --small --out /tmp/check   # anywhere

``--engine tomocupy-cpu`` means this checkout's engine (``python -m tomocupy_gladier.engine``),
so the comparison then compares tomocupy-cpu with itself (r = 1). Phases ``direct``,
``wrapper`` and ``compare`` need only numpy, h5py and tifffile (the compute function is taken
from its source, as Globus Compute ships it); ``flow`` is skipped when gladier is missing and
``compare`` when tomocupy-cpu cannot run (finufft missing).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FACILITY = "9b0e7c1a-0000-4000-8000-00000000fac1"
ENDPOINT = "9b0e7c1a-0000-4000-8000-0000000000e1"
CPU_ENGINE = "tomocupy-cpu"


class CheckError(Exception):
    """A failure reported as one clear message (no traceback)."""


# ---------------------------------------------------------------------------- helpers



def _hms(seconds: int) -> tuple[int, int, int]:
    return seconds // 3600, seconds % 3600 // 60, seconds % 60

def engine_program(engine: str) -> list[str]:
    """The command that runs ``engine``; ``tomocupy-cpu`` is this checkout's engine module."""
    if engine == CPU_ENGINE:
        return [sys.executable, "-m", "tomocupy_gladier.engine"]
    found = shutil.which(engine)
    if not found:
        hint = ("on a GPU machine: source .gpu/setup-tomocupy.sh (docs/polaris.md, "
                "'Verifying the GPU path'); without a GPU use --engine tomocupy-cpu")
        raise CheckError(f"{engine!r} is not installed (not found on PATH); {hint}")
    return [found]


def engine_env() -> dict[str, str]:
    """The environment of every run: this checkout importable (for tomocupy-cpu)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def load_compute_function() -> Callable[..., dict]:
    """``tomocupy_recon`` compiled from its source alone (as Globus Compute runs it: no gladier)."""
    path = ROOT / "tomocupy_gladier" / "tools" / "recon" / "tomocupy_recon.py"
    tree = ast.parse(path.read_text(), str(path))
    func = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "tomocupy_recon")
    namespace: dict[str, Any] = {}
    code = compile(ast.Module(body=[func], type_ignores=[]), str(path), "exec")
    exec(code, namespace)  # noqa: S102 - the project's own source, run as Globus Compute runs it
    return namespace["tomocupy_recon"]


def gpu_info() -> dict[str, Any]:
    """``CUDA_VISIBLE_DEVICES`` and the GPU names from nvidia-smi (None where unavailable)."""
    info: dict[str, Any] = {"cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"), "gpus": None}
    if shutil.which("nvidia-smi"):
        try:
            p = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                                "--format=csv,noheader"], capture_output=True, text=True, timeout=20, check=False)
            if p.returncode == 0:
                info["gpus"] = [ln.strip() for ln in p.stdout.splitlines() if ln.strip()]
        except (OSError, subprocess.TimeoutExpired):
            pass
    return info


def clean_log(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def log_axis(text: str) -> float | None:
    found = re.findall(r"set rotai?on\s+axis\s+([-+0-9.eE]+)", clean_log(text))
    return float(found[-1]) if found else None


def log_recon_seconds(text: str) -> float | None:
    found = re.findall(r"Reconstruction time\s+([-+0-9.eE]+)\s*s", clean_log(text))
    return float(found[-1]) if found else None


def tail(path: Path, lines: int = 15) -> str:
    return "\n".join(clean_log(path.read_text(errors="replace")).splitlines()[-lines:]) if path.exists() else ""


def fresh(folder: Path) -> None:
    """Remove a reconstruction folder and its siblings (``.h5``, log) so every run writes anew."""
    shutil.rmtree(folder, ignore_errors=True)
    for sibling in folder.parent.glob(folder.name + ".*"):
        if sibling.is_dir():
            shutil.rmtree(sibling, ignore_errors=True)
        else:
            sibling.unlink()


def tiff_rows(folder: Path) -> dict[int, Path]:
    """``{row: path}`` of tomocupy's ``recon_{row:05d}.tiff`` files in ``folder``."""
    rows = {}
    for p in folder.glob("recon_*.tiff"):
        m = re.fullmatch(r"recon_(\d+)\.tiff", p.name)
        if m:
            rows[int(m.group(1))] = p
    return rows


def compare(test: Path, reference: Path) -> dict[str, Any]:
    """Pearson r and least-squares scale (test ~ scale x reference) over the common rows,
    on whole slices and inside the field-of-view disc (radius n/2 - 2)."""
    import numpy as np
    import tifffile

    a_rows, b_rows = tiff_rows(test), tiff_rows(reference)
    common = sorted(set(a_rows) & set(b_rows))
    if not common:
        raise CheckError(f"no common slices between {test} ({len(a_rows)} files) and "
                         f"{reference} ({len(b_rows)} files)")
    sums = {k: np.zeros(6) for k in ("slice", "disc")}  # n, Sa, Sb, Saa, Sbb, Sab
    mask = None
    for row in common:
        a = tifffile.imread(a_rows[row]).astype(np.float64)
        b = tifffile.imread(b_rows[row]).astype(np.float64)
        if a.shape != b.shape:
            raise CheckError(f"slice {row}: shapes differ, {a.shape} vs {b.shape}")
        if mask is None:
            yy, xx = np.indices(a.shape)
            cy, cx = (a.shape[0] - 1) / 2, (a.shape[1] - 1) / 2
            mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= (min(a.shape) / 2 - 2) ** 2
        for key, (x, y) in {"slice": (a.ravel(), b.ravel()), "disc": (a[mask], b[mask])}.items():
            sums[key] += [x.size, x.sum(), y.sum(), x @ x, y @ y, x @ y]
    out: dict[str, Any] = {"rows": [common[0], common[-1]], "slices": len(common)}
    for key, (n, sa, sb, saa, sbb, sab) in sums.items():
        cov = sab - sa * sb / n
        var_a, var_b = saa - sa * sa / n, sbb - sb * sb / n
        r = cov / np.sqrt(var_a * var_b) if var_a > 0 and var_b > 0 else float("nan")
        out[f"r_{key}"] = round(float(r), 6)
        out[f"scale_{key}"] = round(float(sab / sbb), 6) if sbb > 0 else None
    return out


class Results:
    """The figures, rewritten to ``<out>/results.json`` after every phase."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.data: dict[str, Any] = {}
        out.mkdir(parents=True, exist_ok=True)

    def put(self, phase: str, figures: dict[str, Any]) -> None:
        self.data[phase] = figures
        (self.out / "results.json").write_text(json.dumps(self.data, indent=2, default=str))


# ---------------------------------------------------------------------------- phases


def phase_scan(work: Path, shape: tuple[int, int, int], seed: int) -> tuple[Path, float, dict]:
    """Write the scan into ``work/facility`` (or reuse the one a kept work folder holds for the
    same shape and seed); returns its path, true axis and figures."""
    nproj, nrows, ncols = shape
    scan = work / "facility" / "scan.h5"
    stamp = scan.with_suffix(".json")
    wanted = {"shape": list(shape), "seed": seed}
    if scan.is_file() and stamp.is_file() and json.loads(stamp.read_text()).get("made") == wanted:
        axis, seconds, how = json.loads(stamp.read_text())["true_axis"], 0.0, "reused"
    else:
        from tomocupy_gladier.demo.synthetic import write_scan

        stamp.unlink(missing_ok=True)
        t = time.perf_counter()
        # no zingers: no dezinger runs, and their streaks would only add noise to the comparison
        axis = write_scan(scan, nproj=nproj, nrows=nrows, ncols=ncols, seed=seed, zingers=False).rotation_axis
        seconds, how = time.perf_counter() - t, "written"
        stamp.write_text(json.dumps({"made": wanted, "true_axis": axis}))
    figures = {"shape": list(shape), "path": str(scan), "bytes": scan.stat().st_size,
               "true_axis": axis, "seconds": round(seconds, 2), "seed": seed, "how": how}
    print(f"[scan]    {nproj} x {nrows} x {ncols} uint16, {scan.stat().st_size / 2**30:.2f} GiB, "
          f"{how} in {seconds:.1f} s; true axis {axis:.2f}")
    return scan, float(axis), figures


def direct_argv(program: list[str], scan: Path, recon: dict[str, Any]) -> list[str]:
    """The command line the wrapper builds for these parameters (its own --config path aside)."""
    no_config = Path(tempfile.gettempdir()) / f"bench-gpu-path-{uuid.uuid4().hex}.conf"
    argv = program + [recon.get("command", "recon"), "--file-name", str(scan), "--config", str(no_config)]
    for name, value in recon.items():
        if name != "command":
            argv += [f"--{name}", str(value)]
    return argv


def run_direct(argv: list[str], log: Path, timeout: float) -> tuple[float, str]:
    """Run one direct command with its output in ``log``; returns (seconds, log text)."""
    with open(log, "wb") as fh:
        t = time.perf_counter()
        try:
            rc = subprocess.run(argv, stdout=fh, stderr=subprocess.STDOUT, env=engine_env(),
                                timeout=timeout, check=False).returncode
        except subprocess.TimeoutExpired:
            raise CheckError(f"direct run exceeded {timeout:.0f} s; log {log}") from None
        seconds = time.perf_counter() - t
    if rc != 0:
        raise CheckError(f"direct run exited {rc}: {' '.join(argv)}\n{tail(log)}")
    return seconds, log.read_text(errors="replace")


def phases_direct_wrapper(program: list[str], scan: Path, recon: dict[str, Any], work: Path,
                          repeat: int, timeout: float, logs: Path) -> tuple[dict, dict]:
    """Alternate direct and wrapper runs ``repeat`` times each (fresh output every time)."""
    func = load_compute_function()
    direct_out, wrapper_out = work / "direct_rec", work / "wrapper_rec"
    d_times: list[float] = []
    w_times: list[float] = []
    d_fig: dict[str, Any] = {}
    w_fig: dict[str, Any] = {}
    def direct(i: int) -> None:
        nonlocal d_fig
        fresh(direct_out)
        argv = direct_argv(program, scan, {**recon, "out-path-name": str(direct_out)})
        seconds, text = run_direct(argv, logs / f"direct-{i}.log", timeout)
        d_times.append(seconds)
        d_fig = {"command": argv, "rotation_axis": log_axis(text), "reconstruction_seconds":
                 log_recon_seconds(text), "files": len(tiff_rows(direct_out))}
        print(f"[direct]  run {i + 1}/{repeat}: {seconds:.2f} s "
              f"(tomocupy's reconstruction time {d_fig['reconstruction_seconds']})")

    def wrapper(i: int) -> None:
        nonlocal w_fig
        fresh(wrapper_out)
        data = {"recon": dict(recon), "run_id": f"bench-{i}",
                "tomocupy": {"file_name": str(scan), "output": str(wrapper_out),
                             "logs": f"{wrapper_out}.logs", "timeout": timeout}}
        # the endpoint, not the input, chooses the program
        os.environ["TOMOCUPY_GLADIER_PROGRAM"] = json.dumps(program)
        os.environ["PYTHONPATH"] = engine_env()["PYTHONPATH"]
        t = time.perf_counter()
        try:
            result = func(**data)
        except Exception as exc:  # noqa: BLE001 - its errors carry the command and the log tail
            raise CheckError(f"tomocupy_recon failed: {exc}") from None
        w_times.append(time.perf_counter() - t)
        shutil.copy(result["log_file"], logs / f"wrapper-{i}.log")
        w_fig = {"command": result["command"], "rotation_axis": result["rotation_axis"],
                 "reconstruction_seconds": result["reconstruction_seconds"],
                 "function_wall_seconds": result["wall_seconds"], "files": result["file_count"],
                 "zarr_seconds": (result.get("zarr") or {}).get("seconds"),
                 "tool": result["tool"], "tool_version": result["tool_version"], "gpu": result["gpu"]}
        print(f"[wrapper] run {i + 1}/{repeat}: {w_times[-1]:.2f} s (program alone "
              f"{result['wall_seconds']:.2f} s; tomocupy's reconstruction time {w_fig['reconstruction_seconds']}; "
              f"OME-Zarr {w_fig['zarr_seconds']} s)")

    # alternate which goes first, so neither always meets a warmer cache or a quieter machine
    for i in range(repeat):
        for step in ((direct, wrapper) if i % 2 == 0 else (wrapper, direct)):
            step(i)
    fresh(wrapper_out)

    def strip(argv: list[str]) -> list[str]:
        """A command without its --config value and output folder (those differ by design)."""
        out, skip = [], False
        for a in argv:
            if skip:
                skip = False
                continue
            if a in ("--config", "--out-path-name"):
                skip = True
                continue
            out.append(a)
        return out

    same = strip(d_fig["command"]) == strip(w_fig["command"])
    d_best, w_best = min(d_times), min(w_times)
    d_fig.update(seconds=[round(s, 3) for s in d_times], best=round(d_best, 3),
                 median=round(statistics.median(d_times), 3), output=str(direct_out))
    w_fig.update(seconds=[round(s, 3) for s in w_times], best=round(w_best, 3),
                 median=round(statistics.median(w_times), 3), same_command_as_direct=same,
                 overhead_percent=round(100 * (w_best - d_best) / d_best, 2),
                 overhead_percent_median=round(100 * (statistics.median(w_times) - statistics.median(d_times))
                                               / statistics.median(d_times), 2))
    print(f"[wrapper] overhead {w_fig['overhead_percent']:+.2f} % best-of-{repeat} "
          f"({w_fig['overhead_percent_median']:+.2f} % median); same command line: {same}")
    return d_fig, w_fig


def phase_flow(program: list[str], scan: Path, recon: dict[str, Any], work: Path, timeout: float,
               logs: Path) -> dict[str, Any]:
    """TomocupyReconFlow on the local backend; figures from its run store."""
    try:
        import gladier  # noqa: F401
    except ImportError:
        print("[flow]    skipped: gladier is not installed here (carry the project's wheels; "
              "see benchmarks/run_gpu_check.sh)")
        return {"skipped": "gladier not installed"}
    from tomocupy_gladier.tools.registry import config_from_dict
    from tomocupy_gladier.planning.flow_input import build_flow_input
    from tomocupy_gladier.flows import TomocupyReconFlow
    from tomocupy_gladier.clients.client_factory import local_backend
    from tomocupy_gladier.clients.gladier_local import local_client
    from tomocupy_gladier.runs.run_record import RECON_STATE, RunRecord

    out = work / "flow_rec"
    fresh(out)
    raw = {
        "experiment": {"name": "gpu-check", "backend": "local"},
        "facility": {"collection": FACILITY, "path": "/" + scan.parent.name},
        # a job of timeout + 10 min: tomocupy's limit < walltime - 5 min <= the step's wait
        "compute": {"endpoint": ENDPOINT, "executable": program, "timeout": timeout,
                    "wait_time": int(timeout) + 600, "env": {"PYTHONPATH": engine_env()["PYTHONPATH"]},
                    "pbs": {"walltime": "{:02d}:{:02d}:{:02d}".format(*_hms(int(timeout) + 600))}},
        # the collection's root holds the scan's folder and the output folder
        "local": {"state_dir": "state", "collections": {FACILITY: str(work)}},
    }
    config = config_from_dict(raw, work / "experiment.toml")
    body = build_flow_input(config, scan.name, {**recon, "out-path-name": str(out)}, flow="recon")
    backend = local_backend(config)
    try:
        client = local_client(TomocupyReconFlow, backend, recon_wait_time=config.wait_time)
        t = time.perf_counter()
        record = client.run_flow(flow_input=body, label="gpu-check", tags=["benchmark"])
        if record["status"] == "ACTIVE":
            record = backend.wait(record["run_id"], timeout=timeout)
        seconds = time.perf_counter() - t
        states = backend.store.state_durations(record["run_id"])
    finally:
        backend.close()
    result = RunRecord(record).result(RECON_STATE)
    if result.get("log_file") and Path(result["log_file"]).exists():
        shutil.copy(result["log_file"], logs / "flow.log")
    fresh(out)
    figures = {"status": record["status"], "run_id": record["run_id"], "seconds": round(seconds, 3),
               "states": {s["state_name"]: round(s["seconds"], 3) for s in states},
               "rotation_axis": result.get("rotation_axis"),
               "reconstruction_seconds": result.get("reconstruction_seconds"),
               "files": result.get("file_count")}
    per_state = ", ".join(f"{k} {v:.2f}" for k, v in figures["states"].items() if v >= 0.005)
    print(f"[flow]    {record['status']} in {seconds:.2f} s: {per_state}")
    if record["status"] != "SUCCEEDED":
        details = record.get("details") or {}
        figures["failure"] = f"{details.get('code')}: {str(details.get('description'))[:2000]}"
        print(f"[flow]    failure: {figures['failure'][:400]}")
    return figures


POST_STEP = """
import json, os, pathlib, resource, sys, time
started = time.perf_counter()
from tomocupy_gladier.compute.checksums import Digests, available_cores, files_under, manifest_entries
from tomocupy_gladier.compute.multiscale import ZARR_NAME, write_ome_zarr
folder = pathlib.Path(sys.argv[1])
slices = sorted(folder.glob("recon_*.tiff"))
imported = time.perf_counter()
digests = Digests()
summary = write_ome_zarr(slices, folder / ZARR_NAME, None, digests=digests)
zarr_done = time.perf_counter()
entries = manifest_entries(folder, files_under(folder), digests)
done = time.perf_counter()
print(json.dumps({"seconds": round(done - started, 3), "import_seconds": round(imported - started, 3),
                  "zarr_seconds": round(zarr_done - imported, 3), "manifest_seconds": round(done - zarr_done, 3),
                  "workers": summary["workers"], "cores": available_cores(), "slices": len(slices),
                  "slice_bytes": sum(p.stat().st_size for p in slices), "files": len(entries),
                  "zarr_bytes": sum(level["bytes"] for level in summary["levels"]),
                  "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))
"""


def phase_post(folder: Path, timeout: float, logs: Path) -> dict[str, Any]:
    """The reconstruction step's post-processing (OME-Zarr, the digests of every slice and chunk,
    the manifest's entries) on the engine's slices in ``folder``, in a fresh process on every
    core, as the step runs it after tomocupy; the Zarr it writes is removed afterwards."""
    try:
        import numcodecs  # noqa: F401
        import ome_zarr_models  # noqa: F401
        import zarr
    except ImportError as exc:
        print(f"[post]    skipped: {exc.name} is not installed here (carry the project's wheels; see "
              "benchmarks/run_gpu_check.sh)")
        return {"skipped": f"{exc.name} not installed"}
    if int(zarr.__version__.split(".")[0]) < 3:
        print(f"[post]    skipped: zarr {zarr.__version__} here, the project needs zarr 3 (carry its wheel)")
        return {"skipped": f"zarr {zarr.__version__}"}
    log = logs / "post.log"
    try:
        done = subprocess.run([sys.executable, "-c", POST_STEP, str(folder)], capture_output=True, text=True,
                              env=engine_env(), timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise CheckError(f"the post-processing exceeded {timeout:.0f} s") from None
    finally:
        shutil.rmtree(folder / "volume.ome.zarr", ignore_errors=True)
    log.write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise CheckError(f"the post-processing exited {done.returncode}:\n{tail(log)}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"[post]    OME-Zarr and manifest of {figures['slices']} slices ({figures['slice_bytes'] / 2**30:.2f} GiB) on "
          f"{figures['workers']} cores: {figures['seconds']:.2f} s (imports {figures['import_seconds']:.2f}, "
          f"Zarr {figures['zarr_seconds']:.2f}, manifest {figures['manifest_seconds']:.2f}); peak RSS "
          f"{figures['peak_rss_mib']} MiB")
    return figures


def centred_rows(count: int, nrows: int) -> tuple[int, int]:
    """``(start, end)`` of ``count`` rows in the middle of the scan (0 or too many = all)."""
    if not 0 < count < nrows:
        return 0, nrows
    start = (nrows - count) // 2
    return start, start + count


def phase_compare(engine: str, scan: Path, recon: dict[str, Any], rows: tuple[int, int], nrows: int,
                  engine_out: Path, work: Path, timeout: float, logs: Path) -> dict[str, Any]:
    """tomocupy-cpu on rows ``[start, end)`` and the comparison with the engine's slices there."""
    reference = work / "cpu_rec"
    fresh(reference)
    params = dict(recon)
    if rows != (0, nrows):
        params.update({"start-row": rows[0], "end-row": rows[1]})
    argv = direct_argv(engine_program(CPU_ENGINE), scan, {**params, "out-path-name": str(reference)})
    try:
        seconds, text = run_direct(argv, logs / "cpu.log", timeout)
    except CheckError as exc:
        if "No module named" in str(exc):
            print(f"[compare] skipped: tomocupy-cpu cannot run here ({str(exc).splitlines()[-1]}); "
                  "with --save-slices, compare elsewhere with --compare-saved")
            return {"skipped": str(exc).splitlines()[-1]}
        raise
    figures = compare(engine_out, reference)
    figures.update(engine=engine, reference=CPU_ENGINE, reference_seconds=round(seconds, 3),
                   reference_rotation_axis=log_axis(text))
    ok_r = figures["r_disc"] >= 0.99
    ok_s = figures["scale_disc"] is not None and 0.95 <= figures["scale_disc"] <= 1.05
    figures.update(r_ok=ok_r, scale_ok=ok_s)
    print(f"[compare] tomocupy-cpu took {seconds:.1f} s for rows {figures['rows'][0]}-{figures['rows'][1]} "
          f"({figures['slices']} slices)")
    print(f"[compare] {engine} vs {CPU_ENGINE}: r {figures['r_disc']:.5f} (whole slice {figures['r_slice']:.5f}), "
          f"scale {figures['scale_disc']:.4f} (whole slice {figures['scale_slice']:.4f})")
    fresh(reference)
    return figures


# ---------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", default="tomocupy", help="the executable under test (default tomocupy)")
    ap.add_argument("--small", action="store_true", help="a 360 x 16 x 512 scan instead of 1500 x 256 x 2048")
    ap.add_argument("--shape", type=int, nargs=3, metavar=("NPROJ", "NROWS", "NCOLS"), default=None,
                    help="any other scan shape")
    ap.add_argument("--out", type=Path, default=Path("bench-gpu-path"), help="folder for results.json and logs")
    ap.add_argument("--workdir", type=Path, default=None,
                    help="folder for the scan and the reconstructions, kept afterwards so the scan "
                         "is reused (default: a temporary folder, removed)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary work folder")
    ap.add_argument("--repeat", type=int, default=2, help="direct and wrapper runs each (best is compared)")
    ap.add_argument("--cpu-rows", type=int, default=None,
                    help="rows tomocupy-cpu reconstructs for the comparison, centred (0 = all; "
                         "default all for --small, 32 otherwise)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per run before it is stopped")
    ap.add_argument("--auto-axis", action="store_true",
                    help="let each program find the axis (vo) instead of giving it the true one")
    ap.add_argument("--skip", nargs="*", default=[], choices=["flow", "post", "compare"], help="phases to skip")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--save-slices", type=int, default=0, metavar="N",
                    help="copy N centred slices of the engine's reconstruction to <out>/slices "
                         "(for --compare-saved on a machine where tomocupy-cpu runs)")
    ap.add_argument("--compare-saved", type=Path, default=None, metavar="OUT",
                    help="only compare: rebuild the scan of OUT/results.json (same seed), run "
                         "tomocupy-cpu on the rows of OUT/slices and compare with them")
    return ap.parse_args(argv)


def save_slices(source: Path, rows: tuple[int, int], dest: Path) -> None:
    """Copy the engine's slices ``[start, end)`` to ``dest`` (small enough to bring back)."""
    dest.mkdir(parents=True, exist_ok=True)
    found = tiff_rows(source)
    for row in range(*rows):
        if row in found:
            shutil.copy(found[row], dest / found[row].name)
    print(f"[slices]  rows {rows[0]}-{rows[1] - 1} copied to {dest}")


def compare_saved(a: argparse.Namespace) -> int:
    """``--compare-saved``: the comparison of an earlier run's saved slices with tomocupy-cpu here."""
    earlier = a.compare_saved.resolve()
    try:
        old = json.loads((earlier / "results.json").read_text())
        shape, seed, params = old["scan"]["shape"], old["scan"]["seed"], old["parameters"]
    except (OSError, KeyError, ValueError) as exc:
        print(f"error: {earlier}/results.json lacks the scan or parameters of a run ({exc})", file=sys.stderr)
        return 2
    saved = sorted(tiff_rows(earlier / "slices"))
    if not saved:
        print(f"error: no saved slices in {earlier / 'slices'} (run with --save-slices N)", file=sys.stderr)
        return 2
    temporary = a.workdir is None
    work = (a.workdir or Path(tempfile.mkdtemp(prefix="bench-gpu-path-"))).resolve()
    logs = earlier / "logs"
    logs.mkdir(exist_ok=True)
    try:
        scan, _, _ = phase_scan(work, tuple(shape), seed)  # type: ignore[arg-type]
        comp = phase_compare(old.get("environment", {}).get("engine", "saved"), scan, params,
                             (saved[0], saved[-1] + 1), shape[1], earlier / "slices", work, a.timeout, logs)
        (earlier / "compare_saved.json").write_text(json.dumps(comp, indent=2))
        print(f"[out]     {earlier / 'compare_saved.json'}")
        return 0
    except CheckError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if temporary and not a.keep:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Run every phase. Returns 0 when all ran (targets are reported, not enforced), 1 when the
    flow run failed, 2 when a phase could not run (message on stderr, also in results.json)."""
    a = parse_args(argv)
    if a.compare_saved:
        return compare_saved(a)
    shape = tuple(a.shape) if a.shape else ((360, 16, 512) if a.small else (1500, 256, 2048))
    cpu_rows = a.cpu_rows if a.cpu_rows is not None else (0 if a.small or a.shape else 32)
    results = Results(a.out.resolve())
    logs = results.out / "logs"
    logs.mkdir(exist_ok=True)
    temporary = a.workdir is None
    work = (a.workdir or Path(tempfile.mkdtemp(prefix="bench-gpu-path-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    try:
        program = engine_program(a.engine)
        env = gpu_info()
        results.put("environment", {**env, "engine": a.engine, "program": program, "host": os.uname().nodename,
                                    "python": sys.version.split()[0], "cpus": os.cpu_count()})
        print(f"[env]     engine {' '.join(program)}; CUDA_VISIBLE_DEVICES={env['cuda_visible_devices']}; "
              f"GPU {', '.join(env['gpus']) if env['gpus'] else 'none reported'}")
        scan, axis, fig = phase_scan(work, shape, a.seed)  # type: ignore[arg-type]
        results.put("scan", fig)
        recon: dict[str, Any] = {"command": "recon", "reconstruction-type": "full",
                                 "reconstruction-algorithm": "fourierrec", "dtype": "float32",
                                 "fbp-filter": "parzen", "remove-stripe-method": "none", "save-format": "tiff"}
        if a.auto_axis:
            recon.update({"rotation-axis-auto": "auto", "rotation-axis-method": "vo"})
        else:
            recon["rotation-axis"] = axis
        results.put("parameters", recon)
        d_fig, w_fig = phases_direct_wrapper(program, scan, recon, work, max(1, a.repeat), a.timeout, logs)
        if a.save_slices:
            save_slices(Path(d_fig["output"]), centred_rows(a.save_slices, shape[1]), results.out / "slices")
        for fig_ in (d_fig, w_fig):
            fig_["rotation_axis_used"] = fig_["rotation_axis"] if fig_["rotation_axis"] is not None else recon.get("rotation-axis")
        results.put("direct", d_fig)
        results.put("wrapper", w_fig)
        post = {"skipped": "--skip post"} if "post" in a.skip else phase_post(Path(d_fig["output"]), a.timeout, logs)
        results.put("post", post)
        flow = {"skipped": "--skip flow"} if "flow" in a.skip else phase_flow(program, scan, recon, work, a.timeout, logs)
        if "rotation_axis" in flow:
            flow["rotation_axis_used"] = flow["rotation_axis"] if flow["rotation_axis"] is not None else recon.get("rotation-axis")
        results.put("flow", flow)
        if "compare" in a.skip:
            comp: dict[str, Any] = {"skipped": "--skip compare"}
        else:
            comp = phase_compare(a.engine, scan, recon, centred_rows(cpu_rows, shape[1]), shape[1],
                                 Path(d_fig["output"]), work,
                                 a.timeout, logs)
            if "reference_rotation_axis" in comp and comp["reference_rotation_axis"] is None:
                comp["reference_rotation_axis"] = recon.get("rotation-axis")
        results.put("compare", comp)
        summary = {
            "engine": a.engine, "shape": list(shape),
            "direct_seconds": d_fig["best"], "wrapper_seconds": w_fig["best"],
            "overhead_percent": w_fig["overhead_percent"], "overhead_ok": w_fig["overhead_percent"] <= 5,
            "flow_seconds": flow.get("seconds"), "flow_states": flow.get("states"),
            "post_seconds": post.get("seconds"), "post_workers": post.get("workers"),
            "reconstruction_seconds": d_fig.get("reconstruction_seconds"),
            "post_percent": (round(100 * post["seconds"] / d_fig["reconstruction_seconds"], 1)
                             if post.get("seconds") and d_fig.get("reconstruction_seconds") else None),
            "post_percent_of_wall": round(100 * post["seconds"] / d_fig["best"], 1) if post.get("seconds") else None,
            "r": comp.get("r_disc"), "scale": comp.get("scale_disc"),
            "r_ok": comp.get("r_ok"), "scale_ok": comp.get("scale_ok"),
            "rotation_axis": {"true": axis, "direct": d_fig["rotation_axis_used"],
                              "wrapper": w_fig["rotation_axis_used"], "flow": flow.get("rotation_axis_used"),
                              "tomocupy-cpu": comp.get("reference_rotation_axis")},
            "cuda_visible_devices": env["cuda_visible_devices"], "gpus": env["gpus"],
        }
        results.put("summary", summary)
        print_summary(summary)
        print(f"[out]     {results.out / 'results.json'}")
        return 1 if flow.get("status") not in (None, "SUCCEEDED") else 0
    except CheckError as exc:
        results.put("error", {"message": str(exc)})
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if a.keep or not temporary:
            print(f"[work]    kept {work} (the scan is reused by a later run with the same --workdir)")
        else:
            shutil.rmtree(work, ignore_errors=True)


def print_summary(s: dict[str, Any]) -> None:
    """The figures of the issue, one per line, with their targets."""
    def mark(ok: bool | None) -> str:
        return "" if ok is None else (" ok" if ok else " MISSED")

    print("[summary] -----------------------------------------------------------")
    print(f"[summary] engine {s['engine']}, scan {' x '.join(map(str, s['shape']))}")
    print(f"[summary] direct {s['direct_seconds']:.2f} s, wrapper {s['wrapper_seconds']:.2f} s, "
          f"overhead {s['overhead_percent']:+.2f} % (target <= 5 %){mark(s['overhead_ok'])}")
    if s["post_seconds"] is not None:
        ok = s["post_percent"] is not None and s["post_percent"] <= 50
        print(f"[summary] reconstruction {s['reconstruction_seconds']} s (tomocupy's log; direct run "
              f"{s['direct_seconds']:.2f} s with start-up), post-processing {s['post_seconds']:.2f} s on "
              f"{s['post_workers']} cores: {s['post_percent']} % of the reconstruction, {s['post_percent_of_wall']} % "
              f"of the direct run (target <= 50 %){mark(ok if s['post_percent'] is not None else None)}")
    if s["flow_seconds"] is not None:
        states = ", ".join(f"{k} {v:.2f}" for k, v in (s["flow_states"] or {}).items() if v >= 0.005)
        print(f"[summary] flow {s['flow_seconds']:.2f} s ({states})")
    if s["r"] is not None:
        print(f"[summary] r {s['r']:.5f} (target >= 0.99){mark(s['r_ok'])}, scale {s['scale']:.4f} "
              f"(target 0.95-1.05){mark(s['scale_ok'])}")
    axes = ", ".join(f"{k} {v:.2f}" if isinstance(v, (int, float)) else f"{k} -" for k, v in s["rotation_axis"].items())
    print(f"[summary] rotation axis: {axes}")
    print(f"[summary] CUDA_VISIBLE_DEVICES={s['cuda_visible_devices']}; GPU {s['gpus'] or 'none reported'}")


if __name__ == "__main__":
    sys.exit(main())
