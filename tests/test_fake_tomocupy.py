"""tests/fake_tomocupy.py follows tomocupy 1.1.0 (rules read from its source, see the fake's docstring)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile

from tomocupy_gladier.demo.synthetic import write_scan

AXIS_LINE = re.compile(r"set rotaion  axis (\S+?)\x1b\[0m")


def run(fake, *args, timeout=120):
    return subprocess.run([*fake.executable, *map(str, args)], capture_output=True, text=True, timeout=timeout)


def try_centres(r0, width, step, binning=0, start_column=0):
    """reader.init_sizes_try: the centres in the try file names."""
    f = 2**binning
    shift = np.arange(-width, width, step * f).astype("float32") / f
    return (np.float32((r0 - start_column) / f) - shift) * f + start_column


def names_of(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def ncc(a, b) -> float:
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    """One 180 x 8 x 128 scan (axis 67.25), as data/scan.h5 and data/scan1.hdf5."""
    root = tmp_path_factory.mktemp("scans")
    truth = write_scan(root / "data" / "scan.h5", nproj=180, nrows=8, ncols=128, seed=1)
    (root / "data" / "scan1.hdf5").write_bytes(truth.path.read_bytes())
    return truth


@pytest.fixture
def scan(scans, tmp_path):
    """A private copy of the scan (outputs land beside it)."""
    path = tmp_path / "data" / "scan.h5"
    path.parent.mkdir()
    path.write_bytes(scans.path.read_bytes())
    return path


def test_try_names_folder_log_and_hdf5_rule(real_fake_tomocupy, scans, tmp_path):
    hdf5 = tmp_path / "raw" / "scan1.hdf5"
    hdf5.parent.mkdir()
    hdf5.write_bytes(scans.path.read_bytes())
    res = run(real_fake_tomocupy, "recon", "--file-name", hdf5, "--rotation-axis", 64,
              "--center-search-width", 2, "--center-search-step", 0.5)
    assert res.returncode == 0, res.stderr
    out = tmp_path / "raw_rec" / "try_center" / "scan1.h"  # basename[:-3] even for .hdf5
    # nsino 0.5 of 8 rows: int(0.5 * 7) = 3
    assert names_of(out) == sorted(f"recon_slice0003_center{c:05.2f}.tiff" for c in try_centres(64, 2, 0.5))
    assert f"Output: {out}/recon\x1b[0m" in res.stderr          # the prefix, green, on stderr
    assert "\x1b[92mOutput:" in res.stderr and "Output" not in res.stdout
    assert re.search(r"\x1b\[33mReconstruction time \d\.\de[+-]\d\ds\x1b\[0m", res.stderr)
    assert "set rotaion" not in res.stderr                       # manual axis: no such line
    assert len(list((Path(os.environ["HOME"]) / "logs").glob("tomocupyfp16on_*.log"))) == 1
    assert real_fake_tomocupy.calls()[-1][:3] == ["recon", "--file-name", str(hdf5)]


def test_out_path_name_replaces_try_and_full_folders(real_fake_tomocupy, scan, tmp_path):
    p = tmp_path / "P"
    res = run(real_fake_tomocupy, "recon", "--file-name", scan, "--out-path-name", p,
              "--center-search-width", 1)
    assert res.returncode == 0, res.stderr
    assert len(names_of(p)) == 4 and all(n.startswith("recon_slice0003_center") for n in names_of(p))
    q = tmp_path / "Q"
    res = run(real_fake_tomocupy, "recon", "--file-name", scan, "--out-path-name", q,
              "--reconstruction-type", "full")
    assert res.returncode == 0, res.stderr
    assert names_of(q) == ["rec_line.txt"] + [f"recon_{i:05d}.tiff" for i in range(8)]
    assert (q / "rec_line.txt").read_text().startswith("fake_tomocupy.py recon --file-name ")
    assert f"Output: {q}/recon\x1b" in res.stderr
    assert not (tmp_path / "data_rec").exists()
    assert tifffile.imread(q / "recon_00003.tiff").shape == (128, 128)


def test_full_ids_are_binned_absolute_rows(real_fake_tomocupy, scan, tmp_path):
    # binning 1, rows [2, 8): nz = 3 binned rows, ids start at start_row // 2 = 1
    res = run(real_fake_tomocupy, "recon", "--file-name", scan, "--reconstruction-type", "full",
              "--binning", 1, "--start-row", 2, "--nsino-per-chunk", 2)
    assert res.returncode == 0, res.stderr
    out = tmp_path / "data_rec" / "scan_rec"
    assert names_of(out) == ["rec_line.txt", "recon_00001.tiff", "recon_00002.tiff", "recon_00003.tiff"]
    assert tifffile.imread(out / "recon_00001.tiff").shape == (64, 64)


def test_try_centres_with_binning_and_start_column(real_fake_tomocupy, scan, tmp_path):
    res = run(real_fake_tomocupy, "recon", "--file-name", scan, "--binning", 1, "--start-column", 8,
              "--rotation-axis", 70, "--center-search-width", 4, "--nsino", "[0,0.5]")
    assert res.returncode == 0, res.stderr
    centres = try_centres(70, 4, 0.5, binning=1, start_column=8)
    assert list(centres) == [74, 73, 72, 71, 70, 69, 68, 67]      # step * 2**binning in raw pixels
    # id_slices = int32(nsino * (nz*2 - 1) / 2) * 2 with nz = 4 binned rows
    expected = [f"recon_slice{i:04d}_center{c:05.2f}.tiff" for i in (0, 2) for c in centres]
    assert names_of(tmp_path / "data_rec" / "try_center" / "scan") == sorted(expected)


def _best_label(folder: Path, ref: np.ndarray) -> tuple[float, dict[float, float]]:
    score = {float(re.search(r"center(.*)\.tiff", p.name).group(1)): ncc(tifffile.imread(p), ref)
             for p in folder.glob("*.tiff")}
    return max(score, key=score.get), score


def test_issue_76_labels_are_the_initial_axis_images_the_found_one(real_fake_tomocupy, scans, scan, tmp_path):
    r0 = 54.0  # the initial axis, 13.25 pixels off the true one (67.25)
    res = run(real_fake_tomocupy, "recon", "--file-name", scan, "--rotation-axis", r0,
              "--rotation-axis-auto", "auto", "--rotation-axis-method", "vo",
              "--center-search-width", 16, "--out-path-name", tmp_path / "t")
    assert res.returncode == 0, res.stderr
    a = float(AXIS_LINE.search(res.stderr).group(1))
    assert abs(a - scans.rotation_axis) <= 0.5                   # the search itself works
    labels = try_centres(r0, 16, 0.5)
    assert names_of(tmp_path / "t") == sorted(f"recon_slice0003_center{c:05.2f}.tiff" for c in labels)
    best, score = _best_label(tmp_path / "t", scans.phantom_slice(3))
    # the sharpest image is NOT the one labelled with the true axis ...
    assert abs(best - scans.rotation_axis) > 10
    assert score[best] > 0.9 and score[67.0] < 0.6
    # ... it is labelled r0: true_centre(label) = label + A * 2**b - (R0 - start_column)
    assert abs(real_fake_tomocupy.true_centre(best, a, r0) - scans.rotation_axis) <= 0.5


@pytest.mark.parametrize("method", ["sift", "vo"])
def test_issue_76_formula_with_binning_and_start_column(real_fake_tomocupy, scans, scan, tmp_path, method):
    b, st, r0 = 1, 8, 64.0
    # tomocupy uses A as the centre in binned pixels of the cropped frame: pick the A whose
    # reconstruction centre is the true axis, A * 2**b + start_column = 67.25
    a = (scans.rotation_axis - st) / 2**b
    real_fake_tomocupy.knob("found_axis", a)
    common = ["--file-name", scan, "--binning", b, "--start-column", st, "--center-search-width", 6]
    res = run(real_fake_tomocupy, "recon", *common, "--rotation-axis", r0, "--rotation-axis-auto", "auto",
              "--rotation-axis-method", method, "--out-path-name", tmp_path / "auto")
    assert res.returncode == 0, res.stderr
    assert float(AXIS_LINE.search(res.stderr).group(1)) == pytest.approx(a)
    # manual try around the true axis: its labels are the real centres
    res = run(real_fake_tomocupy, "recon", *common, "--rotation-axis", scans.rotation_axis,
              "--out-path-name", tmp_path / "manual")
    assert res.returncode == 0, res.stderr
    labels = try_centres(r0, 6, 0.5, binning=b, start_column=st)
    for label in labels:
        true_centre = real_fake_tomocupy.true_centre(label, a, r0, binning=b, start_column=st)
        auto = tifffile.imread(tmp_path / "auto" / f"recon_slice0002_center{label:05.2f}.tiff")
        manual = tifffile.imread(tmp_path / "manual" / f"recon_slice0002_center{true_centre:05.2f}.tiff")
        np.testing.assert_array_equal(auto, manual)
    # the image labelled with the true axis is not reconstructed around it
    near = labels[np.argmin(np.abs(labels - scans.rotation_axis))]
    assert abs(near + a * 2**b - (r0 - st) - scans.rotation_axis) > 2


def test_auto_axis_with_binning_is_off(real_fake_tomocupy, scan):
    """v1.1.0's find_center scales by 2**binning twice (sift) or forgets start-column (vo)."""
    res = run(real_fake_tomocupy, "recon", "--file-name", scan, "--binning", 1, "--rotation-axis-auto", "auto",
              "--center-search-width", 8)
    assert res.returncode == 0, res.stderr
    assert float(AXIS_LINE.search(res.stderr).group(1)) == pytest.approx(4 * (67.25 / 2 + 0.5), abs=2.5)


def test_writer_errors_are_swallowed(real_fake_tomocupy, scan, tmp_path):
    real_fake_tomocupy.knob("writer_fail", 3)
    res = run(real_fake_tomocupy, "recon", "--file-name", scan, "--center-search-width", 2,
              "--out-path-name", tmp_path / "t")
    assert res.returncode == 0
    assert "Exception in thread" in res.stderr and "OSError: [Errno 28] No space left on device" in res.stderr
    assert len(names_of(tmp_path / "t")) == 2                     # writes 1 and 2 of 8
    assert "Reconstruction time" in res.stderr


def test_h5_virtual_layout_and_h5nolinks(real_fake_tomocupy, scan, tmp_path):
    base = tmp_path / "data_rec" / "scan_rec"
    res = run(real_fake_tomocupy, "recon", "--file-name", scan, "--reconstruction-type", "full",
              "--save-format", "h5", "--start-row", 2, "--nsino-per-chunk", 4)
    assert res.returncode == 0, res.stderr
    assert base.is_dir() and names_of(base) == []                 # made, never used
    assert names_of(base.parent / "scan_rec_parts") == ["p0000.h5", "p0001.h5"]
    assert f"Output: {base}.h5\x1b" in res.stderr
    assert "write_meta() error: Skip copying meta" in res.stderr
    with h5py.File(f"{base}.h5") as f:
        d = f["/exchange/data"]
        assert d.is_virtual and d.shape == (8, 128, 128)              # whole detector height
        assert np.all(d[:2] == 0) and np.abs(d[2:]).max() > 0         # rows before start-row: fill
        assert d.attrs["axes"] == "z:y:x" and b"--save-format h5" in d.attrs["command"]  # fixed-length: bytes
        assert f["/process/tomocupy-1.1.0/reconstruction/save-format"][0] == b"h5"
    with h5py.File(base.parent / "scan_rec_parts" / "p0001.h5") as f:
        assert f["/exchange/data"].shape == (4, 128, 128)

    p = tmp_path / "P"
    res = run(real_fake_tomocupy, "recon", "--file-name", scan, "--reconstruction-type", "full",
              "--save-format", "h5nolinks", "--out-path-name", p)
    assert res.returncode == 0, res.stderr
    assert p.is_dir() and (tmp_path / "P.h5").is_file() and not (tmp_path / "P_parts").exists()
    with h5py.File(tmp_path / "P.h5") as f:
        assert not f["/exchange/data"].is_virtual and np.abs(f["/exchange/data"][3]).max() > 0


def test_clear_folder_removes_recon_files_only(real_fake_tomocupy, scan, tmp_path):
    out = tmp_path / "t"
    out.mkdir()
    (out / "recon_slice0003_center99.00.tiff").write_bytes(b"old")
    (out / "notes.txt").write_text("keep")
    res = run(real_fake_tomocupy, "recon", "--file-name", scan, "--out-path-name", out, "--clear-folder", "True",
              "--center-search-width", 1)
    assert res.returncode == 0, res.stderr
    assert "recon_slice0003_center99.00.tiff" not in names_of(out) and "notes.txt" in names_of(out)
    assert "Clearing the output folder" in res.stderr


def test_command_line_rules(real_fake_tomocupy, scan, tmp_path):
    # unknown options and words are ignored; prefixes of option names are accepted
    res = run(real_fake_tomocupy, "recon", "--file-name", scan, "--no-such-option", 3, "stray",
              "--out-path", tmp_path / "t", "--center-search-width", 1)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "t").is_dir()
    # a value outside the choices (zarr is not in 1.1.0) or of the wrong type: argparse, exit 2
    for bad in (["--save-format", "zarr"], ["--binning", "4"], ["--clear-folder", "true"], ["--rotation-axis", "x"]):
        res = run(real_fake_tomocupy, "recon", "--file-name", scan, *bad)
        assert res.returncode == 2 and "usage:" in res.stderr, bad
    # no command: help on stderr, exit 1
    res = run(real_fake_tomocupy)
    assert res.returncode == 1 and "usage:" in res.stderr
    # a missing file fails in Reader() (h5py) before run_rec's "File Name does not exist" + exit()
    res = run(real_fake_tomocupy, "recon", "--file-name", tmp_path / "missing.h5")
    assert res.returncode == 1 and "Traceback" in res.stderr and "File Name does not exist" not in res.stderr
    # what the fake does not reproduce is refused loudly (RuntimeError: log.error, exit 1)
    res = run(real_fake_tomocupy, "recon", "--file-name", scan, "--reconstruction-type", "full",
              "--save-format", "h5sino", "--out-path-name", tmp_path / "s")
    assert res.returncode == 1 and "not reproduced" in res.stderr
    # v1.1.0 needs /exchange/theta
    nothe = write_scan(tmp_path / "nothe" / "s.h5", nproj=30, nrows=2, ncols=32, theta=False).path
    res = run(real_fake_tomocupy, "recon", "--file-name", nothe)
    assert res.returncode == 1 and "KeyError" in res.stderr


def test_config_file_values_come_first(real_fake_tomocupy, scan, tmp_path):
    conf = Path(os.environ["HOME"]) / "tomocupyon.conf"
    conf.write_text("[reconstruction]\nrotation-axis = 60\ncenter-search-width = 1\n")
    res = run(real_fake_tomocupy, "recon", "--file-name", scan, "--out-path-name", tmp_path / "a")
    assert res.returncode == 0, res.stderr
    assert names_of(tmp_path / "a")[0] == "recon_slice0003_center59.50.tiff"
    res = run(real_fake_tomocupy, "recon", "--file-name", scan, "--out-path-name", tmp_path / "b",
              "--rotation-axis", 64)                              # the command line wins
    assert names_of(tmp_path / "b")[0] == "recon_slice0003_center63.50.tiff"
    res = run(real_fake_tomocupy, "recon", "--file-name", scan, "--out-path-name", tmp_path / "c",
              "--config", tmp_path / "none.conf", "--center-search-width", 1)
    assert names_of(tmp_path / "c")[0] == "recon_slice0003_center63.50.tiff"  # not read


def test_recon_steps_try_counts_rows_from_start_row(real_fake_tomocupy, scans, scan, tmp_path):
    res = run(real_fake_tomocupy, "recon_steps", "--file-name", scan, "--start-row", 4, "--rotation-axis", 67.25,
              "--center-search-width", 1, "--out-path-name", tmp_path / "t")
    assert res.returncode == 0, res.stderr
    assert re.search(r"Reconstruction time \d+\.\ds\x1b", res.stderr)
    # nz = 4: id_slice = int(0.5 * 3) = 1 in the name; recon_steps reconstructs row 4 + 1 = 5,
    # recon (Reader.read_data_try) row 1
    res = run(real_fake_tomocupy, "recon", "--file-name", scan, "--start-row", 4, "--rotation-axis", 67.25,
              "--center-search-width", 1, "--out-path-name", tmp_path / "r")
    assert res.returncode == 0, res.stderr
    res = run(real_fake_tomocupy, "recon", "--file-name", scan, "--rotation-axis", 67.25,
              "--reconstruction-type", "full", "--out-path-name", tmp_path / "full")
    assert res.returncode == 0, res.stderr
    steps = tifffile.imread(tmp_path / "t" / "recon_slice0001_center67.25.tiff")
    rec = tifffile.imread(tmp_path / "r" / "recon_slice0001_center67.25.tiff")
    np.testing.assert_allclose(steps, tifffile.imread(tmp_path / "full" / "recon_00005.tiff"), atol=1e-6)
    np.testing.assert_allclose(rec, tifffile.imread(tmp_path / "full" / "recon_00001.tiff"), atol=1e-6)
    assert np.abs(steps - rec).max() > 1e-3


def test_knobs_record_nothing_crash_hang(real_fake_tomocupy, scan, tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    real_fake_tomocupy.knob("nothing", 1)
    res = run(real_fake_tomocupy, "recon", "--file-name", scan)
    assert res.returncode == 0 and not (tmp_path / "data_rec").exists()
    assert real_fake_tomocupy.calls() == [["recon", "--file-name", str(scan)]]
    assert real_fake_tomocupy.environments() == [{"CUDA_VISIBLE_DEVICES": "1"}]
    real_fake_tomocupy.knob("nothing", None)

    real_fake_tomocupy.knob("crash", 2)
    res = run(real_fake_tomocupy, "recon", "--file-name", scan, "--reconstruction-type", "full",
              "--nsino-per-chunk", 2)
    assert res.returncode == 1 and "OutOfMemoryError" in res.stderr
    assert len(list((tmp_path / "data_rec" / "scan_rec").glob("recon_*.tiff"))) == 4  # 2 chunks of 2
    real_fake_tomocupy.knob("crash", None)

    real_fake_tomocupy.knob("no_gpu", 1)
    res = run(real_fake_tomocupy, "recon", "--file-name", scan, "--out-path-name", tmp_path / "g")
    assert res.returncode == 1 and "cudaErrorNoDevice" in res.stderr and not (tmp_path / "g").exists()
    real_fake_tomocupy.knob("no_gpu", None)

    real_fake_tomocupy.knob("hang", 60)
    logs = tmp_path / "hang-logs"
    proc = subprocess.Popen([*real_fake_tomocupy.executable, "recon", "--file-name", str(scan),
                             "--out-path-name", str(tmp_path / "h"), "--logs-home", str(logs)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 30
        while not any("Output:" in p.read_text() for p in logs.glob("*.log")):
            assert time.time() < deadline and proc.poll() is None
            time.sleep(0.1)
        time.sleep(0.5)  # GPURec.__init__ installs the signal handlers after Writer() logs Output
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 1 and "Abort" in out


def test_sift_without_features_exits_0_with_empty_output(real_fake_tomocupy, scan, tmp_path):
    real_fake_tomocupy.knob("sift_no_features", 1)
    res = run(real_fake_tomocupy, "recon", "--file-name", scan, "--reconstruction-type", "full",
              "--rotation-axis-auto", "auto", "--out-path-name", tmp_path / "t")
    assert res.returncode == 0 and "no features found" in res.stdout
    assert names_of(tmp_path / "t") == ["rec_line.txt"]
