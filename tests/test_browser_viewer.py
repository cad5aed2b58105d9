"""The volume viewer in a real headless chromium, on the demo's reconstruction written as an
OME-Zarr: it opens from the run's page, moving through z shows other slices, slicing through x
shows another plane, zooming out switches to a coarser level's chunks, and the viewer fetches
nothing but this server's own files (the vendored reader, the Zarr)."""

from __future__ import annotations

import numpy as np
from click.testing import CliRunner

from benchmarks.bench_viewer import open_viewer, pixels, render_after, z_steps
from tomocupy_gladier.cli import main
from tomocupy_gladier.experiment.config import load_config
from tomocupy_gladier.web.app import create_app
from tomocupy_gladier.web.sources import sources_for

from tests.browser import live_server, screenshot
from tests.ome_zarr_volume import tiff_volume, write_levels


def shown_plane(page, shape: tuple[int, ...]) -> np.ndarray:
    """The canvas's grey value at the centre of each voxel of the finest level's plane (``shape``:
    its rows and columns), placed by the viewer's own zoom and centre (isotropic voxels)."""
    state = page.evaluate("window.tomoViewer")
    canvas = pixels(page)
    rows = ((np.arange(shape[0]) + 0.5 - state["cv"]) * state["zoom"] + canvas.shape[0] / 2).astype(int)
    cols = ((np.arange(shape[1]) + 0.5 - state["cu"]) * state["zoom"] + canvas.shape[1] / 2).astype(int)
    return canvas[np.ix_(rows, cols)]


def test_the_viewer_slices_the_demo_volume_and_loads_coarser_levels_on_demand(page, tmp_path):
    workdir = tmp_path / "demo"
    made = CliRunner().invoke(main, ["demo", "--workdir", str(workdir), "--projections", "120",
                                     "--rows", "8", "--columns", "128"], catch_exceptions=False)
    assert made.exit_code == 0, made.output
    recon = workdir / "facility" / "raw_rec" / "demo_scan_0001_rec"
    volume = tiff_volume(recon)
    low, high = (float(v) for v in np.percentile(volume, [1, 99]))
    # levels 128, 64, 32 and 16 px across, one z slice a chunk: every step reads other chunk files
    write_levels(volume, recon / "demo.ome.zarr", smallest=16, chunks=(1, 32, 32), window=(low, high))
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    requests: list[str] = []
    everything: list[str] = []
    page.on("request", lambda r: (requests.append(r.url), everything.append(r.url)))
    sources = sources_for(load_config(workdir / "experiment.toml"))
    try:
        with live_server(create_app(sources)) as base:
            page.goto(base + "/")
            page.locator("tr.run").first.filter(has_text="SUCCEEDED").wait_for()
            page.locator("tr.run a").first.click()
            # the reconstruction step's own Zarr is linked too (beside the one this test wrote)
            assert page.locator("a.viewer-link[href*=\"volume.ome.zarr\"]").count() == 1
            page.locator("a.viewer-link[href*=\"demo.ome.zarr\"]").click()
            first_ms = open_viewer(page)
            assert first_ms > 0
            state = page.evaluate("window.tomoViewer")
            assert state["pos"]["z"] == 4 and state["shownLevel"] == 0
            # the contrast comes from the Zarr's recorded window, not from the data
            assert "omero window" in page.locator("#contrast-source").inner_text()
            assert abs(float(page.locator("#low").input_value()) - low) < 1e-3 * max(1.0, abs(low))
            screenshot(page, "viewer_z", tmp_path)

            grey = np.clip((volume - low) * 255 / (high - low), 0, 255)
            assert np.abs(shown_plane(page, grey.shape[1:]) - grey[4]).max() <= 2
            render_after(page, lambda: page.keyboard.press("ArrowUp"))
            assert page.evaluate("window.tomoViewer.pos.z") == 5
            # the canvas now shows slice 5 of the data, and no longer slice 4
            assert np.abs(shown_plane(page, grey.shape[1:]) - grey[5]).max() <= 2
            assert np.abs(shown_plane(page, grey.shape[1:]) - grey[4]).max() > 10
            assert any("/demo.ome.zarr/0/5/" in url for url in requests)
            steps = z_steps(page, 3)
            assert len(steps) == 3 and page.evaluate("window.tomoViewer.pos.z") == 7

            render_after(page, lambda: page.select_option("#axis", "x"))
            x = page.evaluate("window.tomoViewer.pos.x")
            assert np.abs(shown_plane(page, grey.shape[:2]) - grey[:, :, x]).max() <= 2  # a (z, y) plane
            screenshot(page, "viewer_x", tmp_path)

            # zooming out far enough picks a coarser level: its chunk paths are fetched
            render_after(page, lambda: page.select_option("#axis", "z"))
            requests.clear()
            canvas = page.locator("#slice").bounding_box()
            page.mouse.move(canvas["x"] + canvas["width"] / 2, canvas["y"] + canvas["height"] / 2)
            render_after(page, lambda: page.mouse.wheel(0, 2000))
            page.wait_for_function("window.tomoViewer.shownLevel >= 2")
            coarse = page.evaluate("window.tomoViewer.shownLevel")
            chunks = [u.split("/demo.ome.zarr/", 1)[1] for u in requests if "/demo.ome.zarr/" in u]
            assert chunks and all(c.startswith(f"{coarse}/") for c in chunks), chunks

            # a level chosen by hand, zoomed in, then a slice not read before: only its visible chunks
            render_after(page, lambda: page.select_option("#level", "0"))
            render_after(page, lambda: page.click("#reset"))
            page.mouse.move(canvas["x"] + canvas["width"] / 2, canvas["y"] + canvas["height"] / 2)
            render_after(page, lambda: page.mouse.wheel(0, -800))  # about 5 times closer
            requests.clear()
            render_after(page, lambda: page.keyboard.press("PageDown"))  # down to z = 0
            read = {u for u in requests if "/demo.ome.zarr/0/0/" in u}
            assert 0 < len(read) < 16, read  # a 128 x 128 slice is 16 chunks of 32 x 32
            screenshot(page, "viewer_zoomed", tmp_path)

            # NGFF 0.5 (Zarr format 3) with no recorded window: the contrast comes from the data
            write_levels(volume, recon / "v05.ome.zarr", smallest=16, chunks=(1, 32, 32), ngff="0.5")
            page.goto(page.url.replace("demo.ome.zarr", "v05.ome.zarr"))
            open_viewer(page)
            assert "from the data" in page.locator("#contrast-source").inner_text()
            assert page.evaluate("window.tomoViewer.shownLevel") == 0
            shown = shown_plane(page, grey.shape[1:])
            assert np.corrcoef(shown.ravel(), grey[4].ravel())[0, 1] > 0.95  # the same slice, its own contrast
    finally:
        sources.runs.store.close()
    assert errors == []
    foreign = [u for u in everything if not u.startswith(base) or u.endswith(".wasm")]
    assert foreign == [], foreign
