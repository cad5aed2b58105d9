"""Our requests to Globus's hosted action providers, held against what Globus publishes of them.

The Parameters of each Action state are resolved from a realistic flow input (the globus
backend's, with the SMTP account in the environment) the way the local interpreter resolves
them, then validated against the provider's input schema. The schemas are written from the
docs pages and checked here against Globus's own example requests: see
tests/fixtures/action_providers/SOURCES.md for where each comes from.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from tomocupy_gladier.clients.client_factory import offline_client
from tomocupy_gladier.tools.registry import load_config
from tomocupy_gladier.planning.flow_input import build_flow_input, recon_parameters
from tomocupy_gladier.tools.notify.flow_input import choice_page
from tomocupy_gladier.local.jsonpath import render_parameters
from tomocupy_gladier.tools.choice.tool import make_choice_options

from tests.test_notify import NOTIFY
from tests.tiny_experiment import tiny_experiment

FIXTURES = Path(__file__).parent / "fixtures" / "action_providers"
USER = "urn:globus:auth:identity:c5ab1c3d-b812-4ef9-acb6-4d84c58db4de"
MANAGER = "urn:globus:auth:identity:0b5ad2c5-2c7e-4f4c-9d4b-1f9e2a3b4c5d"
CONTEXT = {"run_id": "8d7a3f4e-0000-4000-8000-000000000001", "flow_id": "f", "user_id": USER,
           "username": "alice@lab.example"}


def schema(name: str) -> jsonschema.Draft202012Validator:
    loaded = json.loads((FIXTURES / f"{name}.schema.json").read_text())
    return jsonschema.Draft202012Validator(loaded, format_checker=jsonschema.FormatChecker())


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


@pytest.mark.parametrize("provider, example", [
    ("send_notification_email", "automate_email.json"),
    ("send_notification_email", "automate_notification_email.json"),
    ("wait_for_user_selection", "automate_web_option.json"),
    ("wait_for_user_selection", "automate_web_option_landing_page_selectable_by.json"),
    ("transfer", "transfer_ap_docs_example.json"),
])
def test_each_schema_accepts_globus_own_example_requests(provider, example):
    schema(provider).validate(fixture(example))


@pytest.fixture
def run_state(tmp_path, monkeypatch):
    """The run state at the flow's start: the flow input on the globus backend and $._context."""
    monkeypatch.setenv("TOMOCUPY_GLADIER_SMTP_USERNAME", "tomo")
    monkeypatch.setenv("TOMOCUPY_GLADIER_SMTP_PASSWORD", "s3cret")
    extra = f'\n[choice]\nselectable_by = ["{MANAGER}"]\n'
    config = load_config(tiny_experiment(tmp_path, NOTIFY + 'smtp = "smtp.lab.example:587"\n' + extra))
    recon = recon_parameters(config, {}, "full")
    body = build_flow_input(config, "scan1.h5", recon, flow="interactive", backend="globus",
                            try_recon=recon_parameters(config, {}, "try"))
    assert body["input"]["notify"]["choose_suffix"] == choice_page(config, "globus")["choose_suffix"]
    return {**body, "_context": CONTEXT}


def _parameters(flow: str, state_name: str, state: dict) -> dict:
    definition = offline_client(flow).get_flow_definition()
    params = dict(definition["States"][state_name]["Parameters"])
    params.pop("__Private_Parameters", None)
    return render_parameters(params, state)


@pytest.mark.parametrize("state_name", ["NotifySucceeded", "NotifyFailed"])
def test_the_emails_are_requests_send_notification_email_takes(run_state, state_name):
    run_state["RunFailure"] = {"state": "TomocupyRecon", "error": "ActionFailedException",
                               "cause": "exit 1"}
    request = _parameters("tomocupy", state_name, run_state)
    schema("send_notification_email").validate(request)
    assert request["send_credentials"][0]["credential_value"]["password"] == "s3cret"
    assert isinstance(request["destination"], str)


def test_the_scan_transfer_sends_a_sync_level_the_transfer_ap_takes(run_state):
    request = _parameters("tomocupy", "Transfer", run_state)
    schema("transfer").validate(request)
    assert request["sync_level"] == 3  # checksum


def test_the_montage_publication_is_a_request_the_transfer_ap_takes(run_state):
    run_state["input"]["interactive"]["montage"] = {
        "enable": True, "source": {"id": "11111111-1111-4111-8111-111111111111", "path": "/p/"},
        "destination": {"id": "55555555-5555-4555-8555-555555555555", "path": "/q/"}}
    schema("transfer").validate(_parameters("interactive", "PublishMontage", run_state))


def test_the_choice_is_selectable_only_by_the_runs_user_and_the_managers(run_state):
    block = run_state["input"]["interactive"]
    made = make_choice_options({"suggested_center": 31.5, "ranking": [{"center": 32.0, "rank": 1}]},
                               {"reconstruction-type": "full"}, block,
                               run_id=CONTEXT["run_id"], user_id=CONTEXT["user_id"])
    run_state["MakeChoiceOptions"] = {"details": {"results": [{"output": made}]}}
    request = _parameters("interactive", "WaitForChoice", run_state)
    schema("wait_for_user_selection").validate(request)
    assert request["landing_page"]["selectable_by"] == [USER, MANAGER]
    assert all(o["selectable_by"] == [USER, MANAGER] for o in request["options"])
    # the compute step is handed the run's user from the run context
    definition = offline_client("interactive").get_flow_definition()
    kwargs = definition["States"]["MakeChoiceOptions"]["Parameters"]["tasks"][0]["kwargs"]
    assert kwargs["user_id.$"] == "$._context.user_id"


def test_the_account_is_private_run_state_that_the_schema_admits_but_no_form_shows():
    from tomocupy_gladier.flows import TomocupyFlow
    from tomocupy_gladier.experiment.validation import validate_flow_input

    deployed = TomocupyFlow.flow_schema
    assert "_private_email_credentials" not in deployed["properties"]
    assert list(deployed["patternProperties"]) == ["^_private"]
    assert "send_credentials" not in json.dumps(deployed)
    with pytest.raises(Exception):  # anything else beside "input" is still refused
        validate_flow_input(deployed, {"input": {}, "email_credentials": {}})
