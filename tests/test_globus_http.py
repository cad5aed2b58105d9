"""Deploy, register, run and status through globus-sdk, checked at the HTTP level.

Every Globus service is replaced by ``globus_sdk.testing`` registered responses (the
``responses`` package); the tests look at the requests the real Gladier client sent.
No network is used: an unregistered request fails with a connection error.
"""

from __future__ import annotations

import configparser
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import globus_sdk
import pytest
import responses
from gladier.managers import FlowsManager
from gladier.managers.login_manager import CallbackLoginManager
from globus_compute_sdk import Client as ComputeClient
from globus_sdk.testing import RegisteredResponse, get_response_set, load_response

from tomocupy_gladier.globus.compute_manager import SourceComputeManager
from tomocupy_gladier.globus.auth import scope_key
from tomocupy_gladier.experiment.config import ExperimentConfig
from tomocupy_gladier.tools.registry import config_from_dict
from tomocupy_gladier.planning.flow_input import build_flow_input, recon_parameters
from tomocupy_gladier.flows.tomocupy_flow import TomocupyFlow
from tomocupy_gladier.globus.gladier_storage import client_with_storage
from tomocupy_gladier.tools.recon.tomocupy_recon import TomocupyRecon

SOURCE = "11111111-1111-4111-8111-111111111111"
FACILITY = "22222222-2222-4222-8222-222222222222"
ENDPOINT = "33333333-3333-4333-8333-333333333333"
INDEX = "44444444-4444-4444-8444-444444444444"
PUBLISH = "55555555-5555-4555-8555-555555555555"
SUBSCRIPTION = "66666666-6666-4666-8666-666666666666"

_created = get_response_set(globus_sdk.FlowsClient.create_flow).lookup("default").json
FLOW_ID: str = _created["id"]
FLOW_SCOPE: str = _created["globus_auth_scope"]
RUN = get_response_set(globus_sdk.SpecificFlowClient.run_flow).lookup("default").json
RECORDED_RUN_ID: str = get_response_set(globus_sdk.FlowsClient.get_run).metadata["run_id"]

FLOWS_URL = "https://flows.automate.globus.org"
COMPUTE_URL = "https://compute.api.globus.org"


def sdk_run_scope(flow_id: str, collections: list[str]) -> str:
    """The run scope globus-sdk's ``SpecificFlowClient.add_app_transfer_data_access_scope``
    gives a ``GlobusApp`` for these collections (the Globus-authored reference)."""
    from globus_sdk.token_storage import MemoryTokenStorage

    app = globus_sdk.UserApp("reference", client_id=str(uuid.UUID(int=7)),
                             config=globus_sdk.GlobusAppConfig(token_storage=MemoryTokenStorage()))
    globus_sdk.SpecificFlowClient(flow_id, app=app).add_app_transfer_data_access_scope(collections)
    (with_dependencies,) = [s for s in app.scope_requirements[flow_id] if s.dependencies]
    return str(with_dependencies)


def canonical(scope: str) -> tuple:
    """A scope string's tree, siblings unordered (globus-sdk's parser does not keep their order)."""
    def tree(node: globus_sdk.Scope) -> tuple:
        return node.scope_string, node.optional, frozenset(tree(d) for d in node.dependencies)
    (root,) = globus_sdk.scopes.ScopeParser.parse(scope)
    return tree(root)


def function_id_for(name: str) -> str:
    """The id our fake Compute service gives a function: stable per name, distinct across names."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"compute-function:{name}"))


@pytest.fixture
def globus() -> Iterator[responses.RequestsMock]:
    """Fake Flows and Compute services, answering like the real ones."""
    responses.start()
    try:
        load_response(globus_sdk.FlowsClient.create_flow)
        load_response(globus_sdk.FlowsClient.update_flow, case="default")
        load_response(globus_sdk.SpecificFlowClient.run_flow)
        load_response(globus_sdk.FlowsClient.get_run)
        # the compute client checks its version against the service when it is built
        RegisteredResponse(service="compute", path="/v2/version", method="GET",
                           json={"api": "1.23.0", "min_sdk_version": "1.0.0",
                                 "min_ep_version": "1.0.0"}).add()

        def register(request: Any) -> tuple[int, dict, str]:
            # like globus_sdk.testing's register_function response, but one id per function
            body = json.loads(request.body)
            return 200, {}, json.dumps({"function_uuid": function_id_for(body["function_name"])})

        responses.add_callback(responses.POST, f"{COMPUTE_URL}/v3/functions", callback=register,
                               content_type="application/json")
        yield responses.mock
    finally:
        responses.stop()
        responses.reset()


class StaticLogin(CallbackLoginManager):
    """A login manager with static tokens; a scope it lacks gets a token named after it."""

    def __init__(self) -> None:
        authorizers = {str(s): globus_sdk.AccessTokenAuthorizer("flows-token")
                       for s in FlowsManager.AVAILABLE_SCOPES}
        authorizers[ComputeClient.FUNCX_SCOPE] = globus_sdk.AccessTokenAuthorizer("compute-token")
        self.asked: list[list[str]] = []
        super().__init__(authorizers, callback=self._grant)

    def _grant(self, scopes: Any) -> dict[str, globus_sdk.AccessTokenAuthorizer]:
        self.asked.append(sorted(str(s) for s in scopes))
        # keyed as our login manager keys them (a run scope with dependencies as a Scope)
        return {scope_key(s): globus_sdk.AccessTokenAuthorizer("flow-run-token") for s in scopes}


def experiment(**globus_section: str) -> ExperimentConfig:
    raw = {
        "experiment": {"name": "cells", "backend": "globus", "tags": ["2-bm"]},
        "source": {"collection": SOURCE, "path": "/data"},
        "facility": {"collection": FACILITY, "path": "/raw", "posix_root": "/eagle/tomo"},
        "compute": {"endpoint": ENDPOINT, "pbs": {"queue": "debug", "account": "TOMO"}},
        "publish": {"index": INDEX, "collection": PUBLISH, "path": "/published"},
        "recon": {"rotation-axis": 1024.5},
        "globus": dict(globus_section),
    }
    return config_from_dict(raw, Path("/tmp/experiment.toml"))


def flow_body(config: ExperimentConfig) -> dict:
    return build_flow_input(config, "scan1.h5", recon_parameters(config, None, "try"))


def make_flow(storage: Path, login: CallbackLoginManager | None = None, **kwargs: Any) -> TomocupyFlow:
    return client_with_storage(TomocupyFlow, storage, login_manager=login or StaticLogin(), **kwargs)


def calls_to(mock: responses.RequestsMock, method: str, path: str) -> list[Any]:
    return [c for c in mock.calls if c.request.method == method and c.request.url.split("?")[0].endswith(path)]


def body_of(call: Any) -> dict:
    return json.loads(call.request.body)


def test_first_run_deploys_flow_registers_functions_and_starts_run(globus, tmp_path):
    storage = tmp_path / "gladier.cfg"
    login = StaticLogin()
    flow = make_flow(storage, login, recon_wait_time=5400)
    config = experiment()

    started = flow.run_flow(flow_input=flow_body(config), label="cells: scan1.h5 (try)",
                            tags=["2-bm", "tomocupy-gladier"])

    # the flow is created with the definition Gladier generated and our input schema
    (create,) = calls_to(globus, "POST", "/flows")
    sent = body_of(create)
    assert sent["title"] == "TomocupyFlow flow"
    assert sent["definition"] == flow.get_flow_definition()
    assert sent["definition"]["States"]["TomocupyRecon"]["WaitTime"] == 5400
    assert sent["input_schema"] == TomocupyFlow.flow_schema
    assert "subscription_id" not in sent
    assert create.request.headers["Authorization"] == "Bearer flows-token"

    # every compute function of the flow is registered by source
    registered = [body_of(c) for c in calls_to(globus, "POST", "/v3/functions")]
    assert sorted(r["function_name"] for r in registered) == [
        "make_previews", "publishv2_gather_metadata", "retention_targets", "scan_metadata", "tomocupy_recon"]
    # as their source text: globus-compute-sdk's PureSourceDill ("sd"), not gladier 0.11's
    # DillCodeSource, deprecated since globus-compute-sdk 4.0 (serialize/concretes.py)
    assert all("\nsd\n" + r["function_name"] + ":def " in r["function_code"] for r in registered)

    # running needs the new flow's own scope: one extra login, for exactly that scope
    assert login.asked == [[FLOW_SCOPE]]

    (run,) = calls_to(globus, "POST", f"/flows/{FLOW_ID}/run")
    assert run.request.headers["Authorization"] == "Bearer flow-run-token"
    run_body = body_of(run)
    assert run_body["label"] == "cells: scan1.h5 (try)"
    assert run_body["tags"] == ["2-bm", "tomocupy-gladier"]
    flow_input = run_body["body"]["input"]
    assert flow_input["tomocupy_recon_function_id"] == function_id_for("tomocupy_recon")
    assert flow_input["publishv2_gather_metadata_function_id"] == function_id_for("publishv2_gather_metadata")
    assert flow_input["recon"] == {"rotation-axis": 1024.5, "reconstruction-type": "try", "command": "recon"}
    assert flow_input["source"] == {"id": SOURCE, "path": "/data/scan1.h5"}
    assert flow_input["tomocupy_endpoint_config"] == {"queue": "debug", "account": "TOMO"}
    assert started["run_id"] == RUN["run_id"]

    # what Gladier remembers: the flow id and the function ids, for the next run
    text = storage.read_text()
    assert FLOW_ID in text and function_id_for("tomocupy_recon") in text


def test_a_run_under_after_publish_rules_sends_them_to_flows(globus, tmp_path):
    """The rules travel in the run's input (the flow decides and deletes on Globus's side)."""
    raw = {"experiment": {"name": "cells", "backend": "globus"},
           "source": {"collection": SOURCE, "path": "/data"},
           "facility": {"collection": FACILITY, "path": "/raw", "posix_root": "/eagle/tomo"},
           "compute": {"endpoint": ENDPOINT, "pbs": {"queue": "debug", "account": "TOMO"}},
           "publish": {"index": INDEX, "collection": PUBLISH, "path": "/published"},
           "retention": {"raw": "after-publish", "tries": "7d"},
           "recon": {"rotation-axis": 1024.5}}
    config = config_from_dict(raw, Path("/tmp/experiment.toml"))
    make_flow(tmp_path / "gladier.cfg").run_flow(
        flow_input=build_flow_input(config, "scan1.h5", recon_parameters(config, None, "full")), label="rules")
    (run,) = calls_to(globus, "POST", f"/flows/{FLOW_ID}/run")
    sent = body_of(run)["body"]["input"]
    assert sent["retention"] == {"enable": True, "raw": "after-publish", "reconstruction": "keep"}
    assert sent["retention_targets_function_id"] == function_id_for("retention_targets")


def test_status_reads_the_run_record(globus, tmp_path):
    flow = make_flow(tmp_path / "gladier.cfg")
    run_id = RECORDED_RUN_ID

    status = flow.get_status(run_id)

    (get,) = calls_to(globus, "GET", f"/runs/{run_id}")
    assert get.request.headers["Authorization"] == "Bearer flows-token"
    assert status["run_id"] == run_id
    assert status["status"] in ("ACTIVE", "SUCCEEDED", "FAILED", "INACTIVE")


def test_second_run_with_nothing_changed_neither_deploys_nor_registers(globus, tmp_path):
    storage = tmp_path / "gladier.cfg"
    make_flow(storage).run_flow(flow_input=flow_body(experiment()), label="first")
    globus.calls.reset()

    login = StaticLogin()
    login.authorizers[FLOW_SCOPE] = globus_sdk.AccessTokenAuthorizer("flow-run-token")
    make_flow(storage, login).run_flow(flow_input=flow_body(experiment()), label="second")

    paths = [(c.request.method, c.request.url.split("?")[0]) for c in globus.calls]
    assert paths == [("POST", f"{FLOWS_URL}/flows/{FLOW_ID}/run")]
    assert login.asked == []


def test_changed_definition_updates_the_deployed_flow(globus, tmp_path):
    storage = tmp_path / "gladier.cfg"
    make_flow(storage, recon_wait_time=3600).run_flow(flow_input=flow_body(experiment()), label="first")
    globus.calls.reset()

    flow = make_flow(storage, recon_wait_time=7200)
    flow.run_flow(flow_input=flow_body(experiment()), label="second")

    assert calls_to(globus, "POST", "/flows") == []
    (update,) = calls_to(globus, "PUT", f"/flows/{FLOW_ID}")
    sent = body_of(update)
    assert sent["definition"]["States"]["TomocupyRecon"]["WaitTime"] == 7200
    assert sent["input_schema"] == TomocupyFlow.flow_schema
    assert calls_to(globus, "POST", "/v3/functions") == []
    assert len(calls_to(globus, "POST", f"/flows/{FLOW_ID}/run")) == 1

    # the new checksum is remembered: a third run changes nothing
    globus.calls.reset()
    make_flow(storage, recon_wait_time=7200).run_flow(flow_input=flow_body(experiment()), label="third")
    assert calls_to(globus, "PUT", f"/flows/{FLOW_ID}") == []


def test_changed_function_source_is_registered_again(globus, tmp_path):
    storage = tmp_path / "gladier.cfg"
    make_flow(storage).run_flow(flow_input=flow_body(experiment()), label="first")
    globus.calls.reset()

    # the source Gladier registered last time differs from today's: only its checksum is kept
    (function,) = TomocupyRecon.__wrapped__.compute_functions
    current = SourceComputeManager.get_compute_function_checksum(function)
    recorded = configparser.ConfigParser()
    recorded.read(storage)
    assert recorded["tomocupy_flow"]["tomocupy_recon_function_id_checksum"] == current
    recorded["tomocupy_flow"]["tomocupy_recon_function_id_checksum"] = "0" * 64
    with storage.open("w") as out:
        recorded.write(out)

    make_flow(storage).run_flow(flow_input=flow_body(experiment()), label="second")

    (registered,) = [body_of(c) for c in calls_to(globus, "POST", "/v3/functions")]
    assert registered["function_name"] == "tomocupy_recon"
    assert calls_to(globus, "POST", "/flows") == [] and calls_to(globus, "PUT", f"/flows/{FLOW_ID}") == []


def test_subscription_id_from_the_experiment_is_sent_on_create(globus, tmp_path, monkeypatch):
    """``client_factory.globus_client`` forwards ``[globus] subscription_id`` (Gladier alone drops it)."""
    from tomocupy_gladier.globus import auth
    from tomocupy_gladier.clients import client_factory

    logins: list[StaticLogin] = []

    def fake_login_manager_for(client_id: str | None = None) -> StaticLogin:
        logins.append(StaticLogin())
        logins[-1].authorizers[FLOW_SCOPE] = globus_sdk.AccessTokenAuthorizer("flow-run-token")
        return logins[-1]

    monkeypatch.setattr(auth, "login_manager_for", fake_login_manager_for)
    config = experiment(subscription_id=SUBSCRIPTION)
    client_factory.globus_client("tomocupy", config).run_flow(flow_input=flow_body(config), label="sub")

    (create,) = calls_to(globus, "POST", "/flows")
    assert body_of(create)["subscription_id"] == SUBSCRIPTION
    # the ids are kept where Gladier keeps them for the user's client
    stored = Path.home() / ".gladier" / f"{TomocupyFlow.__wrapped__.client_id}.cfg"
    assert FLOW_ID in stored.read_text()

    # and an unchanged flow is not updated on the next run
    globus.calls.reset()
    client_factory.globus_client("tomocupy", config).run_flow(flow_input=flow_body(config), label="sub 2")
    assert calls_to(globus, "PUT", f"/flows/{FLOW_ID}") == []
    assert calls_to(globus, "POST", "/flows") == []


def test_confidential_client_deploys_and_runs_with_client_credentials(globus, monkeypatch):
    """GLADIER_CLIENT_ID/SECRET: every token comes from a client-credentials grant, the new
    flow's scope included, and Gladier keeps its ids in ~/.gladier/<client_id>.cfg."""
    from tomocupy_gladier.globus import auth
    from tomocupy_gladier.clients import client_factory

    client_id = "c0ffee00-1111-4222-8333-444455556666"
    monkeypatch.setenv("GLADIER_CLIENT_ID", client_id)
    monkeypatch.setenv("GLADIER_CLIENT_SECRET", "not-for-logs")
    token_requests: list[set[str]] = []

    def grant(request: Any) -> tuple[int, dict, str]:
        scopes = [str(s) for s in globus_sdk.scopes.ScopeParser.parse(parse_qs(request.body)["scope"][0])]
        token_requests.append(set(scopes))
        # Globus Auth names the root scopes a token holds, not their dependencies
        tokens = [{"access_token": f"cc-{server}", "expires_in": 3600, "token_type": "Bearer",
                   "resource_server": server,
                   "scope": " ".join(globus_sdk.Scope.parse(s).scope_string for s in server_scopes)}
                  for server, server_scopes in auth.scopes_by_resource_server(scopes).items()]
        return 200, {}, json.dumps({**tokens[0], "other_tokens": tokens[1:]})

    globus.add_callback(responses.POST, "https://auth.globus.org/v2/oauth2/token", callback=grant,
                        content_type="application/json")
    config = experiment()
    client_factory.globus_client("tomocupy", config).run_flow(flow_input=flow_body(config), label="cc")

    first, second = token_requests
    assert {str(globus_sdk.FlowsClient.scopes.manage_flows), ComputeClient.FUNCX_SCOPE} <= first
    assert FLOW_SCOPE not in first
    # the service account asks for the new flow's run scope with the data_access consents of
    # the beamline and Eagle collections (mapped: data_access on by default), as globus-sdk's
    # own helper builds it
    assert canonical(sdk_run_scope(FLOW_ID, [FACILITY, SOURCE])) in {canonical(s) for s in second}
    (create,) = calls_to(globus, "POST", "/flows")
    assert create.request.headers["Authorization"] == "Bearer cc-flows.globus.org"
    (run,) = calls_to(globus, "POST", f"/flows/{FLOW_ID}/run")
    assert run.request.headers["Authorization"] == f"Bearer cc-{FLOW_ID}"
    assert FLOW_ID in (Path.home() / ".gladier" / f"{client_id}.cfg").read_text()
    assert auth.token_path(client_id).exists()


EXPERIMENT_TOML = f"""
[experiment]
name = "cells"
backend = "globus"
[source]
collection = "{SOURCE}"
path = "/data"
[facility]
collection = "{FACILITY}"
path = "/raw"
posix_root = "/eagle/tomo"
[compute]
endpoint = "{ENDPOINT}"
[compute.pbs]
queue = "debug"
account = "TOMO"
[publish]
index = "{INDEX}"
collection = "{PUBLISH}"
path = "/published"
[recon]
rotation-axis = 1024.5
"""


def test_deploy_creates_the_flow_with_the_experiments_start_form_and_prints_its_start_page(
        globus, tmp_path, monkeypatch):
    """`tomocupy-gladier deploy`: functions registered, the flow created with the schema whose
    defaults are the experiment's settings; `schema --config` then prints exactly that schema,
    and a later run keeps it (no update, no registration)."""
    from click.testing import CliRunner

    from tomocupy_gladier.globus import auth
    from tomocupy_gladier.clients import client_factory
    from tomocupy_gladier.cli import main
    from tomocupy_gladier.tools.registry import load_config

    monkeypatch.setattr(auth, "login_manager_for", lambda client_id=None: StaticLogin())
    config_path = tmp_path / "experiment.toml"
    config_path.write_text(EXPERIMENT_TOML)

    result = CliRunner().invoke(main, ["deploy", "--config", str(config_path), "--flow", "tomocupy"],
                                catch_exceptions=False)

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [FLOW_ID, f"start page: https://app.globus.org/flows/{FLOW_ID}/run"]
    assert len(calls_to(globus, "POST", "/v3/functions")) == 5
    (create,) = calls_to(globus, "POST", "/flows")
    deployed = body_of(create)["input_schema"]
    form = deployed["properties"]["input"]["properties"]
    assert form["compute_endpoint"]["default"] == ENDPOINT
    assert form["tomocupy_recon_function_id"]["default"] == function_id_for("tomocupy_recon")
    assert form["retention_targets_function_id"]["default"] == function_id_for("retention_targets")
    assert form["source"]["properties"]["id"]["default"] == SOURCE
    assert form["publishv2"]["properties"]["index"]["default"] == INDEX
    assert form["tomocupy_endpoint_config"]["properties"]["account"]["default"] == "TOMO"
    assert all(f["properties"]["rotation-axis"]["default"] == 1024.5 for f in form["recon"]["oneOf"])

    printed = CliRunner().invoke(main, ["schema", "--config", str(config_path)], catch_exceptions=False)
    assert json.loads(printed.output) == deployed
    generic = CliRunner().invoke(main, ["schema"], catch_exceptions=False)
    assert "default" not in json.loads(generic.output)["properties"]["input"]["properties"]["compute_endpoint"]

    globus.calls.reset()
    config = load_config(config_path)
    client_factory.globus_client("tomocupy", config).run_flow(flow_input=flow_body(config), label="after deploy")
    assert calls_to(globus, "PUT", f"/flows/{FLOW_ID}") == [] and calls_to(globus, "POST", "/flows") == []
    assert calls_to(globus, "POST", "/v3/functions") == []
    assert len(calls_to(globus, "POST", f"/flows/{FLOW_ID}/run")) == 1
