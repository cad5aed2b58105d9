"""Reading DXchange HDF5 scans the way tomocupy does, a block of detector rows at a time."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from .errors import InputError

DATA, FLAT, DARK, THETA = "/exchange/data", "/exchange/data_white", "/exchange/data_dark", "/exchange/theta"


@dataclass(frozen=True)
class ScanInfo:
    """Shapes and angles of a scan; ``theta`` in radians."""

    file_name: Path
    flat_file: Path
    dark_file: Path
    nproj: int
    nrows: int
    ncols: int
    dtype: np.dtype
    nflat: int
    ndark: int
    theta: np.ndarray


def _open(path: Path) -> h5py.File:
    if not path.is_file():
        raise InputError(f"input file does not exist: {path}")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise InputError(f"input file {path} is not a readable HDF5 file ({exc})") from None


def _dataset(f: h5py.File, name: str, path: Path) -> h5py.Dataset:
    obj = f.get(name)
    if not isinstance(obj, h5py.Dataset):
        raise InputError(f"input file {path} has no dataset {name} (DXchange layout required)")
    if obj.ndim != 3:
        raise InputError(f"dataset {name} in {path} must be 3-D, found shape {obj.shape}")
    return obj


def open_scan(file_name: str | Path, flat_file: str | Path | None = None,
              dark_file: str | Path | None = None) -> ScanInfo:
    """Check the DXchange layout and read the sizes and angles.

    Angles come from ``/exchange/theta`` (degrees); without it they are tomocupy's fallback
    ``linspace(0, pi, nproj)`` with the end point included.
    """
    file_name = Path(file_name)
    flat_file = Path(flat_file) if flat_file else file_name
    dark_file = Path(dark_file) if dark_file else file_name
    with _open(file_name) as f:
        d = _dataset(f, DATA, file_name)
        nproj, nrows, ncols = d.shape
        dtype = d.dtype
        if THETA in f:
            theta = np.deg2rad(np.asarray(f[THETA][:], dtype=np.float64).ravel())
            if theta.size != nproj:
                raise InputError(f"{THETA} in {file_name} has {theta.size} angles for {nproj} projections")
        else:
            theta = np.linspace(0, np.pi, nproj)
    with _open(flat_file) as f:
        fl = _dataset(f, FLAT, flat_file)
        nflat = fl.shape[0]
        if fl.shape[1:] != (nrows, ncols):
            raise InputError(f"{FLAT} shape {fl.shape} does not match {DATA} {(nproj, nrows, ncols)}")
    with _open(dark_file) as f:
        dk = _dataset(f, DARK, dark_file)
        ndark = dk.shape[0]
        if dk.shape[1:] != (nrows, ncols):
            raise InputError(f"{DARK} shape {dk.shape} does not match {DATA} {(nproj, nrows, ncols)}")
    if nflat == 0 or ndark == 0 or nproj == 0:
        raise InputError(f"{file_name}: empty data, flat or dark dataset")
    return ScanInfo(file_name, flat_file, dark_file, nproj, nrows, ncols, dtype, nflat, ndark, theta)


def bin_sum(a: np.ndarray, binning: int) -> np.ndarray:
    """tomocupy's downsampling: sum 2**binning neighbours along columns, then rows (axes -1, -2)."""
    if binning <= 0:
        return a
    f = 2**binning
    nz, nx = a.shape[-2] // f, a.shape[-1] // f
    a = a[..., : nz * f, : nx * f].astype(np.float32, copy=False)
    return a.reshape(*a.shape[:-2], nz, f, nx, f).sum(axis=(-3, -1))


@dataclass
class RowBlock:
    """Projections, flats and darks of rows ``[row0, row1)`` (binned, float32)."""

    row0: int
    row1: int
    data: np.ndarray
    flat: np.ndarray
    dark: np.ndarray


def read_rows(info: ScanInfo, row0: int, row1: int, col0: int, col1: int, binning: int = 0,
              proj: slice = slice(None)) -> RowBlock:
    """Read rows ``[row0, row1)`` and columns ``[col0, col1)`` of data, flats and darks."""
    with h5py.File(info.file_name, "r") as f:
        data = f[DATA][proj, row0:row1, col0:col1]
    with h5py.File(info.flat_file, "r") as f:
        flat = f[FLAT][:, row0:row1, col0:col1]
    with h5py.File(info.dark_file, "r") as f:
        dark = f[DARK][:, row0:row1, col0:col1]
    conv = (lambda a: bin_sum(a, binning)) if binning else (lambda a: a.astype(np.float32, copy=False))
    return RowBlock(row0, row1, conv(data), conv(flat), conv(dark))
