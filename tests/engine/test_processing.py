"""Stripe removal, zingers and the recon_steps (Paganin) path."""

import numpy as np
import pytest
import tifffile

from tomocupy_gladier.engine.fbp import TOMOCUPY_SCALE
from tomocupy_gladier.engine.preprocess import dezinger
from tomocupy_gladier.demo.synthetic import write_scan

from .conftest import inside, list_names, ncc


def ring_energy(img: np.ndarray, ref: np.ndarray, radii: np.ndarray) -> float:
    """Mean |azimuthal average of the residual| at the radii of the defective columns.

    A column with a wrong gain adds the same error at every angle: a ring of radius
    |column - axis| around the rotation centre, which azimuthal averaging isolates.
    """
    n = img.shape[0]
    yy, xx = np.mgrid[:n, :n]
    r = np.rint(np.hypot(yy + 1 - n / 2, xx - n / 2)).astype(int)
    m = r < 0.48 * n
    prof = np.bincount(r[m], (img - ref)[m]) / np.maximum(np.bincount(r[m]), 1)
    return float(np.mean(np.abs(prof[radii])))


@pytest.mark.parametrize("method, params", [
    # algotom's large-stripe step with tomocupy's default la-size 61 is meant for wide detectors
    ("vo-all", ["--vo-all-la-size", 21, "--vo-all-sm-size", 11]),
    ("fw", ["--fw-level", 3]),
])
def test_stripe_removal_reduces_rings(tmp_path, run_cli, method, params):
    n = 256
    t = write_scan(tmp_path / "d" / "scan.h5", nproj=360, nrows=2, ncols=n, seed=5)
    out = tmp_path / "d_rec" / "scan_rec" / "recon_00001.tiff"
    base = ["recon", "--file-name", t.path, "--reconstruction-type", "full", "--rotation-axis",
            t.rotation_axis, "--fbp-filter", "shepp"]
    assert run_cli(*base).code == 0
    plain = tifffile.imread(out)
    assert run_cli(*base, "--remove-stripe-method", method, *params).code == 0
    cleaned = tifffile.imread(out)
    ref = TOMOCUPY_SCALE * t.phantom_slice(1)
    radii = np.rint(np.abs(t.ring_columns - t.rotation_axis)).astype(int)
    assert ring_energy(cleaned, ref, radii) < 0.6 * ring_energy(plain, ref, radii)
    m = inside(n)
    assert ncc(cleaned[m], ref[m]) > 0.9


def test_dezinger_removes_isolated_spikes():
    rng = np.random.default_rng(0)
    a = (1000 + 10 * rng.standard_normal((40, 2, 50))).astype(np.float32)
    a[5, 1, 7] += 20000
    a[30, 0, 40] += 3000
    out = dezinger(a.copy(), 3, 5000)
    assert out[5, 1, 7] < 1100  # above threshold: replaced by the local median
    assert out[30, 0, 40] > 3000  # below threshold: kept
    assert np.array_equal(np.delete(out.ravel(), [5 * 100 + 50 + 7]), np.delete(a.ravel(), [5 * 100 + 50 + 7]))


def test_recon_steps_paganin_smooths_and_keeps_structure(tmp_path, run_cli):
    t = write_scan(tmp_path / "d" / "scan.h5", nproj=180, nrows=8, ncols=128, seed=4)
    base = ["recon_steps", "--file-name", t.path, "--reconstruction-type", "full",
            "--rotation-axis", t.rotation_axis, "--start-row", 2, "--end-row", 6]
    r = run_cli(*base)
    assert r.code == 0, r.err
    out = tmp_path / "d_rec" / "scan_rec"
    plain = tifffile.imread(out / "recon_00003.tiff")
    r = run_cli(*base, "--retrieve-phase-method", "paganin", "--energy", 25, "--pixel-size", 1.3,
                "--propagation-distance", 60, "--retrieve-phase-alpha", 0.001)
    assert r.code == 0, r.err
    assert list_names(out) == ["rec_line.txt"] + [f"recon_{i:05d}.tiff" for i in range(2, 6)]
    pag = tifffile.imread(out / "recon_00003.tiff")
    m = inside(128, 0.8)
    noise = lambda img: np.std(np.diff(img, axis=1)[m[:, 1:]])  # noqa: E731
    assert noise(pag) < 0.8 * noise(plain)
    assert ncc(pag[m], plain[m]) > 0.8
    assert "Reconstruction time" in r.err


def test_recon_steps_rotate_projections(tmp_path, run_cli):
    t = write_scan(tmp_path / "d" / "scan.h5", nproj=90, nrows=4, ncols=64, seed=4)
    r = run_cli("recon_steps", "--file-name", t.path, "--rotation-axis", t.rotation_axis,
                "--rotate-proj-angle", 0.5, "--reconstruction-type", "full")
    assert r.code == 0, r.err
    assert len(list_names(tmp_path / "d_rec" / "scan_rec")) == 5


def test_paganin_filter_is_a_unit_gain_low_pass():
    from tomocupy_gladier.engine.phase import paganin

    rng = np.random.default_rng(1)
    a = (0.8 + 0.05 * rng.standard_normal((3, 32, 64))).astype(np.float32)
    out = paganin(a.copy(), pixel_size_um=1.0, distance_mm=100, energy_kev=20, alpha=1e-3)
    assert out.mean() == pytest.approx(0.8, rel=0.01)  # flat regions keep their transmission
    assert out.std() < 0.3 * a.std()  # white noise is strongly damped


def test_recon_steps_try_with_paganin_and_binning(tmp_path, run_cli):
    t = write_scan(tmp_path / "d" / "scan.h5", nproj=120, nrows=8, ncols=128, seed=6)
    r = run_cli("recon_steps", "--file-name", t.path, "--retrieve-phase-method", "paganin", "--energy", 25,
                "--pixel-size", 1.3, "--propagation-distance", 50, "--rotation-axis", 67,
                "--center-search-width", 2, "--binning", 1)
    assert r.code == 0, r.err
    names = list_names(tmp_path / "d_rec" / "try_center" / "scan")
    # binned: shifts arange(-2, 2, 0.5 * 2) / 2, names in unbinned pixels
    assert names == [f"recon_slice0002_center{c:05.2f}.tiff" for c in (66.0, 67.0, 68.0, 69.0)]
    assert tifffile.imread(tmp_path / "d_rec" / "try_center" / "scan" / names[0]).shape == (64, 64)
