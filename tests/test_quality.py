"""The scan quality gates (compute/quality.py): each fault a scan can have is found, clean scans
of every shape pass, and the reconstruction step and planning act on what is found.

The faulty scans are clean synthetic scans with one fault written in
(:func:`tomocupy_gladier.demo.synthetic.add_fault`); the clean ones are the synthetic scans the
demo, the centre scan set and the engine's tests are made of.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from tomocupy_gladier.compute.quality import ScanRefused, check_scan, check_volume
from tomocupy_gladier.compute.metadata import scan_metadata
from tomocupy_gladier.demo import centre_scans
from tomocupy_gladier.demo.synthetic import FAULTS, add_fault, write_scan
from tomocupy_gladier.errors import UserError
from tomocupy_gladier.tools.registry import load_config
from tomocupy_gladier.planning.plan import Ask, RunRequest, plan
from tomocupy_gladier.tools.recon.tomocupy_recon import tomocupy_recon
from tomocupy_gladier.web.data import quality_view


def found(scan: Path) -> tuple[list[str], list[str]]:
    quality = check_scan(scan)
    return [str(f) for f in quality.refusals], [str(f) for f in quality.warnings]


def faulty(tmp_path: Path, fault: str, **shape) -> Path:
    truth = write_scan(tmp_path / f"{fault}.h5", **{"nproj": 180, "nrows": 8, "ncols": 128, "seed": 2,
                                                    **shape})
    add_fault(truth.path, fault)
    return truth.path


# --- impossible scans are refused, naming the dataset ------------------------------------------

@pytest.mark.parametrize("fault, words", [
    ("zero-flats", "/exchange/data_white is all zero (shutter closed during the flat field?)"),
    ("dark-flats", "/exchange/data_white is no brighter than /exchange/data_dark"),
    ("few-angles", "/exchange/theta has 10 angles for 180 projections in /exchange/data"),
])
def test_an_impossible_scan_is_refused_naming_the_dataset_and_what_is_wrong(tmp_path, fault, words):
    scan = faulty(tmp_path, fault)
    refusals, _ = found(scan)
    assert len(refusals) == 1 and refusals[0].startswith(words)
    with pytest.raises(ScanRefused, match=f"{fault}.h5 cannot be reconstructed: " + words[:30]):
        check_scan(scan).refuse(scan)


def test_projections_without_light_and_a_broken_layout_are_refused(tmp_path):
    scan = write_scan(tmp_path / "dark.h5", nproj=30, nrows=2, ncols=32).path
    with h5py.File(scan, "r+") as h5:
        h5["/exchange/data"][...] = h5["/exchange/data_dark"][0]
    assert found(scan)[0][0].startswith("/exchange/data is no brighter than /exchange/data_dark")
    with h5py.File(scan, "r+") as h5:
        del h5["/exchange/data_white"]
        h5["/exchange/data_white"] = np.ones((2, 2, 16), np.uint16)
    assert found(scan)[0] == ["/exchange/data_white frames are 2 x 16, the projections 2 x 32"]
    with h5py.File(scan, "r+") as h5:
        del h5["/exchange/data_dark"]
    assert "/exchange/data_dark is missing" in found(scan)[0]


def test_nan_flats_and_angles_are_refused(tmp_path):
    scan = write_scan(tmp_path / "nan.h5", nproj=30, nrows=2, ncols=32).path
    with h5py.File(scan, "r+") as h5:
        theta = h5["/exchange/theta"][()]
        theta[3] = np.nan
        h5["/exchange/theta"][...] = theta
    assert found(scan)[0] == ["/exchange/theta holds 1 NaN or infinite angles"]


# --- doubtful scans are reconstructed with a warning and the figures ---------------------------

@pytest.mark.parametrize("fault, words", [
    ("beam-dump", "/exchange/data has 18 of 180 projections far darker than their neighbours "
                  "(from projection 72): beam lost during the scan?"),
    ("radians", "/exchange/theta spans 3.12 degrees over 180 projections"),
    ("saturated", "/exchange/data_white is saturated (65535 counts) on 3.12% of the sampled pixels"),
    ("dead", "/exchange/data_white shows 3.12% of the sampled pixels dead"),
])
def test_a_doubtful_scan_gets_a_warning(tmp_path, fault, words):
    refusals, warnings = found(faulty(tmp_path, fault))
    assert refusals == []
    assert any(w.startswith(words) for w in warnings), warnings


def test_a_beam_lost_for_longer_than_the_neighbourhood_is_found_against_the_whole_scan(tmp_path):
    scan = write_scan(tmp_path / "long.h5", nproj=720, nrows=4, ncols=64, seed=4).path
    with h5py.File(scan, "r+") as h5:
        h5["/exchange/data"][100:300] = h5["/exchange/data_dark"][0]  # 200 projections, beam off
    quality = check_scan(scan)
    assert quality.figures["projections"]["beam_lost"] == 200
    assert quality.figures["projections"]["beam_lost_projections"][:2] == [100, 101]


def test_the_figures_are_measured(tmp_path):
    quality = check_scan(faulty(tmp_path, "beam-dump"))
    record = quality.record()
    assert record["status"] == "warning" and len(record["warnings"]) == 1
    flats, projections = record["figures"]["flats"], record["figures"]["projections"]
    assert 19000 < flats["flat_mean"] < 22000 and 90 < flats["dark_mean"] < 110
    assert projections["beam_lost"] == 18 and projections["darkest_to_scan"] < 0.1
    assert record["figures"]["angles"] == {"count": 180, "range_deg": 179.0}
    json.dumps(record)  # the record is JSON


# --- no false alarm on clean scans ---------------------------------------------------------------

@pytest.mark.parametrize("shape", [
    {},                                                          # the engine tests' default
    {"nproj": 720, "nrows": 32, "ncols": 512, "seed": 7},        # the demo's scan (demo.prepare)
    {"nproj": 180, "nrows": 256, "ncols": 32},                   # tall and narrow
    {"nproj": 360, "nrows": 8, "ncols": 256, "flat_counts": 300},  # noisy (low dose)
    {"nproj": 360, "nrows": 8, "ncols": 256, "zinger_every": 200, "ring_count": 20,
     "ring_strength": (0.05, 0.1)},                              # many zingers, strong rings
    {"theta": False}, {"nproj": 360, "angle_range": 360},        # no angles, a full turn
    {"nproj": 12, "nrows": 2, "ncols": 16}, {"nflat": 1, "ndark": 1},
], ids=["default", "demo", "tall-narrow", "noisy", "zingers-rings", "no-theta", "full-turn", "tiny",
        "one-flat"])
def test_no_false_alarm_on_clean_synthetic_scans(tmp_path, shape):
    quality = check_scan(write_scan(tmp_path / "clean.h5", **{"seed": 5, **shape}).path)
    assert quality.refusals == quality.warnings == []
    assert quality.record()["status"] == "ok"


@pytest.mark.parametrize("spec", [s for s in centre_scans.SCANS if s.ci], ids=lambda s: s.name)
def test_no_false_alarm_on_the_centre_scan_set(tmp_path, spec):
    truth = centre_scans.write(spec, tmp_path / "scan.h5")
    quality = check_scan(truth.path)
    assert quality.refusals == quality.warnings == []


def test_every_fault_is_known():
    assert set(FAULTS) == {"zero-flats", "dark-flats", "few-angles", "radians", "beam-dump",
                           "saturated", "dead", "dead-pixel"}
    with pytest.raises(ValueError, match="unknown fault 'smoke'"):
        add_fault("x.h5", "smoke")


# --- the volume after the reconstruction --------------------------------------------------------

def slices(folder: Path, images: list[np.ndarray]) -> list[Path]:
    import tifffile

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, image in enumerate(images):
        paths.append(folder / f"recon_{i:05d}.tiff")
        tifffile.imwrite(paths[-1], image.astype(np.float32))
    return paths


def test_a_nan_or_constant_volume_is_a_problem_naming_the_slice(tmp_path):
    good = np.random.default_rng(0).random((3, 8, 8))
    assert check_volume(slices=slices(tmp_path / "good", list(good)))[0] == []
    nan = good.copy()
    nan[1, 2, 3] = np.nan
    assert check_volume(slices=slices(tmp_path / "nan", list(nan)))[0] == [
        "recon_00001.tiff holds 1 NaN or infinite values"]
    problems, figures, warnings = check_volume(slices=slices(tmp_path / "zero", [np.zeros((8, 8))] * 3))
    assert problems == ["the volume is constant (0 in every checked slice, recon_00000.tiff to "
                        "recon_00002.tiff)"]
    assert figures == {"checked_slices": 3, "min": 0.0, "max": 0.0} and warnings == []
    with h5py.File(tmp_path / "v.h5", "w") as h5:
        h5["/exchange/data"] = np.full((4, 8, 8), np.inf, np.float32)
    assert check_volume(h5_file=tmp_path / "v.h5")[0][0] == "v.h5:/exchange/data[0] holds 64 NaN or infinite values"


# --- dead pixels (issue 27: a DLS I13 scan's pixel (0, 0) is 0 in projections, flats and darks) ---

def test_a_single_dead_pixel_is_reported_with_its_row(tmp_path):
    """One pixel among 2048 x 8 sampled is far under the regional threshold (0.1 %): the
    per-pixel check reads whole flat and dark frames and finds it."""
    scan = faulty(tmp_path, "dead-pixel", nrows=8, ncols=2048, nproj=24)
    quality = check_scan(scan)
    assert quality.refusals == []
    assert [str(w) for w in quality.warnings] == [
        "/exchange/data_white has 1 dead pixel, no brighter than /exchange/data_dark (row 0, column 0): "
        "the dark-flat correction divides by zero there, and with fw ring removal the slice of its row "
        "comes out featureless"]
    flats = quality.figures["flats"]
    assert flats["dead_pixels"] == 1 and flats["dead_pixel_rows"] == [0] and flats["dead_pixels_at"] == [[0, 0]]
    assert flats["dead_fraction"] < 0.001


def test_dead_pixels_in_rows_the_sample_skips_are_found(tmp_path):
    scan = write_scan(tmp_path / "scan.h5", nproj=24, nrows=64, ncols=256, seed=2).path
    with h5py.File(scan, "r+") as h5:
        for name in ("data", "data_white", "data_dark"):
            h5[f"/exchange/{name}"][:, 37, 100] = 0
        h5["/exchange/data_white"][:, 50, 9] = h5["/exchange/data_dark"][0, 50, 9]  # flat = dark
    flats = check_scan(scan).figures["flats"]
    assert flats["dead_pixels_at"] == [[37, 100], [50, 9]] and flats["dead_pixel_rows"] == [37, 50]


def test_a_regional_dead_block_says_both_in_one_warning(tmp_path):
    warnings = found(faulty(tmp_path, "dead"))[1]
    assert len(warnings) == 1 and "of the sampled pixels dead" in warnings[0]
    assert "pixels no brighter than /exchange/data_dark" in warnings[0]


def test_a_blank_or_featureless_slice_inside_the_volume_is_a_warning_naming_it(tmp_path):
    rng = np.random.default_rng(0)
    images = list(rng.random((6, 16, 16)))
    yy, xx = np.mgrid[:16, :16]
    images[0] = np.full((16, 16), 1e-9) * rng.random((16, 16))  # blank: values 1e-9 apart
    images[3] = 0.01 * np.hypot(yy - 7.5, xx - 7.5)              # smooth: no pixel-to-pixel detail
    images[4] = np.full((16, 16), 0.5)                            # constant
    problems, figures, warnings = check_volume(slices=slices(tmp_path / "v", images))
    assert problems == []
    assert figures["blank_slices"] == ["recon_00000.tiff", "recon_00004.tiff"]
    assert warnings[0].startswith("2 of 6 checked slices are blank, constant or featureless inside the volume")
    assert "recon_00004.tiff (constant)" in warnings[0]


def test_the_slices_of_dead_pixel_rows_are_read_beyond_the_sample(tmp_path, monkeypatch):
    monkeypatch.setattr("tomocupy_gladier.compute.quality.VOLUME_SLICES", 2)  # slices 0 and 5 only
    images = list(np.random.default_rng(1).random((6, 8, 8)))
    images[2] = np.zeros((8, 8))
    assert check_volume(slices=slices(tmp_path / "v", images))[2] == []
    problems, figures, warnings = check_volume(slices=slices(tmp_path / "v", images), also=[2, 99])
    assert figures["checked_slices"] == 3 and figures["blank_slices"] == ["recon_00002.tiff"]


def test_the_engine_turns_a_dead_pixel_into_tomocupys_numbers_silently():
    """tomocupy 1.1.0 (proc_functions.py): darkflat_correction divides 0 by 0 without a word
    (cupy), the ring removal carries the NaN, minus_log keeps it (NaN is not <= 0), takes the
    log and turns it into 6.0 (nan_to_num: nan 6, +-inf 0)."""
    import warnings

    from tomocupy_gladier.engine.preprocess import flat_dark, minus_log

    data = np.array([[[0, 100, 50, 0]]], np.uint16)   # a dead pixel, 0/flat, a normal one, 0 - dark
    flat = np.array([[[0, 1000, 1000, 1000]]], np.uint16)
    dark = np.array([[[0, 100, 0, 100]]], np.uint16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning in the run's log
        normalised = flat_dark(data, flat, dark)
        assert np.isnan(normalised[0, 0, 0])
        attenuation = minus_log(normalised)
    assert attenuation[0, 0, 0] == 6.0                            # NaN -> 6
    assert attenuation[0, 0, 1] == 0.0                            # (100 - 100) / 900 = 0 -> 1 -> 0
    assert attenuation[0, 0, 2] == pytest.approx(-np.log(50 / (1000 * (1 + 1e-5))), rel=1e-5)
    assert attenuation[0, 0, 3] == 0.0                            # negative -> 1 -> 0
    assert minus_log(np.array([np.inf, -np.inf], np.float32)).tolist() == [0.0, 0.0]


# --- the reconstruction step ----------------------------------------------------------------------

def step(scan: Path, **params) -> dict:
    out = scan.parent / "rec"
    return tomocupy_recon(recon={"reconstruction-type": "full", "rotation-axis": 32.0, **params},
                          tomocupy={"file_name": str(scan), "output": str(out), "logs": str(out) + ".logs",
                                    "timeout": 60}, run_id="r1")


def stand_in_tomocupy(tmp_path: Path, monkeypatch, name: str, write_slices: str) -> None:
    """A stand-in tomocupy: ``write_slices`` (Python, with ``out``, ``rows``, ``n`` and numpy and
    tifffile imported) writes the volume into tomocupy's output folder."""
    program = tmp_path / f"{name}.py"
    program.write_text(textwrap.dedent("""
        import pathlib, sys, numpy, tifffile, h5py
        args = sys.argv[1:]
        out = pathlib.Path(args[args.index("--out-path-name") + 1])
        out.mkdir(parents=True, exist_ok=True)
        with h5py.File(args[args.index("--file-name") + 1]) as h5:
            rows, n = h5["/exchange/data"].shape[1:]
    """) + textwrap.dedent(write_slices))
    monkeypatch.setenv("TOMOCUPY_GLADIER_PROGRAM", json.dumps([sys.executable, str(program)]))


@pytest.fixture
def recorder(tmp_path, monkeypatch) -> Path:
    """A stand-in tomocupy that records that it ran and writes a constant volume."""
    ran = tmp_path / "ran"
    stand_in_tomocupy(tmp_path, monkeypatch, "constant", f"""
        pathlib.Path({str(ran)!r}).write_text("ran")
        for row in range(rows):
            tifffile.imwrite(out / f"recon_{{row:05d}}.tiff", numpy.zeros((n, n), "float32"))
    """)
    return ran


def test_the_step_refuses_an_impossible_scan_before_tomocupy_runs(tmp_path, recorder):
    scan = faulty(tmp_path, "zero-flats", ncols=64, nrows=4, nproj=90)
    with pytest.raises(ValueError, match="/exchange/data_white is all zero"):
        step(scan)
    assert not recorder.exists() and not (tmp_path / "rec").exists()


def test_the_step_fails_a_constant_volume_naming_it(tmp_path, recorder):
    scan = write_scan(tmp_path / "scan.h5", nproj=90, nrows=4, ncols=64, seed=3).path
    with pytest.raises(RuntimeError, match=r"the reconstruction is unusable \(the volume is constant "
                                           r"\(0 in every checked slice, recon_00000.tiff to recon_00003.tiff"):
        step(scan)
    assert recorder.exists() and not (tmp_path / "rec").exists(), "nothing is swapped in"


def test_the_step_fails_a_nan_in_a_slice_the_sample_skipped_found_by_the_ome_zarr_pass(tmp_path, monkeypatch):
    stand_in_tomocupy(tmp_path, monkeypatch, "one_nan", """
        for row in range(rows):  # random slices, one NaN in slice 2
            image = numpy.random.default_rng(row).random((n, n)).astype("float32")
            if row == 2:
                image[5, 7] = numpy.nan
            tifffile.imwrite(out / f"recon_{row:05d}.tiff", image)
    """)
    monkeypatch.setattr("tomocupy_gladier.compute.quality.VOLUME_SLICES", 2)  # reads slices 0 and 4 only
    scan = write_scan(tmp_path / "scan.h5", nproj=90, nrows=5, ncols=64, seed=3).path
    with pytest.raises(RuntimeError, match=r"unusable \(NaN or infinite values in slices the sampled "
                                           r"check did not read, found while writing its OME-Zarr\)"):
        step(scan)
    assert not (tmp_path / "rec").exists(), "nothing is swapped in"


def test_the_step_reports_a_doubtful_scan_and_the_volume_figures(tmp_path, monkeypatch):
    monkeypatch.setenv("TOMOCUPY_GLADIER_PROGRAM", json.dumps([sys.executable, "-m", "tomocupy_gladier.engine"]))
    scan = faulty(tmp_path, "beam-dump", ncols=64, nrows=4, nproj=90)
    quality = step(scan)["quality"]
    assert quality["status"] == "warning"
    assert quality["warnings"][0].startswith("/exchange/data has 9 of 90 projections far darker")
    assert quality["figures"]["volume"]["checked_slices"] == 4
    assert quality["figures"]["volume"]["max"] > quality["figures"]["volume"]["min"]


def test_the_published_record_carries_the_quality_block(tmp_path):
    scan = write_scan(tmp_path / "scan.h5", nproj=12, nrows=2, ncols=16).path
    block = {"status": "warning", "warnings": ["/exchange/data has 2 of 12 ..."], "figures": {}}
    record = scan_metadata(tomocupy={"file_name": str(scan)}, recon_result={"quality": block})
    assert record["metadata"]["tomography"]["quality"] == block
    assert "quality" not in scan_metadata(tomocupy={"file_name": str(scan)})["metadata"]["tomography"]


def test_the_run_page_view_of_the_quality_block():
    view = quality_view({"quality": {"status": "warning", "warnings": ["/exchange/data has ..."],
                                     "figures": {"projections": {"beam_lost": 9, "signal_median": 1.5}}}})
    assert view is not None and view.warnings == ["/exchange/data has ..."]
    assert view.figures == [("projections", "beam lost 9, signal median 1.5")]
    assert quality_view({}) is None


# --- planning -------------------------------------------------------------------------------------

def test_planning_refuses_an_impossible_scan_as_a_user_error(experiment: Path):
    config = load_config(experiment)
    scan = experiment.parent / "beamline" / "scan1.h5"
    write_scan(scan, nproj=30, nrows=2, ncols=512, seed=1)  # the experiment's axis, 256.5, on it
    plan(config, RunRequest("scan1.h5", ask=Ask.TRY))
    add_fault(scan, "few-angles")
    with pytest.raises(UserError, match=r"^scan1.h5 cannot be reconstructed: /exchange/theta has 10 "
                                        r"angles for 30 projections in /exchange/data$"):
        plan(config, RunRequest("scan1.h5", ask=Ask.TRY))

