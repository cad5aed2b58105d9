"""Scheduling: Globus Timers at the HTTP level (globus_sdk.testing), held against what Globus
publishes (the SDK's own FlowTimer and run_flow requests, the Timers and Flows API documents in
tests/fixtures/globus), the once-a-minute limit, the dry run, cron lines for local."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import globus_sdk
import jsonschema
import pytest
import responses
from click.testing import CliRunner
from tests.conftest import experiment_toml, tiny_scan
from globus_sdk import FlowsClient, GlobusAppConfig, SpecificFlowClient, TimersClient, UserApp
from gladier.utils.name_generation import get_snake_case
from globus_sdk.testing import get_last_request, get_response_set, load_response

from tomocupy_gladier.campaign import timers, wiring
from tomocupy_gladier.campaign.globus_service import GlobusRunService
from tomocupy_gladier.campaign.runner import run_tags
from tomocupy_gladier.cli import campaign_commands, main
from tomocupy_gladier.errors import UserError
from tomocupy_gladier.flows import FLOWS
from tomocupy_gladier.globus.gladier_storage import decorated_parts

from .helpers import FLOW_ID

NOON = datetime(2026, 12, 1, 12, 30, tzinfo=UTC)
GLOBUS_DOCUMENTS = json.loads((Path(__file__).parents[1] / "fixtures/globus/timers_flow_timer_body.json").read_text())


@pytest.mark.parametrize("text, seconds", [("1d", 86400), ("12h", 43200), ("1h30m", 5400), ("60", 60),
                                           ("2w", 14 * 86400), ("90s", 90)])
def test_intervals(text, seconds):
    assert timers.parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["30s", "59", "0m"])
def test_timers_run_at_most_once_a_minute(text):
    with pytest.raises(UserError, match="at most once a minute"):
        timers.parse_interval(text)


def test_recurring_plan_staggers_the_timers_a_minute_apart():
    plan = timers.recurring("1d", "2026-12-01T02:00+00:00", "2027-01-01T00:00+00:00")
    assert dict(plan.schedule(0)) == {"type": "recurring", "interval_seconds": 86400,
                                      "start": "2026-12-01T02:00:00+00:00",
                                      "end": {"condition": "time", "datetime": "2027-01-01T00:00:00+00:00"}}
    assert plan.schedule(2)["start"] == "2026-12-01T02:02:00+00:00"
    assert dict(timers.once("2026-12-24T18:00+00:00").schedule(1)) == {
        "type": "once", "datetime": "2026-12-24T18:01:00+00:00"}
    with pytest.raises(UserError, match="after --start"):
        timers.recurring("1d", "2026-12-02T00:00+00:00", "2026-12-01T00:00+00:00")


def test_without_start_the_first_timer_runs_at_the_next_whole_minute():
    plan = timers.recurring("1h", now=datetime(2026, 12, 1, 12, 30, 41, tzinfo=UTC))
    assert plan.start(0) == datetime(2026, 12, 1, 12, 31, tzinfo=UTC)


@pytest.mark.parametrize("count, every, allowed", [(20, "20m", True), (21, "20m", False), (3, "2m", False),
                                                   (2, "90s", False), (1, "1m", True)])
def test_one_campaigns_timers_together_run_at_most_once_a_minute(count, every, allowed):
    plan = timers.recurring(every, "2026-12-01T02:00+00:00")
    if allowed:
        plan.check(count)
        starts = [plan.start(i) for i in range(count)]
        # every run of every timer falls in a minute of its own, interval after interval
        offsets = sorted((s - plan.first).total_seconds() % plan.interval_seconds for s in starts)
        gaps = [b - a for a, b in pairwise(offsets)] + [plan.interval_seconds - offsets[-1] + offsets[0]]
        assert min(gaps) >= 60
    else:
        with pytest.raises(UserError, match=f"once a minute.*--every {count}m or longer"):
            plan.check(count)


def test_timers_that_would_start_after_the_end_are_refused():
    plan = timers.recurring("1h", "2026-12-01T02:00+00:00", "2026-12-01T02:03+00:00")
    plan.check(3)
    with pytest.raises(UserError, match="a minute apart.*--end"):
        plan.check(4)


def test_the_users_other_timers_count_towards_the_limit():
    plan = timers.recurring("1h", "2026-12-01T02:00+00:00")
    others = [{"name": "nightly sync", "status": "loaded", "schedule": {"type": "recurring", "interval_seconds": 120}},
              {"name": "paused", "status": "inactive", "schedule": {"type": "recurring", "interval_seconds": 60}},
              {"name": "v1 shape", "status": "loaded", "interval": 240.0}]
    plan.check(15, others)  # 0.5 + 0.25 + 15/60
    with pytest.raises(UserError, match="other timer.*0.75 times a minute"):
        plan.check(16, others)


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


def _timers_scopes(add: object) -> list[str]:
    app = UserApp("t", client_id="9cc0a49e-0000-4000-8000-000000000000",
                  config=GlobusAppConfig(token_storage="memory"))
    add(app)  # type: ignore[operator]
    return [str(s) for s in app.scope_requirements[TimersClient.resource_server]]


def test_timers_client_asks_consent_for_the_flow_as_the_sdk_does():
    """Without data_access collections: exactly what globus-sdk's own add_app_flow_user_scope asks."""
    ours = _timers_scopes(lambda app: timers.timers_client(app, FLOW_ID))
    sdks = _timers_scopes(lambda app: TimersClient(app=app).add_app_flow_user_scope(FLOW_ID))
    assert ours == sdks


def test_timer_started_runs_carry_the_data_access_consents_of_the_flow():
    """A timer runs the flow with the consents given when it was made: the dependency is the
    flow's run scope with each mapped collection's data_access (as `login` and `deploy` ask)."""
    from globus_sdk.scopes import ScopeParser, TimersScopes

    from tomocupy_gladier.globus.auth import flow_run_scope

    collection = "22222222-2222-4222-8222-222222222222"
    (ours,) = [s for s in _timers_scopes(lambda app: timers.timers_client(app, FLOW_ID, [collection]))
               if "[" in s]
    (parsed,) = ScopeParser.parse(ours)
    assert parsed.scope_string == TimersScopes.timer.scope_string
    (flow,) = parsed.dependencies
    assert str(flow) == str(flow_run_scope(FLOW_ID, [collection]))
    assert f"{collection}/data_access" in ours


def test_timers_use_the_flows_login_and_token_file(tmp_path, monkeypatch):
    """One login, one token storage: `campaign schedule` asks the flows' login manager (and its
    token file) for the Timers scope, and never makes a Globus app of its own."""
    from tomocupy_gladier.tools.registry import load_config
    from tomocupy_gladier.globus import auth

    monkeypatch.setenv(auth.CONFIG_DIR_ENV, str(tmp_path / "config"))
    made: list[auth.AppLoginManager] = []
    asked: list[list[str]] = []

    def login_manager_for(client_id=None, **kwargs):
        manager = real(client_id, **kwargs)
        monkeypatch.setattr(manager, "ensure_login", lambda scopes, force=False: asked.append(
            [str(s) for s in scopes]) or True)
        made.append(manager)
        return manager

    real = auth.login_manager_for
    monkeypatch.setattr(auth, "login_manager_for", login_manager_for)
    config_path = tmp_path / "experiment.toml"
    config_path.write_text(experiment_toml().replace('backend = "local"', 'backend = "globus"'))
    config = load_config(config_path)
    client = campaign_commands.timers_client_for(config, FLOW_ID)
    (manager,) = made
    assert client._app is manager.app  # globus-sdk keeps the app it was given there
    assert manager.token_file == auth.token_path(manager.client_id)  # the flows' own token file
    (scopes,) = asked
    from tomocupy_gladier.flows import data_access_collections

    collections = data_access_collections(FLOWS["tomocupy"], config)
    assert collections and scopes == [str(timers.timer_scope(FLOW_ID, collections))]


def _sent(call) -> dict:
    return json.loads(call.request.body)


@responses.activate
def test_the_timer_body_is_the_run_request_flows_takes():
    """The SDK's own FlowTimer, sent by create_timer, carries a body that is what
    SpecificFlowClient.run_flow sends for the same flow input and tags (the label aside), and
    that the Timers and Flows API documents accept."""
    meta = load_response(TimersClient.create_timer, case="flow_timer_success").metadata
    run_meta = load_response(SpecificFlowClient.run_flow).metadata
    flow_input = {"input": {"tomocupy": {"file_name": "/raw/a.h5"}, "tomocupy_recon_function_id": "fn"}}
    tags = run_tags("night", "abc123", (timers.TIMER_TAG,))

    timer_id = timers.create_flow_timer(TimersClient(authorizer=globus_sdk.NullAuthorizer()), meta["flow_id"],
                                        "tomocupy-gladier night abc123", timers.timer_body(flow_input, tags),
                                        timers.recurring("1d", "2026-12-01T02:00+00:00").schedule(0))
    SpecificFlowClient(run_meta["flow_id"], authorizer=globus_sdk.NullAuthorizer()).run_flow(
        flow_input, label="night abc123", tags=tags)

    assert timer_id == meta["timer_id"]
    timer_call, run_call = responses.calls
    assert (timer_call.request.method, timer_call.request.path_url) == ("POST", "/v2/timer")
    sent = _sent(timer_call)["timer"]
    jsonschema.validate(sent, GLOBUS_DOCUMENTS["v2_flow_timer_create"])
    jsonschema.validate(sent["body"], GLOBUS_DOCUMENTS["timers_flow_start_document"])
    jsonschema.validate(sent["body"], GLOBUS_DOCUMENTS["flows_run_request"])
    run_request = _sent(run_call)
    assert {k: v for k, v in run_request.items() if k != "label"} == sent["body"]
    # the Globus-published example timer's body has the same shape (body = the flow input)
    example = meta["callback_body"]
    jsonschema.validate(example, GLOBUS_DOCUMENTS["timers_flow_start_document"])
    assert set(sent["body"]) - {"tags"} <= set(example)
    # Flows normalises tags (whitespace stripped and collapsed): ours come back unchanged
    assert all(" ".join(t.split()) == t for t in sent["body"]["tags"])


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


class _DeployedService:
    """A run service whose flow is deployed (all ``schedule`` reads of it)."""

    flow_id = FLOW_ID


def _globus_wiring(monkeypatch, service=None):
    """``schedule`` on the globus backend without a login: the run service (default: a deployed
    flow), the body builder with Gladier's function id, a Timers client without a token."""
    service = service or _DeployedService()
    monkeypatch.setattr(wiring, "connect", lambda config, flow, backend=None, replace_decided=False: (
        service, wiring.with_defaults({"input": {"tomocupy_recon_function_id": "fn"}},
                                      wiring.body_builder(config, flow, replace_decided=replace_decided))))
    monkeypatch.setattr(campaign_commands, "timers_client_for",
                        lambda config, flow_id, flow_name="tomocupy": TimersClient(authorizer=globus_sdk.NullAuthorizer()))


def _timer_creates() -> list[dict]:
    return [_sent(c)["timer"] for c in responses.calls if c.request.method == "POST"]


@responses.activate
def test_globus_backend_makes_one_timer_per_job_a_minute_apart(tmp_path, monkeypatch):
    state = make_campaign(tmp_path, "globus")

    _globus_wiring(monkeypatch)
    load_response(TimersClient.list_jobs)  # the user's other timers, as the SDK's testing data has them
    load_response(TimersClient.create_timer, case="flow_timer_success")
    result = CliRunner().invoke(main, ["campaign", "schedule", "night", "--every", "1d",
                                       "--start", "2026-12-01T02:00+00:00", *state], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    creates = _timer_creates()
    assert len(creates) == 2
    assert [c["schedule"]["start"] for c in creates] == ["2026-12-01T02:00:00+00:00", "2026-12-01T02:01:00+00:00"]
    runs = [c["body"] for c in creates]
    assert sorted(r["body"]["input"]["tomocupy"]["file_name"].rsplit("/", 2)[-1] for r in runs) == ["a.h5", "b.h5"]
    assert all(r["body"]["input"]["tomocupy_recon_function_id"] == "fn" for r in runs)
    assert all({"tomocupy-gladier", "campaign:night", timers.TIMER_TAG} <= set(r["tags"]) for r in runs)
    assert all(c["name"].startswith("tomocupy-gladier night ") for c in creates)
    too_many = CliRunner().invoke(main, ["campaign", "schedule", "night", "--every", "1d", "--max-timers", "1",
                                         *state])
    assert too_many.exit_code == 2 and "2 timers" in too_many.output


def test_a_schedule_faster_than_the_limit_is_refused_before_any_login(tmp_path, monkeypatch):
    state = make_campaign(tmp_path, "globus")
    monkeypatch.setattr(wiring, "connect", lambda *a, **k: pytest.fail("no login or deploy"))
    result = CliRunner().invoke(main, ["campaign", "schedule", "night", "--every", "1m", *state])
    assert result.exit_code == 2
    assert "more often than once a minute" in result.output and "--every 2m" in result.output


@responses.activate
def test_a_campaign_already_scheduled_is_not_scheduled_twice(tmp_path, monkeypatch):
    state = make_campaign(tmp_path, "globus")

    _globus_wiring(monkeypatch)
    base = globus_sdk.config.get_service_url("timer")
    responses.get(f"{base}jobs/", json={"jobs": [{"job_id": "t1", "name": "tomocupy-gladier night abc"}]})
    result = CliRunner().invoke(main, ["campaign", "schedule", "night", "--every", "1d", *state])
    assert result.exit_code == 2 and "already has 1 timer" in result.output and "--delete-all" in result.output
    assert not _timer_creates()


def test_dry_run_prints_what_the_sdk_would_send_offline(tmp_path, monkeypatch):
    """No login, no deploy, no network: the requests globus-sdk itself encodes, placeholders for
    the ids not known yet, secrets as <private>."""
    for folder in ("beamline", "facility/raw", "portal"):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
    tiny_scan(tmp_path / "beamline" / "a.h5")
    config = tmp_path / "experiment.toml"
    config.write_text(experiment_toml('\n[notify]\nemail = ["a@lab.example"]\nsender = "t@lab.example"\n'
                                      'smtp = "smtp.lab.example:587"\n').replace('backend = "local"',
                                                                                'backend = "globus"'))
    monkeypatch.setenv("TOMOCUPY_GLADIER_SMTP_USERNAME", "tomo")
    monkeypatch.setenv("TOMOCUPY_GLADIER_SMTP_PASSWORD", "hunter2")
    manifest = tmp_path / "m.toml"
    manifest.write_text('datasets = ["a.h5"]\n')
    created = CliRunner().invoke(main, ["campaign", "create", "night", "--config", str(config), "--manifest",
                                        str(manifest), "--flow", "interactive"], catch_exceptions=False)
    assert created.exit_code == 0, created.output
    monkeypatch.setattr(wiring, "connect", lambda *a, **k: pytest.fail("no login or deploy"))
    monkeypatch.setattr(campaign_commands, "timers_client_for", lambda *a, **k: pytest.fail("no login"))
    with responses.RequestsMock():  # any request that left the machine would fail here
        result = CliRunner().invoke(main, ["campaign", "schedule", "night", "--every", "1d", "--start",
                                           "2026-12-01T02:00+00:00", "--config", str(config), "--dry-run"],
                                    catch_exceptions=False)
    assert result.exit_code == 0, result.output
    [request] = json.loads(result.stdout)
    assert request["method"] == "POST" and request["path"] == "/v2/timer"
    assert request["url"] == globus_sdk.config.get_service_url("timer") + "v2/timer"
    timer = request["body"]["timer"]
    jsonschema.validate(timer, GLOBUS_DOCUMENTS["v2_flow_timer_create"])
    jsonschema.validate(timer["body"], GLOBUS_DOCUMENTS["timers_flow_start_document"])
    assert timer["flow_id"] == "<flow id of interactive: not deployed yet>"
    assert timer["schedule"] == {"type": "recurring", "interval_seconds": 86400, "start": "2026-12-01T02:00:00+00:00"}
    flow_input = timer["body"]["body"]["input"]
    assert all("not registered yet" in v for k, v in flow_input.items() if k.endswith("_function_id"))
    # Timers keeps the body for the timer's life: the email account is not in it at all, and
    # the email is off, with a word about it: no email state reads an account the run lacks
    assert "hunter2" not in result.output
    assert not [k for k in timer["body"]["body"] if k.startswith("_private")]
    assert flow_input["notify"] == {"enable": False}
    assert "timer-started runs send no email" in result.stderr


def test_dry_run_uses_the_ids_gladier_stored_at_the_last_deploy(tmp_path, monkeypatch):
    state = make_campaign(tmp_path, "globus")
    flow, _ = decorated_parts(FLOWS["recon"])  # where Gladier keeps its ids: file and section
    storage = Path.home() / ".gladier" / f"{flow.client_id}.cfg"
    storage.parent.mkdir(exist_ok=True)
    storage.write_text(f"[{get_snake_case(flow.__name__)}]\nflow_id = {FLOW_ID}\n"
                       "tomocupy_recon_function_id = fn-stored\n")
    monkeypatch.setattr(wiring, "connect", lambda *a, **k: pytest.fail("no login or deploy"))
    result = CliRunner().invoke(main, ["campaign", "schedule", "night", "--at", "2026-12-24T18:00+00:00",
                                       "--dry-run", *state], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    bodies = [r["body"]["timer"] for r in json.loads(result.stdout)]
    assert [b["flow_id"] for b in bodies] == [FLOW_ID, FLOW_ID]
    assert [b["schedule"]["datetime"] for b in bodies] == ["2026-12-24T18:00:00+00:00", "2026-12-24T18:01:00+00:00"]
    assert all(b["body"]["body"]["input"]["tomocupy_recon_function_id"] == "fn-stored" for b in bodies)


@responses.activate
def test_a_campaign_follows_the_runs_its_timers_started(tmp_path, monkeypatch):
    """The run Flows starts for a timer carries the timer body's tags (a run record as the SDK's
    testing data has it): `campaign run` adopts it instead of submitting the job again."""
    state = make_campaign(tmp_path, "globus")
    load_response(FlowsClient.get_run)
    flows_flow_id = get_response_set(FlowsClient.get_run).lookup("default").responses[0].json["flow_id"]
    service = GlobusRunService.connect(flows_flow_id, flows_authorizer=globus_sdk.NullAuthorizer())

    _globus_wiring(monkeypatch, service)
    load_response(TimersClient.list_jobs)
    load_response(TimersClient.create_timer, case="flow_timer_success")
    scheduled = CliRunner().invoke(main, ["campaign", "schedule", "night", "--every", "1d", *state],
                                   catch_exceptions=False)
    assert scheduled.exit_code == 0, scheduled.output
    bodies = [c["body"] for c in _timer_creates()]

    # both timers fired: Flows holds a run for each, tagged as its timer's body said (the run
    # record of the SDK's testing data, its tags and id those of that run)
    template = get_response_set(FlowsClient.get_run).lookup("default").responses[0].json
    records = []
    for n, body in enumerate(bodies):
        record = copy.deepcopy(template)
        record["tags"] = body["tags"]
        if n:
            record["run_id"] = record["action_id"] = "00000000-0000-4000-8000-0000000000b2"
            responses.get(globus_sdk.config.get_service_url("flows") + f"runs/{record['run_id']}", json=record)
        records.append(record)
    responses.get(globus_sdk.config.get_service_url("flows") + "runs",
                  json={"runs": records, "has_next_page": False, "marker": None})
    ran = CliRunner().invoke(main, ["campaign", "run", "night", "--poll-interval", "0.01", *state],
                             catch_exceptions=False)
    assert ran.exit_code == 0, ran.output
    status = json.loads(CliRunner().invoke(main, ["campaign", "status", "night", "--json", *state]).output)
    assert sorted(j["run_id"] for j in status["jobs"]) == sorted(r["run_id"] for r in records)
    assert all(j["state"] == "SUCCEEDED" and j["attempts"] == 0 for j in status["jobs"])
    assert not [c for c in responses.calls if "/flows/" in c.request.url], "no job was submitted again"


@responses.activate
def test_timers_command_lists_and_deletes(tmp_path, monkeypatch):
    state = make_campaign(tmp_path, "globus")
    base = globus_sdk.config.get_service_url("timer")
    ours = load_response(TimersClient.delete_job).metadata["job_id"]
    responses.get(f"{base}jobs/", json={"jobs": [
        {"job_id": ours, "name": "tomocupy-gladier night abc", "status": "loaded", "next_run": "2026-12-02"},
        {"job_id": "x", "name": "not ours"}]})
    monkeypatch.setattr(campaign_commands, "timers_client_for",
                        lambda config, flow_id, flow_name="tomocupy": TimersClient(authorizer=globus_sdk.NullAuthorizer()))
    result = CliRunner().invoke(main, ["campaign", "timers", "night", *state, "--delete-all"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "tomocupy-gladier night abc" in result.output and "not ours" not in result.output
    assert f"deleted timer {ours}" in result.output
