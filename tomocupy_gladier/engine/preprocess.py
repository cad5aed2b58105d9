"""Flat/dark normalisation, zinger removal and minus-log as tomocupy applies them.

Non-finite values, where tomocupy 1.1.0 handles them (``src/tomocupy/processing/proc_functions.py``,
the same at the tag and on ``main``): ``darkflat_correction`` divides ``(data - dark)`` by
``flat * (1 + 1e-5) - dark`` as it is, so a dead pixel (flat no brighter than dark, zero in
both) gives NaN or an infinity, silently (cupy does not warn); ``proc_sino`` then runs the ring
removal on it (``fw`` spreads a NaN over the row's whole sinogram), and only ``proc_proj``'s
``minus_log`` turns non-finite values into numbers: values <= 0 become 1 before the log, then
``nan_to_num(nan=6.0, posinf=0.0, neginf=0.0)``. :func:`flat_dark` and :func:`minus_log` do
the same at the same points (``pipeline.Processor.rows`` keeps tomocupy's order), so a dead
pixel gives tomocupy's result: with ``fw`` a blank slice of its row, which the reconstruction
step's volume check reports.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def dezinger(a: np.ndarray, radius: int, threshold: float) -> np.ndarray:
    """Replace values exceeding their ``radius``-wide median (over angles and columns) by more
    than ``threshold`` with that median (tomocupy's ``remove_outliers``); in place."""
    if radius <= 0:
        return a
    size = [radius, 1, radius] if a.ndim == 3 else [radius, radius]
    med = ndimage.median_filter(a, size=size)
    hit = (a - med) > threshold
    a[hit] = med[hit]
    return a


def flat_dark(data: np.ndarray, flat: np.ndarray, dark: np.ndarray, *, bright_ratio: float = 1.0,
              flat_linear: bool = False) -> np.ndarray:
    """``(data - dark) / (flat / bright_ratio - dark)`` with averaged flats and darks.

    ``flat_linear``: interpolate linearly over the scan between the mean of the first and of
    the second half of the flats (as tomocupy, skipping the middle flat).  Arrays are
    ``(n, rows, cols)``; the result is float32.
    """
    flat = flat.astype(np.float32) / np.float32(bright_ratio)
    dark0 = dark.astype(np.float32).mean(axis=0)
    if flat_linear:
        nf = flat.shape[0]
        f0 = flat[: nf // 2].mean(axis=0)
        f1 = flat[nf // 2 + 1 :].mean(axis=0) if nf > 2 else flat[-1]
        v = np.linspace(0, 1, data.shape[0], dtype=np.float32)[:, None, None]
        flat0 = (1 - v) * f0 + v * f1
    else:
        flat0 = flat.mean(axis=0)
    flat0 = flat0 * np.float32(1 + 1e-5) - dark0
    out = data.astype(np.float32, copy=True)
    out -= dark0
    with np.errstate(divide="ignore", invalid="ignore"):  # a dead pixel: NaN or inf, as tomocupy
        out /= flat0
    return out


def minus_log(a: np.ndarray) -> np.ndarray:
    """``-log`` in place, as tomocupy's ``minus_log``: values <= 0 count as 1 (a NaN is not <= 0:
    it stays NaN through the log and becomes 6), infinite results become 0."""
    np.copyto(a, np.float32(1.0), where=a <= 0)
    np.log(a, out=a)
    np.negative(a, out=a)
    np.nan_to_num(a, copy=False, nan=6.0, posinf=0.0, neginf=0.0)
    return a
