"""A flow as it is deployed for one experiment: its input schema with the facility's settings as
defaults, so a scientist starting it from the Globus web app only types what is theirs.

``deployed_schema`` fills in, as defaults, what ``experiment.toml`` and the function registration
know: the compute endpoint, the function ids, the PBS job, the beamline and facility collections,
the publication collection, index and ``visible_to``, where results are sent back, the
experiment's ``[recon]`` defaults and the time limit. Nothing about the validation changes: the
same inputs are accepted and refused as by the generic schema.

``deploy`` creates or updates the flow on Globus with that schema (through Gladier, as ``run``
does) and returns the flow id; ``start_page`` is the web app's page that starts it.
"""

from __future__ import annotations

import configparser
import copy
from pathlib import Path, PurePosixPath
from collections.abc import Mapping, Sequence
from typing import Any

from tomocupy_gladier.experiment.compute_endpoints import user_endpoint_config
from tomocupy_gladier.experiment.config import ExperimentConfig
from tomocupy_gladier.errors import UserError
from tomocupy_gladier.globus.gladier_storage import decorated_parts, storage_file

WEB_APP = "https://app.globus.org"


def start_page(flow_id: str) -> str:
    """The Globus web app's page that starts a run of the flow (its input schema as a form)."""
    return f"{WEB_APP}/flows/{flow_id}/run"


def _set_default(properties: Mapping[str, Any], path: tuple[str, ...], value: Any) -> None:
    """Set the default of the property at ``path`` (names of nested properties), wherever it
    exists: in each form of a ``oneOf`` (the ``recon`` block has one per command) that offers
    ``value`` (a default is never one of the choices its form refuses)."""
    _put({"properties": properties}, path, value)


def _put(node: Mapping[str, Any], path: tuple[str, ...], value: Any) -> None:
    if not path:
        if "enum" not in node or value in node["enum"]:
            node["default"] = copy.deepcopy(value)  # type: ignore[index]
        return
    for branch in [node, *(node.get("oneOf") or [])]:
        child = (branch.get("properties") or {}).get(path[0])
        if child is not None:
            _put(child, path[1:], value)


def deployed_schema(schema: Mapping[str, Any], config: ExperimentConfig,
                    function_ids: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``schema`` (a flow's generic input schema) with ``config``'s settings as defaults.

    ``function_ids``: ``{"<function>_function_id": id}`` as Gladier registered them; ids not
    given stay without a default.
    """
    deployed = copy.deepcopy(dict(schema))
    deployed["title"] = f"{schema.get('title', 'tomocupy')} ({config.name})"[:128]
    props = deployed["properties"]["input"]["properties"]
    put = lambda path, value: _set_default(props, path, value)  # noqa: E731

    for name, function_id in (function_ids or {}).items():
        if name.endswith("_function_id"):
            put((name,), function_id)
    put(("compute_endpoint",), config.compute_endpoint)
    for key, value in user_endpoint_config(config).items():
        put(("tomocupy_endpoint_config", key), value)
    put(("tomocupy", "timeout"), config.timeout)

    if config.source is not None:
        put(("source", "id"), config.source.id)
        if config.source_path is not None:
            put(("source", "path"), str(config.source_path).rstrip("/") + "/")
    # the facility folder as the compute nodes see it: the flow that copies the scan adds the
    # scan's name (tools/transfer/); for a scan already there the scientist completes it
    put(("tomocupy", "file_name"), str(config.facility.to_posix(config.facility_path)).rstrip("/") + "/")
    put(("destination", "id"), config.facility.id)
    put(("destination", "path"), str(config.facility_path).rstrip("/") + "/")

    # the experiment's own reconstruction defaults replace tomocupy's; its command's form first
    for name, value in dict(config.recon).items():
        if name != "out-path-name":
            put(("recon", name), value)
    forms = props.get("recon", {}).get("oneOf")
    if forms and config.recon.get("command"):
        forms.sort(key=lambda f: f["properties"]["command"]["enum"] != [config.recon["command"]])

    # the interactive flow's try: the same scan and the experiment's defaults, as a try
    scan_folder = str(config.facility.to_posix(config.facility_path)).rstrip("/") + "/"
    put(("interactive", "try_tomocupy", "file_name"), scan_folder)
    put(("interactive", "try_tomocupy", "timeout"), config.timeout)
    for name, value in dict(config.recon).items():
        if name != "out-path-name":
            put(("interactive", "try_recon", name), value)
    put(("interactive", "try_recon", "reconstruction-type"), "try")

    put(("publishv2", "source_collection"), config.facility.id)
    put(("publishv2", "source_collection_basepath"), str(config.facility.posix_root))
    put(("publishv2", "enable_meta_files"), False)
    publish = config.publish
    if publish is None:
        # nothing to publish to: the metadata is gathered only (as `run` does)
        for key, value in (("destination", "/"), ("destination_collection", config.facility.id),
                           ("index", config.facility.id), ("visible_to", ["public"]),
                           ("enable_transfer", False), ("enable_publish", False)):
            put(("publishv2", key), value)
    else:
        for key, value in (("destination", f"/{str(publish.path).strip('/')}/{config.name}"),
                           ("destination_collection", publish.collection), ("index", publish.index),
                           ("visible_to", list(publish.visible_to)),
                           ("checksum_algorithms", list(publish.checksums)),
                           ("enable_transfer", publish.transfer), ("enable_publish", publish.ingest),
                           ("enable_meta_dc", publish.datacite)):
            put(("publishv2", key), value)

    back = config.return_data
    if back is not None:
        # as `run` does: this run's results go back to the experiment's folder
        put(("return_data", "enable"), True)
        put(("return_data", "what"), back.what)
        put(("return_data", "destination", "id"), back.collection)
        put(("return_data", "destination", "path"), str(PurePosixPath("/", back.path)))
    return deployed


def stored_values(flow: Any, client_id: str | None = None) -> dict[str, str]:
    """What Gladier keeps for ``flow`` in ``~/.gladier/<client id>.cfg`` after a deploy or a run
    on Globus (flow id, function ids, checksums, input overrides); empty when it has none. No
    network."""
    inner, _ = decorated_parts(flow)
    path = storage_file(inner) if client_id is None else Path.home() / ".gladier" / f"{client_id}.cfg"
    parser = configparser.ConfigParser()
    parser.read(path)
    from gladier.utils.name_generation import get_snake_case

    section = get_snake_case(inner.__name__)
    return dict(parser.items(section)) if parser.has_section(section) else {}


def stored_function_ids(flow: Any, client_id: str | None = None) -> dict[str, str]:
    """The function ids Gladier keeps for ``flow`` (:func:`stored_values`)."""
    return {k: v for k, v in stored_values(flow, client_id).items()
            if k.endswith("_function_id") and not k.endswith("_checksum")}


def use_deployed_schema(client: Any, config: ExperimentConfig) -> Any:
    """Make ``client`` send the deployed schema of ``config`` (with the function ids it has
    registered) whenever it creates or updates its flow, so `run` and `deploy` agree and a run
    does not put the generic schema back."""
    # idempotent: the generic schema is kept the first time
    generic = getattr(client, "_generic_flow_schema", None) or client.get_flow_schema()
    client._generic_flow_schema = generic

    def get_flow_schema() -> dict[str, Any]:
        return deployed_schema(generic, config, client.get_compute_function_ids())

    client.get_flow_schema = get_flow_schema
    return client


def deploy(client: Any, config: ExperimentConfig) -> str:
    """Register the functions, then create or update the flow with the deployed schema;
    returns the flow id."""
    use_deployed_schema(client, config)
    client.get_compute_function_ids()
    client.sync_flow()
    flow_id = client.get_flow_id()
    if not flow_id:
        raise RuntimeError("the flow was not deployed (no flow id)")
    return str(flow_id)


# ---------------------------------------------------------------------------------------
# Subscriptions

UNSUBSCRIBED_LIMIT = ("Globus Flows lets a user own one flow without a subscription, and a flow "
                      "without a subscription expires after 30 days")


def check_subscription(config: ExperimentConfig, flow_names: Sequence[str]) -> None:
    """Refuse to deploy more than one flow without ``[globus] subscription_id``.

    :raises UserError: naming the limit, the key and the way out (one flow with ``--flow``).
    """
    if len(flow_names) > 1 and not dict(config.globus).get("subscription_id"):
        raise UserError(
            f"deploying {len(flow_names)} flows ({', '.join(flow_names)}) needs a Globus subscription: "
            f"{UNSUBSCRIBED_LIMIT}. Set subscription_id in the [globus] section of "
            f"{config.path or 'the experiment file'} (ask your facility's Globus administrator for "
            "it), or deploy a single flow with --flow NAME")


# ---------------------------------------------------------------------------------------
# What deploy would send


def deploy_requests(config: ExperimentConfig, flow_names: Sequence[str]) -> list[dict[str, Any]]:
    """Go through ``deploy`` of each flow with globus-sdk's requests recorded, not sent.

    No login, no network, nothing written: Gladier reads a copy of its id file (so flows and
    functions already deployed from this machine are updated, or left alone, as a real deploy
    would) and the ids Globus would assign are ``<...>`` placeholders. Each entry: the flow, its
    id, its run scope (with the ``data_access`` consents of the collections its transfers use),
    what each compute state sends to Globus Compute (endpoint and ``user_endpoint_config``, with
    the experiment's settings) and the requests in the order they would be sent.
    """
    import shutil
    import tempfile

    import globus_sdk
    from gladier.managers.login_manager import CallbackLoginManager

    from tomocupy_gladier.globus.auth import flow_run_scope, scope_key
    from tomocupy_gladier.clients.client_factory import flow_class, globus_client
    from tomocupy_gladier.flows import data_access_collections
    from tomocupy_gladier.flows.compute_states import compute_states
    from tomocupy_gladier.globus.recording import Placeholders, RecordingTransport

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
    import globus_sdk

    return globus_sdk.SpecificFlowClient(flow_id).scopes.user


def _flows_client(transport: Any) -> Any:
    import globus_sdk

    return globus_sdk.FlowsClient(transport=transport)


def _recording_compute_manager(flow_cls: Any, transport: Any) -> Any:
    """The production ComputeManager whose registrations go, as the Compute SDK would send them
    (its ``FunctionRegistrationData`` with the manager's serialization strategy), to ``transport``."""
    import globus_sdk
    from globus_compute_sdk.sdk.client import FunctionRegistrationData
    from globus_compute_sdk.serialize import ComputeSerializer

    from tomocupy_gladier.globus.compute_manager import SourceComputeManager

    inner, _ = decorated_parts(flow_cls)

    class RecordingComputeManager(SourceComputeManager):
        def register_function(self, tool: Any, function: Any) -> str:
            serializer = ComputeSerializer(strategy_code=self.get_serialization_strategy())
            data = FunctionRegistrationData(function=function, group=self.group, serializer=serializer)
            response = globus_sdk.ComputeClientV3(transport=transport).register_function(data.to_dict())
            return str(response["function_uuid"])

    return RecordingComputeManager(group=getattr(inner, "globus_group", None))
