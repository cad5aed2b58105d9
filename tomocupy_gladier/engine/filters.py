"""FBP filters with tomocupy's definitions.

tomocupy (``reconstruction/fbp_filter.py``) builds its filter on a detector row padded
to ``ne = 4 n`` samples: ``w(t) = ne * wint(t) * window(t)`` where ``t`` is the frequency in
cycles per pixel (0 ... 0.5), ``wint`` a quadrature of the ramp that equals ``t / ne`` to a
fraction of a percent away from zero frequency, and the inverse FFT normalisation ``1 / ne``
folded in.  The net filter applied to a padded row is therefore ``ramp(t) * window(t)`` with
unit gain.  Near zero frequency the quadrature matters: a plain sampled ``|t|`` loses about 1%
of the mean value of large objects.  Here the ramp is the DFT of the band-limited (Ram-Lak)
spatial kernel on the padded grid, which has the same low-frequency correction: on a uniform
disk both give the reference value to 1e-4 (checked numerically against tomocupy's formula).
"""

from __future__ import annotations

import numpy as np

FILTERS = ("none", "ramp", "shepp", "hann", "hamming", "parzen", "cosine", "cosine2")


def window(name: str, t: np.ndarray) -> np.ndarray:
    """Apodisation window at frequencies ``t`` (cycles/pixel, 0..0.5) as tomocupy defines it."""
    d = 0.5
    if name == "ramp":
        return np.ones_like(t)
    if name == "shepp":
        return np.sinc(t / (2 * d)) * (t / d <= 2)
    if name == "cosine":
        return np.cos(np.pi * t / (2 * d)) * (t / d <= 1)
    if name == "cosine2":
        return np.cos(np.pi * t / (2 * d)) ** 2 * (t / d <= 1)
    if name == "hamming":
        return (0.54 + 0.46 * np.cos(np.pi * t / d)) * (t / d <= 1)
    if name == "hann":
        return (1 + np.cos(np.pi * t / d)) / 2.0 * (t / d <= 1)
    if name == "parzen":
        return (1 - t / d) ** 3 * (t / d <= 1)
    raise ValueError(f"unknown FBP filter {name!r}; choose one of {', '.join(FILTERS)}")


def filter_response(name: str, ne: int) -> np.ndarray:
    """Real filter for ``numpy.fft.rfft`` of a row padded to ``ne`` samples (length ne//2+1).

    ``none`` is tomocupy's unit filter (plain backprojection, DC weight doubled).
    """
    t = np.arange(ne // 2 + 1, dtype=np.float64) / ne
    if name == "none":
        w = np.ones_like(t)
        w[0] = 2.0
        return w
    w = ramp(ne) * window(name, t)
    return np.maximum(w, 0.0)


def ramp(ne: int) -> np.ndarray:
    """Ramp filter (length ne//2+1): DFT of the Ram-Lak kernel h(0)=1/4, h(odd k)=-1/(pi k)^2."""
    k = np.arange(ne)
    k = np.where(k > ne // 2, k - ne, k)
    h = np.zeros(ne)
    h[0] = 0.25
    odd = k % 2 != 0
    h[odd] = -1.0 / (np.pi * k[odd]) ** 2
    return np.fft.rfft(h).real
