"""The ``campaign`` commands, end to end on a local experiment and the fake Flows service."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tomocupy_gladier.campaign import wiring
from tomocupy_gladier.campaign.fake_service import FakeFlowsService
from tomocupy_gladier.campaign.ledger import Ledger
from tomocupy_gladier.cli import main
from tests.conftest import tiny_scan
from tomocupy_gladier.planning.plan import schema_without_function_ids as _without_function_ids
from tomocupy_gladier.flows import TomocupyReconFlow
from tomocupy_gladier.experiment.validation import validate_flow_input

from .helpers import globus_service


@pytest.fixture
def scans(experiment: Path) -> Path:
    raw = experiment.parent / "facility" / "raw"
    for name in ("scan_001.h5", "scan_002.h5", "FAILME_003.h5"):
        tiny_scan(raw / name)
    return raw


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    path = tmp_path / "manifest.toml"
    path.write_text('datasets = ["*.h5"]\n[params.default]\n[params.vo]\nremove-stripe-method = "vo-all"\n')
    return path


@pytest.fixture
def flows(monkeypatch):
    """`campaign run` talks to the fake Flows service through the real globus-sdk clients."""
    with FakeFlowsService(run_seconds=0.02) as fake:
        def connect(config, flow_name, backend=None, *, replace_decided=False):
            return globus_service(fake), wiring.body_builder(config, flow_name, replace_decided=replace_decided)
        monkeypatch.setattr(wiring, "connect", connect)
        yield fake


def cli(*args: str, code: int = 0):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


def test_create_then_status_lists_every_job_pending(experiment, scans, manifest):
    out = cli("campaign", "create", "night", "--config", str(experiment), "--manifest", str(manifest)).output
    assert "6 job(s), flow recon" in out
    ledger_file = experiment.parent / ".tomocupy-gladier" / "campaigns" / "night.sqlite"
    assert ledger_file.is_file(), "kept in the experiment's state folder"
    status = json.loads(cli("campaign", "status", "night", "--config", str(experiment), "--json").output)
    assert status["counts"]["PENDING"] == 6
    assert {j["params"] for j in status["jobs"]} == {"default", "vo"}
    cli("campaign", "create", "night", "--config", str(experiment), "--manifest", str(manifest), code=2)


def test_job_input_is_valid_for_the_recon_flow(experiment, scans, manifest):
    cli("campaign", "create", "c", "--config", str(experiment), "--manifest", str(manifest))
    with wiring.open_campaign(experiment.parent / ".tomocupy-gladier" / "campaigns", "c") as ledger:
        from tomocupy_gladier.tools.registry import load_config
        body_for = wiring.body_builder(load_config(experiment), "recon")
        for job in ledger.jobs():
            body = body_for(job)
            validate_flow_input(_without_function_ids(TomocupyReconFlow.flow_schema), body)
            assert "source" not in body["input"], "no transfer: the data is already at the facility"
            assert body["input"]["recon"].get("remove-stripe-method") == job.params.get("remove-stripe-method")


def test_run_status_retry_report(experiment, scans, manifest, flows, tmp_path):
    state = ["--config", str(experiment)]
    cli("campaign", "create", "c", *state, "--manifest", str(manifest))
    out = cli("campaign", "run", "c", *state, "--max-active", "3", "--poll-interval", "0.02", code=1).output
    assert "succeeded 4, failed 2" in out
    table = cli("campaign", "status", "c", *state).output
    assert "ActionFailedException: tomocupy exited with 3" in table
    assert "FAILME_003.h5" in table
    failed_only = json.loads(cli("campaign", "status", "c", *state, "--only", "failed", "--json").output)
    assert [j["state"] for j in failed_only["jobs"]] == ["FAILED", "FAILED"]
    assert failed_only["counts"]["SUCCEEDED"] == 4

    report = tmp_path / "report.csv"
    table = cli("campaign", "report", "c", *state, "--csv", str(report)).output
    rows = list(csv.DictReader(report.open()))
    assert len(rows) == 6 and {r["status"] for r in rows} == {"SUCCEEDED", "FAILED"}
    assert all(r["run id"] for r in rows) and list(rows[0]) == [
        "scan", "parameter set", "status", "axis", "axis decided", "output folder", "quality", "run id", "reason"]
    assert {r["reason"] for r in rows if r["status"] == "FAILED"} == {"ActionFailedException: tomocupy exited with 3"}
    assert "axis decided" in table and "FAILME_003.h5" in table
    assert cli("campaign", "report", "c", *state).output.count("FAILME_003.h5") == 2, "no --csv needed"

    assert "2 job(s) pending again" in cli("campaign", "retry", "c", *state, "--failed").output
    before = flows.requests["POST /flows/{id}/run"]
    cli("campaign", "run", "c", *state, "--poll-interval", "0.02", code=1)
    assert flows.requests["POST /flows/{id}/run"] == before + 2, "only the failed ones again"


def test_cancel_stops_pending_jobs_and_retry_reopens_them(experiment, scans, manifest, flows):
    state = ["--config", str(experiment)]
    cli("campaign", "create", "c", *state, "--manifest", str(manifest))
    assert "6 pending job(s) cancelled" in cli("campaign", "cancel", "c", *state).output
    cli("campaign", "run", "c", *state, "--poll-interval", "0.02")
    assert flows.total_requests == 0
    assert "6 job(s) pending again" in cli("campaign", "retry", "c", *state).output
    with wiring.open_campaign(experiment.parent / ".tomocupy-gladier" / "campaigns", "c") as ledger:
        assert ledger.meta()["cancelled"] is False and ledger.counts()["PENDING"] == 6


def test_refresh_adds_new_scans_only(experiment, scans, manifest, flows):
    state = ["--config", str(experiment)]
    cli("campaign", "create", "c", *state, "--manifest", str(manifest))
    cli("campaign", "run", "c", *state, "--poll-interval", "0.02", code=1)
    tiny_scan(scans / "scan_004.h5")
    out = cli("campaign", "run", "c", *state, "--refresh", "--poll-interval", "0.02", code=1).output
    assert "2 new job(s)" in out
    assert flows.requests["POST /flows/{id}/run"] == 8


def test_unknown_campaign_and_bad_name_are_clear_errors(experiment):
    result = CliRunner().invoke(main, ["campaign", "status", "nope", "--config", str(experiment)])
    assert result.exit_code == 2 and "no campaign 'nope'" in result.output
    result = CliRunner().invoke(main, ["campaign", "create", "../x", "--config", str(experiment),
                                       "--manifest", "m.toml"])
    assert result.exit_code == 2 and "campaign name" in result.output


def test_state_dir_defaults_to_xdg_without_an_experiment(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert wiring.default_campaigns_dir() == tmp_path / "data" / "tomocupy-gladier" / "campaigns"
    Ledger(tmp_path / "data" / "tomocupy-gladier" / "campaigns" / "x.sqlite").close()
    assert "no jobs" in cli("campaign", "status", "x").output


def test_one_scan_spelled_two_ways_is_one_job(experiment, scans, tmp_path):
    manifest = tmp_path / "two-ways.toml"
    manifest.write_text(f'datasets = ["scan_001.h5", "{scans / "scan_001.h5"}"]\n')
    out = cli("campaign", "create", "c", "--config", str(experiment), "--manifest", str(manifest)).output
    assert "1 job(s)" in out
    with wiring.open_campaign(experiment.parent / ".tomocupy-gladier" / "campaigns", "c") as ledger:
        assert [j.dataset for j in ledger.jobs()] == [str(scans / "scan_001.h5")]


def test_cancel_asks_the_service_to_stop_active_runs(experiment, scans, manifest, flows):
    state = ["--config", str(experiment)]
    cli("campaign", "create", "c", *state, "--manifest", str(manifest))
    flows.run_seconds = 60
    service = globus_service(flows)
    with wiring.open_campaign(experiment.parent / ".tomocupy-gladier" / "campaigns", "c") as ledger:
        first = ledger.jobs()[0]
        ledger.mark_submitting(first.key)
        ledger.mark_active(first.key, service.submit({"input": {}}, "l", [f"job:{first.key}"]))
    out = cli("campaign", "cancel", "c", *state).output
    assert "5 pending job(s) cancelled, 1 run(s) asked to stop" in out
    assert flows.requests["POST /runs/{id}/cancel"] == 1
    cli("campaign", "run", "c", *state, "--poll-interval", "0.02")
    status = json.loads(cli("campaign", "status", "c", *state, "--json").output)
    assert status["counts"]["CANCELLED"] == 6 and status["cancelled"] is True
