"""A DXchange scan's fields as the metadata step reads them: HDF5 values made plain, units
converted (energy in keV, pixel size in microns, exposure in seconds), the acquisition's shape,
flats, darks and angles. Shared by the record (:mod:`.metadata`) and the OME-Zarr's voxel size
(:mod:`.multiscale`)."""

from __future__ import annotations

import datetime
import math
import pathlib
from typing import Any

import h5py
import numpy as np

TO_UM = {"um": 1.0, "micron": 1.0, "microns": 1.0, "micrometer": 1.0, "micrometers": 1.0,
         "nm": 1e-3, "mm": 1e3, "cm": 1e4, "m": 1e6}
TO_KEV = {"keV": 1.0, "kev": 1.0, "eV": 1e-3, "ev": 1e-3, "MeV": 1e3}
TO_S = {"s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0, "ms": 1e-3, "us": 1e-6, "min": 60.0}
TEXTS = {
    "sample": ("/measurement/sample/name",),
    "sample_description": ("/measurement/sample/description_1", "/measurement/sample/description"),
    "instrument": ("/measurement/instrument/name", "/measurement/instrument/source/beamline"),
    "facility": ("/measurement/instrument/source/name",),
    "start_time": ("/process/acquisition/start_date", "/measurement/sample/experiment/start_date"),
    "end_time": ("/process/acquisition/end_date",),
    "proposal": ("/measurement/sample/experiment/proposal",),
    "experimenter": ("/measurement/sample/experimenter/name",),
    "institution": ("/measurement/sample/experimenter/institution",),
}


# --- reading HDF5 values ------------------------------------------------------------------------

def plain(value: Any) -> Any:
    """A JSON-able Python value from whatever h5py returned (arrays, bytes, numpy scalars)."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "S" and value.dtype.itemsize == 1 and value.size > 1:
            value = b"".join(value.ravel().tolist())  # a string stored as a char array
        elif value.size == 1:
            value = value.reshape(-1)[0]
        elif value.size == 0:
            return None
        else:
            return [plain(v) for v in value.ravel()[:16].tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        value = value.replace("\x00", "").strip()
        return value or None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def units_of(node: Any) -> str | None:
    """The ``units`` (or ``unit``, ``Units``) attribute of an HDF5 node, when it is text."""
    for key in ("units", "unit", "Units"):
        if key in node.attrs:
            unit = plain(node.attrs[key])
            return unit if isinstance(unit, str) else None
    return None


def read(h5: Any, paths: tuple[str, ...]) -> tuple[Any, str | None, str | None]:
    """(value, units, path) of the first of ``paths`` that holds a readable value."""
    for path in paths:
        node = h5.get(path)
        if not isinstance(node, h5py.Dataset):
            continue
        try:
            raw = node[()] if node.size <= 4096 else None
        except (OSError, TypeError, ValueError):
            continue
        value = plain(raw) if raw is not None else None
        if value is not None:
            return value, units_of(node), path
    return None, None, None


def number(value: Any) -> float | None:
    """A finite float (the first of a list), else None."""
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def convert(value: Any, unit: str | None, factors: dict[str, float], default: str) -> float | None:
    """``value`` in ``unit`` (``default`` when unlabelled) converted by ``factors``; None for an unknown unit."""
    value = number(value)
    if value is None:
        return None
    key = (unit or default).strip().replace("µ", "u").replace("μ", "u")
    factor = factors.get(key, factors.get(key.lower()))
    return None if factor is None else value * factor


def iso_date(value: Any) -> str | None:
    """An ISO 8601 date, or what the beamline wrote when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).isoformat()
    except ValueError:
        return value  # keep what the beamline wrote rather than guess its format


# --- the scan ---------------------------------------------------------------------------------

def read_acquisition(scan: pathlib.Path) -> dict[str, Any]:
    """The scan's shape, flats, darks, angles and DXchange fields; ``missing`` names what it lacks."""
    acquisition: dict[str, Any] = {}
    missing: list[str] = []
    with h5py.File(scan, "r") as h5:
        data_node = h5.get("/exchange/data")
        if isinstance(data_node, h5py.Dataset):
            acquisition["shape"] = [int(n) for n in data_node.shape]
            acquisition["dtype"] = str(data_node.dtype)
            if data_node.ndim == 3:
                nproj, rows, cols = data_node.shape
                acquisition.update(projections=int(nproj), rows=int(rows), columns=int(cols))
        else:
            missing.append("data")
        for key, path in (("flats", "/exchange/data_white"), ("darks", "/exchange/data_dark")):
            node = h5.get(path)
            if isinstance(node, h5py.Dataset) and node.ndim >= 1:
                acquisition[key] = int(node.shape[0])
            else:
                missing.append(key)
        angles = read_angles(h5, acquisition.get("projections"))
        if angles is None:
            missing.append("angles")
        else:
            acquisition["angles"] = angles
        fields = read_fields(h5)
    for key, value in fields.items():
        if value is None:
            missing.append(key)
        else:
            acquisition[key] = round(value, 6) if isinstance(value, float) else value
    acquisition["missing"] = missing
    return acquisition


def read_angles(h5: Any, nproj: int | None) -> dict[str, Any] | None:
    """The projection angles (``/exchange/theta``, else tomocupy's fallback), or None."""
    theta_node = h5.get("/exchange/theta")
    theta = None
    if isinstance(theta_node, h5py.Dataset) and theta_node.size > 0:
        theta = np.asarray(theta_node[()], dtype=np.float64).ravel()
        theta = theta[np.isfinite(theta)]
    if theta is not None and theta.size:
        angles: dict[str, Any] = {"source": "/exchange/theta"}
        unit = units_of(theta_node)
        if unit and not unit.lower().startswith("deg"):
            angles["units_attribute"] = unit  # tomocupy reads degrees whatever the label says
    elif nproj:
        theta = np.linspace(0.0, 180.0, nproj)  # tomocupy's fallback: linspace(0, pi, nproj)
        angles = {"source": "assumed: /exchange/theta absent, tomocupy uses linspace(0, 180, nproj)"}
    else:
        return None
    step = float(np.median(np.diff(theta))) if theta.size > 1 else None
    angles.update(count=int(theta.size), first=round(float(theta[0]), 6),
                  last=round(float(theta[-1]), 6),
                  range=round(float(theta.max() - theta.min()), 6),
                  step=None if step is None else round(step, 6), units="deg")
    return angles


def read_fields(h5: Any) -> dict[str, Any]:
    """Energy (keV), pixel size (um), exposure (s) and the texts of ``TEXTS`` (None: absent)."""
    energy, unit, _ = read(h5, ("/measurement/instrument/monochromator/energy",
                                "/measurement/instrument/source/energy"))
    kev = convert(energy, unit, TO_KEV, "keV")
    if kev is not None and unit is None and kev > 500:
        kev /= 1000.0  # an unlabelled energy above 500 "keV" is in eV at a tomography beamline
    pixel, unit, _ = read(h5, ("/measurement/instrument/detection_system/objective/resolution",
                               "/measurement/instrument/detector/actual_pixel_size_x"))
    pixel_um = convert(pixel, unit, TO_UM, "um")
    if pixel_um is None:
        det, unit, _ = read(h5, ("/measurement/instrument/detector/pixel_size_x",
                                 "/measurement/instrument/detector/pixel_size"))
        mag, _, _ = read(h5, ("/measurement/instrument/detection_system/objective/magnification",))
        det_um, mag = convert(det, unit, TO_UM, "um"), number(mag)
        if det_um and mag:
            pixel_um = det_um / mag
    exposure, unit, _ = read(h5, ("/measurement/instrument/detector/exposure_time",))
    fields: dict[str, Any] = {"energy_kev": kev, "pixel_size_um": pixel_um,
                              "exposure_s": convert(exposure, unit, TO_S, "s")}
    for key, paths in TEXTS.items():
        value = read(h5, paths)[0]
        fields[key] = str(value) if value is not None and not isinstance(value, list) else None
    for key in ("start_time", "end_time"):
        fields[key] = iso_date(fields[key])
    return fields
