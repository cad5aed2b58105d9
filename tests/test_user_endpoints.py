"""The local backend's Globus Compute endpoints, as Compute documents them, and one user endpoint
per run in each of the three flows.

Globus Compute (globus/globus-compute ``docs/endpoints/endpoints.rst``): a user endpoint is
named from "the endpoint_id, the Globus Auth identity ID of the user making the request, the
endpoint configuration in the request" ("changing any of these values will result in a new user
endpoint process"); an endpoint started as a non-privileged user "will only accept tasks
submitted by the endpoint owner"; the endpoint checks the configuration against its
``user_config_schema.json`` and refuses Compute's reserved template variables
(``endpoint/config/utils.py`` ``_validate_user_opts``, ``RESERVED_USER_CONFIG_TEMPLATE_VARIABLES``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.conftest import ENDPOINT, end_runs
from tests.test_interactive_flow import wait_for
from tests.tiny_experiment import isolate, tiny_experiment
from tomocupy_gladier.cli import main
from tomocupy_gladier.clients.client_factory import local_backend, make_client
from tomocupy_gladier.experiment.compute_endpoints import TEMPLATE_SCHEMA, alcf_option_schema
from tomocupy_gladier.tools.registry import load_config
from tomocupy_gladier.local.actions import ActionRequest
from tomocupy_gladier.local.errors import InvalidRequest
from tomocupy_gladier.local.providers.compute import ComputeProvider
from tomocupy_gladier.local.registry import FunctionRegistry
from tomocupy_gladier.local.user_endpoints import ConfigRefused, EndpointRefused, UserEndpoints
from tomocupy_gladier.runs.choice import waiting_choice

ALICE = "urn:globus:auth:identity:aaaaaaaa-0000-4000-8000-000000000001"
BOB = "urn:globus:auth:identity:bbbbbbbb-0000-4000-8000-000000000002"
ALCF = "9a947ba5-f537-4681-acf3-cc66485aadec"
OWN = "cccccccc-0000-4000-8000-000000000003"


@pytest.fixture
def endpoints(tmp_path: Path) -> UserEndpoints:
    model = UserEndpoints(tmp_path / "endpoints.db", {
        ALCF: {"name": "ALCF Polaris", "multi_user": True, "owner": None, "schema": alcf_option_schema()},
        OWN: {"name": "the facility's endpoint", "multi_user": False, "owner": None, "schema": TEMPLATE_SCHEMA},
    }, default_owner=ALICE)
    yield model
    model.close()


def test_one_user_endpoint_per_identity_endpoint_and_configuration(endpoints):
    config = {"queue": "debug", "account": "TOMO"}
    first = endpoints.admit(ALCF, ALICE, config)
    assert endpoints.admit(ALCF, ALICE, dict(reversed(list(config.items())))) == first  # same config
    assert endpoints.admit(ALCF, ALICE, {**config, "walltime": "00:30:00"}) != first   # a new one
    assert endpoints.admit(ALCF, BOB, config) != first  # a multi-user endpoint: each user their own
    assert first.startswith(f"uep.{ALCF}.")


def test_a_single_user_endpoint_refuses_anyone_but_its_owner(endpoints):
    endpoints.admit(OWN, ALICE, {"queue": "debug"})
    with pytest.raises(EndpointRefused, match="only accepts tasks submitted by its owner"):
        endpoints.admit(OWN, BOB, {"queue": "debug"})


@pytest.mark.parametrize("endpoint, config, problem", [
    (ALCF, {"queue": "debug"}, "'account' is a required property"),
    (ALCF, {"queue": "debug", "account": "T", "nodes": 2}, "Additional properties are not allowed"),
    (OWN, {"scheduler_options": "#PBS -l filesystems=home:eagle"}, "Additional properties"),
    (OWN, {"walltime": "1h"}, "does not match"),
    ("dddddddd-0000-4000-8000-000000000004", {"user_runtime": {}}, "reserved word"),
])
def test_what_the_endpoints_schema_does_not_allow_is_refused(endpoints, endpoint, config, problem):
    with pytest.raises(ConfigRefused, match=problem):
        endpoints.admit(endpoint, ALICE, config)


def _request(body: dict[str, Any], user: str = ALICE, state: str = "Step") -> ActionRequest:
    import time
    import uuid

    return ActionRequest(action_id=str(uuid.uuid4()), action_url="", state_name=state, body=body,
                         wait_time=60, deadline=time.monotonic() + 60, run_id="run-1", user_id=user)


def test_a_v2_step_beside_v3_steps_starts_a_second_user_endpoint(tmp_path, endpoints):
    """What Publishv2's gather step did: Compute v2 sends no user_endpoint_config, so the same
    endpoint and identity get a second user endpoint (a second batch job on PBS)."""
    registry = FunctionRegistry(tmp_path / "functions.db")
    fid = registry.register_source("hello", "def hello(**kw):\n    return {'ok': True}\n", "c1")
    v3 = ComputeProvider(registry, tmp_path / "tasks", version=3, user_endpoints=endpoints)
    v2 = ComputeProvider(registry, tmp_path / "tasks", version=2, user_endpoints=endpoints)
    config = {"queue": "debug", "account": "TOMO"}
    assert v3(_request({"endpoint_id": ALCF, "tasks": [{"function_id": fid}], "user_endpoint_config": config},
                       state="TomocupyRecon")).status == "SUCCEEDED"
    assert v3(_request({"endpoint_id": ALCF, "tasks": [{"function_id": fid}], "user_endpoint_config": config},
                       state="MakePreviews")).status == "SUCCEEDED"
    assert len(endpoints.of_run("run-1")) == 1
    v2(_request({"tasks": [{"endpoint": OWN, "function": fid, "payload": {}}]}, state="Gather"))
    used = endpoints.of_run("run-1")
    assert [[t["state_name"] for t in u["tasks"]] for u in used] == [["TomocupyRecon", "MakePreviews"], ["Gather"]]
    with pytest.raises(InvalidRequest, match="owner"):  # the Compute service refuses the submission
        v3(_request({"endpoint_id": OWN, "tasks": [{"function_id": fid}]}, user=BOB))
    refused = v3(_request({"endpoint_id": ALCF, "tasks": [{"function_id": fid}], "user_endpoint_config": {}}))
    assert refused.status == "FAILED" and "'queue' is a required property" in refused.details["exception"]
    registry.close()


# --- the three flows, end to end ---------------------------------------------------------------

def _status_json(config: Path, run_id: str, flow: str) -> dict[str, Any]:
    shown = CliRunner().invoke(main, ["status", run_id, "--config", str(config), "--flow", flow, "--json"],
                               catch_exceptions=False)
    assert shown.exit_code == 0, shown.output
    return json.loads(shown.stdout)


def _assert_one_user_endpoint(record: dict[str, Any], flow_input: dict[str, Any], states: set[str]) -> None:
    (uep,) = record["compute"]["user_endpoints"]
    assert uep["endpoint_id"] == ENDPOINT
    assert uep["user_endpoint_config"] == flow_input["tomocupy_endpoint_config"] == {"queue": "debug",
                                                                                     "account": "TOMO"}
    ran = {task["state_name"] for task in uep["tasks"]}
    assert ran == states and {task["status"] for task in uep["tasks"]} == {"SUCCEEDED"}


@pytest.mark.parametrize("flow, at_facility", [("tomocupy", False), ("recon", True)])
def test_a_run_uses_one_user_endpoint_for_all_its_compute_steps(tmp_path, monkeypatch, flow, at_facility):
    isolate(monkeypatch, tmp_path)
    config = tiny_experiment(tmp_path, at_facility=at_facility, return_folder=False)
    result = CliRunner().invoke(main, ["run", "scan1.h5", "--config", str(config), "--flow", flow, "--full"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    run_id = next(line for line in result.output.splitlines() if len(line) == 36 and line.count("-") == 4)
    record = _status_json(config, run_id, flow)
    flow_input = local_backend(load_config(config)).store.get_run_input(run_id)["input"]
    _assert_one_user_endpoint(record, flow_input, {"TomocupyRecon", "MakePreviews", "ScanMetadata",
                                                   "Publishv2GatherMetadata"})
    # every shim's result says what the worker ran (ALCF: Python and parsl must match the endpoint's)
    outputs = record["details"]["output"]
    for state in ("TomocupyRecon", "MakePreviews", "ScanMetadata"):
        worker = outputs[state]["details"]["results"][0]["output"]["worker"]
        assert set(worker) >= {"python", "parsl", "globus_compute_endpoint", "tomocupy"}
        assert worker["tomocupy"] is None  # the CPU engine stands in: no tomocupy here
    published = outputs["Publishv2GatherMetadata"]["details"]["results"][0]["output"]["search"]["content"]
    assert published["tomography"]["reconstruction"]["worker"]["python"] == worker["python"]
    text = CliRunner().invoke(main, ["status", run_id, "--config", str(config), "--flow", flow]).output
    assert "compute: 1 user endpoint" in text and "Publishv2GatherMetadata (SUCCEEDED)" in text


def test_an_interactive_run_uses_one_user_endpoint_for_all_its_compute_steps(tmp_path, monkeypatch, request):
    isolate(monkeypatch, tmp_path)
    config = tiny_experiment(tmp_path, return_folder=False)
    request.addfinalizer(lambda: end_runs(tmp_path / ".tomocupy-gladier"))
    started = CliRunner().invoke(main, ["run", "scan1.h5", "--config", str(config), "--interactive",
                                        "--no-follow"], catch_exceptions=False)
    assert started.exit_code == 0, started.output
    run_id = started.output.strip().splitlines()[-1]
    loaded = load_config(config)
    client = make_client("interactive", loaded)
    wait_for(lambda: waiting_choice(client, run_id), what="the choice")
    chosen = CliRunner().invoke(main, ["choose", run_id, "--config", str(config), "--suggested"],
                                catch_exceptions=False)
    assert chosen.exit_code == 0, chosen.output
    final = local_backend(loaded).wait(run_id, timeout=300)
    assert final["status"] == "SUCCEEDED", final["details"]
    record = _status_json(config, run_id, "interactive")
    flow_input = local_backend(loaded).store.get_run_input(run_id)["input"]
    _assert_one_user_endpoint(record, flow_input, {"TryRecon", "TryPreviews", "MakeChoiceOptions", "TomocupyRecon",
                                                   "MakePreviews", "ScanMetadata", "Publishv2GatherMetadata"})
