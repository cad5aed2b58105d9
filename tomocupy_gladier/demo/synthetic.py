"""Synthetic DXchange scans with a known phantom, axis and detector defects.

The phantom is a set of ellipsoids (axes aligned with the rotation axis) whose parallel-beam
projections are computed analytically, so a scan of 720 x 64 x 512 takes about a second and a
test-sized one a few milliseconds.  Attenuation values are per pixel: a reconstruction in
"textbook" units returns them, tomocupy (and tomocupy-cpu) return them times 4/pi
(see :mod:`tomocupy_gladier.engine.fbp`).

Geometry (tomocupy's convention): projection column ``s`` sees the point at image column
offset ``X`` and row offset ``Y`` (both from ``n/2``) at ``s = axis + X cos(theta) - Y sin(theta)``.
:meth:`ScanTruth.phantom_slice` samples the phantom on tomocupy's reconstruction grid, which
reads the image one row below the centre, so ``phantom_slice(row)`` and the reconstruction of
``row`` line up pixel for pixel.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

#: Flat-field level (counts) of the synthetic detector.
FLAT_COUNTS = 20000.0
DARK_COUNTS = 100.0


@dataclass
class Ellipsoid:
    """Ellipsoid with centre (x, y, z) in pixels from the slice centre / first row."""

    x: float
    y: float
    z: float
    a: float
    b: float
    c: float
    phi: float
    mu: float


@dataclass
class ScanTruth:
    """What went into a synthetic scan."""

    path: Path
    nproj: int
    nrows: int
    ncols: int
    rotation_axis: float
    theta_deg: np.ndarray
    ellipsoids: list[Ellipsoid] = field(repr=False)
    ring_columns: np.ndarray = field(repr=False)
    zinger_count: int = 0
    energy_kev: float = 25.0
    pixel_size_um: float = 1.3
    propagation_distance_mm: float = 50.0

    @property
    def theta(self) -> np.ndarray:
        """Projection angles in radians."""
        return np.deg2rad(self.theta_deg)

    def phantom_slice(self, row: int, n: int | None = None) -> np.ndarray:
        """Attenuation per pixel of detector row ``row`` on tomocupy's ``n x n`` grid."""
        n = n or self.ncols
        ty, tx = np.mgrid[:n, :n].astype(np.float32)
        X = tx - n // 2
        Y = ty + 1 - n // 2
        out = np.zeros((n, n), np.float32)
        for e in self.ellipsoids:
            dz = (row - e.z) / e.c
            if abs(dz) >= 1:
                continue
            k = np.sqrt(1 - dz * dz)
            cp, sp = np.cos(e.phi), np.sin(e.phi)
            u = ((X - e.x) * cp + (Y - e.y) * sp) / (e.a * k)
            v = (-(X - e.x) * sp + (Y - e.y) * cp) / (e.b * k)
            out[u * u + v * v <= 1] += e.mu
        return out

    @property
    def phantom(self) -> np.ndarray:
        """The full phantom ``(nrows, ncols, ncols)`` (computed on access)."""
        return np.stack([self.phantom_slice(r) for r in range(self.nrows)])


def default_ellipsoids(ncols: int, nrows: int, axis_offset: float, *, radius: float | None = None,
                       x0: float = 0.0, y0: float = 0.0, mu_scale: float = 1.0) -> list[Ellipsoid]:
    """A Shepp-Logan-like set of ellipsoids sized to stay inside the field of view.

    ``radius`` (pixels) overrides the default size ``0.36 ncols - |axis_offset|``: a radius
    beyond the half-width of the detector makes a sample that overfills the field of view.
    ``x0, y0`` move the whole sample off the rotation axis; ``mu_scale`` multiplies every
    attenuation (keep the transmission of a wide sample realistic).
    """
    r = 0.36 * ncols - abs(axis_offset) if radius is None else float(radius)
    zc = (nrows - 1) / 2
    h = max(nrows, 4) * 4.0  # tall body: every row cuts it
    m = float(mu_scale)
    return [
        Ellipsoid(x0, y0, zc, 0.92 * r, 0.72 * r, h, 0.0, 0.010 * m),
        Ellipsoid(x0, y0, zc, 0.84 * r, 0.64 * r, h, 0.0, -0.004 * m),
        Ellipsoid(x0 + 0.3 * r, y0 + 0.1 * r, zc, 0.16 * r, 0.30 * r, h, -0.3, 0.012 * m),
        Ellipsoid(x0 - 0.35 * r, y0 - 0.05 * r, zc, 0.12 * r, 0.22 * r, h, 0.3, 0.008 * m),
        Ellipsoid(x0, y0 - 0.40 * r, zc, 0.10 * r, 0.10 * r, max(nrows, 2) * 0.7, 0.0, 0.006 * m),
        Ellipsoid(x0 - 0.1 * r, y0 + 0.45 * r, zc, 0.05 * r, 0.05 * r, max(nrows, 2) * 0.4, 0.0, 0.015 * m),
        Ellipsoid(x0 + 0.12 * r, y0 + 0.40 * r, zc + nrows * 0.15, 0.04 * r, 0.06 * r,
                  max(nrows, 2) * 0.3, 0.5, 0.02 * m),
    ]


def _project(ellipsoids: list[Ellipsoid], theta: np.ndarray, nrows: int, ncols: int,
             axis: float) -> np.ndarray:
    """Analytic line integrals ``(nproj, nrows, ncols)`` in attenuation-per-pixel x pixels."""
    s = (np.arange(ncols) - axis).astype(np.float32)
    ct, st = np.cos(theta)[:, None].astype(np.float32), np.sin(theta)[:, None].astype(np.float32)
    proj = np.zeros((len(theta), nrows, ncols), np.float32)
    for e in ellipsoids:
        # beam direction is perpendicular to (cos, -sin); angle of that axis in the ellipse frame
        alpha = -theta - e.phi
        s0 = e.x * ct - e.y * st
        t = s[None, :] - s0
        a2 = ((e.a * np.cos(alpha)) ** 2 + (e.b * np.sin(alpha)) ** 2).astype(np.float32)[:, None]
        t2 = t * t
        for r in range(nrows):
            dz = (r - e.z) / e.c
            if abs(dz) >= 1:
                continue
            k2 = np.float32(1 - dz * dz)
            # chord of the cross-section ellipse (semi-axes scaled by sqrt(k2)) at offset t
            rad = np.maximum(a2 * k2 - t2, 0, dtype=np.float32)
            np.sqrt(rad, out=rad)
            rad *= np.float32(2 * e.mu * e.a * e.b) / a2
            proj[:, r, :] += rad
    return proj


def write_scan(
    path: str | Path,
    *,
    nproj: int = 180,
    nrows: int = 8,
    ncols: int = 128,
    rotation_axis: float | None = None,
    seed: int = 0,
    noise: bool = True,
    zingers: bool = True,
    ring_drifts: bool = True,
    theta: bool = True,
    nflat: int = 10,
    ndark: int = 5,
    ellipsoids: list[Ellipsoid] | None = None,
    angle_range: float = 180.0,
    flat_counts: float = FLAT_COUNTS,
    ring_count: int | None = None,
    ring_strength: tuple[float, float] = (0.01, 0.04),
    zinger_every: int = 20000,
) -> ScanTruth:
    """Write a DXchange HDF5 scan of the phantom to ``path`` and return its :class:`ScanTruth`.

    ``rotation_axis`` is in pixels from the left edge (default ``ncols/2 + 3.25``, off centre).
    ``noise``: Poisson counting noise on data, flats and darks.  ``zingers``: sparse bright
    outliers in the projections.  ``ring_drifts``: a few detector columns whose gain differs
    between flats and projections by 1-4% (stripes in the sinogram, rings in the slice).
    ``theta=False`` omits ``/exchange/theta``; the angles are then tomocupy's fallback
    ``linspace(0, 180, nproj)`` with the end point included.

    Harder scans: ``angle_range`` 360 for a full turn; ``flat_counts`` sets the dose (the
    counting noise goes as its square root); ``ring_count`` and ``ring_strength`` (range of the
    gain drift) set the rings; ``zinger_every``: one zinger per that many projection pixels.
    """
    path = Path(path)
    rng = np.random.default_rng(seed)
    axis = ncols / 2 + 3.25 if rotation_axis is None else float(rotation_axis)
    if theta:
        theta_deg = np.linspace(0, angle_range, nproj, endpoint=False)
    else:
        theta_deg = np.linspace(0, angle_range, nproj)
    ells = ellipsoids if ellipsoids is not None else default_ellipsoids(ncols, nrows, axis - ncols / 2)
    line = _project(ells, np.deg2rad(theta_deg), nrows, ncols, axis)

    gain = (1 + 0.02 * rng.standard_normal(ncols)).astype(np.float32)
    drift = np.ones(ncols, np.float32)
    ring_cols = np.array([], dtype=int)
    if ring_drifts:
        nring = max(2, ncols // 40) if ring_count is None else int(ring_count)
        ring_cols = np.sort(rng.choice(np.arange(ncols // 8, ncols - ncols // 8), nring, replace=False))
        drift[ring_cols] += rng.choice([-1, 1], nring) * rng.uniform(*ring_strength, nring)
    flat_mean = float(flat_counts) * gain
    expected = flat_mean * drift * np.exp(-line)
    if noise:
        # Counting noise: Gaussian with the Poisson variance (every mean here is >= ~100
        # counts, where the two agree), five times faster than numpy's Poisson sampler.
        def counts(mean, shape):
            mean = np.broadcast_to(np.asarray(mean, np.float32), shape)
            return mean + np.sqrt(mean) * rng.standard_normal(shape, dtype=np.float32)

        data = counts(expected + DARK_COUNTS, expected.shape)
        flats = counts(flat_mean + DARK_COUNTS, (nflat, nrows, ncols))
        darks = counts(DARK_COUNTS, (ndark, nrows, ncols))
    else:
        data = expected + DARK_COUNTS
        flats = np.broadcast_to(flat_mean + DARK_COUNTS, (nflat, nrows, ncols))
        darks = np.full((ndark, nrows, ncols), DARK_COUNTS)
    nz = 0
    if zingers:
        nz = max(1, data.size // int(zinger_every))
        idx = rng.integers(0, data.size, nz)
        data.reshape(-1)[idx] += rng.uniform(8000, 30000, nz)
    data = np.clip(np.rint(data), 0, 65535).astype(np.uint16)

    truth = ScanTruth(path=path, nproj=nproj, nrows=nrows, ncols=ncols, rotation_axis=axis,
                      theta_deg=theta_deg, ellipsoids=ells, ring_columns=ring_cols, zinger_count=nz)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.attrs["implements"] = "exchange:measurement:process"
        ex = f.create_group("exchange")
        ex.create_dataset("data", data=data, chunks=(min(nproj, 64), 1, ncols))
        ex.create_dataset("data_white", data=np.clip(flats, 0, 65535).astype(np.uint16))
        ex.create_dataset("data_dark", data=np.clip(darks, 0, 65535).astype(np.uint16))
        if theta:
            ex.create_dataset("theta", data=theta_deg.astype(np.float64)).attrs["units"] = "deg"
        _write_metadata(f, truth)
    return truth


def _dset(group: h5py.Group, name: str, value, units: str | None = None) -> None:
    d = group.create_dataset(name, data=np.array([value.encode()] if isinstance(value, str) else [value]))
    if units:
        d.attrs["units"] = units


def _write_metadata(f: h5py.File, t: ScanTruth) -> None:
    """The /measurement and /process groups an APS scan carries (a representative subset)."""
    ins = f.create_group("measurement/instrument")
    _dset(ins, "name", "tomocupy-gladier synthetic beamline")
    _dset(ins.create_group("monochromator"), "energy", t.energy_kev, "keV")
    det = ins.create_group("detector")
    _dset(det, "exposure_time", 0.05, "s")
    _dset(det, "pixel_size", 6.5, "microns")
    _dset(det, "manufacturer", "synthetic")
    _dset(ins.create_group("detection_system/objective"), "resolution", t.pixel_size_um, "microns")
    _dset(ins.create_group("sample_motor_stack/setup"), "propagation_distance", t.propagation_distance_mm, "mm")
    smp = f.create_group("measurement/sample")
    _dset(smp, "name", "ellipsoid phantom")
    _dset(smp, "description_1", f"rotation axis {t.rotation_axis} px")
    acq = f.create_group("process/acquisition")
    _dset(acq, "start_date", _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    _dset(acq.create_group("rotation"), "rotation_start", 0.0, "deg")
    _dset(acq["rotation"], "num_angles", t.nproj)
    _dset(acq.create_group("flat_fields"), "num_flat_fields", -1)


#: The faults :func:`add_fault` writes into a scan (what the quality gates must catch).
FAULTS = {
    "zero-flats": "flats and darks all zero (shutter closed during the flat field)",
    "dark-flats": "flats no brighter than the darks",
    "few-angles": "/exchange/theta with 10 angles, whatever the number of projections",
    "radians": "/exchange/theta written in radians",
    "beam-dump": "the beam lost for a tenth of the projections (dark level plus noise)",
    "saturated": "a block of detector columns stuck at the maximum count",
    "dead": "a block of detector columns that does not respond",
    "dead-pixel": "pixel (0, 0) zero in the projections, the flats and the darks (a DLS I13 scan's)",
}


def add_fault(path: str | Path, fault: str) -> None:
    """Write ``fault`` (a key of :data:`FAULTS`) into the scan at ``path``, in place."""
    if fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r}: one of {', '.join(FAULTS)}")
    with h5py.File(path, "r+") as f:
        ex = f["exchange"]
        data, flats, darks = ex["data"], ex["data_white"], ex["data_dark"]
        nproj, _, ncols = data.shape
        columns = slice(ncols // 3, ncols // 3 + max(2, ncols // 32))
        if fault == "zero-flats":
            flats[...] = 0
            darks[...] = 0
        elif fault == "dark-flats":
            flats[...] = np.broadcast_to(darks[0], flats.shape)
        elif fault in ("few-angles", "radians"):
            theta = np.asarray(ex["theta"][()]) if "theta" in ex else np.linspace(0, 180, nproj)
            del ex["theta"]
            ex["theta"] = theta[:: max(1, nproj // 10)][:10] if fault == "few-angles" else np.deg2rad(theta)
        elif fault == "beam-dump":
            first, count = int(nproj * 0.4), max(1, nproj // 10)
            rng = np.random.default_rng(1)
            lost = DARK_COUNTS + np.sqrt(DARK_COUNTS) * rng.standard_normal(
                (count,) + data.shape[1:]) + 0.02 * (data[first:first + count] - DARK_COUNTS)
            data[first:first + count] = np.clip(np.rint(lost), 0, 65535).astype(data.dtype)
        elif fault == "saturated":
            top = np.iinfo(data.dtype).max
            data[:, :, columns] = top
            flats[:, :, columns] = top
        elif fault == "dead":
            for dataset in (data, flats):
                dataset[:, :, columns] = np.broadcast_to(darks[0, :, columns], (dataset.shape[0],) + darks[0, :, columns].shape)
        elif fault == "dead-pixel":
            for dataset in (data, flats, darks):
                dataset[:, 0, 0] = 0
