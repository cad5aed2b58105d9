"""The suggested centre on the CI part of the centre scan set, and a montage made for choosing.

The whole set runs in ``benchmarks/bench_centre.py``; the scans marked ``ci`` take a few
seconds each (scan, tomocupy-cpu try run, automatic axis, make_previews).
"""

from __future__ import annotations

import inspect
import json
import shutil
import statistics
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from tomocupy_gladier.demo import centre_scans
from tomocupy_gladier.tools.previews import previews as previews_module


def from_source(function):
    """The function as the endpoint gets it: its source, compiled without our __future__."""
    namespace: dict = {}
    exec(compile(inspect.getsource(function), "<endpoint>", "exec", dont_inherit=True), namespace)
    return namespace[function.__name__]


make_previews = from_source(previews_module.make_previews)
CI_SCANS = [s for s in centre_scans.SCANS if s.ci]
YELLOW, CYAN = (255, 220, 0), (0, 200, 255)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """Prepare a scan of the set once per module, on demand."""
    cache = tmp_path_factory.mktemp("centre-set")
    done: dict[str, centre_scans.Prepared] = {}

    def get(name: str) -> centre_scans.Prepared:
        if name not in done:
            done[name] = centre_scans.prepare(centre_scans.by_name(name), cache)
        return done[name]

    return get


def suggest(p: centre_scans.Prepared, folder: Path, auto: bool = True, **options) -> dict:
    return make_previews(recon_result={"output": str(p.output), "rotation_axis": p.automatic_axis},
                         recon={"rotation-axis-auto": "auto" if auto else "manual"},
                         previews={"folder": str(folder), **options})


def pixels_of(image: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    return (np.abs(image.astype(int) - np.array(colour)).sum(axis=-1) < 60)


def test_the_set_is_reproducible_and_covers_the_conditions():
    names = [s.name for s in centre_scans.SCANS]
    assert len(names) == len(set(names)) >= 12
    widths = {s.ncols for s in centre_scans.SCANS}
    assert min(widths) == 512 and max(widths) == 2048
    assert {s.angle_range for s in centre_scans.SCANS} == {180.0, 360.0}
    assert max(abs(s.axis_offset) for s in centre_scans.SCANS) > 30
    assert any(s.sample_radius > 1 for s in centre_scans.SCANS)
    assert any(s.sample_radius < 0.3 for s in centre_scans.SCANS)
    assert any(s.rings for s in centre_scans.SCANS) and any(s.zinger_every for s in centre_scans.SCANS)
    for s in centre_scans.SCANS:  # the true axis is inside the try range, away from its ends
        assert abs(s.true_axis - s.guess) <= s.search_width - 2


def test_a_scan_is_written_the_same_way_twice(tmp_path):
    spec = centre_scans.by_name("tiny-offaxis-512")
    a = centre_scans.write(spec, tmp_path / "a.h5")
    b = centre_scans.write(spec, tmp_path / "b.h5")
    import h5py

    with h5py.File(a.path) as fa, h5py.File(b.path) as fb:
        np.testing.assert_array_equal(fa["exchange/data"][:], fb["exchange/data"][:])
    assert a.rotation_axis == spec.true_axis


@pytest.mark.parametrize("name", [s.name for s in CI_SCANS])
def test_suggestion_within_half_a_pixel_and_not_worse_than_the_automatic_axis(prepared, name, tmp_path):
    p = prepared(name)
    result = suggest(p, tmp_path)
    error = abs(result["suggested_center"] - p.true_axis)
    automatic_error = abs(p.automatic_axis - p.true_axis)
    assert error <= 0.5, (name, result["suggested_center"], p.true_axis)
    assert error <= max(automatic_error, 0.1), (name, error, automatic_error)
    assert result["automatic_axis"] == p.automatic_axis


def test_median_error_of_the_ci_scans_is_within_a_quarter_pixel(prepared, tmp_path):
    errors = [abs(suggest(prepared(s.name), tmp_path / s.name)["suggested_center"]
                  - prepared(s.name).true_axis) for s in CI_SCANS]
    assert statistics.median(errors) <= 0.25, errors


def test_montage_shows_the_suggestion_as_a_labelled_full_resolution_crop(prepared, tmp_path):
    p = prepared("demo-512")
    result = suggest(p, tmp_path, crop_size=128, crop_count=5)
    montage = result["montage"]
    tiles = montage["tiles"]
    # the suggestion is one of the tiles, labelled with the same number as suggested_center
    suggested = [t for t in tiles if t["suggested"]]
    assert len(suggested) == 1
    tile = suggested[0]
    assert tile["center"] == result["best_candidate"]
    assert abs(tile["center"] - result["suggested_center"]) <= result["candidates"]["step"] / 2 + 1e-6
    assert montage["suggestion_label"] == f"suggested {result['suggested_center']:.2f}"
    assert montage["suggestion_label"] in tile["label"] and f"{tile['center']:.2f}" in tile["label"]
    # the ranked candidates around it, in order of centre, ranks as in the ranking
    centers = [t["center"] for t in tiles]
    assert len(tiles) == 5 and centers == sorted(centers)
    assert result["ranking"][0]["rank"] == 1
    ranks = {r["center"]: r["rank"] for r in result["ranking"]}
    assert all(ranks[t["center"]] == t["rank"] for t in tiles if t["center"] in ranks)
    # crops at full resolution: the same pixels as the candidate's slice
    crop = montage["crop"]
    assert crop["size"] == 128
    for t in tiles:
        path = Path(t["file"])
        assert path.is_file() and str(path) in result["previews"]
        shown = np.asarray(Image.open(path).convert("L"), dtype=float)
        assert shown.shape == (128, 128)
        source = tifffile.imread(p.output / f"recon_slice0001_center{t['center']:05.2f}.tiff")
        region = source[crop["y"]:crop["y"] + 128, crop["x"]:crop["x"] + 128]
        assert np.corrcoef(shown.ravel(), region.ravel())[0, 1] > 0.98
    # the crop sits where the sample is, inside the reconstructed disk
    assert region.std() > 0
    for key in ("file",):
        assert Path(montage[key]).is_file() and Path(result["focus_plot"]).is_file()
    assert result["previews"][:2] == [montage["file"], result["focus_plot"]]
    image = np.asarray(Image.open(montage["file"]).convert("RGB"))
    assert list(image.shape[1::-1]) == montage["size"]
    # the yellow frame is around the suggested crop only (crop row: below the 22-pixel header)
    row = image[22 - 2:22 + 128 + 2]
    index = centers.index(tile["center"])
    x = 4 + index * (128 + 4)
    yellow = pixels_of(row, YELLOW)
    assert yellow[:, x - 2:x + 128 + 2].sum() > 4 * 128
    assert yellow.sum() == yellow[:, x - 2:x + 128 + 2].sum()
    # the automatic axis is marked in cyan (curves, and its tile's label)
    assert pixels_of(image, CYAN).sum() > 50
    assert any(f"auto {p.automatic_axis:.2f}" in t["label"] for t in tiles) or \
        abs(p.automatic_axis - result["suggested_center"]) > 1.5
    curve = result["focus_curve"]
    assert len(curve["centers"]) == len(curve["coarse"]) == result["candidates"]["count"]
    assert len(curve["fine_centers"]) == len(curve["fine"]) >= 5
    assert len(json.dumps(result)) < 10000


def test_without_the_automatic_search_nothing_is_marked_in_cyan(prepared, tmp_path):
    result = suggest(prepared("demo-512"), tmp_path, auto=False)
    assert result["automatic_axis"] is None
    image = np.asarray(Image.open(result["montage"]["file"]).convert("RGB"))
    assert pixels_of(image, CYAN).sum() == 0


def test_minimum_at_the_end_of_the_range_is_flagged(prepared, tmp_path):
    p = prepared("demo-512")
    folder = tmp_path / "try"
    folder.mkdir()
    for path in p.output.iterdir():
        centre = float(path.stem.split("center")[1])
        if centre >= p.true_axis + 2:
            shutil.copy(path, folder / path.name)
    result = make_previews(recon_result={"output": str(folder)}, previews={"folder": str(tmp_path / "pv")})
    assert "warning" in result and "widen" in result["warning"]
    assert result["suggested_center"] == result["candidates"]["first"]


def test_the_benchmark_prints_the_table(tmp_path, capsys):
    import importlib.util

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_centre.py"
    spec = importlib.util.spec_from_file_location("bench_centre", script)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = bench.main(["--cache", str(tmp_path), "--only", "tiny-offaxis-512"])
    (row,) = out["rows"]
    assert abs(row["error"]) <= 0.5 and set(row["measures"]) == set(bench.MEASURES)
    text = capsys.readouterr().out
    assert "tiny-offaxis-512" in text and "automatic axis (engine, Vo)" in text
