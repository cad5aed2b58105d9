"""A real browser for page tests: Debian's chromium driven by Playwright, and a live ``serve``.

``.ci/run`` installs chromium from Debian's packages (never a browser download). On a machine
without it the browser tests are skipped with the reason, except under CI (``CI`` set), where a
missing browser is a failure: the pages must be tried in a real browser before anything lands.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

CHROMIUM = os.environ.get("TOMOCUPY_GLADIER_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# the machine has no network: without these flags chromium keeps trying Google's hosts. WebGL
# (the volume viewer, neuroglancer, draws with it) from SwiftShader, the CPU renderer chromium
# ships: with --disable-gpu a headless chromium has no WebGL and neuroglancer's page stays black
CHROMIUM_ARGS = ["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
                 "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run the browser tests; .ci/run installs chromium)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator["object"]:
    """A headless chromium (Playwright's ``Browser``) for the whole session."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - the test extra installs it
        _missing("playwright is not installed (pip install '.[test]')")
    if not Path(CHROMIUM).exists():
        _missing(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser) -> Iterator["object"]:
    """A fresh page (own context: no cookies shared between tests), 1280 x 900."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    try:
        yield opened
    finally:
        context.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def live_server(app, threads: int = 4) -> Iterator[str]:
    """Serve a WSGI ``app`` with waitress on a free loopback port; yields its base address."""
    from waitress.server import create_server

    server = create_server(app, host="127.0.0.1", port=free_port(), threads=threads)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        server.close()
        thread.join(timeout=5)


def screenshot(page, name: str, elsewhere: Path) -> Path:
    """A full-page screenshot: into docs/screenshots/ with ``UPDATE_SCREENSHOTS=1`` (the pictures
    the docs show), otherwise into ``elsewhere`` (a test's tmp_path), so test runs leave the tree alone."""
    folder = SCREENSHOTS if os.environ.get("UPDATE_SCREENSHOTS") else elsewhere
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.png"
    page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 1000, f"empty screenshot {target}"
    return target
