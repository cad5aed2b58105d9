"""The browser view in a real headless chromium: the page renders and its script runs."""

from __future__ import annotations

from tomocupy_gladier.web.app import Sources, create_app
from tomocupy_gladier.web.data import LocalRuns
from tomocupy_gladier.local.store import RunStore

from tests.browser import live_server


def test_an_empty_runs_page_renders_in_chromium_without_script_errors(page, tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        with live_server(create_app(Sources(runs=LocalRuns(store), experiment="cells"))) as base:
            page.goto(base + "/")
            assert "cells" in page.title() + page.content()
            page.wait_for_timeout(300)
    finally:
        store.close()
    assert errors == []
