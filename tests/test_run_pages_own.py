"""Every run page stays the run's own (issue 27, finding 3): tomocupy's try folder is one per
scan, so a later try replaced an earlier try's montage, and the earlier page showed the later
montage and answered 404 for its own centres' images. Each previews step keeps its images
beside the run's log; a page whose reconstruction a later run replaced says so and shows those.
Whole flows on the local backend (the CPU engine, a 90 x 4 x 64 scan) and serve's pages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from tomocupy_gladier.cli import main
from tomocupy_gladier.tools.registry import load_config
from tomocupy_gladier.web.app import create_app
from tomocupy_gladier.web.sources import sources_for

from tests.tiny_experiment import isolate, tiny_experiment


def run(path: Path, *args: str) -> str:
    result = CliRunner().invoke(main, ["run", "scan1.h5", "--config", str(path), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output.split()[0]


@pytest.fixture(scope="module")
def two_tries(tmp_path_factory):
    """Two tries of one scan at other centres, then two full runs; serve's client on them."""
    root = tmp_path_factory.mktemp("pages")
    with pytest.MonkeyPatch.context() as mp:
        isolate(mp, root)
        path = tiny_experiment(root)
        truth = float(load_config(path).recon["rotation-axis"])
        first = run(path, "--try", "--rotation-axis", str(truth - 1), "--center-search-width", "2")
        second = run(path, "--try", "--rotation-axis", str(truth + 1), "--center-search-width", "2")
        full_a = run(path, "--full")
        full_b = run(path, "--full", "--rotation-axis", str(truth + 0.5))
        sources = sources_for(load_config(path))
        try:
            yield create_app(sources).test_client(), first, second, full_a, full_b, root
        finally:
            sources.runs.store.close()


def images(html: str) -> list[str]:
    return re.findall(r'<img class="zoomable" src="([^"]+)"', html)


def test_an_earlier_try_shows_its_own_montage_and_centres_never_the_later_ones(two_tries):
    client, first, second, _, _, root = two_tries
    first_page, second_page = client.get(f"/runs/{first}").text, client.get(f"/runs/{second}").text
    assert f"superseded by run" in first_page and f'href="/runs/{second}"' in first_page
    assert 'id="superseded"' not in second_page
    first_images, second_images = images(first_page), images(second_page)
    assert first_images and all(f"/runs/{first}/" in src for src in first_images)
    # its own centres: those of its range (truth - 1 +- 2), not the later try's
    truth = float(load_config(root / "experiment.toml").recon["rotation-axis"])
    centres = sorted(float(c) for c in re.findall(r"try_center([0-9.]+)\.png", " ".join(first_images)))
    assert centres and max(centres) <= truth + 1 + 1e-6
    assert centres != sorted(float(c) for c in re.findall(r"try_center([0-9.]+)\.png", " ".join(second_images)))
    for src in first_images + second_images:  # never a broken image
        assert client.get(src).status_code == 200, src
    kept = root / "facility/raw_rec/try_center/scan1.logs" / f"{first}.previews" / "try_montage.png"
    montage = next(src for src in first_images if src.endswith("try_montage.png"))
    assert client.get(montage).data == kept.read_bytes()
    assert client.get(montage).data != (root / "facility/raw_rec/try_center/scan1/previews/try_montage.png").read_bytes()


def test_a_replaced_full_run_says_so_and_shows_no_volume_of_the_later_run(two_tries):
    client, _, _, full_a, full_b, _ = two_tries
    earlier, later = client.get(f"/runs/{full_a}").text, client.get(f"/runs/{full_b}").text
    assert f'superseded by run <a class="mono" href="/runs/{full_b}">' in earlier
    assert "viewer-link" not in earlier and "viewer-link" in later
    assert images(earlier) and all(client.get(src).status_code == 200 for src in images(earlier))
    assert "axis decided</dt><dd>given (given on the command line (automatic search off))" in later
