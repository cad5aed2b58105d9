"""The demo's run in a real headless chromium: it appears on the runs page, its previews load and
zoom, and the search page finds its published record."""

from __future__ import annotations

from click.testing import CliRunner

from tomocupy_gladier.cli import main
from tomocupy_gladier.tools.registry import load_config
from tomocupy_gladier.web.app import create_app
from tomocupy_gladier.web.sources import sources_for

from tests.browser import live_server


def test_the_demo_run_appears_and_its_previews_load_and_zoom(page, tmp_path):
    workdir = tmp_path / "demo"
    made = CliRunner().invoke(main, ["demo", "--workdir", str(workdir), "--projections", "120",
                                     "--rows", "4", "--columns", "96"], catch_exceptions=False)
    assert made.exit_code == 0, made.output
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sources = sources_for(load_config(workdir / "experiment.toml"))
    try:
        with live_server(create_app(sources)) as base:
            page.goto(base + "/")
            row = page.locator("tr.run").first
            # the rows are redrawn every few seconds: wait on what they show, never read them once
            row.filter(has_text="SUCCEEDED").filter(has_text="demo_scan_0001.h5").wait_for()

            row.locator("a").first.click()
            images = page.locator(".previews img.zoomable")
            images.first.wait_for()
            assert images.count() >= 3  # three orthogonal mid-sections of the volume
            for i in range(images.count()):
                images.nth(i).scroll_into_view_if_needed()
                page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                                       arg=images.nth(i).element_handle())

            images.first.click()  # opens the zoom layer with the full image
            page.locator("#zoom img").wait_for()
            page.keyboard.press("Escape")
            page.locator("#zoom").wait_for(state="detached")

            page.goto(base + "/search?q=demo")
            assert "demo_scan_0001" in page.locator("main").inner_text()
    finally:
        sources.runs.store.close()
    assert errors == []
