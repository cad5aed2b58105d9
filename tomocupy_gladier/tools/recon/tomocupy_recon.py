"""The tomocupy reconstruction step: its Globus Compute function and its Gladier tool."""

from __future__ import annotations

from gladier import GladierBaseTool, generate_flow_definition

from tomocupy_gladier.limits import RECON_WAIT_TIME
from tomocupy_gladier.tools.action_urls import COMPUTE_V3_URL


def tomocupy_recon(recon: dict | None = None, tomocupy: dict | None = None,
                   run_id: str | None = None, **data: object) -> dict:
    """Reconstruct one scan with tomocupy into a staging folder, verify it, then swap it in.

    - ``recon``: ``command`` + tomocupy options by tomocupy's names (``out-path-name`` is not
      one of them here: where the reconstruction goes is ``tomocupy.output``).
    - ``tomocupy``: ``file_name`` (the scan), ``output`` (the reconstruction folder, decided by
      the client; when absent, as from the web form, tomocupy's own folder for the scan),
      ``logs`` (the folder of per-run logs; when absent ``<output>.logs``) and ``timeout`` (seconds).
    - ``run_id``: the flow run (``$._context.run_id``); names the staging folder and the log.

    The program is the endpoint's choice, never the flow input's: ``TOMOCUPY_GLADIER_PROGRAM``
    in the endpoint's environment (a path, or a JSON list such as ``["python", "-m", "x"]``),
    else ``tomocupy`` on its ``PATH``.

    tomocupy writes into ``.<name>.<run_id>.staging/<name>`` beside the output (through a
    relative ``--out-path-name``). The result is accepted only if tomocupy exited 0, its log
    has no traceback or error line, and the files are exactly the slices (or try candidates)
    expected from the scan's shape, rows, columns and binning, all of one size. A
    ``manifest.json`` (sha256 and size of every file) and the run's log are added, then the
    folder replaces the previous reconstruction by two renames: nobody sees a mix, and a failed
    or killed run leaves the previous result as it was. One run per output at a time (a lock
    beside it). Raises on any failure; returns a small JSON-able summary.
    """
    # Only this function's source reaches the endpoint: everything it needs is in here.
    import collections
    import concurrent.futures
    import datetime
    import difflib
    import errno
    import fcntl
    import glob
    import hashlib
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

    # Option names tomocupy 1.1.0 accepts ('*' = store_true flag; '!' = argparse type=bool,
    # which reads any non-empty string as true, so only a true value is passed).
    common = """config logs-home verbose* config-update* file-name flat-file-name dark-file-name
    out-path-name file-type binning blocked-views remove-stripe-method fw-sigma fw-filter fw-level
    fw-pad* vo-all-snr vo-all-la-size vo-all-sm-size vo-all-dim ti-beta ti-mask lamino-search-width
    lamino-search-step lamino-angle lamino-start-row lamino-end-row reconstruction-type
    reconstruction-algorithm rotation-axis center-search-width center-search-step nsino
    nsino-per-chunk nproj-per-chunk start-row end-row start-column end-column start-proj end-proj
    rotation-axis-auto rotation-axis-pairs rotation-axis-sift-threshold rotation-axis-method
    find-center-start-row find-center-end-row fbp-filter dezinger dezinger-threshold
    max-write-threads max-read-threads minus-log flat-linear bright-ratio pixel-size dtype
    save-format zarr-compression zarr-chunk large-data! ldchunk clear-folder beam-hardening-method
    source-distance read-scintillator* read-pixel-size* scintillator-material
    scintillator-thickness scintillator-density sample-material sample-density filter-1-auto
    filter-1-material filter-1-thickness filter-1-density filter-2-auto filter-2-material
    filter-2-thickness filter-2-density filter-3-auto filter-3-material filter-3-thickness
    filter-3-density calculate-source e-storage-ring b-storage-ring minimum-E maximum-E step-E
    maximum-psi-urad""".split()
    steps_only = """retrieve-phase-method energy propagation-distance retrieve-phase-alpha
    retrieve-phase-delta-beta retrieve-phase-W retrieve-phase-pad FFratio FFdim FFlog FFpad
    rotate-proj-angle rotate-proj-order pre-processing""".split()
    known = {"recon": common, "recon_steps": common + steps_only}
    # set by this function: the scan, no ~/tomocupyon.conf, and the staging folder
    managed = {"file-name", "config", "config-update", "out-path-name"}
    allowed_settings = {"file_name", "output", "logs", "timeout"}

    params = dict(recon or {})
    settings = dict(tomocupy or {})
    run_id = str(run_id or f"direct-{uuid.uuid4().hex[:12]}")
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,80}", run_id):
        raise ValueError(f"run_id {run_id!r} is not a plain identifier")
    for key in settings:
        if key in ("executable", "env"):
            raise ValueError(f"tomocupy.{key} cannot come from the flow input: the program and its "
                             "environment are chosen by the compute endpoint "
                             "(TOMOCUPY_GLADIER_PROGRAM in the endpoint's environment)")
        if key not in allowed_settings:
            raise ValueError(f"unknown tomocupy setting {key!r}; allowed: {sorted(allowed_settings)}")
    command = params.pop("command", "recon")
    if command not in known:
        raise ValueError(f"unknown tomocupy command {command!r}: use one of {sorted(known)}")
    kind = "try" if str(params.get("reconstruction-type") or "try").startswith("try") else "full"
    # A run started from the web form may leave output and logs out: then they follow
    # tomocupy's own naming for the scan (full: <dir>_rec/<name>_rec; try:
    # <dir>_rec/try_center/<name>, name = file name without its last 3 characters, as tomocupy
    # cuts ".h5") and logs = <output>.logs.
    if settings.get("file_name") and os.path.isabs(str(settings["file_name"])):
        scan_path = str(settings["file_name"])
        stem = os.path.basename(scan_path)[:-3]
        rec_dir = os.path.dirname(scan_path) + "_rec"
        if kind == "try":
            settings.setdefault("output", os.path.join(rec_dir, "try_center", stem))
        else:
            settings.setdefault("output", os.path.join(rec_dir, stem + "_rec"))
        settings.setdefault("logs", str(settings["output"]) + ".logs")
    for key in ("file_name", "output", "logs"):
        if not settings.get(key) or not os.path.isabs(str(settings[key])):
            raise ValueError(f"tomocupy.{key} must be an absolute path, got {settings.get(key)!r}")
    scan = pathlib.Path(settings["file_name"])
    output = pathlib.Path(settings["output"])
    logs = pathlib.Path(settings["logs"])
    if not scan.is_file():
        raise FileNotFoundError(f"scan file not found on {socket.gethostname()}: {scan}")

    # --- the command line -------------------------------------------------------------------
    kinds = {}
    for entry in known[command]:
        name = entry.rstrip("*!")
        kinds[name] = entry[len(name):] or "value"
    args = []
    for name, value in params.items():
        if name in managed:
            raise ValueError(f"option {name!r} is set by tomocupy-gladier and cannot be given"
                             + (" (the output folder is tomocupy.output)" if name == "out-path-name" else ""))
        if name not in kinds:
            hint = difflib.get_close_matches(name, list(kinds), n=1)
            other = [c for c in known if c != command and name in [e.rstrip("*!") for e in known[c]]]
            reason = f"only valid with command {other[0]!r}" if other else "not a tomocupy option"
            raise ValueError(
                f"unknown option {name!r} for 'tomocupy {command}' ({reason})"
                + (f"; did you mean {hint[0]!r}?" if hint and not other else "")
            )
        if value is None:
            continue
        form = kinds[name]
        if form in ("*", "!"):
            if value is True:
                args.append(f"--{name}")
            elif value is not False:
                raise ValueError(f"option {name!r} takes true or false, got {value!r}")
            if form == "!" and value is True:
                args.append("True")
            continue
        if isinstance(value, bool):
            value = "True" if value else "False"  # tomocupy parses these booleans from strings
        args += [f"--{name}", str(value)]

    raw_program = os.environ.get("TOMOCUPY_GLADIER_PROGRAM", "").strip()
    if raw_program.startswith("["):
        program = json.loads(raw_program)
        if not program or not all(isinstance(p, str) and p for p in program):
            raise ValueError("TOMOCUPY_GLADIER_PROGRAM must be a path or a JSON list of words")
    else:
        program = [raw_program or "tomocupy"]

    # --- what tomocupy 1.1.0 will write (dataio/reader.py init_sizes, init_sizes_try) --------
    def option(name, default):
        value = params.get(name)
        return default if value is None else value

    try:
        import h5py

        with h5py.File(scan, "r") as h5:
            nproj, nzi, ni = (int(v) for v in h5["/exchange/data"].shape)
    except ImportError:
        raise RuntimeError("h5py is needed in the endpoint's environment to check the scan") from None
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"{scan} is not a DXchange scan with a 3-D /exchange/data: {exc}") from None
    if option("reconstruction-type", "try") == "try_lamino":
        raise ValueError("try_lamino reconstructions are not supported by tomocupy-gladier")
    save_format = "tiff" if kind == "try" else str(option("save-format", "tiff"))
    factor = 2 ** int(option("binning", 0))
    ranges = {}
    for what, size in (("row", nzi), ("column", ni), ("proj", nproj)):
        first, last = int(option(f"start-{what}", 0)), int(option(f"end-{what}", -1))
        last = size if last == -1 else last
        if not 0 <= first < last <= size:
            raise ValueError(f"start-{what} {first} / end-{what} {last} do not fit the scan's {size} "
                             f"{what}s ({scan.name}): need 0 <= start < end <= {size}")
        ranges[what] = (first, last)
    width = ranges["column"][1] - ranges["column"][0]
    width -= width % (2 * factor)
    n = width // factor
    nz = (ranges["row"][1] - ranges["row"][0]) // factor
    standard = (option("file-type", "standard") == "standard" and option("dtype", "float32") == "float32"
                and not float(option("lamino-angle", 0) or 0))
    if nz < 1 or n < 2:
        raise ValueError(f"rows {ranges['row']} and columns {ranges['column']} at binning "
                         f"{int(option('binning', 0))} leave nothing to reconstruct")
    if kind == "try":
        width_c = float(option("center-search-width", 50.0))
        step_c = float(option("center-search-step", 0.5))
        if step_c <= 0 or width_c <= 0:
            raise ValueError("center-search-width and center-search-step must be positive")
        per_slice = math.ceil(2 * width_c / (step_c * factor) - 1e-9)
        fractions = literal_eval(str(option("nsino", "0.5")))
        fractions = fractions if isinstance(fractions, list) else [fractions]
        slice_ids = sorted({int(float(f) * (nz * factor - 1) / factor) * factor for f in fractions})
        expected_count = per_slice * len(slice_ids)
    else:
        first_id = ranges["row"][0] // factor
        expected_names = {f"recon_{first_id + i:05d}.tiff" for i in range(nz)}
        expected_count = nz

    # --- one run per output: a lock beside it, released by the kernel if we die ------------
    output.parent.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    log_file = logs / f"{run_id}.log"
    lock_path = output.parent / f".{output.name}.lock"
    lock = open(lock_path, "a+")
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

    staging_root = output.parent / f".{output.name}.{run_id}.staging"
    staged = staging_root / output.name
    try:
        # leftovers of killed runs of this output (their lock is gone, since we hold it)
        for stale in output.parent.glob(f".{glob.escape(output.name)}.*.staging"):
            shutil.rmtree(stale, ignore_errors=True)
        old_copies = list(output.parent.glob(f".{glob.escape(output.name)}.*.old"))
        if old_copies and not output.exists():
            os.rename(old_copies.pop(), output)  # a swap was cut between its two renames
        for old in old_copies:
            shutil.rmtree(old, ignore_errors=True)
        staging_root.mkdir()

        # --- run ---------------------------------------------------------------------------
        no_config = pathlib.Path(tempfile.gettempdir()) / f"tomocupy-gladier-{uuid.uuid4().hex}.conf"
        argv = program + [command, "--file-name", str(scan), "--config", str(no_config),
                          "--out-path-name", output.name] + args
        timeout = float(settings.get("timeout") or 6 * 3600)
        started = time.time()
        with open(log_file, "wb") as log:
            log.write(("$ " + " ".join(argv) + f"\n# run {run_id}, staging {staged}\n").encode())
            log.flush()
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=staging_root,
                                    start_new_session=True)
            try:
                returncode = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                returncode = None
        wall = time.time() - started
        raw_text = log_file.read_text(errors="replace")
        text = re.sub(r"\x1b\[[0-9;]*m", "", raw_text)
        tail = "\n".join(collections.deque(text.splitlines(), maxlen=30))
        cmdline = " ".join(argv)

        def fail(problem: str, error: type = RuntimeError) -> None:
            raise error(f"{problem}: {cmdline}\nlog: {log_file}\n--- last lines ---\n{tail}")

        if returncode is None:
            fail(f"tomocupy did not finish within {timeout:.0f} s", TimeoutError)
        if returncode != 0:
            fail(f"tomocupy exited with status {returncode}")

        # --- verify ------------------------------------------------------------------------
        # tomocupy's console log colours ERROR red (91) and CRITICAL red background (41).
        # Two of its error lines come from runs that went well (tomocupy 1.1.0): write_meta's
        # (the optional 'meta' package is missing) and the beam-hardening correction's note
        # that flats and projections had the same exposure (utils.read_bright_ratio).
        benign = ("write_meta() error", "used same flat and data exposures")
        for raw_line in raw_text.splitlines():
            line = re.sub(r"\x1b\[[0-9;]*m", "", raw_line).strip()
            bad = ("\x1b[91m" in raw_line or "\x1b[41m" in raw_line
                   or line.startswith("Traceback (most recent call last)")
                   or line.startswith("Exception in thread"))
            if bad and not any(b in line for b in benign):
                fail(f"tomocupy exited 0 but its log reports an error ({line[:200]!r})")

        problems = []
        items = {}  # what tomocupy wrote, by name inside staging_root
        for suffix in ("", ".h5", "_parts", ".zarr"):
            candidate = staging_root / f"{output.name}{suffix}"
            if candidate.exists():
                items[suffix] = candidate
        if save_format == "tiff":
            folder = items.get("")
            names = sorted(p.name for p in folder.iterdir()) if folder is not None else []
            if kind == "try":
                pattern = re.compile(r"recon_slice(\d{4,})_center(-?[0-9.]+)\.tiff$")
                found = [(m, name) for name in names if (m := pattern.match(name))]
                per_id = collections.Counter(int(m.group(1)) for m, _ in found)
                if sorted(per_id) != slice_ids or set(per_id.values()) != {per_slice}:
                    problems.append(f"expected {per_slice} candidates for each of slices {slice_ids}, "
                                    f"found {dict(sorted(per_id.items())) or 'none'}")
                slices = [folder / name for _, name in found]
            elif float(option("lamino-angle", 0) or 0):
                # laminography (recon_steps) numbers its slices by its own rows: all of one size
                slices = sorted(folder / name for name in names if name.startswith("recon_"))
                if not slices:
                    problems.append("no slices written")
            else:
                present = {name for name in names if name.startswith("recon_")}
                missing = sorted(expected_names - present)
                extra = sorted(present - expected_names)
                if missing:
                    problems.append(f"{len(missing)} of {nz} slices missing (first {missing[:3]})")
                if extra:
                    problems.append(f"unexpected files {extra[:3]}")
                slices = sorted(folder / name for name in present & expected_names)
            sizes = collections.Counter(p.stat().st_size for p in slices)
            if 0 in sizes:
                problems.append(f"{sizes[0]} empty slice files")
            if len(sizes) > 1:
                problems.append(f"slices of {len(sizes)} different sizes {sorted(sizes)[:4]} bytes")
            if slices and standard and not problems:
                try:
                    import tifffile

                    shape = tuple(tifffile.TiffFile(slices[0]).pages[0].shape)
                except ImportError:
                    shape = None
                if shape is not None and shape != (n, n):
                    problems.append(f"slices are {shape}, expected {(n, n)}")
        elif save_format in ("h5", "h5nolinks"):
            if ".h5" not in items:
                problems.append(f"no {output.name}.h5")
            else:
                try:
                    with h5py.File(items[".h5"], "r") as h5:
                        volume = h5["/exchange/data"]
                        if standard and tuple(volume.shape) != (nz, n, n):
                            problems.append(f"/exchange/data is {volume.shape}, expected {(nz, n, n)}")
                        if volume.is_virtual:
                            for source in volume.virtual_sources():
                                part = items[".h5"].parent / source.file_name
                                if not part.is_file() or part.stat().st_size == 0:
                                    problems.append(f"missing part {source.file_name}")
                                    break
                except (OSError, KeyError) as exc:
                    problems.append(f"cannot read {output.name}.h5: {exc}")
        elif save_format == "zarr":
            if ".zarr" not in items or not any(items[".zarr"].iterdir()):
                problems.append(f"no {output.name}.zarr")
        else:
            raise ValueError(f"save-format {save_format!r} is not supported by tomocupy-gladier")
        if problems:
            fail(f"tomocupy exited 0 but the reconstruction is not what was asked ("
                 + "; ".join(problems) + ")")

        # --- tomocupy 1.1.0 issue #76: try + auto axis names candidates from the initial axis --
        # tomocupy prints the axis only when it searched for it (__main__.run_rec)
        found_axis = re.findall(r"set rotai?on\s+axis\s+([-+0-9.eE]+)", text)
        searched = option("rotation-axis-auto", "manual") == "auto"
        axis = float(found_axis[-1]) if found_axis and searched else None
        # The log's axis A is in the binned frame of the columns read: the full-size axis is
        # A * 2**binning + start-column. A try names its candidates from the axis before the
        # search (R0: rotation-axis, or half the width), so candidate L really is at
        # L + A * 2**binning - (R0 - start-column) (tomocupy 1.1.0, reader.init_sizes_try).
        relabelled = None
        start_column = ranges["column"][0]
        if axis is not None:
            axis = axis * factor + start_column
        if kind == "try" and axis is not None:
            initial = float(option("rotation-axis", -1.0))
            initial = ni / 2 if initial == -1 else initial
            labels = sorted(float(m.group(2)) for m, _ in found)
            middle = labels[len(labels) // 2]
            if abs(axis - initial) > 1e-6 and abs(middle - initial) < abs(middle - axis):
                relabelled = axis - initial
                # through temporary names: a new name may be another candidate's old one
                moves = []
                for i, (m, name) in enumerate(found):
                    true = float(m.group(2)) + relabelled
                    os.rename(folder / name, folder / f".relabel-{i}")
                    moves.append((folder / f".relabel-{i}",
                                  folder / f"recon_slice{m.group(1)}_center{true:05.2f}.tiff"))
                for temporary, final_name in moves:
                    os.rename(temporary, final_name)

        # --- one folder per reconstruction, with its log and manifest ----------------------
        staged.mkdir(exist_ok=True)
        for suffix, item in items.items():
            if suffix:
                os.rename(item, staged / item.name)
        shutil.copyfile(log_file, staged / "tomocupy.log")
        def describe(path: pathlib.Path) -> dict:
            digest = hashlib.sha256()
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
            return {"path": path.relative_to(staged).as_posix(), "bytes": path.stat().st_size,
                    "sha256": digest.hexdigest()}

        # hashlib releases the GIL: one thread per core hashes a 2000-slice volume in parallel
        files = sorted(p for p in staged.rglob("*") if p.is_file())
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            entries = list(pool.map(describe, files))
        total = sum(e["bytes"] for e in entries)
        manifest = {"run_id": run_id, "scan": str(scan), "kind": kind, "format": save_format,
                    "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                    "command": argv, "file_count": len(entries), "bytes": total, "files": entries}
        (staged / "manifest.json").write_text(json.dumps(manifest, indent=1))

        # --- swap: two renames; the previous result stays whole until the new one is in ----
        replaced = output.exists()
        old = output.parent / f".{output.name}.{run_id}.old"
        if replaced:
            os.rename(output, old)
        os.rename(staged, output)
        if replaced:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging_root, ignore_errors=True)
        lock.close()

    seconds = re.findall(r"Reconstruction time\s+([-+0-9.eE]+)\s*s", text)

    def tool_version():
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

    tool, version = tool_version()
    if kind == "try" and relabelled is not None:
        axis_source = f"tomocupy automatic search (candidate names corrected by {relabelled:+.2f})"
    elif axis is not None:
        axis_source = "tomocupy automatic search"
    else:
        axis = float(option("rotation-axis", -1.0))
        axis_source = "rotation-axis option" if axis != -1 else "centre of the projections"
        axis = ni / 2 if axis == -1 else axis
    return {
        "run_id": run_id,
        "output": str(output),
        "kind": kind,
        "format": save_format,
        "manifest": str(output / "manifest.json"),
        "file_count": len(entries),
        "slice_count": expected_count,
        "slice_shape": [n, n] if standard else None,
        "bytes": total,
        "replaced_previous": replaced,
        "log_file": str(log_file),
        "rotation_axis": axis,
        "rotation_axis_source": axis_source,
        "reconstruction_seconds": float(seconds[-1]) if seconds else None,
        "wall_seconds": round(wall, 3),
        "command": argv,
        "tool": tool,
        "tool_version": version,
        "host": socket.gethostname(),
        "gpu": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }


RUN_ID_PATH = "$._context.run_id"


def tomocupy_recon_tasks() -> list[dict]:
    """The Compute v3 ``tasks``: the flow input's ``recon`` and ``tomocupy`` blocks and the run id
    (which names the staging folder and the log of this run)."""
    return [{"function_id.$": "$.input.tomocupy_recon_function_id",
             "kwargs": {"recon.$": "$.input.recon", "tomocupy.$": "$.input.tomocupy",
                        "run_id.$": RUN_ID_PATH}}]


@generate_flow_definition(
    modifiers={
        tomocupy_recon: {
            "tasks": tomocupy_recon_tasks(),
            "endpoint_id": "compute_endpoint",
            "user_endpoint_config": "tomocupy_endpoint_config",
            "WaitTime": RECON_WAIT_TIME,
        }
    }
)
class TomocupyRecon(GladierBaseTool):
    """Reconstruct the scan with tomocupy on the compute endpoint (Compute v3 action provider).

    The per-run ``tomocupy_endpoint_config`` (queue, account, walltime, nodes) reaches the
    endpoint's PBS template as ``user_endpoint_config``.
    """

    action_url = COMPUTE_V3_URL
    compute_functions = [tomocupy_recon]
    required_input = ["recon", "tomocupy", "compute_endpoint", "tomocupy_endpoint_config"]
