"""Ring (stripe) removal with algotom, under tomocupy's method names.

- ``vo-all``: :func:`algotom.prep.removal.remove_all_stripe` (tomocupy's ``vo-all`` is a
  port of it), with ``vo-all-snr``, ``vo-all-la-size``, ``vo-all-sm-size``, ``vo-all-dim``.
- ``fw``: :func:`algotom.prep.removal.remove_stripe_based_wavelet_fft`, the same
  Fourier-wavelet idea (Münch et al.) with ``fw-level``, ``fw-filter`` and ``fw-sigma``
  (as the Gaussian damping width).
  ``--fw-pad`` is accepted (it is a flag that is always on in tomocupy); algotom pads itself.
- ``ti`` (Titarenko) has no algotom counterpart and is refused.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .errors import UnsupportedError

METHODS = ("none", "fw", "vo-all")


def remove_stripes(data: np.ndarray, method: str, params: dict, nthreads: int | None = None) -> np.ndarray:
    """Apply ``method`` to every sinogram of ``data`` ``(nproj, rows, cols)``; in place."""
    if method == "none":
        return data
    if method not in METHODS:
        raise UnsupportedError(f"--remove-stripe-method {method} is not implemented by tomocupy-cpu "
                               f"(available: {', '.join(METHODS)})")
    from algotom.prep import removal

    if method == "vo-all":
        def one(sino: np.ndarray) -> np.ndarray:
            return removal.remove_all_stripe(sino, snr=float(params.get("vo_all_snr", 3.0)),
                                             la_size=int(params.get("vo_all_la_size", 61)),
                                             sm_size=int(params.get("vo_all_sm_size", 21)),
                                             dim=int(params.get("vo_all_dim", 1)))
    else:
        import pywt

        wname = str(params.get("fw_filter", "sym16"))
        level = int(params.get("fw_level", 7))

        def one(sino: np.ndarray) -> np.ndarray:
            lmax = pywt.dwt_max_level(min(sino.shape), pywt.Wavelet(wname).dec_len)
            return removal.remove_stripe_based_wavelet_fft(
                sino, level=max(1, min(level, lmax)), size=float(params.get("fw_sigma", 1.0)),
                wavelet_name=wname, window_name="gaussian")

    rows = range(data.shape[1])
    with ThreadPoolExecutor(nthreads or os.cpu_count() or 1) as pool:
        for r, sino in zip(rows, pool.map(lambda r: one(np.ascontiguousarray(data[:, r, :])), rows)):
            data[:, r, :] = np.asarray(sino, dtype=data.dtype)[: data.shape[0], : data.shape[2]]
    return data
