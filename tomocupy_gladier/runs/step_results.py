"""What the compute steps return, as the CLI and the web pages read it (``RunRecord.recon``, ...).

A run document is JSON from either backend, so every key may be missing (an older run, a
step that has not run): the types are ``total=False`` and readers keep their defaults. The
keys are those the compute functions return (``tools/recon/tomocupy_recon.py``, ``tools/previews/previews.py``,
``tools/metadata/scan_metadata.py``); only the ones read here are listed.
"""

from __future__ import annotations

from typing import Any, TypedDict


class ReconResult(TypedDict, total=False):
    """The reconstruction step's result (``tomocupy_recon``)."""

    run_id: str
    output: str                   # the reconstruction folder, as the endpoint sees it
    kind: str                     # try | full
    file_count: int
    bytes: int
    log_file: str
    rotation_axis: float | None
    rotation_axis_source: str     # how tomocupy found it ("tomocupy automatic ..." or the input's)
    tool: str
    tool_version: str | None
    quality: dict[str, Any]       # the scan's quality gates: status, warnings, figures (compute/quality.py)
    worker: dict[str, str | None]  # the worker's versions (compute.worker_versions); every shim's result has it
    axis_decided: dict[str, Any]  # how the axis was decided (compute/axis.py): decided, how, reused_from
    history: list[dict[str, Any]] # the reconstructions of the folder it replaced, newest first


def worker_line(worker: dict[str, Any] | None) -> str:
    """A worker's versions in words ("Python 3.13.1, parsl 2026.02.23, ..."; absent ones
    "none"), or "" when the result has none (an older run)."""
    if not worker:
        return ""
    names = {"python": "Python", "parsl": "parsl", "globus_compute_endpoint": "globus-compute-endpoint",
             "tomocupy": "tomocupy"}
    return ", ".join(f"{label} {worker.get(key) or 'none'}" for key, label in names.items())


class Montage(TypedDict, total=False):
    file: str
    size: list[int]


class PreviewsResult(TypedDict, total=False):
    """The previews step's result (``make_previews``); a try's adds the centre it suggests."""

    output: str
    folder: str
    kind: str                     # try | full
    previews: list[str]           # the PNG files
    suggested_center: float
    focus_metric: str
    warning: str                  # the suggestion is at the edge of the searched range
    at_edge: bool                 # that, as a flag
    montage: Montage | str
    kept: str                     # the same images beside the run's log: the run's own, always

