"""Paganin single-distance phase retrieval with tomocupy's units and filter.

Units as tomocupy's command line: pixel size in micrometres, propagation distance in
millimetres, energy in keV.  The filter is ``1 / (lambda * d * k^2 / (4 pi) + alpha)``
normalised to a maximum of one, applied to flat-corrected projections (before minus-log)
padded with their edge values to a power of two beyond the Fresnel blur.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from .errors import UnsupportedError

_HBAR_KEV_S = 6.58211928e-19
_C_CM_S = 2.99792458e10


def wavelength_cm(energy_kev: float) -> float:
    """X-ray wavelength in cm for a photon energy in keV."""
    return 2 * np.pi * _HBAR_KEV_S * _C_CM_S / energy_kev


def _freq2(num: int, pixel_cm: float) -> np.ndarray:
    # tomocupy/tomopy sample the reciprocal axis at half-integer offsets (no zero frequency for
    # even sizes), in cycles per cm
    n = num - 1
    return (np.arange(-n, num, 2, dtype=np.float64) * (0.5 / (n * pixel_cm))) ** 2


def paganin(data: np.ndarray, *, pixel_size_um: float, distance_mm: float, energy_kev: float,
            alpha: float = 0.0, nthreads: int = -1) -> np.ndarray:
    """Filter projections ``(nproj, rows, cols)`` (flat-corrected transmission); in place."""
    if pixel_size_um <= 0 or distance_mm <= 0 or energy_kev <= 0:
        raise UnsupportedError("--retrieve-phase-method paganin needs --pixel-size, "
                               "--propagation-distance and --energy greater than 0")
    ps = pixel_size_um * 1e-4
    dist = distance_mm / 10.0
    lam = wavelength_cm(energy_kev)
    _, ny, nx = data.shape
    blur = int(np.ceil(np.pi * lam * dist / ps**2))
    py = int((2 ** int(np.ceil(np.log2(ny + blur))) - ny) // 2)
    px = int((2 ** int(np.ceil(np.log2(nx + blur))) - nx) // 2)
    NY, NX = ny + 2 * py, nx + 2 * px
    k2 = _freq2(NY, ps)[:, None] + _freq2(NX, ps)[None, :]
    filt = 1.0 / (lam * dist * k2 / (4 * np.pi) + alpha)
    filt = np.fft.ifftshift(filt / filt.max()).astype(np.float32)
    for i in range(data.shape[0]):
        p = np.pad(data[i], ((py, py), (px, px)), mode="edge")
        f = scipy.fft.fft2(p, workers=nthreads)
        f *= filt
        data[i] = scipy.fft.ifft2(f, workers=nthreads).real[py : py + ny, px : px + nx]
    return data


def rotate_projections(data: np.ndarray, angle_deg: float, order: int = 1) -> np.ndarray:
    """Rotate every projection by ``angle_deg`` in the detector plane (tomocupy's
    ``--rotate-proj-angle``); in place."""
    if angle_deg == 0:
        return data
    from scipy import ndimage

    data[:] = ndimage.rotate(data, float(angle_deg), axes=(2, 1), reshape=False, order=order, mode="nearest")
    return data
