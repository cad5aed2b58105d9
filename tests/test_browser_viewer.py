"""The volume viewer (the vendored neuroglancer) in a real headless chromium, on the demo's
reconstruction written by the pipeline's OME-Zarr writer: it opens from the run's page, shows the
Zarr's data at the middle slice, moving through z shows the next slice (pixels compared with the
data), zooming out reads a coarser level's chunks only, and nothing is fetched from anywhere but
this server."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner

from benchmarks.bench_viewer import drawn_after, open_viewer, panel_grey, z_position, z_step
from tomocupy_gladier.cli import main
from tomocupy_gladier.compute.multiscale import read_level, write_ome_zarr
from tomocupy_gladier.tools.registry import load_config
from tomocupy_gladier.web.app import create_app
from tomocupy_gladier.web.sources import sources_for

from tests.browser import live_server, screenshot

CHUNKS = (16, 32, 32)  # 16-deep slabs of small tiles: the middle slice (16 of 32) starts its slab, so z - 1 reads others


def mismatch(shown: np.ndarray, plane: np.ndarray, window: tuple[float, float], centre: int) -> float:
    """How far the panel ``shown`` (1 screen pixel a voxel, voxel ``centre``, ``centre`` at its
    middle) is from ``plane`` drawn in grey over ``window``: the median absolute difference in
    grey levels at the best placement within 2 pixels (the median passes over the cross-hair and
    the scale bar drawn on the panel)."""
    low, high = window
    grey = np.clip((plane - low) / (high - low), 0, 1) * 255
    inner = shown[8:-8, 8:-8]  # off the panel's edges
    top, left = (int(centre + 8 - n / 2) for n in shown.shape)
    return min(float(np.median(np.abs(inner - grey[y:y + inner.shape[0], x:x + inner.shape[1]])))
               for y in range(top - 2, top + 3) for x in range(left - 2, left + 3))


def assert_shows(shown: np.ndarray, volume: np.ndarray, z: int, window: tuple[float, float]) -> None:
    """The panel shows slice ``z`` of ``volume``: within a grey level of it, and at least 3 times
    nearer to it than to the slices on either side (the demo's slices are much alike)."""
    near = {k: mismatch(shown, volume[k], window, volume.shape[1] // 2) for k in (z - 1, z, z + 1)}
    assert near[z] <= 1 and min(near[z - 1], near[z + 1]) >= 3 * max(near[z], 0.1), near


def test_neuroglancer_opens_the_demo_volume_from_the_run_page_and_reads_levels_on_demand(page, tmp_path):
    workdir = tmp_path / "demo"
    made = CliRunner().invoke(main, ["demo", "--workdir", str(workdir), "--projections", "120",
                                     "--rows", "32", "--columns", "512"], catch_exceptions=False)
    assert made.exit_code == 0, made.output
    recon = workdir / "facility" / "raw_rec" / "demo_scan_0001_rec"
    target = recon / "browse.ome.zarr"
    summary = write_ome_zarr(sorted(recon.glob("recon_*.tiff")), target, 1.3, chunks=CHUNKS)
    assert [level["shape"] for level in summary["levels"]] == [[32, 512, 512], [16, 256, 256]]
    volume = read_level(target, 0)
    attrs = json.loads((target / ".zattrs").read_text())
    channel = attrs["omero"]["channels"][0]
    assert "color" in channel, "neuroglancer 2.41 does not open a Zarr whose omero channel has no color"
    window = channel["window"]  # the writer's whole-volume percentiles
    low, high = float(window["start"]), float(window["end"])
    span = float(volume.max() - volume.min())  # from a sample of one voxel in 2 x 2 x 2
    assert np.allclose([low, high], np.percentile(volume, [0.1, 99.9]), atol=0.01 * span)

    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    requests: list[str] = []
    everything: list[str] = []
    page.on("request", lambda r: (requests.append(r.url), everything.append(r.url)))
    # a window smaller than the slice at 1 screen pixel a voxel: zooming out shows more of it
    page.set_viewport_size({"width": 480, "height": 360})
    sources = sources_for(load_config(workdir / "experiment.toml"))
    try:
        with live_server(create_app(sources)) as base:
            page.goto(base + "/")
            page.locator("tr.run").first.filter(has_text="SUCCEEDED").wait_for()
            page.locator("tr.run a").first.click()
            # the reconstruction step's own Zarr is linked too (beside the one this test wrote)
            assert page.locator("a.viewer-link[href*=\"volume.ome.zarr\"]").count() == 1
            page.locator("a.viewer-link[href*=\"browse.ome.zarr\"]").click()
            assert open_viewer(page) > 0
            state = page.evaluate("window.viewer.state.toJSON()")
            assert state["position"] == [256, 256, 16]  # x, y, z: the middle voxel
            assert state["layers"][0]["shaderControls"]["normalized"]["range"] == [low, high]
            # the first slice read the finest level (and the coarser one, neuroglancer's stand-in)
            chunks = [u.split("/browse.ome.zarr/", 1)[1] for u in requests if "/browse.ome.zarr/" in u]
            assert any(c.startswith("0/1/") for c in chunks), chunks  # level 0, z chunk 1: z 16 to 31

            # the panel shows slice 16 of the data; one step down (neuroglancer's key), slice 15
            assert_shows(panel_grey(page), volume, 16, (low, high))
            requests.clear()
            z_step(page, "Comma")
            assert z_position(page) == 15
            assert_shows(panel_grey(page), volume, 15, (low, high))
            read = {u.split("/browse.ome.zarr/", 1)[1] for u in requests if "/browse.ome.zarr/" in u}
            assert read and all(c.startswith("0/0/") for c in read), read  # another chunk row: z 0 to 15
            assert all(z_step(page) > 0 for _ in range(3)) and z_position(page) == 18

            # zoomed out four times: the whole slice shows, its new parts read from level 1 only
            requests.clear()
            drawn_after(page, lambda: page.evaluate("window.viewer.crossSectionScale.value = 4"))
            read = {u.split("/browse.ome.zarr/", 1)[1] for u in requests if "/browse.ome.zarr/" in u}
            assert read and all(c.startswith("1/") for c in read), read

            page.set_viewport_size({"width": 1280, "height": 900})
            drawn_after(page, lambda: page.evaluate("window.viewer.crossSectionScale.value = 0.75"))
            page.mouse.move(640, 480)  # over the slice: the layer's name shows the value under it
            screenshot(page, "viewer_xy", tmp_path)
            drawn_after(page, lambda: page.evaluate("window.viewer.layout.restoreState('4panel')"))
            screenshot(page, "viewer_4panel", tmp_path)
    finally:
        sources.runs.store.close()
    assert errors == []
    foreign = [u for u in everything if not u.startswith(base)]
    assert foreign == [], foreign
