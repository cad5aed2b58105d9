"""The interactive loop in a real headless chromium: the waiting run on the runs page, its try
montage on its page, a click on a crop chooses that centre, the run reaches SUCCEEDED."""

from __future__ import annotations

from tomocupy_gladier.clients.client_factory import local_backend
from tomocupy_gladier.web.app import create_app
from tomocupy_gladier.web.sources import sources_for

from tests.browser import live_server, screenshot
from tests.conftest import end_runs
from tests.test_serve_choice import start_interactive


def test_clicking_a_crop_of_the_montage_chooses_that_centre_and_the_run_succeeds(page, tmp_path):
    waiting = start_interactive(tmp_path / "experiment")
    run_id = waiting.run_id
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sources = sources_for(waiting.config)
    try:
        with live_server(create_app(sources)) as base:
            page.goto(base + "/")
            # the rows are redrawn every few seconds: wait on what they show, never read them once
            row = page.locator(f'tr.run:has-text("{run_id[:8]}")')
            row.filter(has_text="WaitForChoice").wait_for()
            assert row.count() == 1
            screenshot(page, "runs-page", tmp_path)

            row.locator("a.choose").click()  # "choose the centre" opens the run's page
            page.wait_for_url(f"{base}/runs/{run_id}#choice")
            montage = page.locator("#try-montage")
            montage.wait_for()
            page.wait_for_function("document.getElementById('try-montage').naturalWidth > 0")
            tiles = page.locator("button.tile")
            assert tiles.count() >= 2
            screenshot(page, "run-choose-centre", tmp_path)

            # a crop that is not the suggestion: the click chooses exactly its centre
            tile = page.locator("button.tile:not(.suggested)").first
            center = float(tile.get_attribute("data-center"))
            tile.click()
            page.wait_for_url(f"{base}/runs/{run_id}?chosen=1")
            # the page reloads itself at each new state: wait on the text, which survives them
            page.locator("p.chosen", has_text=f"centre {center:.2f}").wait_for()

            # the page follows the run (it reloads on each new state) until it ends
            page.locator("#run-status", has_text="SUCCEEDED").wait_for(timeout=240_000)
            screenshot(page, "run-after-choice", tmp_path)
    finally:
        sources.runs.store.close()
        end_runs(waiting.config.local_state_dir)  # a run the test left waiting for its choice
    final = local_backend(waiting.config).wait(run_id, timeout=60)
    assert final["status"] == "SUCCEEDED", final["details"]
    recon = final["details"]["output"]["TomocupyRecon"]["details"]["results"][0]["output"]
    assert recon["rotation_axis"] == center
    assert errors == []
