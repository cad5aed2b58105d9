"""make_previews on synthetic reconstructions, run from its source text alone (as on an endpoint)."""

from __future__ import annotations

import inspect
import shutil
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
from gladier import GladierBaseClient, generate_flow_definition
from PIL import Image

from tomocupy_gladier.tools.previews import previews as previews_module
from tomocupy_gladier.tools.previews.previews import Previews, make_previews_tasks

# --- the function as the endpoint gets it: its source, executed in an empty namespace --------


def from_source(function):
    namespace: dict = {}
    # dont_inherit: the endpoint compiles the source without this module's __future__ imports
    exec(compile(inspect.getsource(function), "<endpoint>", "exec", dont_inherit=True), namespace)
    return namespace[function.__name__]


make_previews = from_source(previews_module.make_previews)


# --- synthetic data --------------------------------------------------------------------------


def phantom_disks(rng: np.random.Generator, n: int) -> list[tuple[float, float, float, float]]:
    """A disk of 'sample' holding a few denser and lighter inclusions: (x0, y0, radius, density)."""
    disks = [(0.0, 0.0, 0.42 * n, 1.0)]
    for _ in range(8):
        radius = rng.uniform(0.03, 0.1) * n
        angle, distance = rng.uniform(0, 2 * np.pi), rng.uniform(0, 0.3 * n)
        x0, y0 = distance * np.cos(angle), distance * np.sin(angle)
        disks.append((x0, y0, radius, rng.uniform(-0.6, 1.0)))
    return disks


def sinogram(disks, n_angles: int, width: int, axis: float, noise: float,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Exact parallel-beam projections of the disks, rotation axis at detector column ``axis``."""
    theta = np.linspace(0, np.pi, n_angles, endpoint=False)
    u = np.arange(width)[None, :] - axis
    sino = np.zeros((n_angles, width))
    for x0, y0, radius, density in disks:
        shift = x0 * np.cos(theta) + y0 * np.sin(theta)
        sino += 2 * density * np.sqrt(np.clip(radius ** 2 - (u - shift[:, None]) ** 2, 0, None))
    sino += rng.normal(0, noise * sino.max(), sino.shape)
    return theta, sino


def fbp(theta: np.ndarray, sino: np.ndarray, center: float, n: int) -> np.ndarray:
    """Filtered back-projection (ramp filter, linear interpolation) with the axis at ``center``."""
    width = sino.shape[1]
    ramp = np.abs(np.fft.fftfreq(2 * width)) * 2
    filtered = np.real(np.fft.ifft(np.fft.fft(sino, 2 * width, axis=1) * ramp, axis=1))[:, :width]
    grid = np.arange(n) - n / 2 + 0.5
    x, y = np.meshgrid(grid, grid)
    image = np.zeros((n, n))
    columns = np.arange(width)
    for angle, row in zip(theta, filtered):
        image += np.interp(x * np.cos(angle) + y * np.sin(angle) + center, columns, row, left=0, right=0)
    return (image * np.pi / len(theta)).astype(np.float32)


def write_try_set(folder: Path, axis: float, seed: int, noise: float = 0.01, n: int = 128,
                  row: int = 512) -> list[float]:
    """tomocupy's try output: one slice per candidate centre, named as tomocupy names them."""
    rng = np.random.default_rng(seed)
    theta, sino = sinogram(phantom_disks(rng, n), 180, n + 12, axis, noise, rng)
    centers = [round(c, 2) for c in np.arange(round(axis) - 6, round(axis) + 6.01, 0.5)]
    folder.mkdir(parents=True)
    for center in centers:
        name = f"recon_slice{row:04d}_center{center:05.2f}.tiff"
        tifffile.imwrite(folder / name, fbp(theta, sino, center, n))
    return centers


def phantom_volume(nz: int, ny: int, nx: int, seed: int = 0) -> np.ndarray:
    """A noisy cylinder with a sphere inside: not constant in any section."""
    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[:nz, :ny, :nx].astype(np.float32)
    volume = ((x - nx / 2) ** 2 + (y - ny / 2) ** 2 < (0.4 * nx) ** 2).astype(np.float32)
    volume += 2 * (((x - nx / 2) ** 2 + (y - ny / 2) ** 2 + (z - nz / 2) ** 2) < (0.25 * nx) ** 2)
    return volume + rng.normal(0, 0.1, volume.shape).astype(np.float32)


def write_full_tiffs(folder: Path, volume: np.ndarray, first_row: int = 100) -> None:
    folder.mkdir(parents=True)
    for k, section in enumerate(volume):
        tifffile.imwrite(folder / f"recon_{first_row + k:05d}.tiff", section)
    (folder / "rec_line.txt").write_text("tomocupy recon ...\n")


def colour_pixels(image: np.ndarray) -> np.ndarray:
    """Pixels that are not grey: only annotations (scale bar, highlight) are drawn in colour."""
    image = image.astype(int)
    return (np.abs(image[..., 0] - image[..., 2]) > 40)


# --- full reconstructions --------------------------------------------------------------------


@pytest.fixture
def full_tiffs(tmp_path: Path) -> tuple[Path, np.ndarray]:
    volume = phantom_volume(40, 96, 120)
    folder = tmp_path / "data_rec" / "scan_rec"
    write_full_tiffs(folder, volume)
    return folder, volume


def test_full_tiff_stack_gives_three_mid_sections_with_robust_contrast(full_tiffs):
    folder, volume = full_tiffs
    result = make_previews(recon_result={"output": str(folder)})
    assert result["kind"] == "full" and result["source"]["files"] == 40
    sizes = {"xy": (120, 96), "xz": (120, 40), "yz": (96, 40)}  # PIL sizes are (width, height)
    for name, size in sizes.items():
        path = folder / "previews" / f"{name}.png"
        assert str(path) in result["previews"]
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size == size
            grey = np.asarray(image.convert("L"))
        assert grey.std() > 20, f"{name} is nearly constant"
        # 0.5-99.5 percentile clipping: the darkest and brightest 0.5 % are saturated, the rest spread
        assert np.percentile(grey, 0.25) == 0 and np.percentile(grey, 99.75) == 255
        assert len(np.unique(grey)) > 50
    # the XY section is the middle file, the same grey levels as the data's middle slice
    xy = np.asarray(Image.open(folder / "previews" / "xy.png").convert("L")).astype(float)
    assert np.corrcoef(xy.ravel(), volume[20].ravel())[0, 1] > 0.99
    assert result["scale_bar"] is None and result["pixel_size_um"] is None
    assert not colour_pixels(np.asarray(Image.open(folder / "previews" / "xy.png"))).any()
    assert len(json.dumps(result)) < 5000


def test_scale_bar_only_when_the_pixel_size_is_known(full_tiffs, tmp_path):
    folder, _ = full_tiffs
    result = make_previews(recon_result={"output": str(folder)}, recon={"binning": 1},
                           previews={"pixel_size_um": 1.3})
    bar = result["scale_bar"]
    # 1-2-5 rounding of 20 % of 120 px x 1.3 um; "um" where no font with a micro sign is installed
    assert bar["length_um"] == 20 and bar["label"] in ("20 \u00b5m", "20 um")
    assert bar["pixels"] == round(20 / 1.3)
    image = np.asarray(Image.open(folder / "previews" / "xy.png"))
    marked = colour_pixels(image)
    rows, cols = np.nonzero(marked)
    assert marked.sum() > bar["pixels"], "bar and label drawn"
    assert rows.min() > image.shape[0] / 2 and cols.max() < image.shape[1] / 2, "bottom-left corner"


def test_pixel_size_from_the_scan_times_binning_and_millimetre_labels(tmp_path):
    volume = phantom_volume(10, 64, 128)
    scan = tmp_path / "data" / "scan.h5"
    scan.parent.mkdir()
    with h5py.File(scan, "w") as h5:
        node = h5.create_dataset("/measurement/instrument/detection_system/objective/resolution",
                                 data=np.array([0.01]))
        node.attrs["units"] = b"mm"
    folder = tmp_path / "data_rec" / "scan_rec"
    write_full_tiffs(folder, volume)
    result = make_previews(tomocupy={"file_name": str(scan)}, recon_result={"output": str(folder)},
                           recon={"reconstruction-type": "full", "binning": 2})
    assert result["output"] == str(folder)
    assert result["pixel_size_um"] == pytest.approx(40.0)
    assert result["scale_bar"]["label"] == "1 mm"  # 20 % of 128 px x 40 um = 1024 um


def test_many_files_are_sampled_and_only_the_needed_files_read(full_tiffs, monkeypatch):
    folder, _ = full_tiffs
    opened: list[str] = []
    real_memmap = tifffile.memmap

    def counting_memmap(path, *args, **kwargs):
        opened.append(Path(path).name)
        return real_memmap(path, *args, **kwargs)

    monkeypatch.setattr(tifffile, "memmap", counting_memmap)
    result = make_previews(recon_result={"output": str(folder)}, previews={"max_sections": 10})
    assert result["source"]["sections_read"] == 10
    assert len(opened) == 11 and len(set(opened)) <= 11   # the middle slice + 10 sampled files
    with Image.open(folder / "previews" / "xz.png") as image:
        assert image.size == (120, 40), "sampled sections are stretched back to the true height"


def test_h5_reconstruction_previews(tmp_path):
    volume = phantom_volume(30, 80, 80)
    target = tmp_path / "rec" / "out" / "out.h5"  # tomocupy-gladier writes volumes inside the folder
    target.parent.mkdir(parents=True)
    with h5py.File(target, "w") as h5:
        h5.create_dataset("/exchange/data", data=volume, chunks=(1, 80, 80))
    result = make_previews(recon_result={"output": str(tmp_path / "rec" / "out")},
                           previews={"pixel_size_um": 2.0, "max_size": 64})
    assert result["source"]["format"] == "h5"
    folder = tmp_path / "rec" / "out" / "previews"
    assert result["folder"] == str(folder)
    with Image.open(folder / "xy.png") as image:
        assert image.size == (64, 64), "shrunk to max_size"
    assert result["sections"]["xy"]["scale_bar"]["pixels"] == round(
        result["scale_bar"]["length_um"] / (2.0 * 80 / 64))


def test_previews_are_never_guessed_from_a_naming_convention(tmp_path):
    with pytest.raises(ValueError, match="no reconstruction to preview"):
        make_previews(tomocupy={"file_name": str(tmp_path / "scan.h5")}, recon={"reconstruction-type": "full"})


def test_a_folder_replaced_by_another_run_is_not_previewed(full_tiffs):
    folder, _ = full_tiffs
    (folder / "manifest.json").write_text('{"run_id": "other"}')
    with pytest.raises(RuntimeError, match="replaced by run other"):
        make_previews(recon_result={"output": str(folder), "manifest": str(folder / "manifest.json")},
                      run_id="mine")


def test_nothing_to_preview_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no recon"):
        make_previews(recon_result={"output": str(tmp_path / "empty")})


# --- try reconstructions: the suggested centre ----------------------------------------------


@pytest.mark.parametrize("axis, seed, noise", [(66.4, 1, 0.01), (61.2, 2, 0.02), (70.75, 3, 0.03),
                                               (64.0, 4, 0.005)])
def test_try_set_suggests_the_true_axis_within_half_a_pixel(tmp_path, axis, seed, noise):
    folder = tmp_path / "data_rec" / "try_center" / "scan"
    centers = write_try_set(folder, axis, seed, noise)
    result = make_previews(recon_result={"output": str(folder)})
    assert result["kind"] == "try" and result["row"] == 512
    assert result["candidates"]["count"] == len(centers)
    assert abs(result["suggested_center"] - axis) <= 0.5, result["ranking"]
    assert abs(result["best_candidate"] - result["suggested_center"]) <= 0.25
    assert "gradient sparsity" in result["focus_metric"]
    assert len(json.dumps(result)) < 5000


@pytest.fixture(scope="module")
def try_set_master(tmp_path_factory) -> tuple[Path, list[float]]:
    folder = tmp_path_factory.mktemp("try") / "try_center" / "scan"
    return folder, write_try_set(folder, 66.4, seed=1)


@pytest.fixture
def try_set(try_set_master, tmp_path) -> tuple[Path, list[float]]:
    """A fresh copy of one try set (axis 66.4) per test."""
    folder = tmp_path / "try_center" / "scan"
    shutil.copytree(try_set_master[0], folder)
    return folder, try_set_master[1]


def test_try_montage_is_labelled_and_highlights_the_suggestion(try_set):
    folder, centers = try_set
    result = make_previews(recon_result={"output": str(folder)},
                           previews={"tile_size": 96, "crop_size": 64, "crop_count": 5})
    path = folder / "previews" / "try_montage.png"
    assert result["previews"][0] == str(path) == result["montage"]["file"]
    assert all(Path(p).is_file() for p in result["previews"])
    image = np.asarray(Image.open(path).convert("RGB"))
    # the crops: five 64-pixel tiles under the header, the suggested one framed in yellow
    tiles = result["montage"]["tiles"]
    assert [t["center"] for t in tiles] == sorted(t["center"] for t in tiles) and len(tiles) == 5
    index = [t["suggested"] for t in tiles].index(True)
    assert tiles[index]["center"] == result["best_candidate"]
    assert f"suggested {result['suggested_center']:.2f}" in tiles[index]["label"]
    marked = colour_pixels(image[20:22 + 64 + 2])
    x = 4 + index * (64 + 4)
    assert marked[:, x - 2:x + 64 + 2].sum() == marked.sum() > 4 * 64
    crops = image[22:22 + 64, 4:4 + 5 * 68]
    assert crops.std() > 20, "crops have contrast"
    # the overview: every candidate range covered, labelled, under the crops and the curves
    assert result["candidates"]["shown"] <= 12


def test_montage_is_capped_but_keeps_the_best(try_set):
    folder, centers = try_set
    result = make_previews(recon_result={"output": str(folder)}, previews={"montage_max": 9})
    assert result["candidates"]["shown"] <= 9 < len(centers)
    assert abs(result["suggested_center"] - 66.4) <= 1.0


# --- the Gladier tool ------------------------------------------------------------------------


def test_tool_is_a_compute_v3_state_that_fails_the_flow_on_error():
    state = Previews().get_flow_definition()["States"]["MakePreviews"]
    assert state["ActionUrl"] == "https://compute.actions.globus.org/v3"
    assert state["ExceptionOnActionFailure"] is True
    assert state["Parameters"]["endpoint_id.$"] == "$.input.compute_endpoint"
    task = state["Parameters"]["tasks"][0]
    assert task == {"function_id.$": "$.input.make_previews_function_id", "kwargs.$": "$.input"}


def test_tasks_modifier_is_accepted_by_gladier():
    @generate_flow_definition(modifiers={previews_module.make_previews: {"tasks": make_previews_tasks()}})
    class PreviewsOnly(GladierBaseClient):
        gladier_tools = [Previews]

    state = PreviewsOnly().get_flow_definition()["States"]["MakePreviews"]
    assert state["Parameters"]["tasks"] == make_previews_tasks()
    assert state["ExceptionOnActionFailure"] is True


def test_tasks_modifier_passes_the_reconstruction_result():
    kwargs = make_previews_tasks()[0]["kwargs"]
    assert kwargs["recon_result.$"] == "$.TomocupyRecon.details.results[0].output"
    assert set(kwargs) == {"tomocupy.$", "recon.$", "recon_result.$", "run_id.$"}
    assert kwargs["run_id.$"] == "$._context.run_id", "previews check the folder is this run's"
    assert "previews.$" in make_previews_tasks(with_options=True)[0]["kwargs"]


def test_several_rows_use_the_middle_one_and_float16_slices_are_read(try_set):
    folder, centers = try_set
    for path in sorted(folder.glob("recon_slice0512_*.tiff")):
        data = tifffile.imread(path)
        tifffile.imwrite(path, data.astype(np.float16))
        for row in (100, 900):
            other = path.with_name(path.name.replace("0512", f"{row:04d}"))
            tifffile.imwrite(other, np.zeros_like(data))
    result = make_previews(recon_result={"output": str(folder)})
    assert result["rows"] == [100, 512, 900] and result["row"] == 512
    assert result["candidates"]["count"] == len(centers)
    assert abs(result["suggested_center"] - 66.4) <= 1.0


def test_a_range_wider_than_a_narrow_detector_never_suggests_an_axis_off_it(tmp_path):
    # tomocupy's default search (50 px each side) on a 64-column scan reaches past both
    # edges; there the slices empty and look 'sharp' to the focus measure
    rng = np.random.default_rng(5)
    n, axis = 64, 33.25
    theta, sino = sinogram(phantom_disks(rng, n), 180, n, axis, 0.01, rng)
    folder = tmp_path / "data_rec" / "try_center" / "scan"
    folder.mkdir(parents=True)
    centers = [round(c, 2) for c in np.arange(axis - 50, axis + 50, 0.5)]
    for center in centers:
        tifffile.imwrite(folder / f"recon_slice0512_center{center:05.2f}.tiff", fbp(theta, sino, center, n))
    result = make_previews(recon_result={"output": str(folder)})
    assert 0 <= result["suggested_center"] <= n - 1, result["ranking"]
    assert all(0 <= r["center"] <= n - 1 for r in result["ranking"])
    assert result["candidates"]["outside_detector"] == sum(1 for c in centers if not 0 <= c <= n - 1)
    # a start-column shifts the detector's columns (and the candidates' frame) alike
    shifted = tmp_path / "shifted"
    shutil.copytree(folder, shifted)
    offset = make_previews(recon_result={"output": str(shifted)}, recon={"start-column": 40})
    assert offset["candidates"]["outside_detector"] == sum(1 for c in centers if not 40 <= c <= 103)
    assert 40 <= offset["suggested_center"] <= 103
