"""Time to first slice and per z step in the volume viewer of ``serve``, in headless chromium.

A synthetic volume (default 64 x 2048 x 2048 float32: the plane of ``bench_scale``'s
reconstruction, 2048 x 2048; the first slice reads one plane's chunks, so the depth only
changes the disk use) is written as an NGFF 0.4 multiscale Zarr into the demo run's
reconstruction folder, opened from ``serve`` over loopback, and stepped through z. Prints the
time from the viewer page's navigation to its first drawn slice (goal: under 1 s), each z
step's time, the level shown and the chunk requests.

    python benchmarks/bench_viewer.py [--shape 64 2048 2048] [--chunks 8 256 256] [--steps 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np


def open_viewer(page: Any) -> float:
    """Wait for the viewer's first drawn slice; its time in ms since the page's navigation began."""
    page.wait_for_function("window.tomoViewer && window.tomoViewer.renders >= 1 && window.tomoViewer.idle",
                           timeout=60_000)
    return float(page.evaluate("window.tomoViewer.firstSliceMs"))


def render_after(page: Any, action: Callable[[], Any]) -> float:
    """Run ``action`` (a key, a wheel, a choice) and wait until the viewer has drawn again; ms."""
    before = page.evaluate("window.tomoViewer.renders")
    started = time.perf_counter()
    action()
    page.wait_for_function(f"window.tomoViewer.renders > {before} && window.tomoViewer.idle")
    return 1000 * (time.perf_counter() - started)


def z_steps(page: Any, count: int) -> list[float]:
    """``count`` steps up through z (the arrow key), each one's time in ms until drawn."""
    return [render_after(page, lambda: page.keyboard.press("ArrowUp")) for _ in range(count)]


def pixels(page: Any) -> np.ndarray:
    """The viewer canvas's grey values (its red channel) as a 2-D array."""
    width, height, values = page.evaluate("""() => {
        const c = document.getElementById("slice");
        const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
        const grey = new Array(c.width * c.height);
        for (let i = 0; i < grey.length; i++) grey[i] = d[4 * i];
        return [c.width, c.height, grey];
    }""")
    return np.asarray(values, dtype=np.float32).reshape(height, width)


def synthetic_volume(shape: tuple[int, int, int], seed: int = 7) -> np.ndarray:
    """Rings that change with z, with noise (so the chunks compress no better than a real scan's)."""
    rng = np.random.default_rng(seed)
    nz, ny, nx = shape
    y, x = np.ogrid[-1:1:ny * 1j, -1:1:nx * 1j]
    radius = np.sqrt(x * x + y * y).astype(np.float32)
    volume = np.empty(shape, np.float32)
    for z in range(nz):
        volume[z] = np.cos(radius * (20 + z)) + 0.2 * rng.standard_normal((ny, nx), dtype=np.float32)
    return volume


def main(argv: list[str] | None = None) -> int:
    from click.testing import CliRunner
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS, live_server
    from tests.ome_zarr_volume import write_levels
    from tomocupy_gladier.cli import main as cli
    from tomocupy_gladier.experiment.config import load_config
    from tomocupy_gladier.web.app import create_app
    from tomocupy_gladier.web.sources import sources_for

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=[64, 2048, 2048])
    parser.add_argument("--chunks", type=int, nargs=3, default=[8, 256, 256])
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_viewer_") as tmp:
        workdir = Path(tmp) / "demo"
        made = CliRunner().invoke(cli, ["demo", "--workdir", str(workdir), "--projections", "90",
                                        "--rows", "4", "--columns", "96"])
        if made.exit_code != 0:
            print(made.output, file=sys.stderr)
            return 1
        started = time.perf_counter()
        recon = workdir / "facility" / "raw_rec" / "demo_scan_0001_rec"
        zarr_path = write_levels(synthetic_volume(tuple(args.shape)), recon / "bench.ome.zarr",
                                 smallest=256, chunks=tuple(args.chunks))
        written = sum(f.stat().st_size for f in zarr_path.rglob("*") if f.is_file())
        print(f"volume {' x '.join(map(str, args.shape))} float32, chunks {args.chunks}: "
              f"{written / 1e6:.0f} MB written in {time.perf_counter() - started:.1f} s")
        sources = sources_for(load_config(workdir / "experiment.toml"))
        run_id = sources.runs.page(1, 1).rows[0].run_id
        requests: list[str] = []
        try:
            with live_server(create_app(sources)) as base, sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.on("request", lambda r: requests.append(r.url))
                page.goto(f"{base}/runs/{run_id}/viewer/bench.ome.zarr")
                first = open_viewer(page)
                level = page.evaluate("window.tomoViewer.shownLevel")
                chunks = sum("/bench.ome.zarr/" in u and not u.rsplit("/", 1)[1].startswith(".") for u in requests)
                steps = z_steps(page, args.steps)
                read_ms, drawn_ms = page.evaluate("[window.tomoViewer.lastReadMs, window.tomoViewer.lastRenderMs]")
                browser.close()
        finally:
            sources.runs.store.close()
    print(f"time to first slice: {first:.0f} ms from navigation (goal: under 1000 ms); "
          f"level {level}, {chunks} chunk requests")
    print(f"per z step: median {statistics.median(steps):.0f} ms, max {max(steps):.0f} ms "
          f"over {len(steps)} steps (the last: {read_ms:.0f} ms reading chunks of {drawn_ms:.0f} ms drawn)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
