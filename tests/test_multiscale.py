"""The multiscale OME-Zarr of a reconstruction (compute/multiscale.py): what a viewer reads.

Its ``.zattrs`` are held against the OME-NGFF 0.4 image schemas as the specification publishes
them (tests/fixtures/ngff/SOURCES.md) and read back with ome-zarr-models, the OME community's
model of the format; the arrays are read back with zarr.
"""

from __future__ import annotations

import hashlib
import json
import os
import tracemalloc
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import referencing
import tifffile
import zarr
from ome_zarr_models.v04.image import Image

from tomocupy_gladier.compute.checksums import Digests
from tomocupy_gladier.compute.multiscale import (
    export_name,
    halve,
    level_shapes,
    read_level,
    write_ome_zarr,
    zarr_options,
)

NGFF = Path(__file__).parent / "fixtures" / "ngff"


def write_slices(folder: Path, volume: np.ndarray) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, image in enumerate(volume):
        paths.append(folder / f"recon_{i:05d}.tiff")
        tifffile.imwrite(paths[-1], image)
    return paths


def ngff_problems(zattrs: dict) -> list[str]:
    """What the published NGFF 0.4 strict image schema finds wrong in ``zattrs``."""
    image = json.loads((NGFF / "0.4-image.schema").read_text())
    strict = json.loads((NGFF / "0.4-strict_image.schema").read_text())
    registry = referencing.Registry().with_resource(image["$id"], referencing.Resource.from_contents(image))
    validator = jsonschema.Draft202012Validator(strict, registry=registry)
    return [e.message for e in validator.iter_errors(zattrs)]


@pytest.fixture
def volume() -> np.ndarray:
    return np.random.default_rng(7).normal(size=(20, 600, 520)).astype(np.float32)


def test_the_finest_level_is_the_slices_and_levels_halve_down_to_about_256_px(tmp_path, volume):
    slices = write_slices(tmp_path / "rec", volume)
    summary = write_ome_zarr(slices, tmp_path / "rec" / "volume.ome.zarr", pixel_um=0.65, chunks=(4, 64, 32))
    target = tmp_path / "rec" / "volume.ome.zarr"
    assert np.array_equal(read_level(target, 0), volume)
    assert [level["shape"] for level in summary["levels"]] == [[20, 600, 520], [10, 300, 260], [5, 150, 130]]
    assert np.allclose(read_level(target, 1)[0, 0, 0], volume[:2, :2, :2].mean(), atol=1e-6)
    assert all(level["bytes"] > 0 for level in summary["levels"])
    assert zarr.open_array(str(target / "0"), mode="r").chunks == (4, 64, 32)
    assert zarr.open_array(str(target / "2"), mode="r").chunks == (4, 64, 32)
    assert summary["chunks"] == [4, 64, 32]


def test_its_metadata_is_valid_ngff_0_4_with_the_pixel_size_as_scale(tmp_path, volume):
    target = tmp_path / "volume.ome.zarr"
    write_ome_zarr(write_slices(tmp_path / "rec", volume[:4]), target, pixel_um=0.65, chunks=(16, 16, 16))
    zattrs = json.loads((target / ".zattrs").read_text())
    assert ngff_problems(zattrs) == []
    [multiscale] = Image.from_zarr(zarr.open_group(str(target), mode="r")).attributes.multiscales
    assert multiscale.version == "0.4"
    assert [(a.name, a.type, a.unit) for a in multiscale.axes] == [
        (a, "space", "micrometer") for a in "zyx"]
    scales = [d.coordinateTransformations[0].scale for d in multiscale.datasets]
    assert scales == [[0.65] * 3, [1.3] * 3, [2.6] * 3]


def test_without_a_pixel_size_the_scale_has_no_unit(tmp_path, volume):
    target = tmp_path / "volume.ome.zarr"
    write_ome_zarr(write_slices(tmp_path / "rec", volume[:2, :64, :64]), target, pixel_um=None)
    zattrs = json.loads((target / ".zattrs").read_text())
    assert ngff_problems(zattrs) == []
    assert all("unit" not in axis for axis in zattrs["multiscales"][0]["axes"])
    assert level_shapes((2, 64, 64)) == [(2, 64, 64)], "a small volume is one level"


def test_compact_copies_are_scaled_on_whole_volume_percentiles_that_map_back(tmp_path, volume):
    target = tmp_path / "volume.ome.zarr"
    summary = write_ome_zarr(write_slices(tmp_path / "rec", volume[:6]), target, pixel_um=1.0,
                             chunks=(16, 16, 16), exports=["uint8", "uint16"], percentiles=[1, 99])
    low, high = np.percentile(volume[:6], [1, 99])
    for export in summary["exports"]:
        copy = tmp_path / export_name(export["dtype"])
        assert export["path"] == copy.name and export["percentiles"] == [1, 99]
        step = (high - low) / export["stored_max"]
        assert abs(export["low"] - low) < 2 * step and abs(export["high"] - high) < 2 * step
        stored = read_level(copy, 0)
        assert stored.dtype == np.dtype(export["dtype"])
        back = export["low"] + stored * (export["high"] - export["low"]) / export["stored_max"]
        inside = (volume[:6] > export["low"]) & (volume[:6] < export["high"])
        assert np.abs(back - volume[:6])[inside].max() <= step
        zattrs = json.loads((copy / ".zattrs").read_text())
        assert ngff_problems(zattrs) == []
        assert zattrs["multiscales"][0]["metadata"]["scaling"]["low"] == export["low"]
        assert [level["shape"] for level in export["levels"]] == [
            level["shape"] for level in summary["levels"]]


def test_the_window_is_the_whole_volumes_percentiles_from_a_sample_taken_while_streaming(tmp_path):
    data = np.random.default_rng(1).gamma(2.0, size=(40, 300, 300)).astype(np.float32)
    target = tmp_path / "volume.ome.zarr"
    with pytest.MonkeyPatch.context() as patch:  # 3.6 M voxels: sample one in 2 x 2 x 2
        patch.setattr("tomocupy_gladier.compute.multiscale.SAMPLE_LIMIT", 500_000)
        summary = write_ome_zarr(write_slices(tmp_path / "rec", data), target, 1.0, chunks=(16, 16, 16),
                                 percentiles=[0.5, 99.5])
    window = summary["window"]
    assert window["sample_step"] == 2
    exact = np.percentile(data, [0.5, 99.5])
    assert np.allclose([window["start"], window["end"]], exact, rtol=0.02)
    assert data.min() <= window["min"] < window["start"] < window["end"] < window["max"] <= data.max()
    # the viewer's default contrast: NGFF 0.4 "omero" metadata, valid against the published schema
    zattrs = json.loads((target / ".zattrs").read_text())
    assert ngff_problems(zattrs) == []
    [channel] = zattrs["omero"]["channels"]
    assert channel["window"] == {k: window[k] for k in ("min", "max", "start", "end")}
    # a volume under the sample's limit is sampled whole: its percentiles are numpy's
    small = write_ome_zarr(write_slices(tmp_path / "small", data[:4]), tmp_path / "s.ome.zarr", 1.0,
                           percentiles=[0.5, 99.5])["window"]
    assert small["sample_step"] == 1
    assert np.allclose([small["start"], small["end"]], np.percentile(data[:4], [0.5, 99.5]))


def test_a_nan_anywhere_in_the_volume_is_found_by_the_pass(tmp_path, volume):
    assert write_ome_zarr(write_slices(tmp_path / "ok", volume), tmp_path / "ok.ome.zarr", 1.0,
                          chunks=(16, 16, 16))["finite"] is True
    volume[13, 599, 1] = np.nan  # one voxel, in the last row of a slice
    assert write_ome_zarr(write_slices(tmp_path / "nan", volume), tmp_path / "nan.ome.zarr", 1.0,
                          chunks=(16, 16, 16))["finite"] is False
    volume[13, 599, 1] = np.inf
    one_level = write_ome_zarr(write_slices(tmp_path / "inf", volume[:, :200, :200]),
                               tmp_path / "inf.ome.zarr", 1.0, chunks=(16, 16, 16))
    assert len(one_level["levels"]) == 1 and one_level["finite"] is True  # the inf is outside the crop
    volume[3, 150, 150] = -np.inf
    assert write_ome_zarr(write_slices(tmp_path / "inf2", volume[:, :200, :200]),
                          tmp_path / "inf2.ome.zarr", 1.0, chunks=(16, 16, 16))["finite"] is False


def test_a_slice_that_is_not_stored_in_one_piece_is_read_whole_with_the_same_result(tmp_path, volume):
    slices = write_slices(tmp_path / "rec", volume[:5])
    tifffile.imwrite(slices[2], volume[2], compression="zlib")  # not contiguous: read whole
    write_ome_zarr(slices, tmp_path / "volume.ome.zarr", 1.0, chunks=(16, 16, 16))
    assert np.array_equal(read_level(tmp_path / "volume.ome.zarr", 0), volume[:5])


def test_the_chunks_are_zarrs_own_byte_for_byte_on_any_number_of_cores_with_their_digests(tmp_path):
    """The step encodes and writes the chunks itself (to hash them and spread them over the cores):
    the files are those zarr writes for the same arrays, edge chunks, a chunk of zeros (none) and
    one of -0.0 (zarr compares bit patterns: written) included; one worker or three, the same."""
    volume = np.random.default_rng(1).normal(size=(37, 300, 290)).astype(np.float32)
    volume[:, :40, :40] = 0
    volume[:, :, 280:] = -0.0
    slices = write_slices(tmp_path / "rec", volume)
    digests = Digests()
    write_ome_zarr(slices, tmp_path / "ours.ome.zarr", 1.0, (16, 32, 32), digests=digests, workers=3)
    write_ome_zarr(slices, tmp_path / "one.ome.zarr", 1.0, (16, 32, 32), workers=1)
    # zarr's own writes of the same arrays: the same metadata files, the levels assigned through zarr
    for meta in (tmp_path / "ours.ome.zarr").rglob(".z*"):
        (tmp_path / "zarr.ome.zarr" / meta.relative_to(tmp_path / "ours.ome.zarr")).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "zarr.ome.zarr" / meta.relative_to(tmp_path / "ours.ome.zarr")).write_bytes(meta.read_bytes())
    level = volume
    for i in range(len(level_shapes(volume.shape))):
        zarr.open_array(str(tmp_path / "zarr.ome.zarr" / str(i)), mode="r+")[...] = level
        level = halve(level)

    def chunks(root: Path) -> dict[str, bytes]:
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
                if p.is_file() and not p.name.startswith(".")}

    ours = chunks(tmp_path / "ours.ome.zarr")
    assert ours == chunks(tmp_path / "zarr.ome.zarr") == chunks(tmp_path / "one.ome.zarr")
    assert "0/0/0/0" not in ours and "0/0/0/9" in ours  # zeros: no file; -0.0: a file
    for name, data in ours.items():
        assert digests.get(tmp_path / "ours.ome.zarr" / name).sha256 == hashlib.sha256(data).hexdigest()
    for path in slices:
        assert digests.get(path).sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_slice_cut_short_fails_the_pass_and_leaves_no_file_open(tmp_path, volume):
    slices = write_slices(tmp_path / "rec", volume)
    with open(slices[13], "r+b") as fh:  # tomocupy's writer died half way through it
        fh.truncate(slices[13].stat().st_size // 2)
    with pytest.raises(OSError, match="recon_00013.tiff: shorter than its TIFF header says"):
        write_ome_zarr(slices, tmp_path / "volume.ome.zarr", 1.0, chunks=(4, 64, 32), digests=Digests(), workers=2)

    def target(fd: str) -> str:
        try:
            return os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return ""

    assert not [fd for fd in os.listdir("/proc/self/fd") if target(fd).startswith(str(tmp_path))]


def test_memory_stays_below_one_slab_on_a_tall_volume(tmp_path):
    volume = np.random.default_rng(3).normal(size=(192, 272, 272)).astype(np.float32)
    slices = write_slices(tmp_path / "rec", volume)
    slab = 16 * 272 * 272 * 4
    del volume
    write_ome_zarr(slices[:2], tmp_path / "warm.ome.zarr", pixel_um=1.0, exports=["uint8"])  # imports
    tracemalloc.start()
    try:
        with pytest.MonkeyPatch.context() as patch:  # the percentiles' sample (at most 16 MB) aside
            patch.setattr("tomocupy_gladier.compute.multiscale.SAMPLE_LIMIT", 100_000)
            write_ome_zarr(slices, tmp_path / "volume.ome.zarr", pixel_um=1.0, chunks=(16, 16, 16), exports=["uint8"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # the finest level goes through in stripes (16 slices x 16 rows); level 1's slab is a quarter
    assert peak < slab, f"peak {peak / 2**20:.1f} MiB for level-0 slabs of {slab / 2**20:.1f} MiB"


@pytest.mark.parametrize("options, problem", [
    ({"exports": ["float16"]}, "exports must be among"),
    ({"chunks": [16, 8, 256]}, r"chunks three even numbers \[z, y, x\] \(z 2 to 512, y and x 16 to 2048\)"),
    ({"chunks": [15, 256, 256]}, "chunks three even numbers"),
    ({"chunks": [1024, 256, 256]}, "chunks three even numbers"),
    ({"chunks": [16, 256]}, "chunks three even numbers"),
    ({"chunk": 64}, "unknown tomocupy.zarr setting"),
    ({"percentiles": [99, 1]}, "low < high"),
    ({"colour": True}, "unknown tomocupy.zarr setting"),
])
def test_bad_settings_are_refused_by_name(options, problem):
    with pytest.raises(ValueError, match=problem):
        zarr_options(options)


def test_by_default_it_is_on_without_copies():
    assert zarr_options(None) == {"enable": True, "chunks": [16, 256, 256], "exports": [],
                                  "percentiles": [0.1, 99.9]}
