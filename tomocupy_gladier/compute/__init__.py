"""The work of the compute steps, as it runs on the compute endpoint.

Globus Compute ships only a registered function's source, so the functions registered in
``tomocupy_gladier.tools`` are shims: each imports this package (installed in the endpoint's
environment with the same ``pip install`` as the client), checks with :func:`check_version`
that it is the client's version and calls it. One module per step: :mod:`.recon` (command
line, staging, verification, swap, axis read-back), :mod:`.previews` (rendering, focus
measure, montage), :mod:`.metadata` (the record, manifest), :mod:`.choice` (the centres
offered), :mod:`.retention` (what a run removes once its publication is verified); helpers shared
by steps, each in a module of its own: :mod:`.dxchange` (a scan's DXchange fields),
:mod:`.multiscale` (the OME-Zarr), :mod:`.checksums` (the files' sha256, taken from bytes in
hand, and their verification), :mod:`.collections` (the nodes' paths on the facility
collection), :mod:`.quality` (the scan's and volume's gates), :mod:`.axis` (how an axis was
decided); :mod:`.rules` and :mod:`.tomocupy_options` hold what
tomocupy does that the client needs to know too (its output folders, ranges, the axis default;
its options, read from the shipped table).

This package imports nothing else of tomocupy_gladier (the layering test holds it to that).
"""

from __future__ import annotations

import importlib.metadata
import platform
from typing import Any

from tomocupy_gladier import __version__

#: the flow input's field that carries the client's version to the shims
VERSION_FIELD = "tomocupy_gladier_version"


class VersionMismatch(RuntimeError):
    """The endpoint's tomocupy-gladier is not the one that started the flow."""


def check_version(client_version: object) -> None:
    """Refuse to run for a client of another version (``None``: called directly, not by a flow)."""
    if client_version is None or str(client_version) == __version__:
        return
    raise VersionMismatch(
        f"the flow was started by tomocupy-gladier {client_version}, but the compute endpoint has "
        f"tomocupy-gladier {__version__}: install tomocupy-gladier {client_version} in the "
        "endpoint's environment (the tomocupy conda env, see docs/polaris.md) and restart the "
        "endpoint, or start the flow with tomocupy-gladier " + __version__)


#: the packages whose versions a worker reports: ALCF's endpoint needs the workers' Python and
#: parsl to match its own (argonne-lcf/user-guides docs/services/globus-compute.md), and
#: globus-compute-endpoint and tomocupy decide what ran
WORKER_PACKAGES = {"parsl": "parsl", "globus_compute_endpoint": "globus-compute-endpoint",
                   "tomocupy": "tomocupy"}


def worker_versions() -> dict[str, str | None]:
    """The worker's Python and the versions of :data:`WORKER_PACKAGES` (None where absent)."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for key, package in WORKER_PACKAGES.items():
        try:
            found[key] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[key] = None
    found["tomocupy_gladier"] = __version__
    return found


def on_worker(result: dict[str, Any]) -> dict[str, Any]:
    """A shim's result with the worker's versions (``worker``), which the run page and the
    published record show."""
    return {**result, "worker": worker_versions()}
