"""Scheduling: Globus Timers at the HTTP level (globus_sdk.testing), cron lines for local."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import globus_sdk
import pytest
import responses
from click.testing import CliRunner
from tests.conftest import experiment_toml, tiny_scan
from globus_sdk import GlobusAppConfig, TimersClient, UserApp
from globus_sdk.testing import get_last_request, load_response

from tomocupy_gladier.campaign import timers, wiring
from tomocupy_gladier.cli import campaign_commands, main
from tomocupy_gladier.errors import UserError

from .helpers import FLOW_ID

NOON = datetime(2026, 12, 1, 12, 30, tzinfo=UTC)


@pytest.mark.parametrize("text, seconds", [("1d", 86400), ("12h", 43200), ("1h30m", 5400), ("60", 60),
                                           ("2w", 14 * 86400), ("90s", 90)])
def test_intervals(text, seconds):
    assert timers.parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["30s", "59", "0m"])
def test_timers_run_at_most_once_a_minute(text):
    with pytest.raises(UserError, match="at most once a minute"):
        timers.parse_interval(text)


def test_recurring_schedule_with_start_and_end():
    plan = timers.recurring("1d", "2026-12-01T02:00+00:00", "2027-01-01T00:00+00:00")
    assert dict(plan) == {"type": "recurring", "interval_seconds": 86400, "start": "2026-12-01T02:00:00+00:00",
                          "end": {"condition": "time", "datetime": "2027-01-01T00:00:00+00:00"}}
    with pytest.raises(UserError, match="after --start"):
        timers.recurring("1d", "2026-12-02T00:00+00:00", "2026-12-01T00:00+00:00")


@pytest.mark.parametrize("seconds, fields", [(60, "* * * * *"), (900, "*/15 * * * *"), (3600, "30 * * * *"),
                                             (6 * 3600, "30 */6 * * *"), (86400, "30 12 * * *"),
                                             (7 * 86400, "30 12 * * 2")])
def test_cron_lines(seconds, fields, monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    import time
    time.tzset()
    assert timers.cron_line(seconds, ["tomocupy-gladier", "campaign", "run", "my night"], NOON) == \
        f"{fields} tomocupy-gladier campaign run 'my night'"


def test_cron_cannot_express_every_interval():
    with pytest.raises(UserError, match="cron cannot"):
        timers.cron_line(7 * 60, ["x"], NOON)


def test_timers_client_asks_consent_for_the_flow():
    app = UserApp("t", client_id="9cc0a49e-0000-4000-8000-000000000000",
                  config=GlobusAppConfig(token_storage="memory"))
    timers.timers_client(app, FLOW_ID)
    needed = app.scope_requirements[TimersClient.resource_server]
    dependencies = [str(d) for scope in needed for d in scope.dependencies]
    assert any(f"flow_{FLOW_ID.replace('-', '_')}_user" in d for d in dependencies)


@responses.activate
def test_create_flow_timer_sends_a_flow_timer():
    meta = load_response(TimersClient.create_timer, case="flow_timer_success").metadata
    client = TimersClient(authorizer=globus_sdk.NullAuthorizer())
    timer_id = timers.create_flow_timer(client, FLOW_ID, "tomocupy-gladier c k", {"input": {"a": 1}},
                                        timers.recurring("1d"))
    assert timer_id == meta["timer_id"]
    sent = json.loads(get_last_request().body)["timer"]
    assert sent["timer_type"] == "flow" and sent["flow_id"] == FLOW_ID
    assert sent["body"] == {"input": {"a": 1}} and sent["schedule"]["interval_seconds"] == 86400


@responses.activate
def test_list_and_delete_only_our_timers():
    base = globus_sdk.config.get_service_url("timer")
    ours = load_response(TimersClient.delete_job).metadata["job_id"]
    responses.get(f"{base}jobs/", json={"jobs": [
        {"job_id": ours, "name": "tomocupy-gladier night abc", "status": "loaded"},
        {"job_id": "t2", "name": "someone else's timer"},
        {"job_id": "t3", "name": "tomocupy-gladier other def"}]})
    client = TimersClient(authorizer=globus_sdk.NullAuthorizer())
    assert [t["job_id"] for t in timers.list_timers(client)] == [ours, "t3"]
    assert [t["job_id"] for t in timers.list_timers(client, "night")] == [ours]
    assert timers.delete_timers(client, [ours]) == [ours]
    assert get_last_request().method == "DELETE"


# -- the commands ------------------------------------------------------------------------------
def make_campaign(tmp_path: Path, backend: str) -> list[str]:
    for folder in ("beamline", "facility/raw", "portal"):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
    for name in ("a.h5", "b.h5"):
        tiny_scan(tmp_path / "facility/raw" / name)
    config = tmp_path / "experiment.toml"
    config.write_text(experiment_toml().replace('backend = "local"', f'backend = "{backend}"'))
    manifest = tmp_path / "m.toml"
    manifest.write_text('datasets = ["a.h5", "b.h5"]\n')
    result = CliRunner().invoke(main, ["campaign", "create", "night", "--config", str(config),
                                       "--manifest", str(manifest)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return ["--config", str(config)]


def test_local_backend_prints_a_cron_line_and_starts_nothing(tmp_path):
    state = make_campaign(tmp_path, "local")
    result = CliRunner().invoke(main, ["campaign", "schedule", "night", "--every", "1d",
                                       "--start", "2026-12-01T02:00", *state])
    assert result.exit_code == 0, result.output
    line = result.output.strip().splitlines()[-1]
    assert line.startswith("0 2 * * * ") and "campaign run night --refresh --config" in line
    refused = CliRunner().invoke(main, ["campaign", "schedule", "night", "--every", "30s", *state])
    assert refused.exit_code == 2 and "at most once a minute" in refused.output
    once = CliRunner().invoke(main, ["campaign", "schedule", "night", "--at", "2026-12-24T18:00", *state])
    assert "at -t 202612241800" in once.output


@responses.activate
def test_globus_backend_makes_one_timer_per_job(tmp_path, monkeypatch):
    state = make_campaign(tmp_path, "globus")

    class Service:
        flow_id = FLOW_ID

    monkeypatch.setattr(wiring, "connect", lambda config, flow, backend=None: (
        Service(), wiring.with_defaults({"input": {"tomocupy_recon_function_id": "fn"}},
                                        wiring.body_builder(config, flow))))
    monkeypatch.setattr(campaign_commands, "timers_client_for",
                        lambda config, flow_id: TimersClient(authorizer=globus_sdk.NullAuthorizer()))
    load_response(TimersClient.create_timer, case="flow_timer_success")
    result = CliRunner().invoke(main, ["campaign", "schedule", "night", "--every", "1d", *state],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    creates = [json.loads(c.request.body)["timer"] for c in responses.calls]
    assert len(creates) == 2
    assert sorted(c["body"]["input"]["tomocupy"]["file_name"].rsplit("/", 2)[-1] for c in creates) == ["a.h5", "b.h5"]
    assert all(c["body"]["input"]["tomocupy_recon_function_id"] == "fn" for c in creates)
    assert all(c["name"].startswith("tomocupy-gladier night ") for c in creates)
    too_many = CliRunner().invoke(main, ["campaign", "schedule", "night", "--every", "1d", "--max-timers", "1",
                                         *state])
    assert too_many.exit_code == 2 and "2 timers" in too_many.output


@responses.activate
def test_timers_command_lists_and_deletes(tmp_path, monkeypatch):
    state = make_campaign(tmp_path, "globus")
    base = globus_sdk.config.get_service_url("timer")
    ours = load_response(TimersClient.delete_job).metadata["job_id"]
    responses.get(f"{base}jobs/", json={"jobs": [
        {"job_id": ours, "name": "tomocupy-gladier night abc", "status": "loaded", "next_run": "2026-12-02"},
        {"job_id": "x", "name": "not ours"}]})
    monkeypatch.setattr(campaign_commands, "timers_client_for",
                        lambda config, flow_id: TimersClient(authorizer=globus_sdk.NullAuthorizer()))
    result = CliRunner().invoke(main, ["campaign", "timers", "night", *state, "--delete-all"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "tomocupy-gladier night abc" in result.output and "not ours" not in result.output
    assert f"deleted timer {ours}" in result.output
