"""``serve`` answering an interactive run: the montage's crops and the options as buttons, the
option URLs, the POST that makes the choice (CSRF token, same origin), then the run going on."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Iterator

import pytest
from click.testing import CliRunner

from tomocupy_gladier.clients.client_factory import local_backend, make_client
from tomocupy_gladier.runs.choice import WaitingChoice, waiting_choice
from tomocupy_gladier.cli import main
from tomocupy_gladier.experiment.config import ExperimentConfig
from tomocupy_gladier.tools.registry import load_config
from tomocupy_gladier.web.app import create_app
from tomocupy_gladier.web.sources import sources_for

from tests.conftest import end_runs
from tests.tiny_experiment import tiny_experiment

PNG = b"\x89PNG\r\n\x1a\n"


class Waiting:
    def __init__(self, config: ExperimentConfig, run_id: str, choice: WaitingChoice) -> None:
        self.config, self.run_id, self.choice = config, run_id, choice


def start_interactive(root: Path, sections: str = "") -> Waiting:
    """The tiny experiment's scan run with --interactive, up to its wait for the choice;
    ``sections``: more TOML for the experiment file (e.g. ``[notify]``)."""
    path = tiny_experiment(root, "\n[local]\nserve_url = \"http://127.0.0.1:8765\"\n" + sections)
    # a try of 4 px either side of the experiment's axis, in half pixels
    started = CliRunner().invoke(main, ["run", "scan1.h5", "--config", str(path), "--interactive",
                                        "--center-search-width", "4", "--center-search-step", "0.5",
                                        "--no-follow"], catch_exceptions=False)
    assert started.exit_code == 0, started.output
    run_id = started.output.strip().splitlines()[-1]
    config = load_config(path)
    client = make_client("interactive", config)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        choice = waiting_choice(client, run_id)
        if choice is not None:
            return Waiting(config, run_id, choice)
        assert client.get_status(run_id)["status"] == "ACTIVE", client.get_status(run_id)["details"]
        time.sleep(0.3)
    raise AssertionError("the run never waited for a choice")


@pytest.fixture
def waiting(tmp_path) -> Iterator[Waiting]:
    """A run waiting for its choice; a run the test left waiting is ended at teardown."""
    try:
        yield start_interactive(tmp_path)
    finally:
        end_runs(tmp_path / ".tomocupy-gladier")


@pytest.fixture
def client(waiting) -> Iterator:
    sources = sources_for(waiting.config)
    yield create_app(sources).test_client()
    sources.runs.store.close()


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', html).group(1)


def test_a_waiting_run_shows_its_montage_with_clickable_crops_and_a_button_per_option(client, waiting):
    html = client.get(f"/runs/{waiting.run_id}").text
    assert "Choose the rotation axis" in html
    tiles = re.findall(r'<button type="submit" name="option" value="([^"]+)" class="tile', html)
    buttons = re.findall(r'<button type="submit" name="option" value="([^"]+)" class="option"', html)
    suffixes = [o.url_suffix for o in waiting.choice.options]
    assert buttons == suffixes
    assert tiles and set(tiles) <= set(suffixes)  # every crop of an offered centre chooses it
    assert re.search(r'style="left: [0-9.]+%; top: [0-9.]+%; width: [0-9.]+%; height: [0-9.]+%"', html)
    montage = re.search(r'src="(/runs/[^"]+/try-previews/[^"]+)"', html).group(1)
    image = client.get(montage)
    assert image.status_code == 200 and image.data.startswith(PNG)
    assert client.get(f"/runs/{waiting.run_id}/try-previews/../../scan1.h5").status_code == 404


def test_an_option_url_asks_to_confirm_and_the_post_chooses_then_the_run_goes_on(client, waiting):
    option = waiting.choice.options[1]
    assert option.url.startswith("http://127.0.0.1:8765/")
    page = client.get(option.url.removeprefix("http://127.0.0.1:8765"))
    assert page.status_code == 200 and f"choose {option.name}" in page.text
    assert waiting_choice(make_client("interactive", waiting.config), waiting.run_id) is not None  # GET chose nothing
    assert client.get(f"/runs/{waiting.run_id}/choose?option=nope").status_code == 409

    token = csrf(page.text)
    form = {"option": option.url_suffix, "csrf_token": token}
    assert client.post(f"/runs/{waiting.run_id}/choose", data={"option": option.url_suffix}).status_code == 403
    assert client.post(f"/runs/{waiting.run_id}/choose", data={**form, "csrf_token": "0" * 64}).status_code == 403
    assert client.post(f"/runs/{waiting.run_id}/choose", data=form,
                       headers={"Origin": "http://evil.example"}).status_code == 403
    assert client.post(f"/runs/{waiting.run_id}/choose", data=form,
                       headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403

    done = client.post(f"/runs/{waiting.run_id}/choose", data=form,
                       headers={"Origin": "http://localhost"})
    assert done.status_code == 303 and done.headers["Location"].endswith(f"/runs/{waiting.run_id}?chosen=1")
    after = client.get(f"/runs/{waiting.run_id}").text
    assert f"Chosen: <strong>{option.name}</strong>" in after
    assert "the try's montage the centre was chosen from" in after and 'class="tile' not in after
    again = client.post(f"/runs/{waiting.run_id}/choose", data=form)
    assert again.status_code == 409 and "not waiting" in again.text

    final = local_backend(waiting.config).wait(waiting.run_id, timeout=300)
    assert final["status"] == "SUCCEEDED", final["details"]
    recon = final["details"]["output"]["TomocupyRecon"]["details"]["results"][0]["output"]
    assert recon["rotation_axis"] == option.center


def test_serve_says_when_it_is_not_where_the_option_urls_point(experiment, monkeypatch):
    import waitress

    monkeypatch.setattr(waitress, "serve", lambda app, **kw: None)
    cli = CliRunner()
    here = cli.invoke(main, ["serve", "--config", str(experiment)])
    elsewhere = cli.invoke(main, ["serve", "--config", str(experiment), "--port", "9000"])
    assert here.exit_code == elsewhere.exit_code == 0
    assert "serve_url" not in here.output
    assert "option URLs at http://127.0.0.1:8765 ([local] serve_url)" in elsewhere.output
