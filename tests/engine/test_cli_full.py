"""`recon --reconstruction-type full`: names, contents and options, as tomocupy writes them."""

import h5py
import numpy as np
import pytest
import tifffile

from tomocupy_gladier.engine.fbp import TOMOCUPY_SCALE
from tomocupy_gladier.demo.synthetic import write_scan

from .conftest import inside, list_names, ls_scale, ncc


def test_full_writes_one_tiff_per_row_next_to_the_data_folder(scan, run_cli):
    r = run_cli("recon", "--file-name", scan.path, "--reconstruction-type", "full",
                "--rotation-axis", scan.rotation_axis, "--nsino-per-chunk", 3)
    assert r.code == 0, r.err
    out = scan.path.parent.parent / "data_rec" / "scan_rec"
    assert list_names(out) == ["rec_line.txt"] + [f"recon_{i:05d}.tiff" for i in range(8)]
    img = tifffile.imread(out / "recon_00004.tiff")
    assert img.dtype == np.float32 and img.shape == (128, 128)
    rec_line = (out / "rec_line.txt").read_text()
    assert rec_line.startswith("tomocupy-cpu recon --file-name") and "--reconstruction-type full" in rec_line
    assert f"Output: {scan.path.parent}_rec/scan_rec/recon" in r.err
    assert "set rotaion" not in r.err, "as tomocupy, the axis line follows a search only"
    assert "Reconstruction time " in r.err and r.err.strip().endswith("s")
    # no staging left behind
    assert not [p for p in out.parent.rglob("*partial*")]


def test_full_matches_the_phantom_in_tomocupy_units(scan, run_cli):
    r = run_cli("recon", "--file-name", scan.path, "--reconstruction-type", "full",
                "--rotation-axis", scan.rotation_axis, "--fbp-filter", "shepp", "--dezinger", 3)
    assert r.code == 0, r.err
    out = scan.path.parent.parent / "data_rec" / "scan_rec"
    m = inside(128)
    for row in (1, 4, 6):
        rec = tifffile.imread(out / f"recon_{row:05d}.tiff")
        ref = TOMOCUPY_SCALE * scan.phantom_slice(row)
        assert ncc(rec[m], ref[m]) > 0.93
        assert ls_scale(rec[m], ref[m]) == pytest.approx(1.0, abs=0.05)


def test_h5_output_with_exchange_data(scan, run_cli):
    r = run_cli("recon", "--file-name", scan.path, "--reconstruction-type", "full",
                "--rotation-axis", scan.rotation_axis, "--save-format", "h5", "--start-row", 2, "--end-row", 6)
    assert r.code == 0, r.err
    h5 = scan.path.parent.parent / "data_rec" / "scan_rec.h5"
    assert f"Output: {h5}" in r.err
    with h5py.File(h5) as f:
        d = f["/exchange/data"]
        assert d.shape == (8, 128, 128) and d.dtype == np.float32
        assert d.attrs["axes"] == "z:y:x"
        data = d[:]
    assert np.all(data[:2] == 0) and np.all(data[6:] == 0)  # rows outside the range stay empty
    assert all(np.abs(data[i]).max() > 0 for i in range(2, 6))
    # tomocupy also makes the folder <base> (empty for h5); the staging folder lived in it
    assert list_names(h5.parent) == ["scan_rec", "scan_rec.h5"]
    assert list_names(h5.parent / "scan_rec") == []


def test_h5_staging_is_not_beside_the_h5_file(tmp_path):
    """A scan of the folder holding <base>.h5 must never see a staging folder (tomocupy's
    <base> folder, which it creates for h5 runs too, holds it instead)."""
    from tomocupy_gladier.engine.writer import AtomicWriter, OutputLayout

    for out_path in (None, str(tmp_path / "rec" / "P")):
        layout = OutputLayout.for_run(str(tmp_path / "data" / "scan.h5"), out_path, "full", "h5")
        base = tmp_path / "data_rec" / "scan_rec" if out_path is None else tmp_path / "rec" / "P"
        w = AtomicWriter(layout, h5_shape=(4, 8, 8))
        w.write_rows(1, np.ones((2, 8, 8), np.float32))
        assert list_names(base.parent) == [base.name] and w.stage.parent == base
        w.commit()
        assert list_names(base.parent) == [base.name, base.name + ".h5"] and list_names(base) == []
        w = AtomicWriter(layout, h5_shape=(4, 8, 8))
        w.abort()
        assert list_names(base.parent) == [base.name, base.name + ".h5"] and list_names(base) == []


def test_out_path_name_and_start_end_rows(scan, run_cli, tmp_path):
    target = tmp_path / "elsewhere" / "myrec"
    r = run_cli("recon", "--file-name", scan.path, "--reconstruction-type", "full", "--start-row", 3,
                "--end-row", 6, "--out-path-name", target, "--rotation-axis", scan.rotation_axis)
    assert r.code == 0, r.err
    assert list_names(target) == ["rec_line.txt", "recon_00003.tiff", "recon_00004.tiff", "recon_00005.tiff"]
    assert not (scan.path.parent.parent / "data_rec").exists()


def test_binning_halves_sizes_and_numbers_rows_in_binned_units(tmp_path, run_cli):
    t = write_scan(tmp_path / "d" / "scan.h5", nproj=180, nrows=8, ncols=128, seed=2)
    r = run_cli("recon", "--file-name", t.path, "--reconstruction-type", "full", "--binning", 1,
                "--start-row", 4, "--rotation-axis", t.rotation_axis)
    assert r.code == 0, r.err
    out = tmp_path / "d_rec" / "scan_rec"
    assert list_names(out) == ["rec_line.txt", "recon_00002.tiff", "recon_00003.tiff"]
    img = tifffile.imread(out / "recon_00002.tiff")
    assert img.shape == (64, 64)
    # binning sums 2x2 pixels: attenuation per binned pixel doubles
    ref = TOMOCUPY_SCALE * 2 * t.phantom_slice(5, 128)[::2, ::2]
    m = inside(64, 0.8)
    assert ncc(img[m], ref[m]) > 0.85


def test_float16_output(scan, run_cli):
    r = run_cli("recon", "--file-name", scan.path, "--reconstruction-type", "full", "--dtype", "float16",
                "--end-row", 2, "--rotation-axis", scan.rotation_axis)
    assert r.code == 0, r.err
    img = tifffile.imread(scan.path.parent.parent / "data_rec" / "scan_rec" / "recon_00001.tiff")
    assert img.dtype == np.float16 and img.shape == (128, 128)


def test_minus_log_false_and_bright_ratio(scan, run_cli):
    base = ["recon", "--file-name", scan.path, "--reconstruction-type", "full", "--end-row", 2,
            "--rotation-axis", scan.rotation_axis]
    assert run_cli(*base).code == 0
    out = scan.path.parent.parent / "data_rec" / "scan_rec" / "recon_00000.tiff"
    a = tifffile.imread(out)
    assert run_cli(*base, "--bright-ratio", 2).code == 0
    b = tifffile.imread(out)
    # flats divided by 2 -> transmission doubles -> -log shifts by -log 2 everywhere in the sinogram
    assert b[inside(128, 0.5)].mean() < a[inside(128, 0.5)].mean()
    assert run_cli(*base, "--minus-log", "False").code == 0
    c = tifffile.imread(out)
    assert ncc(c[inside(128)], a[inside(128)]) < 0  # transmission is dark where attenuation is high


def test_float16_crops_to_a_power_of_two_like_tomocupy(tmp_path, run_cli):
    t = write_scan(tmp_path / "d" / "scan.h5", nproj=120, nrows=2, ncols=96, seed=3)
    r = run_cli("recon", "--file-name", t.path, "--reconstruction-type", "full", "--dtype", "float16",
                "--rotation-axis", t.rotation_axis)
    assert r.code == 0, r.err
    img = tifffile.imread(tmp_path / "d_rec" / "scan_rec" / "recon_00000.tiff")
    assert img.shape == (64, 64) and img.dtype == np.float16
    # the central 64 columns keep the object centred: compare with the float32 result
    assert run_cli("recon", "--file-name", t.path, "--reconstruction-type", "full",
                   "--rotation-axis", t.rotation_axis).code == 0
    full = tifffile.imread(tmp_path / "d_rec" / "scan_rec" / "recon_00000.tiff")
    assert ncc(img.astype(np.float32)[16:48, 16:48], full[32:64, 32:64]) > 0.9


def test_flat_linear_and_projection_range(scan, run_cli):
    base = ["recon", "--file-name", scan.path, "--reconstruction-type", "full", "--end-row", 1,
            "--rotation-axis", scan.rotation_axis]
    out = scan.path.parent.parent / "data_rec" / "scan_rec" / "recon_00000.tiff"
    assert run_cli(*base).code == 0
    ref = tifffile.imread(out)
    assert run_cli(*base, "--flat-linear", "True").code == 0
    assert ncc(tifffile.imread(out), ref) > 0.99  # stable flats: same result
    assert run_cli(*base, "--start-proj", 0, "--end-proj", 90).code == 0  # first 90 degrees only
    limited = tifffile.imread(out)
    assert 0.5 < ncc(limited, ref) < 0.98  # limited-angle artefacts, same object
