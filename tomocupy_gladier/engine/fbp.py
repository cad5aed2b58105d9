"""Filtered backprojection by Fourier gridding (finufft), in tomocupy's units and orientation.

The algorithm is the one tomocupy's ``fourierrec`` implements on the GPU: filter each
projection row (padded to ``4 n`` with its edge values) with the ramp times a window, shift the
rotation centre to ``n / 2`` by a phase ramp, take the centred ``n``-point FFT of every row,
and sum the polar Fourier samples onto the Cartesian image with a type-1 non-uniform FFT
(finufft, tolerance 1e-3 like tomocupy's Gaussian gridding kernel).

Scale.  tomocupy's CUDA code multiplies the row spectra by ``4 / n`` (``gather``), grids them
with a Gaussian whose weight ``pi / (mu 4 n^2)`` cancels the kernel's Fourier transform
exactly (``divphi`` undoes the deconvolution) and divides by ``nproj`` (``divphi``).  With the
unit-gain ramp of :mod:`.filters` its output is therefore

    f(x) = 4 / nproj * sum_theta q_theta(x . theta)

whereas the textbook FBP is ``pi / nproj * sum_theta q_theta``.  A uniform disk whose
attenuation is ``mu`` per pixel reconstructs in tomocupy (and here) to ``4 / pi * mu``;
:data:`TOMOCUPY_SCALE` is that factor.  Orientation: rows run along ``-sin(theta)``,
columns along ``cos(theta)``, and tomocupy reads its image one row down (``ty + 1`` in
``divphi``); both are reproduced.  Pixels outside the inscribed circle are zero, as in
tomocupy's ``circ`` kernel.
"""

from __future__ import annotations

import os
import threading

import finufft
import numpy as np
import scipy.fft

from .filters import filter_response

#: tomocupy's reconstruction divided by the textbook FBP (4 / pi), see the module docstring.
TOMOCUPY_SCALE = 4.0 / np.pi


class FourierRec:
    """Reconstruct ``n x n`` slices from sinograms of shape ``(nproj, n)``.

    The NUFFT plan (sorting of the polar points) is built once per instance and reused for
    every chunk; slices are packed two at a time into one complex transform.  Work buffers are
    reused between calls (large temporaries cost page faults on every allocation), so one
    instance reconstructs one call at a time (calls are serialised by a lock).
    """

    def __init__(
        self,
        n: int,
        theta: np.ndarray,
        filter_name: str = "parzen",
        *,
        eps: float = 1e-3,
        nthreads: int | None = None,
        pairs_per_batch: int = 2,
    ) -> None:
        if n % 2:
            raise ValueError(f"detector width must be even, got {n}")
        self.n = int(n)
        self.theta = np.asarray(theta, dtype=np.float64)
        self.nproj = len(self.theta)
        self.ne = 4 * self.n
        self.pad = self.ne // 2 - self.n // 2
        self.nthreads = nthreads or os.cpu_count() or 1
        self.eps = eps
        self.pairs_per_batch = max(1, int(pairs_per_batch))
        self.wfilter = filter_response(filter_name, self.ne).astype(np.float32)
        self.freq = (np.arange(self.ne // 2 + 1) / self.ne).astype(np.float32)
        rho = (np.arange(self.n) - self.n // 2) / self.n
        x = (-2 * np.pi * np.outer(np.sin(self.theta), rho)).ravel()
        y = (2 * np.pi * np.outer(np.cos(self.theta), rho)).ravel()
        self._x = x.astype(np.float32)
        self._y = y.astype(np.float32)
        # tomocupy's image is read one row below the gridded centre (ty + 1 in divphi)
        self._rowshift = np.exp(1j * x).astype(np.complex64).reshape(self.nproj, self.n)
        self._plans: dict[int, finufft.Plan] = {}
        self._lock = threading.Lock()
        yy, xx = np.mgrid[: self.n, : self.n]
        r2 = ((xx - self.n // 2) / self.n) ** 2 + ((yy - self.n // 2) / self.n) ** 2
        self.mask = (4 * r2 < 1).astype(np.float32)
        self.scale = np.float32(4.0 / (self.n * self.nproj))
        self._padbuf = np.empty((self.nproj, self.ne), dtype=np.float32)
        self._packed: np.ndarray | None = None

    def _plan(self, ntrans: int) -> finufft.Plan:
        plan = self._plans.get(ntrans)
        if plan is None:
            plan = finufft.Plan(
                1, (self.n, self.n), n_trans=ntrans, eps=self.eps, isign=1,
                dtype="complex64", nthreads=self.nthreads,
            )
            plan.setpts(self._x, self._y)
            self._plans[ntrans] = plan
        return plan

    def filter_center(self, sino: np.ndarray, center: float) -> np.ndarray:
        """Filter one sinogram ``(nproj, n)`` and move the rotation centre to ``n / 2``."""
        padded = self._padbuf
        padded[:, self.pad : self.pad + self.n] = sino
        padded[:, : self.pad] = padded[:, self.pad : self.pad + 1]  # edge values, as tomocupy
        padded[:, self.pad + self.n :] = padded[:, self.pad + self.n - 1 : self.pad + self.n]
        spec = scipy.fft.rfft(padded, axis=-1, workers=self.nthreads)
        shift = np.float32(center - self.n / 2)
        w = self.wfilter * np.exp(2j * np.pi * self.freq * shift).astype(np.complex64)
        spec *= w
        out = scipy.fft.irfft(spec, n=self.ne, axis=-1, workers=self.nthreads)
        return out[:, self.pad : self.pad + self.n]

    def reconstruct(self, sinos: np.ndarray, centers: float | np.ndarray) -> np.ndarray:
        """Reconstruct sinograms ``(k, nproj, n)``; ``centers`` is one value or one per sinogram.

        ``centers`` are in pixels from the left edge of the row. Returns float32 ``(k, n, n)``.
        """
        sinos = np.asarray(sinos)
        if sinos.ndim == 2:
            sinos = sinos[None]
        k = sinos.shape[0]
        if sinos.shape[1:] != (self.nproj, self.n):
            raise ValueError(f"sinogram shape {sinos.shape[1:]} != {(self.nproj, self.n)}")
        centers = np.broadcast_to(np.asarray(centers, dtype=np.float64), (k,))
        out = np.empty((k, self.n, self.n), dtype=np.float32)
        with self._lock:
            self._reconstruct(sinos, centers, out)
        return out

    def _reconstruct(self, sinos: np.ndarray, centers: np.ndarray, out: np.ndarray) -> None:
        k = sinos.shape[0]
        step = 2 * self.pairs_per_batch
        if self._packed is None:
            self._packed = np.empty((self.pairs_per_batch, self.nproj, self.n), dtype=np.complex64)
        for s0 in range(0, k, step):
            s1 = min(k, s0 + step)
            npairs = (s1 - s0 + 1) // 2
            packed = self._packed[:npairs]
            packed.fill(0)
            for i in range(s0, s1):
                q = self.filter_center(sinos[i], centers[i])
                if (i - s0) % 2 == 0:
                    packed[(i - s0) // 2].real = q
                else:
                    packed[(i - s0) // 2].imag = q
            # centred n-point FFT of every row: phase reference at pixel n/2
            spec = scipy.fft.fft(np.fft.ifftshift(packed, axes=-1), axis=-1, workers=self.nthreads)
            spec = np.fft.fftshift(spec, axes=-1)
            # the unpaired Nyquist sample is the one term whose image is not real: dropping it
            # keeps the two slices packed in one transform from leaking into each other
            spec[..., 0] = 0
            spec *= self._rowshift
            img = self._plan(npairs).execute(spec.reshape(npairs, -1))
            img = img.reshape(npairs, self.n, self.n)
            for i in range(s0, s1):
                part = img[(i - s0) // 2]
                val = part.real if (i - s0) % 2 == 0 else part.imag
                np.multiply(val, self.scale * self.mask, out=out[i])


def reconstruct(
    sinos: np.ndarray, theta: np.ndarray, center: float | np.ndarray, filter_name: str = "parzen"
) -> np.ndarray:
    """One-shot convenience wrapper around :class:`FourierRec` (``theta`` in radians)."""
    sinos = np.asarray(sinos)
    n = sinos.shape[-1]
    return FourierRec(n, theta, filter_name).reconstruct(sinos, center)
