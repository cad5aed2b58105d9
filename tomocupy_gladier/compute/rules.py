"""What tomocupy 1.1.0 does that the client and the endpoint both need to know: where it writes a
reconstruction, how it reads the row, column and projection ranges, what ``rotation-axis -1``
means and which axes a scan's detector can hold. Written once here; ``output_folders``, ``plan``,
the CPU engine and :mod:`.recon` use it."""

from __future__ import annotations

import posixpath
from pathlib import PurePosixPath
from typing import Any, Mapping

from tomocupy_gladier.compute.axis import searches

#: tomocupy's default for ``end-row``, ``end-column``, ``end-proj``: up to the last one
TO_THE_END = -1
#: tomocupy's default for ``rotation-axis``: the middle of the detector's columns
MIDDLE_OF_DETECTOR = -1.0


def is_try(params: Mapping[str, Any]) -> bool:
    """Whether tomocupy's parameters ask for a try (one slice for a range of centres): its
    ``reconstruction-type`` is ``try`` (or a ``try_...`` variant), the default."""
    return str(params.get("reconstruction-type") or "try").startswith("try")


def output_folder(scan: str, reconstruction_type: str, out_path_name: str | None = None) -> PurePosixPath:
    """The folder of the reconstruction of ``scan`` (a POSIX path), by tomocupy 1.1.0's own rule.

    From ``dataio/writer.py`` (``init_output_files[_try]``): ``--out-path-name`` when given (for
    try runs too), else ``dirname(file) + '_rec/'`` followed by ``try_center/<base>`` (try) or
    ``<base>_rec`` (full), where ``<base>`` is the file name without its last three characters
    (``scan1.h5`` -> ``scan1``; tomocupy assumes ``.h5``, so ``scan1.hdf5`` -> ``scan1.h``).
    Every reconstruction is this one folder: HDF5 and Zarr volumes are written inside it.
    """
    if out_path_name:
        return PurePosixPath(out_path_name)
    scan = str(scan)
    base = posixpath.basename(scan)[:-3]
    rec_root = PurePosixPath(posixpath.dirname(scan) + "_rec")
    if str(reconstruction_type).startswith("try"):
        return rec_root / "try_center" / base
    return rec_root / f"{base}_rec"


def is_middle(rotation_axis: object) -> bool:
    """Whether a ``rotation-axis`` value (``None``: not given) means the middle of the detector."""
    return rotation_axis is None or float(rotation_axis) == MIDDLE_OF_DETECTOR  # type: ignore[arg-type]


def axis_pixels(rotation_axis: object, columns: int) -> float:
    """The axis in the scan's column pixels: ``-1`` (or ``None``) is ``columns / 2``."""
    return columns / 2 if is_middle(rotation_axis) else float(rotation_axis)  # type: ignore[arg-type]


def requested_span(start: object, end: object) -> tuple[int, int | None]:
    """A range ``start``..``end`` as given (``None``: not given): ``(first, last)``, ``last``
    ``None`` for up to the end (tomocupy's ``-1``)."""
    first = 0 if start is None else int(start)  # type: ignore[call-overload]
    last = TO_THE_END if end is None else int(end)  # type: ignore[call-overload]
    return first, (None if last == TO_THE_END else last)


def span(start: object, end: object, size: int) -> tuple[int, int]:
    """tomocupy's range ``start``..``end`` over ``size`` items: ``(first, last)``, ``-1`` read as ``size``."""
    first, last = requested_span(start, end)
    return first, size if last is None else last


def span_fits(first: int, last: int, size: int) -> bool:
    """Whether a resolved range is one tomocupy can read from ``size`` items: ``0 <= first < last <= size``."""
    return 0 <= first < last <= size


def columns_read(start: object, end: object, width: int, binning: int) -> tuple[int, int]:
    """The full-size columns tomocupy reconstructs, ``(first, last)`` exclusive: the
    ``start-column``..``end-column`` range cut to a multiple of ``2**(binning + 1)`` columns
    (``reader.init_sizes``), so the binned width is ``(last - first) // 2**binning``."""
    first, last = span(start, end, width)
    kept = (last - first) - (last - first) % (2 ** (int(binning) + 1))
    return first, first + kept


def axis_problem(params: Mapping[str, Any], columns: int, scan: str, *, try_range: bool,
                 axis_given: bool = True) -> str | None:
    """Why ``params`` cannot describe a scan ``columns`` wide (``scan``: its name, for the
    message), or None. ``try_range``: a try, whose centres ``rotation-axis`` +- the search
    half-width must reach the detector; else the axis itself must lie on it (after binning).
    Skipped when tomocupy searches for the axis (``rotation-axis-auto auto``) or when the axis
    is chosen later (``axis_given`` false: the interactive flow's full reconstruction).
    tomocupy itself reconstructs such an axis without a word (a featureless disc)."""
    if searches(params) or not axis_given:
        return None
    axis = params.get("rotation-axis")
    if is_middle(axis):
        return None
    binning = int(params.get("binning") or 0)
    first, last = columns_read(params.get("start-column"), params.get("end-column"), columns, binning)
    centre = float(axis)  # type: ignore[arg-type]
    where = f"{scan} is {columns} columns wide"
    if (first, last) != (0, columns):
        where += f" (columns {first} to {last - 1} are reconstructed)"
    if binning:
        where += f", {(last - first) // 2 ** binning} columns at binning {binning}"
    if try_range:
        half = float(params.get("center-search-width") or 50.0)
        if centre + half < first or centre - half > last - 1:
            return (f"the try's centres {centre - half:g} to {centre + half:g} (rotation-axis {centre:g} "
                    f"+- center-search-width {half:g}) miss the detector: {where}")
        return None
    if not first <= centre <= last - 1:
        return (f"rotation-axis {centre:g} is outside the detector: {where}; the axis must lie between "
                f"{first} and {last - 1} (-1: the middle)")
    return None
