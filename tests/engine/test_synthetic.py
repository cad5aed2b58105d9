"""The synthetic DXchange scan used by tests and the demo."""

import h5py
import numpy as np

from tomocupy_gladier.demo.synthetic import FLAT_COUNTS, write_scan


def test_layout_metadata_and_truth(tmp_path):
    t = write_scan(tmp_path / "s.h5", nproj=90, nrows=6, ncols=64, rotation_axis=35.5, seed=3)
    assert t.rotation_axis == 35.5 and t.nproj == 90 and len(t.theta_deg) == 90
    with h5py.File(t.path) as f:
        assert f["exchange/data"].shape == (90, 6, 64) and f["exchange/data"].dtype == np.uint16
        assert f["exchange/data_white"].shape[1:] == (6, 64)
        assert f["exchange/data_dark"].shape[1:] == (6, 64)
        np.testing.assert_allclose(f["exchange/theta"][:], np.linspace(0, 180, 90, endpoint=False))
        assert f["measurement/instrument/monochromator/energy"][0] == t.energy_kev
        assert f["measurement/instrument/detection_system/objective/resolution"][0] == t.pixel_size_um
        assert f["measurement/instrument/detector/exposure_time"][0] > 0
        assert f["measurement/sample/name"][0] == b"ellipsoid phantom"
        assert "start_date" in f["process/acquisition"]
        flats = f["exchange/data_white"][:].astype(float)
        assert abs(flats.mean() - FLAT_COUNTS) < 0.05 * FLAT_COUNTS
    assert t.phantom.shape == (6, 64, 64) and t.phantom.max() > 0
    assert len(t.ring_columns) >= 2 and t.zinger_count >= 1


def test_without_theta_uses_tomocupy_fallback_angles(tmp_path):
    t = write_scan(tmp_path / "s.h5", nproj=30, nrows=2, ncols=32, theta=False)
    with h5py.File(t.path) as f:
        assert "exchange/theta" not in f
    np.testing.assert_allclose(t.theta_deg, np.linspace(0, 180, 30))


def test_seed_is_reproducible_and_clean_mode_is_noiseless(tmp_path):
    a = write_scan(tmp_path / "a.h5", nproj=20, nrows=2, ncols=32, seed=7)
    b = write_scan(tmp_path / "b.h5", nproj=20, nrows=2, ncols=32, seed=7)
    c = write_scan(tmp_path / "c.h5", nproj=20, nrows=2, ncols=32, noise=False, zingers=False, ring_drifts=False)
    with h5py.File(a.path) as fa, h5py.File(b.path) as fb, h5py.File(c.path) as fc:
        np.testing.assert_array_equal(fa["exchange/data"][:], fb["exchange/data"][:])
        flats = fc["exchange/data_white"][:]
        assert (flats == flats[0]).all()
