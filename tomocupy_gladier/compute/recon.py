"""The reconstruction step on the endpoint: tomocupy's command line, a staging folder, the
verification of what it wrote, the swap into place and the axis it reports."""

from __future__ import annotations

import collections
import contextlib
import ctypes
import datetime
import difflib
import errno
import fcntl
import glob
import importlib.metadata
import json
import math
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from ast import literal_eval
from dataclasses import dataclass, field
from typing import IO, Any, Iterator, NoReturn

from tomocupy_gladier.compute.axis import SEARCH_REPORT, decision_of, give_axis, searches
from tomocupy_gladier.compute.checksums import (
    Digests,
    FileChanged,
    files_under,
    make_read_only,
    manifest_entries,
)
from tomocupy_gladier.compute.disk_space import DiskFull, free_bytes, is_full, is_quota, reconstruction_bytes
from tomocupy_gladier.compute.multiscale import (
    ZARR_NAME,
    pixel_size_um,
    volume_formats,
    write_ome_zarr,
    zarr_options,
)
from tomocupy_gladier.compute.quality import check_scan, check_volume
from tomocupy_gladier.compute.tomocupy_options import COMMANDS, option_forms, options_for
from tomocupy_gladier.compute.rules import (
    is_try,
    MIDDLE_OF_DETECTOR,
    axis_pixels,
    axis_problem,
    output_folder,
    span,
    span_fits,
)

# set by this step: the scan, no ~/tomocupyon.conf, and the staging folder
MANAGED = {"file-name", "config", "config-update", "out-path-name"}
ALLOWED_SETTINGS = {"file_name", "output", "logs", "timeout", "zarr", "axis", "formats"}
#: earlier reconstructions of one folder a manifest keeps as its history (newest first)
HISTORY_LENGTH = 20
# tomocupy's console log colours ERROR red (91) and CRITICAL red background (41). Two of its
# error lines come from runs that went well (tomocupy 1.1.0): write_meta's (the optional 'meta'
# package is missing) and the beam-hardening correction's note that flats and projections had
# the same exposure (utils.read_bright_ratio).
BENIGN_ERRORS = ("write_meta() error", "used same flat and data exposures")
COLOUR = re.compile(r"\x1b\[[0-9;]*m")
TRY_NAME = re.compile(r"recon_slice(\d{4,})_center(-?[0-9.]+)\.tiff$")


def _option(params: dict, name: str, default: Any) -> Any:
    value = params.get(name)
    return default if value is None else value


@dataclass
class Expected:
    """What tomocupy 1.1.0 will write for these options (dataio/reader.py init_sizes[_try])."""

    kind: str
    save_format: str
    factor: int
    ranges: dict[str, tuple[int, int]]
    columns: int  # the scan's
    n: int
    nz: int
    standard: bool
    count: int
    slice_ids: list[int] = field(default_factory=list)
    per_slice: int = 0
    names: set[str] = field(default_factory=set)


@dataclass
class RunLog:
    """The run's command line and log: what a failure reports."""

    argv: list[str]
    log_file: pathlib.Path
    raw_text: str = ""

    @property
    def text(self) -> str:
        return COLOUR.sub("", self.raw_text)

    def fail(self, problem: str, error: type[Exception] = RuntimeError) -> NoReturn:
        tail = "\n".join(collections.deque(self.text.splitlines(), maxlen=30))
        raise error(f"{problem}: {' '.join(self.argv)}\nlog: {self.log_file}\n--- last lines ---\n{tail}")


def reconstruct(recon: dict | None = None, tomocupy: dict | None = None,
                run_id: str | None = None) -> dict:
    """Reconstruct one scan with tomocupy into a staging folder, verify it, then swap it in.

    - ``recon``: ``command`` + tomocupy options by tomocupy's names (``out-path-name`` is not
      one of them here: where the reconstruction goes is ``tomocupy.output``).
    - ``tomocupy``: ``file_name`` (the scan), ``output`` (the reconstruction folder, decided by
      the client; when absent, as from the web form, tomocupy's own folder for the scan),
      ``logs`` (the folder of per-run logs; when absent ``<output>.logs``), ``timeout`` (seconds),
      ``zarr`` (the OME-Zarr's settings, :func:`~.multiscale.zarr_options`) and ``formats`` (what
      a full TIFF reconstruction is kept as: ``tiff``, ``zarr`` or both, the default;
      :func:`~.multiscale.volume_formats`).
    - ``run_id``: the flow run (``$._context.run_id``); names the staging folder and the log.

    The program is the endpoint's choice, never the flow input's: ``TOMOCUPY_GLADIER_PROGRAM``
    in the endpoint's environment (a path, or a JSON list such as ``["python", "-m", "x"]``),
    else ``tomocupy`` on its ``PATH``.

    tomocupy writes into ``.<name>.<run_id>.staging/<name>`` beside the output (through a
    relative ``--out-path-name``). The result is accepted only if tomocupy exited 0, its log
    has no traceback or error line, and the files are exactly the slices (or try candidates)
    expected from the scan's shape, rows, columns and binning, all of one size. A
    ``manifest.json`` (sha256 and size of every file, taken from the bytes the OME-Zarr step
    read and wrote where it could: :mod:`.checksums`) and the run's log are added, every file is
    made read-only (finished: it may be linked rather than copied), then the folder replaces the
    previous reconstruction by two renames: nobody sees a mix, a failed or killed run leaves the
    previous result as it was, and nothing is ever written into a file of a finished result (a
    link to it stays as it was). One run per output at a time (a lock beside it). Raises on any
    failure; returns a small JSON-able summary.
    """
    params = dict(recon or {})
    settings = dict(tomocupy or {})
    run_id = str(run_id or f"direct-{uuid.uuid4().hex[:12]}")
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,80}", run_id):
        raise ValueError(f"run_id {run_id!r} is not a plain identifier")
    command, kind = _command_and_kind(params, settings)
    scan, output, logs = _paths(settings, kind)
    previous = previous_reconstruction(output)
    decided = keep_decided_axis(settings.get("axis"), params, kind, previous)
    args = command_line(command, params)
    program = endpoint_program()
    expected = expected_output(scan, params, kind)
    zarr_settings = zarr_options(settings.get("zarr"))
    formats = volume_formats(settings.get("formats"), zarr_settings)
    zarr_settings["enable"] = "zarr" in formats
    if "tiff" not in formats and kind == "full" and not makes_zarr(expected):
        raise ValueError(f"formats {formats} keeps only the OME-Zarr, which is made of full float32 TIFF "
                         f"reconstructions only (this one: save-format {expected.save_format}, dtype "
                         f"{_option(params, 'dtype', 'float32')}): keep tiff in formats")
    quality = scan_quality(scan, params)  # refuses an impossible scan before anything is written

    output.parent.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    run = RunLog([], logs / f"{run_id}.log")
    lock = take_lock(output, run_id)
    staging_root = output.parent / f".{output.name}.{run_id}.staging"
    try:
        clear_leftovers(output)
        staging_root.mkdir()
        no_config = pathlib.Path(tempfile.gettempdir()) / f"tomocupy-gladier-{uuid.uuid4().hex}.conf"
        run.argv = program + [command, "--file-name", str(scan), "--config", str(no_config),
                              "--out-path-name", output.name] + args
        timeout = within_the_job(float(settings.get("timeout") or 6 * 3600))
        with own_gpu() as env:
            wall = run_tomocupy(run, staging_root, staging_root / output.name, run_id, timeout, env)
        check_log(run)
        items, found = verify_output(run, staging_root, output.name, expected, params)
        quality["figures"]["volume"], blank = verify_volume(run, items, expected, quality)
        if blank:
            quality["warnings"] = list(quality["warnings"]) + blank
            quality["status"] = "warning"
        axis, relabelled = read_back_axis(run.text, params, expected, found, staging_root / output.name)
        staged = staging_root / output.name
        digests = Digests()
        zarr = multiscale_copy(staged, expected, zarr_settings, params, scan, digests, "tiff" in formats)
        if zarr is not None and not zarr["finite"]:  # the sampled check above reads 64 slices; this, all
            run.fail("tomocupy exited 0 but the reconstruction is unusable (NaN or infinite values in "
                     "slices the sampled check did not read, found while writing its OME-Zarr)")
        used_axis = _axis_and_source(params, expected, axis, relabelled)
        history = superseded(previous_reconstruction(output), run_id)
        if zarr is not None and "tiff" not in formats:  # one copy of the voxels: the Zarr's level 0
            for name in expected.names:
                os.unlink(staged / name)
        try:
            entries = write_manifest(staged, items, run, run_id, scan, expected,
                                     {"rotation_axis": used_axis[0], "axis": decided, "parameters": params,
                                      "quality": quality.get("status"), "history": history}, digests)
        except FileChanged as exc:
            run.fail(f"the reconstruction changed while it was being checked ({exc})")
        replaced = swap_in(staged, output, run_id)
    except Exception as exc:
        if not is_full(exc, staging_root, text=run.text, no_room=True):
            raise
        # a full disk, told as one (tomocupy's own words, or missing slices after its writer
        # threads died, say nothing of it); the figures once this run's partial output is gone
        shutil.rmtree(staging_root, ignore_errors=True)
        raise DiskFull(output.parent, free_bytes(output.parent),
                       reconstruction_bytes(expected, zarr_settings, params).total,
                       f"writing the reconstruction of {scan.name} into", quota=is_quota(exc, run.text)) from exc
    finally:
        shutil.rmtree(staging_root, ignore_errors=True)
        lock.close()
    summary = _summary(run, run_id, output, expected, entries, replaced, wall, program, used_axis)
    summary["axis_decided"] = decided
    summary["history"] = history
    summary["quality"] = quality
    summary["gpu"] = env.get("CUDA_VISIBLE_DEVICES")
    if expected.kind == "full" and expected.save_format == "tiff":
        summary["formats"] = [f for f in formats if f == "tiff" or zarr is not None]
    if zarr is not None:
        summary["zarr"] = zarr
    return summary


def makes_zarr(expected: Expected) -> bool:
    """Whether this reconstruction can have an OME-Zarr: a full one, float32 TIFF slices."""
    return expected.kind == "full" and expected.save_format == "tiff" and expected.standard


def multiscale_copy(staged: pathlib.Path, expected: Expected, settings: dict, params: dict,
                    scan: pathlib.Path, digests: Digests | None = None,
                    hash_slices: bool = True) -> dict | None:
    """The OME-Zarr of a verified full TIFF reconstruction, written into its staging folder
    (so the manifest lists it and the swap publishes it with the slices); None when off or
    not a full TIFF volume. The sha256 of its chunks and (``hash_slices``) of the slices it
    reads go into ``digests``. Its summary carries the seconds it took."""
    if not (settings["enable"] and makes_zarr(expected)):
        return None
    started = time.time()
    slices = sorted(staged / name for name in expected.names)
    summary = write_ome_zarr(slices, staged / ZARR_NAME, pixel_size_um(params, scan),
                             settings["chunks"], settings["exports"], settings["percentiles"],
                             digests=digests, hash_slices=hash_slices)
    summary["seconds"] = round(time.time() - started, 3)
    return summary


def _command_and_kind(params: dict, settings: dict) -> tuple[str, str]:
    """The tomocupy command (popped from ``params``) and whether this is a try or a full run;
    refuses settings the flow input may not give."""
    for key in settings:
        if key in ("executable", "env"):
            raise ValueError(f"tomocupy.{key} cannot come from the flow input: the program and its "
                             "environment are chosen by the compute endpoint "
                             "(TOMOCUPY_GLADIER_PROGRAM in the endpoint's environment)")
        if key not in ALLOWED_SETTINGS:
            raise ValueError(f"unknown tomocupy setting {key!r}; allowed: {sorted(ALLOWED_SETTINGS)}")
    command = params.pop("command", "recon")
    if command not in COMMANDS:
        raise ValueError(f"unknown tomocupy command {command!r}: use one of {sorted(COMMANDS)}")
    kind = "try" if is_try(params) else "full"
    return command, kind


def _paths(settings: dict, kind: str) -> tuple[pathlib.Path, pathlib.Path, pathlib.Path]:
    """The scan, the output and the logs folder. A run started from the web form may leave
    output and logs out: then they follow tomocupy's own folder for the scan and
    ``<output>.logs``."""
    if settings.get("file_name") and os.path.isabs(str(settings["file_name"])):
        settings.setdefault("output", str(output_folder(str(settings["file_name"]), kind)))
        settings.setdefault("logs", str(settings["output"]) + ".logs")
    for key in ("file_name", "output", "logs"):
        if not settings.get(key) or not os.path.isabs(str(settings[key])):
            raise ValueError(f"tomocupy.{key} must be an absolute path, got {settings.get(key)!r}")
    scan = pathlib.Path(settings["file_name"])
    if not scan.is_file():
        raise FileNotFoundError(f"scan file not found on {socket.gethostname()}: {scan}")
    return scan, pathlib.Path(settings["output"]), pathlib.Path(settings["logs"])


def command_line(command: str, params: dict) -> list[str]:
    """tomocupy's arguments for ``params`` (options by tomocupy's names); refuses unknown and
    managed options with a hint."""
    kinds = option_forms(command)
    args = []
    for name, value in params.items():
        if name in MANAGED:
            raise ValueError(f"option {name!r} is set by tomocupy-gladier and cannot be given"
                             + (" (the output folder is tomocupy.output)" if name == "out-path-name" else ""))
        if name not in kinds:
            hint = difflib.get_close_matches(name, list(kinds), n=1)
            other = [c for c in COMMANDS if c != command and name in options_for(c)]
            reason = f"only valid with command {other[0]!r}" if other else "not a tomocupy option"
            raise ValueError(
                f"unknown option {name!r} for 'tomocupy {command}' ({reason})"
                + (f"; did you mean {hint[0]!r}?" if hint and not other else "")
            )
        if value is None:
            continue
        form = kinds[name]
        if form in ("flag", "bool"):
            if value is True:
                args.append(f"--{name}")
            elif value is not False:
                raise ValueError(f"option {name!r} takes true or false, got {value!r}")
            if form == "bool" and value is True:
                args.append("True")
            continue
        if isinstance(value, bool):
            value = "True" if value else "False"  # tomocupy parses these booleans from strings
        args += [f"--{name}", str(value)]
    return args


def endpoint_program() -> list[str]:
    """The program the endpoint runs: ``TOMOCUPY_GLADIER_PROGRAM`` (a path or a JSON list of
    words), else ``tomocupy``."""
    raw_program = os.environ.get("TOMOCUPY_GLADIER_PROGRAM", "").strip()
    if raw_program.startswith("["):
        program = json.loads(raw_program)
        if not program or not all(isinstance(p, str) and p for p in program):
            raise ValueError("TOMOCUPY_GLADIER_PROGRAM must be a path or a JSON list of words")
        return program
    return [raw_program or "tomocupy"]


def _scan_shape(scan: pathlib.Path) -> tuple[int, int, int]:
    try:
        import h5py

        with h5py.File(scan, "r") as h5:
            nproj, nzi, ni = (int(v) for v in h5["/exchange/data"].shape)
    except ImportError:
        raise RuntimeError("h5py is needed in the endpoint's environment to check the scan") from None
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"{scan} is not a DXchange scan with a 3-D /exchange/data: {exc}") from None
    return nproj, nzi, ni


def expected_output(scan: pathlib.Path, params: dict, kind: str) -> Expected:
    """What tomocupy 1.1.0 will write from this scan with these options; refuses ranges that
    do not fit the scan and runs that leave nothing to reconstruct."""
    nproj, nzi, ni = _scan_shape(scan)
    if _option(params, "reconstruction-type", "try") == "try_lamino":
        raise ValueError("try_lamino reconstructions are not supported by tomocupy-gladier")
    save_format = "tiff" if kind == "try" else str(_option(params, "save-format", "tiff"))
    factor = 2 ** int(_option(params, "binning", 0))
    ranges = {}
    for what, size in (("row", nzi), ("column", ni), ("proj", nproj)):
        first, last = span(params.get(f"start-{what}"), params.get(f"end-{what}"), size)
        if not span_fits(first, last, size):
            raise ValueError(f"start-{what} {first} / end-{what} {last} do not fit the scan's {size} "
                             f"{what}s ({scan.name}): need 0 <= start < end <= {size}")
        ranges[what] = (first, last)
    problem = axis_problem(params, ni, scan.name, try_range=kind == "try")
    if problem:
        raise ValueError(problem)
    width = ranges["column"][1] - ranges["column"][0]
    width -= width % (2 * factor)
    n = width // factor
    nz = (ranges["row"][1] - ranges["row"][0]) // factor
    standard = (_option(params, "file-type", "standard") == "standard"
                and _option(params, "dtype", "float32") == "float32"
                and not float(_option(params, "lamino-angle", 0) or 0))
    if nz < 1 or n < 2:
        raise ValueError(f"rows {ranges['row']} and columns {ranges['column']} at binning "
                         f"{int(_option(params, 'binning', 0))} leave nothing to reconstruct")
    expected = Expected(kind, save_format, factor, ranges, ni, n, nz, standard, nz)
    if kind == "try":
        width_c = float(_option(params, "center-search-width", 50.0))
        step_c = float(_option(params, "center-search-step", 0.5))
        if step_c <= 0 or width_c <= 0:
            raise ValueError("center-search-width and center-search-step must be positive")
        expected.per_slice = math.ceil(2 * width_c / (step_c * factor) - 1e-9)
        fractions = literal_eval(str(_option(params, "nsino", "0.5")))
        fractions = fractions if isinstance(fractions, list) else [fractions]
        expected.slice_ids = sorted({int(float(f) * (nz * factor - 1) / factor) * factor for f in fractions})
        expected.count = expected.per_slice * len(expected.slice_ids)
    else:
        first_id = ranges["row"][0] // factor
        expected.names = {f"recon_{first_id + i:05d}.tiff" for i in range(nz)}
    return expected


def scan_quality(scan: pathlib.Path, params: dict) -> dict[str, Any]:
    """The raw scan's quality gates (:mod:`.quality`), flats and darks from the files the options
    name: raises :class:`~.quality.ScanRefused` (a ``ValueError``) for an impossible scan, else
    returns the ``quality`` block (its warnings and figures)."""
    flat_file, dark_file = (_option(params, f"{kind}-file-name", None) for kind in ("flat", "dark"))
    try:
        found = check_scan(scan, pathlib.Path(flat_file) if flat_file else None,
                           pathlib.Path(dark_file) if dark_file else None)
    except OSError as exc:
        raise ValueError(f"cannot read the scan {scan} (or its flat or dark file): {exc}") from None
    found.refuse(scan)
    return found.record()


def verify_volume(run: RunLog, items: dict[str, pathlib.Path], expected: Expected,
                  quality: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Fail the run when the written volume holds NaN or infinite values or is constant (a
    sample of its slices, and those of the rows where ``quality`` found dead pixels, read one
    at a time); returns the volume's figures and its warnings (blank or constant slices)."""
    dead_rows = ((quality.get("figures") or {}).get("flats") or {}).get("dead_pixel_rows") or []
    first_id = expected.ranges["row"][0] // expected.factor
    also = [row // expected.factor - first_id for row in dead_rows] if expected.kind == "full" else []
    if expected.save_format == "tiff":
        folder = items.get("")
        slices = sorted(p for p in folder.iterdir() if p.name.startswith("recon_")) if folder else []
        try:
            problems, figures, warnings = check_volume(slices=slices, also=also)
        except ImportError:
            return {"checked_slices": 0, "skipped": "tifffile is not installed on the endpoint"}, []
    elif expected.save_format in ("h5", "h5nolinks"):
        problems, figures, warnings = check_volume(h5_file=items[".h5"], also=also)
    else:
        return {"checked_slices": 0, "skipped": f"{expected.save_format} volumes are not read back"}, []
    if problems:
        run.fail("tomocupy exited 0 but the reconstruction is unusable (" + "; ".join(problems) + ")")
    return figures, warnings


def take_lock(output: pathlib.Path, run_id: str) -> IO[str]:
    """One run per output: a lock beside it, released by the kernel if this process dies."""
    lock = open(output.parent / f".{output.name}.lock", "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in (errno.EAGAIN, errno.EACCES):
            raise
        # the holder writes its name just after it takes the lock: give it a moment
        holder = ""
        for _ in range(40):
            lock.seek(0)
            holder = lock.read().strip()
            if holder:
                break
            time.sleep(0.05)
        holder = holder or "another run"
        lock.close()
        raise RuntimeError(f"{output} is being reconstructed by {holder}; this run changed nothing "
                           "(start it again when that run has ended)") from None
    lock.seek(0)
    lock.truncate()
    lock.write(f"run {run_id} on {socket.gethostname()} (pid {os.getpid()}) since "
               f"{datetime.datetime.now().isoformat(timespec='seconds')}")
    lock.flush()
    return lock


def clear_leftovers(output: pathlib.Path) -> None:
    """Remove what killed runs of ``output`` left (their lock is gone, since we hold it)."""
    for stale in output.parent.glob(f".{glob.escape(output.name)}.*.staging"):
        shutil.rmtree(stale, ignore_errors=True)
    old_copies = list(output.parent.glob(f".{glob.escape(output.name)}.*.old"))
    if old_copies and not output.exists():
        os.rename(old_copies.pop(), output)  # a swap was cut between its two renames
    for old in old_copies:
        shutil.rmtree(old, ignore_errors=True)


_SET_PARENT_DEATH_SIGNAL: Any
try:  # looked up here: the forked child before exec should do next to nothing
    _SET_PARENT_DEATH_SIGNAL = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux
    _SET_PARENT_DEATH_SIGNAL = None


def _ends_with_this_step() -> None:
    """tomocupy gets SIGKILL when the process of this step dies (Linux PR_SET_PDEATHSIG): a
    killed worker leaves no tomocupy writing into the staging folder that the step, repeated
    when its run is resumed, clears and makes anew."""
    if _SET_PARENT_DEATH_SIGNAL is not None:
        _SET_PARENT_DEATH_SIGNAL(1, signal.SIGKILL)


GPUS_ENV = "TOMOCUPY_GLADIER_GPUS"  # the node's GPU count, set by the job's worker_init
DEADLINE_ENV = "TOMOCUPY_GLADIER_DEADLINE"  # when tomocupy must have stopped in this job (epoch s)
MIN_JOB_LEFT = 60.0  # seconds: less than this left of the job, the reconstruction is not started


def within_the_job(timeout: float) -> float:
    """tomocupy's time limit, cut to what is left of the batch job.

    The client nests tomocupy's limit inside the job's walltime, counted from the job's start. A
    job kept warm (``min_blocks``) serves later runs too: the job's ``worker_init`` says when
    tomocupy must have stopped (``TOMOCUPY_GLADIER_DEADLINE``, the job's end less the step's
    margin), and a reconstruction that starts late gets what is left, or, with under a minute
    left, fails at once with the reason rather than being killed by PBS.
    """
    raw = os.environ.get(DEADLINE_ENV, "").strip()
    if not raw:
        return timeout
    left = float(raw) - time.time()
    if left < MIN_JOB_LEFT:
        raise TimeoutError(f"the batch job that runs this step ends in {max(left, 0):.0f} s (less its "
                           "margin): too soon to start tomocupy. Run the scan again: it gets a new job")
    return min(timeout, left)


@contextlib.contextmanager
def own_gpu() -> Iterator[dict[str, str]]:
    """tomocupy's environment, with a GPU of its own when reconstructions share a node.

    ALCF's endpoint runs up to ``max_workers_per_node`` tasks on a node, all seeing every GPU
    (its options have no per-worker GPU binding). Its jobs' ``worker_init`` says how many GPUs
    the node has (``TOMOCUPY_GLADIER_GPUS``): each reconstruction takes the first free one by a
    lock in the node's temporary folder, held while tomocupy runs, and tomocupy sees only that
    GPU (``CUDA_VISIBLE_DEVICES``). A worker already given one (our endpoint template binds each
    worker to its GPU) or a node without the variable is left as it is.
    """
    env = dict(os.environ)
    count = int(env.get(GPUS_ENV) or 0)
    if count < 1 or env.get("CUDA_VISIBLE_DEVICES"):
        yield env
        return

    def lock_file(gpu: int) -> IO[str]:
        return open(pathlib.Path(tempfile.gettempdir()) / f"tomocupy-gladier-gpu{gpu}.lock", "a+")

    held: IO[str] | None = None
    for gpu in range(count):
        handle = lock_file(gpu)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        held = handle
        break
    if held is None:  # more reconstructions than GPUs on the node: wait for one
        gpu = os.getpid() % count
        held = lock_file(gpu)
        fcntl.flock(held, fcntl.LOCK_EX)
    try:
        env["CUDA_VISIBLE_DEVICES"] = str(gpu)
        yield env
    finally:
        held.close()


def run_tomocupy(run: RunLog, cwd: pathlib.Path, staged: pathlib.Path, run_id: str,
                 timeout: float, env: dict[str, str] | None = None) -> float:
    """Run ``run.argv`` in ``cwd`` into the run's log, in ``env`` (default: this process's);
    fail unless it exits 0 in time. Returns the wall time in seconds."""
    started = time.time()
    with open(run.log_file, "wb") as log:
        log.write(("$ " + " ".join(run.argv) + f"\n# run {run_id}, staging {staged}\n").encode())
        log.flush()
        proc = subprocess.Popen(run.argv, stdout=log, stderr=subprocess.STDOUT, cwd=cwd, env=env,
                                start_new_session=True, preexec_fn=_ends_with_this_step)
        try:
            returncode: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            returncode = None
    wall = time.time() - started
    run.raw_text = run.log_file.read_text(errors="replace")
    if returncode is None:
        run.fail(f"tomocupy did not finish within {timeout:.0f} s", TimeoutError)
    if returncode != 0:
        run.fail(f"tomocupy exited with status {returncode}")
    return wall


def check_log(run: RunLog) -> None:
    """Fail when tomocupy exited 0 but its log has an error line or a traceback."""
    for raw_line in run.raw_text.splitlines():
        line = COLOUR.sub("", raw_line).strip()
        bad = ("\x1b[91m" in raw_line or "\x1b[41m" in raw_line
               or line.startswith("Traceback (most recent call last)")
               or line.startswith("Exception in thread"))
        if bad and not any(b in line for b in BENIGN_ERRORS):
            run.fail(f"tomocupy exited 0 but its log reports an error ({line[:200]!r})")


def verify_output(run: RunLog, staging_root: pathlib.Path, name: str, expected: Expected,
                  params: dict) -> tuple[dict[str, pathlib.Path], list[tuple[re.Match, str]]]:
    """What tomocupy wrote (by suffix: the folder, ``.h5``, ``_parts``, ``.zarr``), failing the
    run unless it is what was asked; also the try candidates found (match, file name)."""
    items = {}
    for suffix in ("", ".h5", "_parts", ".zarr"):
        candidate = staging_root / f"{name}{suffix}"
        if candidate.exists():
            items[suffix] = candidate
    found: list[tuple[re.Match, str]] = []
    if expected.save_format == "tiff":
        problems, found = _tiff_problems(items.get(""), expected, params)
    elif expected.save_format in ("h5", "h5nolinks"):
        problems = _h5_problems(items, name, expected)
    elif expected.save_format == "zarr":
        problems = [] if ".zarr" in items and any(items[".zarr"].iterdir()) else [f"no {name}.zarr"]
    else:
        raise ValueError(f"save-format {expected.save_format!r} is not supported by tomocupy-gladier")
    if problems:
        run.fail("tomocupy exited 0 but the reconstruction is not what was asked ("
                 + "; ".join(problems) + ")")
    return items, found


def _tiff_problems(folder: pathlib.Path | None, expected: Expected,
                   params: dict) -> tuple[list[str], list[tuple[re.Match, str]]]:
    problems = []
    found: list[tuple[re.Match, str]] = []
    names = sorted(p.name for p in folder.iterdir()) if folder is not None else []
    if expected.kind == "try":
        found = [(m, name) for name in names if (m := TRY_NAME.match(name))]
        per_id = collections.Counter(int(m.group(1)) for m, _ in found)
        if sorted(per_id) != expected.slice_ids or set(per_id.values()) != {expected.per_slice}:
            problems.append(f"expected {expected.per_slice} candidates for each of slices "
                            f"{expected.slice_ids}, found {dict(sorted(per_id.items())) or 'none'}")
        slices = [folder / name for _, name in found] if folder is not None else []
    elif float(_option(params, "lamino-angle", 0) or 0):
        # laminography (recon_steps) numbers its slices by its own rows: all of one size
        slices = sorted(folder / name for name in names if name.startswith("recon_")) if folder else []
        if not slices:
            problems.append("no slices written")
    else:
        present = {name for name in names if name.startswith("recon_")}
        missing = sorted(expected.names - present)
        extra = sorted(present - expected.names)
        if missing:
            problems.append(f"{len(missing)} of {expected.nz} slices missing (first {missing[:3]})")
        if extra:
            problems.append(f"unexpected files {extra[:3]}")
        slices = sorted(folder / name for name in present & expected.names) if folder else []
    sizes = collections.Counter(p.stat().st_size for p in slices)
    if 0 in sizes:
        problems.append(f"{sizes[0]} empty slice files")
    if len(sizes) > 1:
        problems.append(f"slices of {len(sizes)} different sizes {sorted(sizes)[:4]} bytes")
    if slices and expected.standard and not problems:
        try:
            import tifffile

            shape = tuple(tifffile.TiffFile(slices[0]).pages[0].shape)
        except ImportError:
            shape = None
        if shape is not None and shape != (expected.n, expected.n):
            problems.append(f"slices are {shape}, expected {(expected.n, expected.n)}")
    return problems, found


def _h5_problems(items: dict[str, pathlib.Path], name: str, expected: Expected) -> list[str]:
    if ".h5" not in items:
        return [f"no {name}.h5"]
    import h5py

    problems = []
    n, nz = expected.n, expected.nz
    try:
        with h5py.File(items[".h5"], "r") as h5:
            volume = h5["/exchange/data"]
            if expected.standard and tuple(volume.shape) != (nz, n, n):
                problems.append(f"/exchange/data is {volume.shape}, expected {(nz, n, n)}")
            if volume.is_virtual:
                for source in volume.virtual_sources():
                    part = items[".h5"].parent / source.file_name
                    if not part.is_file() or part.stat().st_size == 0:
                        problems.append(f"missing part {source.file_name}")
                        break
    except (OSError, KeyError) as exc:
        problems.append(f"cannot read {name}.h5: {exc}")
    return problems


def read_back_axis(text: str, params: dict, expected: Expected, found: list[tuple[re.Match, str]],
                   folder: pathlib.Path) -> tuple[float | None, float | None]:
    """The axis tomocupy's automatic search found (full-size pixels; ``None`` without a search)
    and, for a try, how far its candidates' names were corrected (tomocupy 1.1.0 issue #76:
    try + auto axis names candidates from the initial axis); renames them to their true centres."""
    # tomocupy prints the axis only when it searched for it (__main__.run_rec)
    found_axis = re.findall(r"set rotai?on\s+axis\s+([-+0-9.eE]+)", text)
    searched = searches(params)
    axis = float(found_axis[-1]) if found_axis and searched else None
    # The log's axis A is in the binned frame of the columns read: the full-size axis is
    # A * 2**binning + start-column. A try names its candidates from the axis before the
    # search (R0: rotation-axis, or half the width), so candidate L really is at
    # L + A * 2**binning - (R0 - start-column) (tomocupy 1.1.0, reader.init_sizes_try).
    if axis is None:
        return None, None
    axis = axis * expected.factor + expected.ranges["column"][0]
    if expected.kind != "try":
        return axis, None
    initial = axis_pixels(_option(params, "rotation-axis", MIDDLE_OF_DETECTOR), expected.columns)
    labels = sorted(float(m.group(2)) for m, _ in found)
    middle = labels[len(labels) // 2]
    if not (abs(axis - initial) > 1e-6 and abs(middle - initial) < abs(middle - axis)):
        return axis, None
    relabelled = axis - initial
    # through temporary names: a new name may be another candidate's old one
    moves = []
    for i, (m, name) in enumerate(found):
        true = float(m.group(2)) + relabelled
        os.rename(folder / name, folder / f".relabel-{i}")
        moves.append((folder / f".relabel-{i}", folder / f"recon_slice{m.group(1)}_center{true:05.2f}.tiff"))
    for temporary, final_name in moves:
        os.rename(temporary, final_name)
    return axis, relabelled


def previous_reconstruction(output: pathlib.Path) -> dict[str, Any] | None:
    """The ``manifest.json`` of the reconstruction now at ``output`` (what this run replaces),
    or None when there is none or it cannot be read."""
    try:
        manifest = json.loads((output / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def _axis_of(manifest: dict[str, Any]) -> float | None:
    """The rotation axis a reconstruction's manifest records (older manifests: its command line)."""
    if manifest.get("rotation_axis") is not None:
        return float(manifest["rotation_axis"])
    command = [str(w) for w in manifest.get("command") or []]
    options = dict(zip(command, command[1:]))
    if options.get("--rotation-axis-auto") == "auto":
        return None  # searched: the value given was not used
    try:
        given = float(options["--rotation-axis"])
    except (KeyError, ValueError):
        return None
    return None if given == MIDDLE_OF_DETECTOR else given


def keep_decided_axis(block: Any, params: dict, kind: str, previous: dict[str, Any] | None) -> dict[str, Any]:
    """How this run's axis is decided (the flow input's ``tomocupy.axis``, :mod:`.axis`). With
    ``keep_decided``, a full reconstruction replacing a full one whose axis a person decided
    (chosen, given, suggested) uses that axis instead, search off: ``params`` change, and the
    decision is the earlier one with ``reused_from`` (its run). A centre is a fact of the scan."""
    decided = dict(block) if isinstance(block, dict) else {}
    keep = bool(decided.pop("keep_decided", False))
    earlier = decision_of((previous or {}).get("axis"))
    if not (keep and kind == "full" and previous and previous.get("kind") == "full"
            and earlier is not None and earlier.by_a_person):
        return decided
    axis = _axis_of(previous)
    if axis is None:
        return decided
    give_axis(params, axis)
    return {**previous["axis"], "reused_from": previous.get("run_id")}


def superseded(previous: dict[str, Any] | None, run_id: str) -> list[dict[str, Any]]:
    """The history a reconstruction replacing ``previous`` keeps (newest first): the earlier
    one's key facts, ``superseded_by`` this run, then its own history."""
    if previous is None:
        return []
    earlier = {key: previous.get(key) for key in ("run_id", "created", "kind", "format", "file_count",
                                                  "bytes", "quality") if previous.get(key) is not None}
    earlier["rotation_axis"] = _axis_of(previous)
    if isinstance(previous.get("axis"), dict):
        earlier["axis"] = previous["axis"]
    if isinstance(previous.get("parameters"), dict):
        earlier["parameters"] = previous["parameters"]
    earlier["superseded_by"] = run_id
    earlier["superseded_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    older = [h for h in previous.get("history") or [] if isinstance(h, dict)]
    return [earlier] + older[:HISTORY_LENGTH - 1]


def write_manifest(staged: pathlib.Path, items: dict[str, pathlib.Path], run: RunLog, run_id: str,
                   scan: pathlib.Path, expected: Expected, facts: dict[str, Any],
                   digests: Digests | None = None) -> list[dict]:
    """One folder per reconstruction, with its log and ``manifest.json`` (sha256 and size of
    every file: from ``digests`` where the bytes were hashed as they were written or read, the
    rest read and hashed on every core; and ``facts``: the axis and how it was decided, the
    parameters, the history of the reconstructions it replaced), every file then made
    read-only; returns the manifest's entries. Raises :class:`~.checksums.FileChanged` when a
    file changed after its bytes were hashed."""
    staged.mkdir(exist_ok=True)
    for suffix, item in items.items():
        if suffix:
            os.rename(item, staged / item.name)
    shutil.copyfile(run.log_file, staged / "tomocupy.log")
    files = files_under(staged)
    entries = manifest_entries(staged, files, digests)
    manifest = {"run_id": run_id, "scan": str(scan), "kind": expected.kind, "format": expected.save_format,
                "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "command": run.argv, **facts, "file_count": len(entries),
                "bytes": sum(e["bytes"] for e in entries), "files": entries}
    (staged / "manifest.json").write_text(json.dumps(manifest, indent=1))
    make_read_only(files + [staged / "manifest.json"])
    return entries


def swap_in(staged: pathlib.Path, output: pathlib.Path, run_id: str) -> bool:
    """Two renames: the previous result stays whole until the new one is in. Returns whether
    there was a previous result."""
    replaced = output.exists()
    old = output.parent / f".{output.name}.{run_id}.old"
    if replaced:
        os.rename(output, old)
    os.rename(staged, output)
    if replaced:
        shutil.rmtree(old, ignore_errors=True)
    return replaced


def tool_version(program: list[str]) -> tuple[str, str | None]:
    """The program's name and the version of the distribution that installed it."""
    name = pathlib.Path(program[0]).name
    module = program[program.index("-m") + 1] if "-m" in program[:-1] else None
    try:
        if module:
            top = module.split(".")[0]
            try:  # most packages are named like their distribution: a cheap look-up first
                return module, importlib.metadata.version(top)
            except importlib.metadata.PackageNotFoundError:
                dists = importlib.metadata.packages_distributions().get(top, [])
                return module, importlib.metadata.version(dists[0])
        for ep in importlib.metadata.entry_points(group="console_scripts"):
            if ep.name == name and ep.dist is not None:
                return name, ep.dist.version
        return name, importlib.metadata.version(name)
    except (importlib.metadata.PackageNotFoundError, IndexError):
        return name, None


def _axis_and_source(params: dict, expected: Expected, axis: float | None,
                     relabelled: float | None) -> tuple[float, str]:
    if expected.kind == "try" and relabelled is not None:
        return axis, f"{SEARCH_REPORT} (candidate names corrected by {relabelled:+.2f})"  # type: ignore[return-value]
    if axis is not None:
        return axis, SEARCH_REPORT
    given = float(_option(params, "rotation-axis", MIDDLE_OF_DETECTOR))
    source = "rotation-axis option" if given != MIDDLE_OF_DETECTOR else "centre of the projections"
    return axis_pixels(given, expected.columns), source


def _summary(run: RunLog, run_id: str, output: pathlib.Path, expected: Expected, entries: list[dict],
             replaced: bool, wall: float, program: list[str], axis: tuple[float, str]) -> dict:
    seconds = re.findall(r"Reconstruction time\s+([-+0-9.eE]+)\s*s", run.text)
    tool, version = tool_version(program)
    n = expected.n
    return {
        "run_id": run_id,
        "output": str(output),
        "kind": expected.kind,
        "format": expected.save_format,
        "manifest": str(output / "manifest.json"),
        "file_count": len(entries),
        "slice_count": expected.count,
        "slice_shape": [n, n] if expected.standard else None,
        "bytes": sum(e["bytes"] for e in entries),
        "replaced_previous": replaced,
        "log_file": str(run.log_file),
        "rotation_axis": axis[0],
        "rotation_axis_source": axis[1],
        "reconstruction_seconds": float(seconds[-1]) if seconds else None,
        "wall_seconds": round(wall, 3),
        "command": run.argv,
        "tool": tool,
        "tool_version": version,
        "host": socket.gethostname(),
        "gpu": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }
