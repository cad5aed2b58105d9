"""The tomocupy reconstruction step: its Globus Compute function and its Gladier tool."""

from __future__ import annotations

from gladier import GladierBaseTool, generate_flow_definition

COMPUTE_V3_URL = "https://compute.actions.globus.org/v3"
DEFAULT_WAIT_TIME = 2 * 60 * 60


def tomocupy_recon(**data):
    """Reconstruct one scan with tomocupy (or a program with its command line).

    Reads ``data["recon"]`` (``command`` + tomocupy options by tomocupy's names) and
    ``data["tomocupy"]`` (``file_name``; optional ``executable``, ``timeout``, ``env``).
    Raises on any failure; returns a small JSON-able summary of what was written.
    """
    # Only this function's source reaches the endpoint: everything it needs is in here.
    import collections
    import difflib
    import importlib.metadata
    import os
    import pathlib
    import re
    import signal
    import socket
    import subprocess
    import tempfile
    import time
    import uuid

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
    managed = {"file-name", "config", "config-update"}  # set by this function, never by a user

    recon = dict(data.get("recon") or {})
    settings = dict(data.get("tomocupy") or {})
    command = recon.pop("command", "recon")
    if command not in known:
        raise ValueError(f"unknown tomocupy command {command!r}: use one of {sorted(known)}")
    file_name = settings.get("file_name")
    if not file_name:
        raise ValueError("tomocupy.file_name (the scan to reconstruct) is required")
    scan = pathlib.Path(file_name)
    if not scan.is_file():
        raise FileNotFoundError(f"scan file not found on {socket.gethostname()}: {scan}")

    kinds = {}
    for entry in known[command]:
        name = entry.rstrip("*!")
        kinds[name] = entry[len(name):] or "value"
    args = []
    for name, value in recon.items():
        if name in managed:
            raise ValueError(f"option {name!r} is set by tomocupy-gladier and cannot be given")
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
        kind = kinds[name]
        if kind in ("*", "!"):
            if value is True:
                args.append(f"--{name}")
            elif value is not False:
                raise ValueError(f"option {name!r} takes true or false, got {value!r}")
            if kind == "!" and value is True:
                args.append("True")
            continue
        if isinstance(value, bool):
            value = "True" if value else "False"  # tomocupy parses these booleans from strings
        args += [f"--{name}", str(value)]

    executable = settings.get("executable") or "tomocupy"
    program = [executable] if isinstance(executable, str) else [str(p) for p in executable]
    # a --config that does not exist keeps ~/tomocupyon.conf out of the run
    no_config = pathlib.Path(tempfile.gettempdir()) / f"tomocupy-gladier-{uuid.uuid4().hex}.conf"
    argv = program + [command, "--file-name", str(scan), "--config", str(no_config)] + args

    # tomocupy's output convention, used for the log location and as a fallback
    rtype = recon.get("reconstruction-type", "try")
    out_path = recon.get("out-path-name")
    rec_root = pathlib.Path(f"{scan.parent}_rec")
    if str(rtype).startswith("try"):
        expected = rec_root / "try_center" / scan.stem
    elif out_path:
        expected = pathlib.Path(out_path)
    else:
        expected = rec_root / f"{scan.stem}_rec"
    expected.parent.mkdir(parents=True, exist_ok=True)
    log_file = expected.parent / f"{expected.name}.tomocupy.log"

    timeout = float(settings.get("timeout") or 6 * 3600)
    env = dict(os.environ)
    env.update({str(k): str(v) for k, v in (settings.get("env") or {}).items()})
    started = time.time()
    with open(log_file, "wb") as log:
        log.write(("$ " + " ".join(argv) + "\n").encode())
        log.flush()
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
        try:
            returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            returncode = None
    wall = time.time() - started
    text = re.sub(r"\x1b\[[0-9;]*m", "", log_file.read_text(errors="replace"))
    tail = "\n".join(collections.deque(text.splitlines(), maxlen=30))
    cmdline = " ".join(argv)
    if returncode is None:
        raise TimeoutError(f"tomocupy did not finish within {timeout:.0f} s: {cmdline}\n"
                           f"log: {log_file}\n--- last lines ---\n{tail}")
    if returncode != 0:
        raise RuntimeError(f"tomocupy exited with status {returncode}: {cmdline}\n"
                           f"log: {log_file}\n--- last lines ---\n{tail}")

    # tomocupy reports the output as a folder, a file or a file-name prefix (".../recon")
    reported = re.findall(r"Output: (\S+)", text)
    output = pathlib.Path(reported[-1]) if reported else expected
    if not output.exists():
        for suffix in (".h5", ".zarr"):
            if output.with_name(output.name + suffix).exists():
                output = output.with_name(output.name + suffix)
                break
        else:
            if output.parent.is_dir() and any(p != log_file for p in output.parent.glob(output.name + "*")):
                output = output.parent
    if output.is_dir():
        files = sorted(p for p in output.rglob("*") if p.is_file() and p != log_file)
    elif output.is_file():
        files = [output]
    else:
        files = []
    empty = [p.name for p in files if p.stat().st_size == 0]
    if not files or empty:
        problem = f"empty files {empty[:5]}" if empty else f"no output at {output}"
        raise RuntimeError(f"tomocupy exited 0 but wrote no usable reconstruction ({problem}): "
                           f"{cmdline}\nlog: {log_file}\n--- last lines ---\n{tail}")

    axis = re.findall(r"set rotai?on\s+axis\s+([-+0-9.eE]+)", text)
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
    return {
        "output": str(output),
        "files": [str(p.relative_to(output)) if output.is_dir() else p.name for p in files[:20]],
        "file_count": len(files),
        "bytes": sum(p.stat().st_size for p in files),
        "log_file": str(log_file),
        "rotation_axis": float(axis[-1]) if axis else None,
        "reconstruction_seconds": float(seconds[-1]) if seconds else None,
        "wall_seconds": round(wall, 3),
        "command": argv,
        "tool": tool,
        "tool_version": version,
        "host": socket.gethostname(),
        "gpu": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }


@generate_flow_definition(
    modifiers={
        tomocupy_recon: {
            "endpoint_id": "compute_endpoint",
            "user_endpoint_config": "tomocupy_endpoint_config",
            "WaitTime": DEFAULT_WAIT_TIME,
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
