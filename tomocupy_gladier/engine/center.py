"""Automatic rotation axis (tomocupy's ``--rotation-axis-auto auto --rotation-axis-method vo``)."""

from __future__ import annotations

import warnings

import numpy as np


def find_center_vo(sino: np.ndarray, search_width: float = 50.0, step: float = 0.5) -> float:
    """Rotation axis (pixels from the left edge) of a minus-logged 180-degree sinogram
    ``(nproj, n)`` by Vo's Fourier method (algotom), searching ``n/2 +- search_width`` with
    a fine step of ``step`` like tomocupy.  The half-width is capped at ``n/4``: Vo's metric
    is unreliable when the trial centre nears the detector edge (on a 128-pixel test scan,
    tomocupy's default width of 50 lands on the edge).
    """
    import os

    from algotom.prep.calculation import find_center_vo as _vo

    n = sino.shape[-1]
    half = min(float(search_width), n / 4)
    lo, hi = n / 2 - half, n / 2 + half
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # algotom's "minimum out of range" hint
        return float(_vo(np.ascontiguousarray(sino, dtype=np.float32), start=lo, stop=hi,
                         step=max(0.05, float(step)), ratio=0.5, ncore=os.cpu_count()))
