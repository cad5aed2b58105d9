"""`recon --reconstruction-type try` and the automatic rotation axis."""

import re
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from tomocupy_gladier.engine.center import find_center_vo
from tomocupy_gladier.engine.preprocess import flat_dark, minus_log
from tomocupy_gladier.engine.reader import open_scan, read_rows
from tomocupy_gladier.demo.synthetic import write_scan

from .conftest import inside, list_names, ncc


def test_try_names_and_centres_like_tomocupy(scan, run_cli):
    """Centres: axis + width down to axis - width + step (tomocupy's arange), slice = nsino * (nz - 1)."""
    r = run_cli("recon", "--file-name", scan.path, "--rotation-axis", 64, "--center-search-width", 3,
                "--center-search-step", 0.5)
    assert r.code == 0, r.err
    out = scan.path.parent.parent / "data_rec" / "try_center" / "scan"
    centres = [64 + 3 - 0.5 * k for k in range(12)]
    assert list_names(out) == sorted(f"recon_slice0003_center{c:05.2f}.tiff" for c in centres)
    img = tifffile.imread(out / "recon_slice0003_center67.00.tiff")
    assert img.shape == (128, 128) and img.dtype == np.float32
    assert f"Output: {out}/recon" in r.err


def test_try_sharpest_image_is_at_the_true_axis(scan, run_cli):
    r = run_cli("recon", "--file-name", scan.path, "--rotation-axis", 67, "--center-search-width", 4,
                "--center-search-step", 1, "--nsino", "[0.2, 0.8]")
    assert r.code == 0, r.err
    out = scan.path.parent.parent / "data_rec" / "try_center" / "scan"
    names = list_names(out)
    assert len(names) == 16 and {n[:18] for n in names} == {"recon_slice0001_ce", "recon_slice0005_ce"}
    m = inside(128, 0.85)
    ref = scan.phantom_slice(5)

    def match(name):  # the file named with the true centre must look most like the phantom
        return ncc(tifffile.imread(out / name)[m], ref[m])

    best = max((n for n in names if "slice0005" in n), key=match)
    assert abs(float(re.search(r"center(\d+\.\d+)", best).group(1)) - scan.rotation_axis) <= 0.5


@pytest.mark.parametrize("axis", [60.5, 64.0, 70.75])
def test_vo_axis_search_within_half_a_pixel(tmp_path, axis):
    t = write_scan(tmp_path / "s.h5", nproj=180, nrows=2, ncols=128, rotation_axis=axis, seed=int(axis))
    info = open_scan(t.path)
    blk = read_rows(info, 1, 2, 0, 128)
    sino = minus_log(flat_dark(blk.data, blk.flat, blk.dark))[:, 0]
    assert find_center_vo(sino, 50, 0.25) == pytest.approx(axis, abs=0.5)


def test_auto_axis_is_logged_and_used(scan, run_cli):
    r = run_cli("recon", "--file-name", scan.path, "--reconstruction-type", "full", "--end-row", 2,
                "--rotation-axis-auto", "auto", "--rotation-axis-method", "vo")
    assert r.code == 0, r.err
    found = float(re.search(r"set rotaion  axis (\S+)", r.err).group(1))
    assert found == pytest.approx(scan.rotation_axis, abs=0.5)


def test_auto_axis_is_logged_in_the_binned_frame_as_tomocupy_does(scan, run_cli):
    """tomocupy 1.1.0 logs the found axis in binned pixels: full size = axis * 2**binning."""
    r = run_cli("recon", "--file-name", scan.path, "--reconstruction-type", "full", "--end-row", 4,
                "--binning", 1, "--rotation-axis-auto", "auto", "--rotation-axis-method", "vo")
    assert r.code == 0, r.err
    found = float(re.search(r"set rotaion  axis (\S+)", r.err).group(1))
    assert found * 2 == pytest.approx(scan.rotation_axis, abs=1.0)


def test_python_dash_m_end_to_end(scan):
    """The way the flow calls it: a subprocess; log lines parseable by a wrapper."""
    p = subprocess.run([sys.executable, "-m", "tomocupy_gladier.engine", "recon", "--file-name", str(scan.path),
                        "--reconstruction-type", "full", "--rotation-axis", "67.25", "--end-row", "2",
                        "--config", "/nonexistent/tomocupyon.conf"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert re.search(r"Reconstruction time \d\.\de[+-]\d\ds", p.stderr)
    assert re.search(r"Output: (\S+)", p.stderr).group(1).endswith("data_rec/scan_rec/recon")
    assert (scan.path.parent.parent / "data_rec" / "scan_rec" / "recon_00001.tiff").is_file()


def test_try_names_use_tomocupys_slice_id_with_start_row(scan, run_cli, tmp_path):
    """tomocupy names try files with id_slices, counted from --start-row (reader.init_sizes);
    the image is row start_row + id (tomocupy's recon_steps; its recon reads row id)."""
    r = run_cli("recon", "--file-name", scan.path, "--rotation-axis", scan.rotation_axis, "--start-row", 4,
                "--center-search-width", 0.5, "--out-path-name", tmp_path / "t")
    assert r.code == 0, r.err
    assert list_names(tmp_path / "t") == ["recon_slice0001_center67.25.tiff", "recon_slice0001_center67.75.tiff"]
    r = run_cli("recon", "--file-name", scan.path, "--rotation-axis", scan.rotation_axis,
                "--reconstruction-type", "full", "--out-path-name", tmp_path / "f")
    assert r.code == 0, r.err
    img = tifffile.imread(tmp_path / "t" / "recon_slice0001_center67.25.tiff")
    np.testing.assert_allclose(img, tifffile.imread(tmp_path / "f" / "recon_00005.tiff"), atol=1e-5)
