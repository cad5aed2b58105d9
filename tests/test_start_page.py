"""The start page of ``serve``: the deployed schema drawn as a form, runs started from it on the
local backend, refusals (bad input, requests from elsewhere), and the Globus link. The form
itself is tried in a real headless chromium (tests/browser.py)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from tomocupy_gladier.backends import GLOBUS
from tomocupy_gladier.tools.registry import load_config
from tomocupy_gladier.runs.run_record import RunRecord
from tomocupy_gladier.web.app import Sources, create_app
from tomocupy_gladier.web.data import LocalRuns
from tomocupy_gladier.web.sources import sources_for
from tomocupy_gladier.web.start import Starter, form_schema

from tests.browser import live_server, screenshot
from tests.tiny_experiment import isolate, return_section, tiny_experiment


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[Any, Sources]]:
    root = tmp_path_factory.mktemp("start")
    with pytest.MonkeyPatch.context() as mp:
        isolate(mp, root)
        config = load_config(tiny_experiment(root, return_section()))
        sources = sources_for(config)
        try:
            yield config, sources
        finally:
            sources.runs.store.close()


@pytest.fixture
def client(served):
    return create_app(served[1]).test_client()


def start_token(html: str) -> str:
    return re.search(r'data-token="([^"]+)"', html).group(1)


def runs_count(sources: Sources) -> int:
    return sources.runs.store.count_runs()


def wait_for_end(client, sources: Sources, run_id: str, stall: float = 600) -> dict[str, Any]:
    """Follow the run as its page does (the JSON it polls) until it ends; return that JSON.

    No overall deadline: each state of the run has its own WaitTime, so a busy machine only makes
    it slower. The wait fails when the run shows it cannot end: its worker is gone while it is
    still open, or its step has not changed for ``stall`` seconds.
    """
    from tomocupy_gladier.local.store import process_alive

    seen, since = None, time.monotonic()
    while True:
        status = client.get(f"/api/runs/{run_id}").json
        if status["final"]:
            return status
        if (status["status"], status["step"]) != seen:
            seen, since = (status["status"], status["step"]), time.monotonic()
        owner = sources.runs.store.get_run(run_id)["owner_pid"]
        if owner is not None and not process_alive(owner, None):
            status = client.get(f"/api/runs/{run_id}").json  # it may have ended just now
            assert status["final"], f"the worker {owner} of run {run_id} ended with the run at {status}"
            return status
        assert time.monotonic() - since < stall, f"run {run_id} stayed at {status} for {stall} s"
        time.sleep(0.5)


def form_with_scan(client) -> tuple[str, dict[str, Any]]:
    """The page's start token, and what its form sends untouched (every default, as the page's
    first value) once the scan is named."""
    token = start_token(client.get("/start").text)
    data = client.get("/start/tomocupy/schema.json").json["start"]
    data["source"]["path"] += "scan1.h5"
    return token, data


# ----------------------------------------------------------------- the page and its schema

def test_the_start_page_is_in_the_nav_and_offers_both_flows(client):
    assert 'href="/start"' in client.get("/").text
    html = client.get("/start").text
    assert '<option value="tomocupy" selected>' in html and '<option value="recon">' in html
    assert "jsoneditor.min.js" in html and start_token(html)
    assert client.get("/start?flow=nope").status_code == 404


def test_the_form_is_the_deployed_schema_without_function_ids(client, served):
    config, _ = served
    answer = client.get("/start/tomocupy/schema.json").json
    schema, form = answer["schema"], answer["form"]
    inner = schema["properties"]["input"]
    assert not [n for n in inner["properties"] if n.endswith("_function_id")]
    assert inner["properties"]["compute_endpoint"]["default"] == config.compute_endpoint
    assert inner["properties"]["destination"]["properties"]["path"]["default"] == "/raw/"
    assert form == form_schema(schema)
    # JSON Editor's order: a number on each field; the scan first
    places = {n: p["propertyOrder"] for n, p in form["properties"].items()}
    assert min(places, key=places.get) == "source"
    assert "format" not in form["properties"]["compute_endpoint"]  # JSON Editor's uuid makes one up
    assert form["properties"]["publishv2"]["options"] == {"collapsed": True}
    assert "allOf" not in form["properties"]["recon"]


def test_options_a_form_sends_at_tomocupys_default_are_left_out():
    from tomocupy_gladier.experiment.options import without_tomocupy_defaults

    sent = {"command": "recon", "reconstruction-type": "try", "ti-mask": 1, "ti-beta": 0.022,
            "binning": 1, "minus-log": True, "retrieve-phase-method": "none", "energy": 35.0}
    # the try stays (the flow reads it); a changed option of the other command stays, to be refused
    assert without_tomocupy_defaults(sent) == {"command": "recon", "reconstruction-type": "try",
                                               "binning": 1, "energy": 35.0}


@pytest.mark.parametrize("folder, source", [("/raw/", "/b/s.h5"), ("/raw/s.h5", "/b/s.h5"), ("/", "/b/s.h5"),
                                            ("/e/raw", "/b/t/s.h5"), ("/raw/", "/b/tiles/")])
def test_the_server_names_the_scan_at_the_facility_as_the_flow_does(folder, source):
    from tomocupy_gladier.local.jsonpath import evaluate_expression
    from tomocupy_gladier.planning.plan import in_folder
    from tomocupy_gladier.tools.transfer.tool import in_folder_of

    state = {"input": {"source": {"path": source}, "destination": {"path": folder}}}
    name = source.rstrip("/").rsplit("/", 1)[1]
    assert str(in_folder(folder, name)) == evaluate_expression(state, in_folder_of("input.destination.path"))


# ----------------------------------------------------------------- starting, and refusing

def test_a_form_input_naming_the_scan_once_starts_a_run_that_succeeds(client, served):
    config, sources = served
    token, data = form_with_scan(client)
    answer = client.post("/start/tomocupy", json={"input": data}, headers={"X-Start-Token": token})
    assert answer.status_code == 201, answer.json
    run_id = answer.json["run_id"]
    assert answer.json["url"] == f"/runs/{run_id}"
    ended = wait_for_end(client, sources, run_id)
    assert ended["status"] == "SUCCEEDED", ended["failure"]
    # the flow named the scan at the facility from its beamline path
    assert (Path(config.path).parent / "facility" / "raw" / "scan1.h5").is_file()
    record = sources.runs.store.get_run(run_id)
    assert "start-page" in record["tags"]
    state = record["details"]["output"]["input"]
    assert state["destination"]["path"] == "/raw/scan1.h5"
    assert state["tomocupy"]["file_name"].endswith("/facility/raw/scan1.h5")
    # the run page finds the reconstruction the step chose (the form named no folder)
    page = client.get(f"/runs/{run_id}").text
    facts = page[page.index('<dl class="facts">'):page.index("</dl>")]
    assert "/facility/raw_rec/" in facts and "<img" in page, facts
    # the form named no results folder either: the run sent back its own previews
    recon = Path(RunRecord(record).result("TomocupyRecon")["output"])
    returned = Path(config.path).parent / "analysis" / "incoming" / recon.name / "previews"
    made = sorted(p.name for p in (recon / "previews").glob("*.png"))
    assert made and sorted(p.name for p in returned.glob("*.png")) == made


def test_the_recon_flow_form_starts_a_run_on_a_scan_already_at_the_facility(client, served):
    import shutil

    config, sources = served
    root = Path(config.path).parent
    shutil.copyfile(root / "beamline" / "scan1.h5", root / "facility" / "raw" / "scan2.h5")
    token = start_token(client.get("/start?flow=recon").text)
    data = client.get("/start/recon/schema.json").json["start"]
    assert "source" not in data and data["tomocupy"]["file_name"].endswith("/facility/raw/")
    data["tomocupy"]["file_name"] += "scan2.h5"
    data["recon"]["reconstruction-type"] = "full"
    answer = client.post("/start/recon", json={"input": data}, headers={"X-Start-Token": token})
    assert answer.status_code == 201, answer.json
    ended = wait_for_end(client, sources, answer.json["run_id"])
    assert ended["status"] == "SUCCEEDED", ended["failure"]
    assert (root / "facility" / "raw_rec" / "scan2_rec").is_dir()
    # its previews came back beside those of every earlier scan, none of which it replaced
    incoming = root / "analysis" / "incoming"
    assert (incoming / "scan2_rec" / "previews" / "xy.png").is_file()
    earlier = [p for p in incoming.iterdir() if p.name != "scan2_rec"]
    assert earlier and all(list(p.rglob("*.png")) for p in earlier)


@pytest.mark.parametrize("token, extra", [
    (None, {}),
    ("guessed", {}),
    ("page", {"Origin": "http://evil.example"}),
    ("page", {"Sec-Fetch-Site": "cross-site"}),
])
def test_a_start_without_the_pages_token_or_from_another_site_is_refused(client, served, token, extra):
    _, sources = served
    headers = dict(extra)
    if token:
        headers["X-Start-Token"] = start_token(client.get("/start").text) if token == "page" else token
    before = runs_count(sources)
    answer = client.post("/start/tomocupy", json={"input": {}}, headers=headers)
    assert answer.status_code == 403
    assert "start page" in answer.json["problems"][0]
    assert runs_count(sources) == before


def test_bad_input_is_refused_with_the_fields_named_and_nothing_starts(client, served):
    _, sources = served
    token, data = form_with_scan(client)
    data["recon"]["rotation-axis"] = -7
    before = runs_count(sources)
    answer = client.post("/start/tomocupy", json={"input": data}, headers={"X-Start-Token": token})
    assert answer.status_code == 400
    assert answer.json["problems"] == ["input.recon.rotation-axis: -7 is less than the minimum of -1"]
    # a scan that is not there, and a body that is not the flow's input
    data["recon"]["rotation-axis"] = 31.5
    data["source"]["path"] = "/missing.h5"
    answer = client.post("/start/tomocupy", json={"input": data}, headers={"X-Start-Token": token})
    assert answer.status_code == 400 and answer.json["problems"][0].startswith("scan not found")
    answer = client.post("/start/tomocupy", data="x", headers={"X-Start-Token": token})
    assert answer.status_code == 400
    assert runs_count(sources) == before


def test_on_the_globus_backend_the_page_links_to_the_web_app_and_starts_nothing(served, tmp_path):
    config, _ = served
    from tomocupy_gladier.errors import UserError
    from tomocupy_gladier.local.store import RunStore

    starter = Starter(config, GLOBUS, {"tomocupy": "f-1"})
    store = RunStore(tmp_path / "runs.db")
    try:
        client = create_app(Sources(LocalRuns(store), experiment="cells", starter=starter)).test_client()
        html = client.get("/start").text
        assert 'href="https://app.globus.org/flows/f-1/run"' in html and 'id="start-form"' not in html
        assert client.post("/start/tomocupy", json={"input": {}}).status_code == 403
        assert "deploy" in client.get("/start?flow=recon").text  # not deployed yet: how to
    finally:
        store.close()
    with pytest.raises(UserError, match="Globus web app"):
        starter.start("tomocupy", {"input": {}})


# ----------------------------------------------------------------- in a real browser

def test_the_form_in_chromium_starts_a_run_on_the_local_backend(page, served, client, tmp_path):
    _, sources = served
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    with live_server(create_app(sources)) as base:
        page.goto(base + "/start")
        scan = page.locator('[name="input[source][path]"]')
        scan.wait_for()
        # drawn from the schema: the scan first, with the experiment's settings as defaults
        first = page.locator('#start-form [name^="input["]').first
        assert first.get_attribute("name") == "input[source][id]"
        assert scan.input_value() == "/"
        assert page.locator('[name="input[destination][path]"]').input_value() == "/raw/"
        assert page.get_by_text("Reconstruction parameters").count() >= 1
        scan.fill("/scan1.h5")
        scan.dispatch_event("change")
        screenshot(page, "start-form", tmp_path)
        before = runs_count(sources)
        page.click("#start-button")
        page.wait_for_url(re.compile(r".*/runs/[0-9a-f-]{36}$"), timeout=60_000)
        run_id = page.url.rsplit("/", 1)[1]
        assert runs_count(sources) == before + 1
        ended = wait_for_end(client, sources, run_id)
        assert ended["status"] == "SUCCEEDED", ended["failure"]
        # the run page follows the run and reloads itself at each new state; a reload of our own
        # could cut into one of those, so wait for the page to show the end
        page.locator("#run-status", has_text="SUCCEEDED").wait_for(timeout=60_000)
    assert errors == []


def test_the_form_in_chromium_shows_the_servers_refusal_and_starts_nothing(page, served):
    _, sources = served
    with live_server(create_app(sources)) as base:
        page.goto(base + "/start")
        scan = page.locator('[name="input[source][path]"]')
        scan.wait_for()
        scan.fill("/scan1.h5")
        scan.dispatch_event("change")
        axis = page.locator('[name="input[recon][rotation-axis]"]')
        axis.fill("-7")
        axis.dispatch_event("change")
        before = runs_count(sources)
        page.click("#start-button")
        problems = page.locator("#start-problems")
        problems.wait_for(state="visible")
        assert "Not started" in problems.inner_text()
        assert "input.recon.rotation-axis: -7 is less than the minimum of -1" in problems.inner_text()
        assert page.url == base + "/start"
        assert runs_count(sources) == before


def test_the_form_in_chromium_offers_each_command_only_its_own_choices(page, served):
    _, sources = served
    with live_server(create_app(sources)) as base:
        page.goto(base + "/start")
        # the experiment runs tomocupy-cpu on this machine: its choices only (tomocupy's full
        # set, lprec only under recon, is the schema's: test_start_form.py)
        algorithm = page.locator('[name="input[recon][reconstruction-algorithm]"] option')
        algorithm.first.wait_for(state="attached")
        assert algorithm.all_inner_texts() == ["fourierrec"]
        rings = page.locator('[name="input[recon][remove-stripe-method]"] option')
        assert rings.all_inner_texts() == ["none", "fw", "vo-all"]  # no ti
        assert page.locator('[name="input[recon][energy]"]').count() == 0
        page.locator('select[id="input[recon]switcher"]').select_option(index=1)
        page.locator('[name="input[recon][energy]"]').wait_for()
        phase = page.locator('[name="input[recon][retrieve-phase-method]"] option')
        assert phase.all_inner_texts() == ["none", "paganin"]  # recon_steps' own, tomocupy-cpu's
        assert page.locator('[name="input[recon][command]"]').input_value() == "recon_steps"
