"""`tomocupy-gladier prune`: what the [retention] age rules allow goes, chosen from the run and
published records; each removal is recorded before it starts, shown on the run's page and in its
published record; a prune killed midway loses nothing; the beamline's scan, what a waiting run
or an open campaign uses and published data (but by its own rule) are never chosen.

Whole runs on the local backend with the CPU engine (a 90 x 4 x 64 scan); the Globus path
through globus-sdk with globus_sdk.testing's registered Transfer responses."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import FACILITY, PUBLISH
from tests.tiny_experiment import isolate, tiny_experiment
from tomocupy_gladier.campaign.deletions import DELETED, DELETING, SUBMITTED, Deletions, deletions_path
from tomocupy_gladier.campaign.prune import holdings, local_records, run_prune
from tomocupy_gladier.cli import main
from tomocupy_gladier.compute.checksums import verify_manifest
from tomocupy_gladier.runs.catalog import search_local
from tomocupy_gladier.runs.run_record import RunRecord
from tomocupy_gladier.tools.registry import load_config
from tomocupy_gladier.tools.retention.config import retention_rules

LATER = dt.timedelta(days=400)


def _cli(*args: str) -> object:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def ran(tmp_path, monkeypatch):
    """An experiment after a try and a full run of scan1.h5 (the scan moved from the beamline)."""
    isolate(monkeypatch, tmp_path)

    def make(retention: str = "") -> Path:
        config = tiny_experiment(tmp_path, "\n[retention]\n" + retention if retention else "",
                                 return_folder=False)
        for kind in ("--try", "--full"):
            result = _cli("run", "scan1.h5", "--config", str(config), kind)
            assert result.exit_code == 0, result.output
        return config

    return make


def _files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


def _data(root: Path) -> set[Path]:
    """The files on the experiment's collections (not its local state)."""
    return {p for name in ("beamline", "facility", "portal", "analysis") for p in _files(root / name)}


def _plan_json(config: Path, *extra: str) -> dict:
    result = _cli("prune", "--config", str(config), "--json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_with_tries_at_0d_a_dry_run_lists_exactly_the_try_and_prune_removes_and_records_it(ran, tmp_path):
    config = ran('tries = "0d"')
    facility, portal = tmp_path / "facility", tmp_path / "portal"
    try_folder = facility / "raw_rec" / "try_center" / "scan1"
    full_folder = facility / "raw_rec" / "scan1_rec"
    before = _data(tmp_path)

    plan = _plan_json(config, "--dry-run")
    removals = [c for c in plan["choices"] if c["remove"]]
    assert [(c["kind"], c["path"]) for c in removals] == [("tries", "/raw_rec/try_center/scan1")]
    assert removals[0]["bytes"] == sum(p.stat().st_size for p in _files(try_folder))
    assert _data(tmp_path) == before, "a dry run removes nothing"

    done = _plan_json(config)
    [deletion] = done["done"]
    assert (deletion["kind"], deletion["rule"], deletion["status"]) == ("tries", "0d", DELETED)
    assert not try_folder.exists()
    # the try's log, the full reconstruction, the published data and the beamline's scan stay
    assert (facility / "raw_rec" / "try_center" / "scan1.logs").is_dir()
    assert _files(full_folder) and (tmp_path / "beamline" / "scan1.h5").is_file()
    published = portal / "published" / "cells" / "scan1_rec"
    assert verify_manifest(published) == []
    assert _data(tmp_path) == {p for p in before if try_folder not in p.parents}

    # recorded: the ledger, the try run's page, its published record
    [entry] = Deletions(deletions_path(load_config(config).local_state_dir)).entries()
    assert entry.status == DELETED and entry.path == "/raw_rec/try_center/scan1" and entry.began
    try_run = entry.runs[0]
    from tomocupy_gladier.web.app import create_app
    from tomocupy_gladier.web.sources import sources_for

    client = create_app(sources_for(load_config(config))).test_client()
    text = client.get(f"/runs/{try_run}").get_data(as_text=True)
    assert "Removed by the retention rules" in text and "/raw_rec/try_center/scan1" in text and "tries = &#34;0d&#34;" in text
    # the space page: each collection's bytes, nothing more to free, the removal listed
    space = client.get("/space").get_data(as_text=True)
    assert "[facility]" in space and "nothing: the rules allow no removal now" in space
    assert "/raw_rec/try_center/scan1" in space.split('id="removed"')[1]
    [record] = [r for r in search_local(load_config(config).local_state_dir, "*") if "try_center" in r.subject]
    assert record.removed and "/raw_rec/try_center/scan1" in record.removed[0] and 'tries = "0d"' in record.removed[0]
    # a second prune finds nothing more to do
    assert [c for c in _plan_json(config, "--dry-run")["choices"] if c["remove"]] == []


def test_by_default_everything_is_kept_but_tries_older_than_a_week(ran):
    config_path = ran()
    config = load_config(config_path)
    rules = retention_rules(config)
    assert rules.as_dict() == {"raw": "keep", "reconstruction": "keep", "tries": "7d", "published": "keep"}
    now = dt.datetime.now(dt.timezone.utc)
    for days, expected in ((6, []), (8, ["tries"])):
        prune = run_prune(config, rules, local=True, dry_run=True, now=now + dt.timedelta(days=days))
        assert [c.holding.kind for c in prune.plan.removals] == expected


def test_published_data_goes_only_by_the_published_rule_and_the_beamline_scan_never(ran, tmp_path):
    config_path = ran('raw = "1d"\nreconstruction = "1d"\ntries = "1d"\npublished = "keep"')
    config = load_config(config_path)
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2)
    prune = run_prune(config, retention_rules(config), local=True, dry_run=False, now=later)
    removed = sorted((d.kind, d.path) for d in prune.outcome.done)
    assert removed == [("raw", "/raw/scan1.h5"), ("reconstruction", "/raw_rec/scan1_rec"),
                       ("tries", "/raw_rec/try_center/scan1")]
    assert (tmp_path / "beamline" / "scan1.h5").is_file()
    published = tmp_path / "portal" / "published" / "cells" / "scan1_rec"
    assert verify_manifest(published) == []

    text = (config_path.read_text().replace('published = "keep"', 'published = "1d"'))
    config_path.write_text(text)
    config = load_config(config_path)
    prune = run_prune(config, retention_rules(config), local=True, dry_run=False, now=later)
    assert sorted(d.path for d in prune.outcome.done if d.kind == "published") == [
        "/published/cells/scan1_rec", "/published/cells/try_center/scan1/previews"]
    assert not published.exists() and (tmp_path / "beamline" / "scan1.h5").is_file()
    [record] = [r for r in search_local(config.local_state_dir, "*") if r.subject.endswith("/scan1_rec")]
    assert any("/published/cells/scan1_rec" in line and 'published = "1d"' in line for line in record.removed)


def test_what_a_run_that_has_not_ended_uses_and_what_an_open_campaign_needs_are_kept(ran, tmp_path):
    config_path = ran('raw = "0d"\ntries = "0d"')
    config = load_config(config_path)
    records = local_records(config)
    try_run = next(r for r in records if (r.flow_input.get("recon") or {}).get("reconstruction-type") == "try")
    # the same try run, as if it were still waiting for the scientist's choice
    waiting = RunRecord({**try_run.raw, "status": "INACTIVE", "completion_time": None})
    others = [r for r in records if r.run_id != try_run.run_id]
    now = dt.datetime.now(dt.timezone.utc) + LATER
    prune = run_prune(config, retention_rules(config), local=True, dry_run=True, now=now, records=[waiting, *others])
    kept = {c.holding.path: c.reason for c in prune.plan.choices if not c.remove}
    assert kept["/raw_rec/try_center/scan1"].startswith(f"in use by run {try_run.run_id}")
    assert kept["/raw/scan1.h5"].startswith(f"in use by run {try_run.run_id}"), "the waiting run reads the copy"

    from tomocupy_gladier.campaign.ledger import open_ledger
    from tomocupy_gladier.campaign.manifest import Job

    campaigns = config.local_state_dir / "campaigns"
    campaigns.mkdir(parents=True, exist_ok=True)
    with open_ledger(campaigns / "reprocess.sqlite", must_exist=False) as ledger:
        ledger.add_jobs([Job("scan1.h5", "default", {})])
    prune = run_prune(config, retention_rules(config), local=True, dry_run=True, now=now)
    kept = {c.holding.path: c.reason for c in prune.plan.choices if not c.remove}
    assert kept["/raw/scan1.h5"] == "campaign reprocess has open jobs for scan1.h5"
    assert [c.holding.path for c in prune.plan.removals] == ["/raw_rec/try_center/scan1"]


def test_a_reconstruction_its_newest_run_did_not_publish_is_kept(ran):
    config = load_config(ran('reconstruction = "0d"'))
    records = local_records(config)
    full = next(r for r in records if (r.flow_input.get("recon") or {}).get("reconstruction-type") != "try")
    state = {k: v for k, v in full.state.items() if k != "Publishv2Transfer"}
    unpublished = RunRecord({**full.raw, "details": {**full.raw["details"], "output": state}})
    found = {h.path: h for h in holdings(config, [unpublished])}
    assert not found["/raw_rec/scan1_rec"].published
    prune = run_prune(config, retention_rules(config), local=True, dry_run=True,
                      now=dt.datetime.now(dt.timezone.utc) + LATER, records=[unpublished])
    [choice] = [c for c in prune.plan.choices if c.holding.path == "/raw_rec/scan1_rec"]
    assert not choice.remove and choice.reason == "not published by its newest run"


_KILLED_PRUNE = r"""
import datetime as dt, os, pathlib, signal, sys
from tomocupy_gladier.tools.registry import load_config
from tomocupy_gladier.tools.retention.config import retention_rules
from tomocupy_gladier.campaign.prune import run_prune
removed = 0
real_unlink = pathlib.Path.unlink
def unlink(self, missing_ok=False):
    global removed
    real_unlink(self, missing_ok)
    removed += 1
    if removed == int(sys.argv[2]):
        os.kill(os.getpid(), signal.SIGKILL)  # what kill -9 does, at a known point
pathlib.Path.unlink = unlink
config = load_config(sys.argv[1])
run_prune(config, retention_rules(config), local=True, dry_run=False)
"""


def test_a_prune_killed_midway_leaves_each_file_present_or_recorded_and_the_next_finishes(ran, tmp_path):
    config_path = ran('tries = "0d"')
    try_folder = tmp_path / "facility" / "raw_rec" / "try_center" / "scan1"
    files = _files(try_folder)
    assert len(files) > 20
    killed = subprocess.run([sys.executable, "-c", _KILLED_PRUNE, str(config_path), "7"],
                            env={**os.environ, "HOME": str(tmp_path / "home")}, capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    deletions = Deletions(deletions_path(load_config(config_path).local_state_dir))
    [begun] = deletions.entries()
    assert begun.status == DELETING and begun.path == "/raw_rec/try_center/scan1"
    gone = {f for f in files if not f.exists()}
    assert len(gone) == 7, "each file is either there, whole, or gone under a recorded removal"
    assert all(f.stat().st_size > 0 or f.suffix == ".txt" for f in files - gone)

    plan = _plan_json(config_path, "--dry-run")
    assert [d["path"] for d in plan["resume"]] == ["/raw_rec/try_center/scan1"]
    done = _plan_json(config_path)
    assert [d["status"] for d in done["done"]] == [DELETED] and not try_folder.exists()
    [entry] = deletions.entries()
    assert entry.status == DELETED and entry.id == begun.id


def test_one_prune_at_a_time(ran):
    config_path = ran('tries = "0d"')
    deletions = Deletions(deletions_path(load_config(config_path).local_state_dir))
    with deletions.exclusive():
        result = CliRunner().invoke(main, ["prune", "--config", str(config_path)])
    assert result.exit_code == 2 and "another prune of this experiment is running" in result.output


def test_a_rule_that_is_not_a_rule_is_refused_with_what_is_allowed(tmp_path, monkeypatch):
    isolate(monkeypatch, tmp_path)
    config = tiny_experiment(tmp_path, '\n[retention]\npublished = "after-publish"\n')
    result = CliRunner().invoke(main, ["prune", "--config", str(config), "--dry-run"])
    assert result.exit_code == 2
    assert ('[retention] published = "after-publish": published reconstructions are kept with "keep", '
            'or removed at an age') in result.output.replace("\n", " ")


def test_every_prints_the_schedule_and_refuses_what_timers_would(tmp_path, monkeypatch):
    isolate(monkeypatch, tmp_path)
    config = tiny_experiment(tmp_path)
    result = _cli("prune", "--config", str(config), "--every", "1d")
    assert result.exit_code == 0, result.output
    line = result.output.strip().splitlines()[-1]
    assert line.split()[2:5] == ["*", "*", "*"] and f"prune --config {config.resolve()}" in line
    refused = CliRunner().invoke(main, ["prune", "--config", str(config), "--every", "30s"])
    assert refused.exit_code == 2 and "at most once a minute" in refused.output


def test_on_globus_each_collection_gets_one_transfer_delete_task_recorded_before_it_is_sent(ran, tmp_path):
    """The same run documents as Flows returns them (details.output: the run state); Transfer's
    answers are globus_sdk.testing's registered ``submit_delete`` and ``get_submission_id``."""
    import globus_sdk
    import responses
    from globus_sdk.testing import load_response

    config_path = ran('raw = "0d"\ntries = "0d"')
    config = load_config(config_path)
    records = local_records(config)
    before = _data(tmp_path)
    dry = run_prune(config, retention_rules(config), local=False, dry_run=True, records=records)
    [request] = dry.requests
    assert request["url"] == "https://transfer.api.globus.org/v0.10/delete"
    body = request["body"]
    assert (body["DATA_TYPE"], body["endpoint"], body["recursive"], body["ignore_missing"]) == ("delete", FACILITY, True, True)
    assert sorted(item["path"] for item in body["DATA"]) == ["/raw/scan1.h5", "/raw_rec/try_center/scan1"]

    index = load_config(config_path).sections["publish"].index
    try_subject = next(r.subject for r in search_local(config.local_state_dir, "*") if "try_center" in r.subject)
    responses.start()  # from here on, any request but the registered ones fails
    try:
        load_response("transfer.get_submission_id")
        delete = load_response("transfer.submit_delete")
        # Search: GET /v1/index/{id}/subject answers a GMetaResult (globus-sdk's SearchClient.get_subject;
        # the entry shape of globus_sdk.testing's post_search data), POST .../ingest a task
        responses.add(responses.GET, f"https://search.api.globus.org/v1/index/{index}/subject",
                      json={"@datatype": "GMetaResult", "@version": "2019-08-27", "subject": try_subject,
                            "entries": [{"content": {"tomography": {"scan": "scan1.h5"}}, "entry_id": "metadata",
                                         "matched_principal_sets": []}]})
        responses.add(responses.POST, f"https://search.api.globus.org/v1/index/{index}/ingest",
                      json={"acknowledged": True, "success": True, "task_id": "5bd1b5f7-0d8c-4b8e-b3a3-6e4a0f4c2d11"})
        prune = run_prune(config, retention_rules(config), local=False, dry_run=False, records=records,
                          transfer_client=globus_sdk.TransferClient(), search_client=globus_sdk.SearchClient())
        sent = json.loads(next(c.request.body for c in responses.calls if c.request.url.endswith("/v0.10/delete")))
        ingests = [json.loads(c.request.body) for c in responses.calls if c.request.url.endswith("/ingest")]
    finally:
        responses.stop()
        responses.reset()
    # the try's published record says what went, visible to whom the run published it for
    [ingest] = [i for i in ingests if i["ingest_data"]["subject"] == try_subject][:1]
    assert ingest["ingest_data"]["visible_to"] == ["public"] and ingest["ingest_data"]["id"] == "metadata"
    removed = ingest["ingest_data"]["content"]["tomography"]["retention"]
    assert {r["path"] for r in removed} <= {"/raw_rec/try_center/scan1", "/raw/scan1.h5"} and removed[-1]["status"] == SUBMITTED
    assert sent["DATA_TYPE"] == "delete" and sent["submission_id"] == delete.metadata["submission_id"]
    assert sorted(item["path"] for item in sent["DATA"]) == ["/raw/scan1.h5", "/raw_rec/try_center/scan1"]
    assert {(d.status, d.task_id) for d in prune.outcome.done} == {(SUBMITTED, delete.metadata["task_id"])}
    assert _data(tmp_path) == before, "on Globus the Transfer task removes, not this machine"
    assert PUBLISH  # the publication collection is never in a request unless the published rule says so
    assert all(item["path"].startswith("/raw") for item in sent["DATA"])


def test_what_a_run_removed_after_its_publication_is_not_chosen_again(tmp_path, monkeypatch):
    """On Globus no folder is looked at: the run's own record of its retention step
    (``$.Retention.removed``) says the reconstruction is gone."""
    isolate(monkeypatch, tmp_path)
    config_path = tiny_experiment(tmp_path, '\n[retention]\nreconstruction = "after-publish"\n', return_folder=False)
    result = _cli("run", "scan1.h5", "--config", str(config_path), "--full")
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "facility" / "raw_rec" / "scan1_rec").exists()
    config_path.write_text(config_path.read_text().replace('reconstruction = "after-publish"', 'reconstruction = "0d"'))
    config = load_config(config_path)
    prune = run_prune(config, retention_rules(config), local=False, dry_run=True, records=local_records(config),
                      now=dt.datetime.now(dt.timezone.utc) + LATER)
    assert "/raw_rec/scan1_rec" not in {c.holding.path for c in prune.plan.choices}
    assert prune.requests == []
