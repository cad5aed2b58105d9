"""The demo: a synthetic scan taken through the real flow on this machine.

It writes a realistic DXchange scan into a "beamline" folder, a commented ``experiment.toml``
that maps four local folders to collections (beamline, facility, portal, analysis), then runs
``TomocupyFlow`` on the local backend: transfer, CPU reconstruction, previews, metadata,
publication into the local index, previews sent back to the analysis folder. What it leaves behind is the user's starting template.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tomocupy_gladier.experiment.config import ExperimentConfig

from tomocupy_gladier.tools.registry import load_config, sections
from tomocupy_gladier.planning.plan import RunPlan
from tomocupy_gladier.runs.run_record import GATHER_STATE, RunRecord

# Collection ids of the demo's local folders (fixed, so re-running the demo finds its runs).
BEAMLINE = "d0c0a001-0000-4000-8000-00000000b001"
FACILITY = "d0c0a001-0000-4000-8000-00000000f001"
PORTAL = "d0c0a001-0000-4000-8000-00000000c001"
ANALYSIS = "d0c0a001-0000-4000-8000-00000000a001"
INDEX = "d0c0a001-0000-4000-8000-0000000051d1"
ENDPOINT = "d0c0a001-0000-4000-8000-0000000000e1"

SCAN_NAME = "demo_scan_0001.h5"

_EXPERIMENT_TOML = f"""\
# An experiment, described once. `tomocupy-gladier demo` wrote this file; edit it for your own.
# Run a scan with:  tomocupy-gladier run {SCAN_NAME} --config experiment.toml [--try | --full]

[experiment]
name = "demo"
# local: everything on this machine (no Globus account needed).
# globus: Globus Flows, Transfer, Compute and Search (see docs/polaris.md).
backend = "local"
tags = ["demo"]

[source]                        # where the detector writes scans (the beamline collection)
collection = "{BEAMLINE}"
path = "/"

[facility]                      # where scans are reconstructed (the computing facility)
collection = "{FACILITY}"
path = "/raw"
# posix_root = "/eagle/MYPROJECT"   # what the collection's / is on the compute nodes

[compute]
endpoint = "{ENDPOINT}"   # on Polaris: ALCF's endpoint, 9a947ba5-f537-4681-acf3-cc66485aadec
# environment = "/eagle/MYPROJECT/envs/tomocupy"   # ALCF's endpoint: the workers' environment
# The program is the endpoint's choice, never the flow input's. Here (local backend) this line
# chooses it: tomocupy-cpu is the CPU engine with tomocupy's command line. On Polaris the
# endpoint's environment does (TOMOCUPY_GLADIER_PROGRAM, see docs/polaris.md).
executable = "tomocupy-cpu"
# Time limits: timeout < walltime - 300 s <= wait_time. Left out, they are derived from the
# walltime (here 3000 s and 3300 + 3600 s: the step's wait counts the queue too).
# wait_time = 6900              # seconds the flow waits for the reconstruction step
# timeout = 3000                # seconds before the reconstruction is stopped

[compute.pbs]                   # the batch job on Polaris (the local endpoint checks it too)
queue = "debug"
account = "MYPROJECT"
walltime = "01:00:00"
nodes = 1

[transfers]
wait_time = 21600               # seconds a transfer (scan, publication, return) may take: 50 GB

{{STEP_SECTIONS}}[recon]                         # default reconstruction parameters, by tomocupy's option names
reconstruction-type = "full"
rotation-axis-auto = "auto"
rotation-axis-method = "vo"
remove-stripe-method = "fw"    # Fourier-wavelet ring removal (vo-all: slower, Vo's filters)
fbp-filter = "parzen"
dezinger = 2

[local]                         # the local backend: state and the folders behind each collection
state_dir = "state"

[local.collections]
"{BEAMLINE}" = "beamline"
"{FACILITY}" = "facility"
"{PORTAL}" = "portal"
"{ANALYSIS}" = "analysis"
"""

# The steps' own sections (the publication's, say) as each step's folder writes them
# (``Section.template``), in registry order, with the demo's collections and index.
EXPERIMENT_TOML = _EXPERIMENT_TOML.replace("{STEP_SECTIONS}", "\n".join(
    section.template.format(index=INDEX, publication=PORTAL, analysis=ANALYSIS)
    for section in sections() if section.template) + "\n")


@dataclass(frozen=True)
class DemoSetup:
    workdir: Path
    config: ExperimentConfig
    scan: Path
    true_axis: float


def prepare(workdir: Path, *, nproj: int = 720, nrows: int = 32, ncols: int = 512, seed: int = 7) -> DemoSetup:
    """Create the folders, the scan (unless present) and experiment.toml (unless present)."""
    from tomocupy_gladier.demo.synthetic import write_scan

    workdir = workdir.resolve()
    for folder in ("beamline", "facility/raw", "portal", "analysis"):
        (workdir / folder).mkdir(parents=True, exist_ok=True)
    config_path = workdir / "experiment.toml"
    if not config_path.exists():
        config_path.write_text(EXPERIMENT_TOML)
    scan = workdir / "beamline" / SCAN_NAME
    truth = write_scan(scan, nproj=nproj, nrows=nrows, ncols=ncols, seed=seed)
    return DemoSetup(workdir, load_config(config_path), scan, float(truth.rotation_axis))


def summarize_run(backend: Any, record: RunRecord, plan: RunPlan) -> dict[str, Any]:
    """What a user wants to see after the run: states, outputs, the index entry, the failure."""
    recon = record.recon_result
    previews = record.previews_result
    gather = record.result(GATHER_STATE)
    subject = (gather.get("search") or {}).get("subject")
    entry = None
    if subject:
        found = [e for e in backend.search_index.search("*", limit=1000) if e["subject"] == subject]
        entry = found[0] if found else None
    sent_back = record.sent_back
    return {
        "run_id": record.run_id,
        "status": record.status,
        "failure": record.failure,
        "states": backend.store.state_durations(record.run_id),
        "reconstruction": recon.get("output"),
        "files": recon.get("file_count"),
        "rotation_axis": recon.get("rotation_axis"),
        "axis_source": recon.get("rotation_axis_source") or plan.axis_source,
        "engine": f"{recon.get('tool')} {recon.get('tool_version') or ''}".strip(),
        "log": recon.get("log_file") or str(plan.log_file(record.run_id)),
        "previews": previews.get("previews", []),
        "published_to": ((gather.get("transfer") or {}).get("DATA") or [{}])[0].get("destination_path"),
        "returned_to": sent_back["destination"]["path"] if sent_back else None,
        "index_entry": subject if entry else None,
        "entry": entry,
    }
