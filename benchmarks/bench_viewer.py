"""Time to first slice and per z step in the volume viewer of ``serve`` (neuroglancer), in headless chromium.

A synthetic volume (default 128 x 2048 x 2048 float32: the plane of ``bench_scale``'s
reconstruction, 2048 x 2048, eight 16-deep slabs of chunks) is written by the pipeline's OME-Zarr
writer (``compute.multiscale.write_ome_zarr``, its default 16 x 256 x 256 chunks) into the demo run's reconstruction
folder and opened through the run's viewer link of ``serve`` over loopback, once for each
``--zoom`` (0: the link's own view, the whole slice in view, a coarser level; 1: full
resolution, 1 screen pixel a voxel), each in a fresh page. Prints the time from the navigation to neuroglancer's first
complete slice (``viewer.isReady()``: every visible chunk loaded and on the GPU; goal: under
1 s), the chunks read and when serve had answered the last, the z steps' times to the same
state, and the time serve alone takes to send those chunks to Python. Chromium draws with SwiftShader (WebGL on the CPU), as the browser tests do.

    python benchmarks/bench_viewer.py [--shape 128 2048 2048] [--steps 10] [--viewport 1280 900] [--zoom 0 1]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

READY = "window.viewer !== undefined && window.viewer.isReady()"


def open_viewer(page: Any) -> float:
    """Wait until neuroglancer has drawn every visible chunk; that moment in ms since the
    navigation began (the viewer link's redirect included)."""
    return float(page.wait_for_function(f"({READY}) && performance.now()", timeout=120_000).json_value())


def z_position(page: Any) -> float:
    """The viewer's position along z (x, y, z order: the state the link sets)."""
    return float(page.evaluate("window.viewer.state.toJSON().position[2]"))


def drawn_after(page: Any, action: Callable[[], Any], ready_when: str = "true") -> float:
    """Run ``action`` (a key, a state change), then wait until ``ready_when`` (JavaScript) holds
    and every visible chunk is drawn again; ms."""
    started = time.perf_counter()
    action()
    page.wait_for_function(f"({ready_when}) && {READY}", timeout=60_000)
    return 1000 * (time.perf_counter() - started)


def z_step(page: Any, key: str = "Period") -> float:
    """One slice along z with neuroglancer's key (``Period``: z+1, ``Comma``: z-1) over the
    panel; ms until drawn."""
    target = z_position(page) + (1 if key == "Period" else -1)
    panel = page.locator(".neuroglancer-rendered-data-panel").first
    panel.hover()
    return drawn_after(page, lambda: page.keyboard.press(key),
                       f"window.viewer.state.toJSON().position[2] === {target}")


def panel_grey(page: Any) -> np.ndarray:
    """The first data panel as drawn (its red channel: the grey of a grey image layer)."""
    from PIL import Image

    png = page.locator(".neuroglancer-rendered-data-panel").first.screenshot()
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))[:, :, 0].astype(np.float32)


def write_synthetic_slices(shape: tuple[int, int, int], folder: Path, seed: int = 7) -> list[Path]:
    """TIFF slices (what the reconstruction step leaves for the Zarr writer) of rings that
    change with z, with noise (so the chunks compress no better than a real scan's), one slice
    in memory at a time."""
    import tifffile

    rng = np.random.default_rng(seed)
    nz, ny, nx = shape
    y, x = np.ogrid[-1:1:ny * 1j, -1:1:nx * 1j]
    radius = np.sqrt(x * x + y * y).astype(np.float32)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"slice_{z:05d}.tiff" for z in range(nz)]
    for z, path in enumerate(paths):
        tifffile.imwrite(path, np.cos(radius * (20 + z)) + 0.2 * rng.standard_normal((ny, nx), dtype=np.float32))
    return paths


def viewer_address(base: str, link: str, zoom: float) -> str:
    """Where the viewer ``link`` of ``serve`` redirects, its state's zoom set to ``zoom``
    (voxels a screen pixel: 1 is full resolution, larger is farther out; 0 keeps the link's own,
    the whole slice in view)."""
    import http.client
    import json
    import urllib.parse

    from tomocupy_gladier.web.viewer import viewer_fragment

    host, port = urllib.parse.urlsplit(base).netloc.split(":")
    connection = http.client.HTTPConnection(host, int(port))
    connection.request("GET", link)
    location = connection.getresponse().headers["Location"]
    connection.close()
    page, state = location.split("#!", 1)
    opened = json.loads(urllib.parse.unquote(state))
    changed = {**opened, "crossSectionScale": zoom or opened["crossSectionScale"]}
    return urllib.parse.urljoin(base, page) + viewer_fragment(changed)


def chunk_levels(urls: list[str], volume: str) -> list[str]:
    """The levels (first key part) of the chunk requests among ``urls`` (no metadata)."""
    keys = [u.split(f"/{volume}/", 1)[1] for u in urls if f"/{volume}/" in u]
    return [k.split("/", 1)[0] for k in keys if "/" in k and not k.rsplit("/", 1)[1].startswith(".")]


def main(argv: list[str] | None = None) -> int:
    from click.testing import CliRunner
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS, live_server
    from tomocupy_gladier.cli import main as cli
    from tomocupy_gladier.compute.multiscale import write_ome_zarr
    from tomocupy_gladier.tools.registry import load_config
    from tomocupy_gladier.web.app import create_app
    from tomocupy_gladier.web.sources import sources_for

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=[128, 2048, 2048])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--viewport", type=int, nargs=2, default=[1280, 900])
    parser.add_argument("--zoom", type=float, nargs="+", default=[0.0, 1.0],
                        help="the views to time: voxels a screen pixel (0: the link's own view, "
                        "the whole slice; 1: full resolution)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_viewer_") as tmp:
        workdir = Path(tmp) / "demo"
        made = CliRunner().invoke(cli, ["demo", "--workdir", str(workdir), "--projections", "90",
                                        "--rows", "4", "--columns", "96"])
        if made.exit_code != 0:
            print(made.output, file=sys.stderr)
            return 1
        recon = workdir / "facility" / "raw_rec" / "demo_scan_0001_rec"
        slices = write_synthetic_slices(tuple(args.shape), Path(tmp) / "slices")
        started = time.perf_counter()
        summary = write_ome_zarr(slices, recon / "bench.ome.zarr", 1.0)
        written = sum(level["bytes"] for level in summary["levels"])
        print(f"volume {' x '.join(map(str, args.shape))} float32, chunks {summary['chunks']}, "
              f"{len(summary['levels'])} levels: {written / 1e6:.0f} MB written in "
              f"{time.perf_counter() - started:.1f} s; viewport {args.viewport[0]} x {args.viewport[1]}")
        sources = sources_for(load_config(workdir / "experiment.toml"))
        run_id = sources.runs.page(1, 1).rows[0].run_id
        try:
            with live_server(create_app(sources)) as base, sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                for zoom in args.zoom:
                    read = report(browser, viewer_address(base, f"/runs/{run_id}/viewer/bench.ome.zarr", zoom),
                                  zoom, args.viewport, args.steps)
                    serve_alone(read)
                browser.close()
        finally:
            sources.runs.store.close()
    return 0


def serve_alone(urls: list[str], connections: int = 8) -> None:
    """Fetch the chunks the viewer read again, from Python over ``connections`` at once: serve's
    own share of the wait."""
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor

    def size(url: str) -> int:
        with urllib.request.urlopen(url) as answer:
            return len(answer.read())

    started = time.perf_counter()
    with ThreadPoolExecutor(connections) as pool:
        total = sum(pool.map(size, urls))
    took = time.perf_counter() - started
    print(f"  serve alone: the same {len(urls)} chunks ({total / 1e6:.0f} MB) to {connections} Python "
          f"connections in {1000 * took:.0f} ms ({total / 1e6 / took:.0f} MB/s)")


def report(browser: Any, address: str, zoom: float, viewport: list[int], steps: int) -> list[str]:
    """Open ``address`` in a fresh page (nothing cached), time the first slice and ``steps``
    steps down through z (the first one from the middle slice, the first of its 16-deep slab of
    chunks, into the next slab); print the figures; return the chunk addresses first read."""
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    requests: list[str] = []
    finished: list[float] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("requestfinished", lambda r: finished.append(time.perf_counter()))
    navigated = time.perf_counter()
    page.goto(address)
    first = open_viewer(page)
    served = 1000 * (max(finished) - navigated)  # the rest of the wait is the browser's: decoding, drawing
    levels = chunk_levels(requests, "bench.ome.zarr")
    read = [u for u in requests if "/bench.ome.zarr/" in u and "/" in u.split("/bench.ome.zarr/", 1)[1]
            and not u.rsplit("/", 1)[1].startswith(".")]
    requests.clear()
    times = [z_step(page, "Comma")]
    crossing = len(chunk_levels(requests, "bench.ome.zarr"))
    times += [z_step(page, "Comma") for _ in range(steps - 1)]
    page.close()
    view = "the link's own view (whole slice)" if not zoom else f"zoom {zoom:g} (voxels a screen pixel)"
    print(f"{view}: first slice {first:.0f} ms after navigation "
          f"(goal: under 1000 ms), {len(levels)} chunks read (levels {', '.join(sorted(set(levels)))}), "
          f"the last answered by serve at about {served:.0f} ms")
    print(f"  z steps: the first (into the next row of chunks, {crossing} chunks read) {times[0]:.0f} ms; "
          f"the other {len(times) - 1} (inside the chunks read): median {statistics.median(times[1:]):.0f} ms, "
          f"max {max(times[1:]):.0f} ms")
    return read


if __name__ == "__main__":
    raise SystemExit(main())
