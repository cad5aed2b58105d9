"""Room at the facility, checked before a run starts on the local backend.

A run copies the scan to the facility (unless it is there already) and writes its
reconstruction there: the slices, the OME-Zarr, the previews (the estimate is the endpoint
library's, :func:`tomocupy_gladier.compute.disk_space.reconstruction_bytes`, from the scan's
shape and the run's options). The previous reconstruction stays until the new one is complete,
so all of it is new room. When a filesystem of the facility lacks that room the run is refused,
nothing moved, in one line naming the collection, the free and the needed bytes.

On Globus the facility's filesystem cannot be read from here: nothing is checked, and a disk that
fills during a step fails the step saying so (``compute/disk_space.py``).
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Any, Mapping

from tomocupy_gladier.backends import Backend
from tomocupy_gladier.compute.disk_space import SpaceNeeded, existing_folder, free_bytes, human, reconstruction_bytes
from tomocupy_gladier.compute.multiscale import zarr_options
from tomocupy_gladier.compute.recon import expected_output
from tomocupy_gladier.errors import UserError
from tomocupy_gladier.experiment.config import ExperimentConfig
from tomocupy_gladier.tools.step import ScanLocation
from tomocupy_gladier.compute.rules import is_try
from tomocupy_gladier.tools.recon.flow_input import recon_output


def facility_needs(config: ExperimentConfig, location: ScanLocation, scan: Path,
                   runs: list[Mapping[str, Any]]) -> dict[Path, list[tuple[str, SpaceNeeded]]]:
    """What a run writes at the facility, by the folder it lands in: the scan's copy (when the
    flow copies it and the facility has no file of its size there: the transfer skips a copy
    that is already there) and each reconstruction of ``runs`` (parameters by tomocupy's names:
    a try, a full one, or both for the interactive flow)."""
    needs: dict[Path, list[tuple[str, SpaceNeeded]]] = defaultdict(list)
    if location.source_path is not None:
        copy = Path(str(location.posix_path))
        size = scan.stat().st_size
        there = copy.is_file() and copy.stat().st_size == size
        needs[copy.parent].append(("scan copy", SpaceNeeded((("scan copy", 0 if there else size),))))
    zarr = zarr_options(dict(config.zarr))
    for params in runs:
        kind = "try" if is_try(params) else "full"
        expected = expected_output(scan, dict(params), kind)
        output = Path(str(recon_output(location, params)))
        needs[output.parent].append((f"{kind} reconstruction", reconstruction_bytes(expected, zarr, params)))
    return needs


def check_space(config: ExperimentConfig, location: ScanLocation, backend: Backend, scan: Path | None,
                runs: list[Mapping[str, Any]]) -> None:
    """Refuse the run (:class:`UserError`, one line) when a filesystem of the facility lacks the
    room :func:`facility_needs` counts. Only on the local backend, and only when the scan can be
    read here (its shape decides the estimate)."""
    if not backend.is_local or scan is None:
        return
    root = config.collection_folder(config.facility.id, backend)
    try:
        planned = facility_needs(config, location, scan, runs)
    except (ValueError, OSError):  # parameters the endpoint refuses, a scan it cannot read: said there
        return
    by_filesystem: dict[int, tuple[Path, list[tuple[str, SpaceNeeded]]]] = {}
    for folder, needs in planned.items():
        here = existing_folder(folder)
        by_filesystem.setdefault(os.stat(here).st_dev, (here, []))[1].extend(needs)
    for device, (here, needs) in by_filesystem.items():
        needed = sum(need.total for _, need in needs)
        free = free_bytes(here)
        if free >= needed:
            continue
        on_root = root is not None and os.stat(existing_folder(root)).st_dev == device
        where = root if on_root else here
        parts = "; ".join(_part(name, need) for name, need in needs)
        raise UserError(
            f"not enough space for this run at the facility: collection {config.facility.id} "
            f"([facility], {where}) has {human(free)} free, the run needs {human(needed)}: {parts}; "
            "free some room there (older reconstructions, tries) or choose a larger filesystem")


def _part(name: str, need: SpaceNeeded) -> str:
    if not need.total:
        return f"{name}: there already"
    detail = f" ({need.describe()})" if len(need.parts) > 1 else ""
    return f"{name} {human(need.total)}{detail}"
