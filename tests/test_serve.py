"""``tomocupy-gladier serve``: the pages, through Flask's test client, on real local runs."""

from __future__ import annotations

import json
import re
import shutil
import urllib.parse
from pathlib import Path
from typing import Iterator

import globus_sdk
import pytest

import tomocupy_gladier.web
from click.testing import CliRunner
from globus_sdk.testing import get_response_set, load_response

from benchmarks.bench_serve import fill_store
from tomocupy_gladier.clients.client_factory import make_client
from tomocupy_gladier.compute.multiscale import write_ome_zarr
from tomocupy_gladier.campaign.ledger import FAILED, SUCCEEDED, Ledger
from tomocupy_gladier.campaign.manifest import Job
from tomocupy_gladier.campaign.wiring import default_campaigns_dir, ledger_path
from tomocupy_gladier.cli import main
from tomocupy_gladier.experiment.config import ExperimentConfig
from tomocupy_gladier.tools.registry import load_config
from tomocupy_gladier.errors import UserError
from tomocupy_gladier.planning.flow_input import build_flow_input, recon_parameters
from tomocupy_gladier.local.store import RunStore
from tomocupy_gladier.web.app import Sources, create_app
from tomocupy_gladier.web.data import GlobusRuns, LocalRuns
from tomocupy_gladier.web.sources import sources_for
from tomocupy_gladier.web.viewer import contrast
from tomocupy_gladier.tools.publish.config import publish_config

from tests.tiny_experiment import isolate, tiny_experiment

PNG = b"\x89PNG\r\n\x1a\n"


class Runs:
    """Three real runs of the tiny experiment, oldest first: a try, a full, a refused one."""

    def __init__(self, config: ExperimentConfig, try_run: dict, full: dict, failed: dict) -> None:
        self.config, self.try_run, self.full, self.failed = config, try_run, full, failed


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Iterator[Runs]:
    root = tmp_path_factory.mktemp("serve")
    with pytest.MonkeyPatch.context() as mp:
        isolate(mp, root)
        config = load_config(tiny_experiment(root))
        made = []
        for kind, overrides, label in (("try", {}, "scan1 try"), ("full", {}, "scan1 full"),
                                       ("full", {"remove-stripe-method": "ti"}, "scan1 refused")):
            body = build_flow_input(config, "scan1.h5", recon_parameters(config, overrides, kind))
            made.append(make_client("tomocupy", config).run_flow(flow_input=body, label=label))
        assert [r["status"] for r in made] == ["SUCCEEDED", "SUCCEEDED", "FAILED"], made[2]["details"]
        yield Runs(config, *made)


@pytest.fixture
def client(runs):
    sources = sources_for(runs.config)
    yield create_app(sources).test_client()
    sources.runs.store.close()


def rows(html: str) -> list[str]:
    return re.findall(r'<tr class="run [^"]*">.*?</tr>', html, re.S)


# ------------------------------------------------------------------------------ runs page

def test_runs_page_lists_runs_newest_first_with_status_colours_and_failure_reasons(client, runs):
    html = client.get("/").text
    found = rows(html)
    assert len(found) == 3
    assert runs.failed["run_id"][:8] in found[0] and runs.try_run["run_id"][:8] in found[2]
    assert 'class="run bad"' in found[0] and 'status bad">FAILED' in found[0]
    assert "ActionFailedException" in found[0] and "remove-stripe-method" in found[0]
    assert 'class="run ok"' in found[1] and 'status ok">SUCCEEDED' in found[1]
    assert "scan1 full" in found[1] and "3 in all" in html
    # the live refresh gets the same rows
    assert rows(client.get("/runs/rows").text) == found
    data = client.get("/api/runs").get_json()
    assert [r["label"] for r in data["runs"]] == ["scan1 refused", "scan1 full", "scan1 try"]
    assert data["runs"][0]["failure"].startswith("ActionFailedException: ")
    assert data["total"] == 3 and all(r["seconds"] > 0 for r in data["runs"])


def test_runs_page_is_paginated_in_the_store(tmp_path):
    store = RunStore(tmp_path / "runs.db")
    fill_store(store, 120)
    app = create_app(Sources(LocalRuns(store), experiment="many")).test_client()

    first = app.get("/api/runs?per_page=50").get_json()
    last = app.get("/api/runs?page=3&per_page=50").get_json()
    assert first["total"] == 120 and len(first["runs"]) == 50 and len(last["runs"]) == 20
    assert first["runs"][0]["label"] == "scan_00119 full" and last["runs"][-1]["label"] == "scan_00000 full"
    every = [r["run_id"] for p in (1, 2, 3)
             for r in app.get(f"/api/runs?page={p}&per_page=50").get_json()["runs"]]
    assert every == [r["run_id"] for r in store.list_runs(limit=None)]
    html = app.get("/?page=2&per_page=50").text
    assert "page 2 of 3" in html and "page=1" in html and "page=3" in html
    assert len(rows(html)) == 50
    assert "tomocupy exited with status 1" in html  # failures of the synthetic runs
    # unfinished runs show the state they are in, live
    newest = rows(app.get("/runs/rows?per_page=5").text)
    assert 'class="run live"' in newest[0] and "<td>MakePreviews</td>" in newest[0]
    # the list reads summaries only, never the run state
    brief = store.list_runs(limit=1, brief=True)[0]["details"]
    assert set(brief) <= {"code", "description", "state_name", "time", "output"}
    assert set(brief.get("output") or {}) <= {"RunFailure"}  # never the whole run state
    store.close()


# ------------------------------------------------------------------------------ one run

def test_run_page_shows_states_times_previews_and_log_tail(client, runs):
    run_id = runs.full["run_id"]
    html = client.get(f"/runs/{run_id}").text
    for state in ("Transfer", "TomocupyRecon", "MakePreviews", "Publishv2Ingest"):
        assert f"<td>{state}</td>" in html
    assert re.search(r"TomocupyRecon</td><td>ActionCompleted</td><td class=\"num\">[\d.]+ s", html)
    images = re.findall(r'src="(/runs/[^"]+/previews/[^"]+)"', html)
    assert [i.rsplit("/", 1)[1] for i in images] == ["xy.png", "xz.png", "yz.png"]
    image = client.get(images[0])
    assert image.status_code == 200 and image.data.startswith(PNG) and image.mimetype == "image/png"
    assert "Reconstruction time" in html and f"{run_id}.log" in html
    assert "rotation axis" in html and 'class="zoomable"' in html


def test_try_run_page_shows_the_montage_first(client, runs):
    html = client.get(f"/runs/{runs.try_run['run_id']}").text
    figures = re.findall(r'<figure class="([^"]*)">\s*<img class="zoomable" src="([^"]+)"', html)
    assert figures[0][0] == "montage" and figures[0][1].endswith("/previews/try_montage.png")
    assert "try montage" in html and "suggested centre" in html
    assert client.get(figures[0][1]).data.startswith(PNG)


def test_failed_run_page_shows_the_reason(client, runs):
    html = client.get(f"/runs/{runs.failed['run_id']}").text
    assert 'status bad" id="run-status"' in html and "remove-stripe-method" in html
    assert client.get(f"/api/runs/{runs.failed['run_id']}").get_json()["final"] is True
    assert client.get("/runs/no-such-run").status_code == 404


def test_image_route_refuses_anything_outside_the_runs_previews_folder(client, runs):
    run_id = runs.full["run_id"]
    folder = Path(runs.full["details"]["output"]["MakePreviews"]["details"]["results"][0]["output"]["folder"])
    outside = folder.parent.parent / "outside.png"
    shutil.copyfile(folder / "xy.png", outside)
    (folder / "link.png").symlink_to(outside)
    (folder / "notes.txt").write_text("not an image")
    try:
        for name in ("../../outside.png", "..%2F..%2Foutside.png", "%2e%2e/%2e%2e/outside.png",
                     f"/{outside}", "link.png", "notes.txt", "../recon_00000.tiff", "missing.png"):
            assert client.get(f"/runs/{run_id}/previews/{name}", follow_redirects=True).status_code == 404, name
        assert client.get(f"/runs/{run_id}/previews/xy.png").status_code == 200
        # a run whose previews are not recorded has no images at all
        assert client.get(f"/runs/{runs.failed['run_id']}/previews/xy.png").status_code == 404
    finally:
        (folder / "link.png").unlink()
        (folder / "notes.txt").unlink()
        outside.unlink()


# ------------------------------------------------------------------------------ the volume viewer

@pytest.fixture
def volume(runs) -> Iterator[Path]:
    """An OME-Zarr (the pipeline's writer, 4^3 chunks) in the full run's reconstruction folder
    (the folder its input names), with the display window the writer records."""
    recon = Path(runs.full["details"]["output"]["MakePreviews"]["details"]["results"][0]["output"]["folder"]).parent
    target = recon / "volume.ome.zarr"
    write_ome_zarr(sorted(recon.glob("recon_*.tiff")), target, 1.3, chunks=(4, 4, 4))
    attrs = json.loads((target / ".zattrs").read_text())
    attrs["omero"] = {"channels": [{"color": "FFFFFF", "window": {"min": -1.0, "max": 2.0, "start": -0.5, "end": 1.5}}]}
    (target / ".zattrs").write_text(json.dumps(attrs))
    yield target
    shutil.rmtree(target)


def viewer_state(location: str) -> dict:
    """The neuroglancer state in a viewer address (after ``#!``)."""
    return json.loads(urllib.parse.unquote(location.split("#!", 1)[1]))


def test_a_run_page_links_neuroglancer_on_each_ome_zarr_of_its_reconstruction(client, runs, volume):
    run_id = runs.full["run_id"]
    links = re.findall(r'class="viewer-link" href="([^"]+)"', client.get(f"/runs/{run_id}").text)
    assert links == [f"/runs/{run_id}/viewer/volume.ome.zarr"]
    opened = client.get(links[0])
    assert opened.status_code == 302
    page, _ = opened.headers["Location"].split("#!", 1)
    assert page == "/static/neuroglancer/index.html"
    state = viewer_state(opened.headers["Location"])
    layer, = state["layers"]
    # the Zarr through serve's own route, absolute (neuroglancer's zarr:// sources are)
    assert layer["source"] == f"zarr://http://localhost/runs/{run_id}/zarr/volume.ome.zarr/"
    assert layer["shaderControls"]["normalized"]["range"] == [-0.5, 1.5]  # the omero window's start, end
    shape = json.loads((volume / "0" / ".zarray").read_text())["shape"]  # z, y, x
    assert state["layout"] == "xy" and state["displayDimensions"] == ["x", "y", "z"]
    assert state["position"] == [shape[2] // 2, shape[1] // 2, shape[0] // 2]
    assert state["dimensions"]["z"] == [pytest.approx(1.3e-6), "m"]
    assert client.get(f"/runs/{run_id}/viewer/other.zarr").status_code == 404
    assert "viewer-link" not in client.get(f"/runs/{runs.failed['run_id']}").text


def test_an_exports_viewer_shows_its_stored_range_and_a_zarr_without_axes_opens_as_it_is(client, runs, volume):
    run_id = runs.full["run_id"]
    write_ome_zarr(sorted(volume.parent.glob("recon_*.tiff")), volume.parent / "whole.ome.zarr", None,
                   chunks=(4, 4, 4), exports=["uint8"])
    bare = volume.parent / "bare.zarr"
    bare.mkdir()
    (bare / ".zattrs").write_text("{}")
    try:
        export = viewer_state(client.get(f"/runs/{run_id}/viewer/volume_uint8.ome.zarr").headers["Location"])
        assert export["layers"][0]["shaderControls"]["normalized"]["range"] == [0.0, 255.0]
        assert export["dimensions"]["x"] == [1.0, ""]  # no pixel size: unit-less voxels
        # neither axes nor window: the layer alone, neuroglancer chooses the rest
        assert viewer_state(client.get(f"/runs/{run_id}/viewer/bare.zarr").headers["Location"]) == {
            "layers": [{"type": "image", "source": f"zarr://http://localhost/runs/{run_id}/zarr/bare.zarr/",
                        "name": "bare.zarr"}], "layout": "xy"}
    finally:
        for made in ("whole.ome.zarr", "volume_uint8.ome.zarr", "bare.zarr"):
            shutil.rmtree(volume.parent / made)


def test_the_vendored_neuroglancer_is_served_with_types_a_browser_runs(client):
    index = client.get("/static/neuroglancer/index.html")
    assert index.status_code == 200
    scripts = re.findall(r'<script type="module"[^>]* src="\./([^"]+)"', index.text)
    assert scripts, index.text
    for name in scripts:  # a module script must come as JavaScript
        assert client.get(f"/static/neuroglancer/{name}").mimetype == "text/javascript"
    static = Path(tomocupy_gladier.web.__file__).parent / "static" / "neuroglancer"
    wasm = sorted(p.name for p in (static / "assets").glob("*.wasm"))
    assert wasm and all(client.get(f"/static/neuroglancer/assets/{n}").mimetype == "application/wasm" for n in wasm)
    assert not list(static.rglob("*.map"))  # no source maps vendored
    notice = (static / "NOTICE").read_text()
    assert "neuroglancer 2.41.2" in notice and "Apache License" in (static / "LICENSE").read_text()


def test_the_viewers_contrast_comes_from_the_zarrs_metadata():
    window = {"omero": {"channels": [{"color": "FFFFFF", "window": {"min": 0, "max": 9, "start": 1.5, "end": 7}}]}}
    assert contrast(window) == [1.5, 7.0]
    export = {"multiscales": [{"metadata": {"scaling": {"low": -0.1, "high": 0.4, "stored_max": 255}}}]}
    # an export keeps low..high as 0..stored_max: the range is in the stored values neuroglancer reads
    assert contrast(export) == [0.0, 255.0]
    assert contrast({"multiscales": [{"metadata": {}}]}) is None  # neuroglancer's own default


def test_the_zarr_is_served_with_lengths_validators_304s_and_ranges(client, runs, volume):
    base = f"/runs/{runs.full['run_id']}/zarr/volume.ome.zarr"
    attrs = client.get(f"{base}/.zattrs")
    assert attrs.mimetype == "application/json" and attrs.get_json()["multiscales"][0]["version"] == "0.4"
    chunk = client.get(f"{base}/0/0/0/0")
    assert chunk.status_code == 200 and chunk.mimetype == "application/octet-stream"
    assert int(chunk.headers["Content-Length"]) == (volume / "0/0/0/0").stat().st_size == len(chunk.data)
    assert chunk.headers["ETag"] and chunk.headers["Last-Modified"] and "max-age" in chunk.headers["Cache-Control"]
    again = client.get(f"{base}/0/0/0/0", headers={"If-None-Match": chunk.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    since = client.get(f"{base}/0/0/0/0", headers={"If-Modified-Since": chunk.headers["Last-Modified"]})
    assert since.status_code == 304
    part = client.get(f"{base}/0/0/0/0", headers={"Range": "bytes=2-5"})
    assert part.status_code == 206 and part.data == chunk.data[2:6]
    assert part.headers["Content-Range"] == f"bytes 2-5/{len(chunk.data)}"
    # a chunk never written is missing (the reader takes the fill value)
    assert client.get(f"{base}/0/99/0/0").status_code == 404


def test_the_zarr_route_sends_nothing_outside_the_runs_volume(client, runs, volume):
    run_id = runs.full["run_id"]
    outside = volume.parent.parent / "outside.bin"
    outside.write_bytes(b"secret")
    (volume / "0" / "link").symlink_to(outside)
    (volume / ".hidden").write_text("not a Zarr key")
    (volume.parent / "linked.zarr").symlink_to(volume.parent.parent, target_is_directory=True)
    try:
        for name in ("volume.ome.zarr/../recon_00000.tiff", "volume.ome.zarr/..%2Frecon_00000.tiff",
                     "volume.ome.zarr/0/link", "volume.ome.zarr/.hidden", "previews/xy.png",
                     "linked.zarr/outside.bin", "volume.ome.zarr//etc/passwd", "volume.ome.zarr/"):
            assert client.get(f"/runs/{run_id}/zarr/{name}", follow_redirects=True).status_code == 404, name
        assert "linked.zarr" not in client.get(f"/runs/{run_id}").text  # a link out is no volume of the run
        assert client.get(f"/runs/{runs.failed['run_id']}/zarr/volume.ome.zarr/.zattrs").status_code == 404
    finally:
        (volume.parent / "linked.zarr").unlink()
        outside.unlink()


def test_beyond_loopback_the_zarr_needs_the_token_as_every_page_does(runs, volume):
    sources = sources_for(runs.config)
    app = create_app(sources, host="0.0.0.0", token="s3cret").test_client()
    chunk = f"/runs/{runs.full['run_id']}/zarr/volume.ome.zarr/0/0/0/0"
    assert app.get(chunk).status_code == 401
    assert app.get(f"/runs/{runs.full['run_id']}/viewer/volume.ome.zarr?token=s3cret").status_code == 302
    assert app.get(chunk).status_code == 200  # the viewer's reads carry the cookie its page set
    sources.runs.store.close()


# ------------------------------------------------------------------------------ campaigns, search

def test_campaign_pages_show_progress_and_failures(client, runs):
    folder = default_campaigns_dir(runs.config)
    path = ledger_path(folder, "reproc")
    try:
        with Ledger(path) as ledger:
            ledger.set_meta({"name": "reproc", "flow": "recon"})
            keys = ledger.add_jobs([Job(f"scan{i}.h5", "default") for i in range(4)])
            for key, run in zip(keys[:2], (runs.full, runs.failed)):
                ledger.mark_submitting(key)
                ledger.mark_active(key, run["run_id"])
            ledger.mark_finished(keys[0], SUCCEEDED)
            ledger.mark_finished(keys[1], FAILED, "ActionFailedException: remove-stripe-method")
        html = client.get("/campaigns").text
        assert 'href="/campaigns/reproc"' in html and "2 / 4 done (50 %)" in html
        assert "1 failed, first: scan1.h5: ActionFailedException" in html
        page = client.get("/campaigns/reproc").text
        assert '<progress max="4" value="2">' in page and "PENDING 2" in page
        assert f'href="/runs/{runs.full["run_id"]}"' in page
        assert client.get("/campaigns/nope").status_code == 404
        assert client.get("/campaigns/..%2Fruns").status_code == 404
    finally:
        path.unlink()


def test_search_page_lists_published_records_with_their_previews(client, runs):
    html = client.get("/search?q=scan1&energy=25").text
    assert html.count('<section class="record">') == 2
    images = re.findall(r'src="(/published/[^"]+)"', html)
    assert any(i.endswith("/scan1_rec/previews/xy.png") for i in images)
    assert any(i.endswith("/try_montage.png") for i in images)
    assert client.get(images[0]).data.startswith(PNG)
    assert "no published reconstruction matches" in client.get("/search?q=*&sample=nobody").text
    collection = publish_config(runs.config).collection
    for name in ("../experiment.toml", "../../experiment.toml", "cells/scan1_rec/recon_00000.tiff"):
        assert client.get(f"/published/{collection}/{name}").status_code == 404, name
    assert client.get("/published/00000000-0000-0000-0000-000000000000/cells/x.png").status_code == 404


# ------------------------------------------------------------------------------ access

def test_beyond_loopback_a_token_is_required(runs):
    sources = sources_for(runs.config)
    local = create_app(sources).test_client()
    assert local.get("/").status_code == 200
    assert local.get("/", headers={"Host": "127.0.0.1:8765"}).status_code == 200
    assert local.get("/", headers={"Host": "rebound.example:8765"}).status_code == 400  # DNS rebinding
    with pytest.raises(UserError, match="--token"):
        create_app(sources, host="0.0.0.0")
    app = create_app(sources, host="0.0.0.0", token="s3cret").test_client()
    assert app.get("/").status_code == 401
    assert app.get("/api/runs").status_code == 401
    assert app.get("/?token=wrong").status_code == 401
    assert app.get("/", headers={"X-Token": "s3cret"}).status_code == 200
    first = app.get("/?token=s3cret")
    assert first.status_code == 200 and "HttpOnly" in first.headers["Set-Cookie"]
    assert app.get("/api/runs").status_code == 200  # the cookie the good token set
    sources.runs.store.close()


def test_serve_command_wiring(runs, monkeypatch):
    import waitress

    served = {}
    monkeypatch.setattr(waitress, "serve", lambda app, **kw: served.update(app=app, **kw))
    cli = CliRunner()
    config = str(runs.config.path)

    help_text = cli.invoke(main, ["serve", "--help"]).output
    assert "--port" in help_text and "--token" in help_text and "--host" in help_text

    refused = cli.invoke(main, ["serve", "--config", config, "--host", "0.0.0.0"])
    assert refused.exit_code == 2 and "--token" in refused.output and not served

    done = cli.invoke(main, ["serve", "--config", config, "--port", "8899"])
    assert done.exit_code == 0, done.output
    assert served["host"] == "127.0.0.1" and served["port"] == 8899
    assert "http://127.0.0.1:8899/" in done.output and "token" not in done.output
    assert served["app"].test_client().get("/").status_code == 200

    shared = cli.invoke(main, ["serve", "--config", config, "--host", "0.0.0.0", "--generate-token"])
    assert shared.exit_code == 0, shared.output
    token = re.search(r"\?token=(\S+)", shared.output).group(1)
    assert served["host"] == "0.0.0.0"
    app = served["app"].test_client()
    assert app.get("/").status_code == 401 and app.get(f"/?token={token}").status_code == 200


# ------------------------------------------------------------------------------ globus backend

def test_globus_backend_lists_the_flows_runs_and_links_to_the_web_app(http):
    load_response(globus_sdk.FlowsClient.list_runs)
    load_response(globus_sdk.FlowsClient.get_run)
    listed = get_response_set(globus_sdk.FlowsClient.list_runs).lookup("default").json["runs"][0]
    run_id = get_response_set(globus_sdk.FlowsClient.get_run).metadata["run_id"]
    flow_id = listed["flow_id"]
    app = create_app(Sources(GlobusRuns(globus_sdk.FlowsClient(), flow_id), experiment="cells")).test_client()

    html = app.get("/").text
    assert f'href="https://app.globus.org/runs/{listed["run_id"]}"' in html
    assert listed["label"] in html and "(globus backend)" in html
    sent = http.calls[-1].request
    assert f"filter_flow_id={flow_id}" in sent.url and "orderby=start_time+DESC" in sent.url

    page = app.get(f"/runs/{run_id}").text
    assert f'href="https://app.globus.org/runs/{run_id}"' in page


def test_globus_backend_lists_the_runs_of_every_deployed_flow_in_one_list(http):
    load_response(globus_sdk.FlowsClient.list_runs)
    ids = ["aaaaaaaa-0000-4000-8000-000000000001", "aaaaaaaa-0000-4000-8000-000000000002"]
    app = create_app(Sources(GlobusRuns(globus_sdk.FlowsClient(), ids), experiment="cells")).test_client()
    assert app.get("/").status_code == 200
    assert "filter_flow_id=" + "%2C".join(ids) in http.calls[-1].request.url


def test_on_globus_serve_reads_every_deployed_flow_id_from_gladiers_storage(tmp_path, mocker):
    from tomocupy_gladier.web import sources

    clients = {"tomocupy": "f-1", "recon": None, "interactive": "f-3"}

    def fake_client(name, config):
        client = mocker.Mock()
        client.get_flow_id.return_value = clients[name]
        return client

    mocker.patch("tomocupy_gladier.clients.client_factory.globus_client", side_effect=fake_client)
    runs, flow_ids = sources._globus_runs(None)
    assert flow_ids == {"tomocupy": "f-1", "interactive": "f-3"}
    assert runs.flow_ids == ["f-1", "f-3"]
    clients.update(tomocupy=None, interactive=None)
    with pytest.raises(UserError, match="no flow deployed for this login yet"):
        sources._globus_runs(None)
