"""Deploying a flow for an experiment on Globus (:func:`deploy`, through Gladier, as ``run``
does), and what a deploy would send, recorded instead of sent (:func:`deploy_requests`)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import globus_sdk
from gladier.managers.login_manager import CallbackLoginManager
from globus_compute_sdk.sdk.client import FunctionRegistrationData
from globus_compute_sdk.serialize import ComputeSerializer

from tomocupy_gladier.clients.client_factory import flow_class, globus_client
from tomocupy_gladier.experiment.compute_endpoints import user_endpoint_config
from tomocupy_gladier.experiment.config import ExperimentConfig
from tomocupy_gladier.flows import data_access_collections
from tomocupy_gladier.flows.compute_states import compute_states
from tomocupy_gladier.flows.start_form import use_deployed_schema
from tomocupy_gladier.globus.auth import flow_run_scope, scope_key
from tomocupy_gladier.globus.compute_manager import SourceComputeManager
from tomocupy_gladier.globus.gladier_storage import decorated_parts, storage_file
from tomocupy_gladier.globus.recording import Placeholders, RecordingTransport


def deploy(client: Any, config: ExperimentConfig) -> str:
    """Register the functions, then create or update the flow with the deployed schema
    (``flows/start_form.py``); returns the flow id."""
    use_deployed_schema(client, config)
    client.get_compute_function_ids()
    client.sync_flow()
    flow_id = client.get_flow_id()
    if not flow_id:
        raise RuntimeError("the flow was not deployed (no flow id)")
    return str(flow_id)


def deploy_requests(config: ExperimentConfig, flow_names: Sequence[str]) -> list[dict[str, Any]]:
    """Go through ``deploy`` of each flow with globus-sdk's requests recorded, not sent.

    No login, no network, nothing written: Gladier reads a copy of its id file (so flows and
    functions already deployed from this machine are updated, or left alone, as a real deploy
    would) and the ids Globus would assign are ``<...>`` placeholders. Each entry: the flow, its
    id, its run scope (with the ``data_access`` consents of the collections its transfers use),
    what each compute state sends to Globus Compute (endpoint and ``user_endpoint_config``, with
    the experiment's settings) and the requests in the order they would be sent.
    """
    placeholders = Placeholders()
    planned = []
    for name in flow_names:
        def answer(method: str, path: str, body: Any, name: str = name) -> dict[str, Any]:
            if path.endswith("/v3/functions"):
                fid = placeholders.new(f"id of function {body['function_name']}: assigned when registered")
                return {"function_uuid": fid}
            if method == "POST" and path.rstrip("/").endswith("/flows"):
                flow_id = placeholders.new(f"id of the {name} flow: assigned when created")
                return {"id": flow_id, "globus_auth_scope": str(_flow_user_scope(flow_id))}
            return {"id": path.rstrip("/").rsplit("/", 1)[-1]}

        transport = RecordingTransport(answer)
        with tempfile.TemporaryDirectory(prefix="tomocupy-gladier-dry-run-") as tmp:
            storage = Path(tmp) / "gladier.cfg"
            real = storage_file(flow_class(name))
            if real.exists():
                shutil.copyfile(real, storage)
            # every scope gets globus-sdk's NullAuthorizer: nothing is logged in, no token sent
            no_login = CallbackLoginManager(
                {}, callback=lambda scopes: {scope_key(s): globus_sdk.NullAuthorizer() for s in scopes})
            client = globus_client(name, config, login_manager=no_login, storage_file=storage,
                                   compute_manager=_recording_compute_manager(flow_class(name), transport))
            client.flows_manager._flows_client = _flows_client(transport)
            flow_id = deploy(client, config)
            # what each compute state sends with the start form's defaults (the experiment's)
            sent = compute_states(client.get_flow_definition(), {
                "compute_endpoint": config.compute_endpoint,
                "tomocupy_endpoint_config": user_endpoint_config(config)})
        planned.append(placeholders.shown({
            "flow": name,
            "flow_id": flow_id,
            "run_scope": str(flow_run_scope(flow_id, data_access_collections(flow_class(name), config))),
            "compute_states": [state.as_json() for state in sent],
            "requests": [r.to_json() for r in transport.recorded],
        }))
    return planned


def _flow_user_scope(flow_id: str) -> Any:
    return globus_sdk.SpecificFlowClient(flow_id).scopes.user


def _flows_client(transport: Any) -> Any:
    return globus_sdk.FlowsClient(transport=transport)


def _recording_compute_manager(flow_cls: Any, transport: Any) -> Any:
    """The production ComputeManager whose registrations go, as the Compute SDK would send them
    (its ``FunctionRegistrationData`` with the manager's serialization strategy), to ``transport``."""
    inner, _ = decorated_parts(flow_cls)

    class RecordingComputeManager(SourceComputeManager):
        def register_function(self, tool: Any, function: Any) -> str:
            serializer = ComputeSerializer(strategy_code=self.get_serialization_strategy())
            data = FunctionRegistrationData(function=function, group=self.group, serializer=serializer)
            response = globus_sdk.ComputeClientV3(transport=transport).register_function(data.to_dict())
            return str(response["function_uuid"])

    return RecordingComputeManager(group=getattr(inner, "globus_group", None))
