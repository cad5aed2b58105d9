"""The reconstruction kernel: tomocupy's scale, orientation and filters."""

import numpy as np
import pytest

from tomocupy_gladier.engine.fbp import TOMOCUPY_SCALE, FourierRec
from tomocupy_gladier.engine.filters import FILTERS, filter_response
from tomocupy_gladier.demo.synthetic import Ellipsoid, _project


def disk_sinogram(n, theta, mu, radius, x0=0.0, y0=0.0, axis=None):
    axis = n / 2 if axis is None else axis
    e = [Ellipsoid(x0, y0, 0, radius, radius, 1e6, 0.0, mu)]
    return _project(e, theta, 1, n, axis)[:, 0]


def test_uniform_disk_reconstructs_to_tomocupy_scale():
    """tomocupy's gridding returns 4/pi times the attenuation per pixel (see fbp docstring)."""
    n, theta = 256, np.linspace(0, np.pi, 720, endpoint=False)
    mu = 0.01
    sino = disk_sinogram(n, theta, mu, 0.3 * n)
    yy, xx = np.mgrid[:n, :n]
    core = np.hypot(yy + 1 - n / 2, xx - n / 2) < 0.2 * n
    ramp = FourierRec(n, theta, "ramp").reconstruct(sino, n / 2)[0]
    assert ramp[core].mean() == pytest.approx(TOMOCUPY_SCALE * mu, rel=0.005)
    # parzen (tomocupy's default) damps even low frequencies a little: ~1.6% on this disk
    parzen = FourierRec(n, theta, "parzen").reconstruct(sino, n / 2)[0]
    assert parzen[core].mean() == pytest.approx(TOMOCUPY_SCALE * mu, rel=0.03)
    assert TOMOCUPY_SCALE == pytest.approx(4 / np.pi)


def test_off_centre_axis_and_orientation():
    """A blob at image column offset X, row offset Y appears at (n/2 + Y - 1, n/2 + X)."""
    n, theta = 128, np.linspace(0, np.pi, 360, endpoint=False)
    axis = n / 2 + 5.5
    sino = disk_sinogram(n, theta, 0.05, 4.0, x0=20.0, y0=-30.0, axis=axis)
    img = FourierRec(n, theta, "ramp").reconstruct(sino, axis)[0]
    blob = img > 0.5 * img.max()
    rows, cols = np.nonzero(blob)
    assert rows.mean() == pytest.approx(n // 2 - 30 - 1, abs=0.2)
    assert cols.mean() == pytest.approx(n // 2 + 20, abs=0.2)
    # the wrong centre smears it
    wrong = FourierRec(n, theta, "ramp").reconstruct(sino, n / 2)[0]
    assert wrong.max() < 0.8 * img.max()


def test_agrees_with_algotom_up_to_the_documented_scale():
    """algotom's CPU FBP (textbook scale) matches in orientation; ratio is pi/4."""
    from algotom.rec.reconstruction import fbp_reconstruction

    n, theta = 96, np.linspace(0, np.pi, 120, endpoint=False)
    sino = disk_sinogram(n, theta, 0.02, 25.0, x0=8.0, y0=5.0, axis=50.0)
    sino += disk_sinogram(n, theta, 0.03, 6.0, x0=-12.0, y0=-10.0, axis=50.0)
    ours = FourierRec(n, theta, "hann").reconstruct(sino, 50.0)[0]
    ref = fbp_reconstruction(sino, 50.0, angles=theta, apply_log=False, gpu=False, filter_name="hann")
    ref = np.roll(ref, -1, axis=0)  # tomocupy reads its grid one row lower
    m = ours != 0
    assert np.corrcoef(ours[m], ref[m])[0, 1] > 0.99
    assert (ref[m] * ours[m]).sum() / (ours[m] ** 2).sum() == pytest.approx(np.pi / 4, rel=0.03)


def test_pairs_and_batches_do_not_mix_slices():
    n, theta = 64, np.linspace(0, np.pi, 90, endpoint=False)
    rng = np.random.default_rng(0)
    sinos = np.stack([disk_sinogram(n, theta, 0.01 * (i + 1), 10 + 3 * i) for i in range(5)])
    sinos += 1e-3 * rng.standard_normal(sinos.shape).astype(np.float32)
    rec = FourierRec(n, theta, "shepp", pairs_per_batch=1)
    together = rec.reconstruct(sinos, [32.0, 32.5, 31.0, 33.0, 32.0])
    for i, c in enumerate([32.0, 32.5, 31.0, 33.0, 32.0]):
        alone = rec.reconstruct(sinos[i], c)[0]
        np.testing.assert_allclose(together[i], alone, atol=3e-3 * np.abs(alone).max())  # finufft eps 1e-3
    assert together.dtype == np.float32 and together.shape == (5, n, n)


@pytest.mark.parametrize("name", [f for f in FILTERS if f != "none"])
def test_filters_are_a_windowed_ramp(name):
    w = filter_response(name, 1024)
    t = np.arange(513) / 1024
    assert w[2] == pytest.approx(t[2], rel=0.02)  # unit gain near zero frequency
    assert np.all(w >= 0)
    if name in ("parzen", "hann", "cosine", "cosine2"):
        assert w[-1] == pytest.approx(0, abs=1e-9)


def test_unknown_filter_is_refused():
    with pytest.raises(ValueError, match="unknown FBP filter"):
        filter_response("butterworth", 64)
