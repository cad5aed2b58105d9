"""The Gladier clients: reconstruct a scan, with or without moving it first."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import gladier.exc
from gladier import GladierBaseClient, generate_flow_definition
from gladier_tools.publish.publishv2 import publishv2_gather_metadata

from tomocupy_gladier.compute import VERSION_FIELD
from tomocupy_gladier.flows.steps import flow_schema_of
from tomocupy_gladier.redaction import is_private
from tomocupy_gladier.tools.notify.tool import add_notifications
from tomocupy_gladier.tools.previews.previews import PREVIEWS_STATE, Previews, make_previews, make_previews_tasks
from tomocupy_gladier.tools.return_data.tool import SYNC_CHECKSUM, TRANSFER_URL, ReturnData
from tomocupy_gladier.tools.metadata.scan_metadata import ScanMetadata, scan_metadata, scan_metadata_tasks
from tomocupy_gladier.globus.compute_manager import SourceComputeManager
from tomocupy_gladier.globus.gladier_storage import locked_storage
from tomocupy_gladier.action_urls import COMPUTE_V2_URL
from tomocupy_gladier.experiment.limits import RECON_WAIT_TIME, STEP_WAIT_TIME, TRANSFER_WAIT_TIME
from tomocupy_gladier.tools.choice.tool import WaitForChoice, make_choice_options
from tomocupy_gladier.tools.recon.tomocupy_recon import RECON_STATE, TomocupyRecon, tomocupy_recon
from tomocupy_gladier.tools.publish.tool import Publish, gather_tasks
from tomocupy_gladier.tools.transfer.tool import ScanTransfer

# Gladier's modifiers: compute function -> {modifier name: value}
Modifiers = dict[Callable[..., Any], dict[str, Any]]

# After the reconstruction: previews, then the record (scan metadata + reconstruction facts +
# previews), which becomes Publishv2's input. Every compute step sends the same endpoint and
# user_endpoint_config: one user endpoint, one batch job for the run.
AFTER_RECON_MODIFIERS: Modifiers = {
    make_previews: {"tasks": make_previews_tasks(with_options=True),
                    "user_endpoint_config": "tomocupy_endpoint_config"},
    scan_metadata: {"tasks": scan_metadata_tasks(previews_state=PREVIEWS_STATE),
                    "user_endpoint_config": "tomocupy_endpoint_config"},
    publishv2_gather_metadata: {"tasks": gather_tasks("$.ScanMetadata.details.results[0].output.publishv2")},
}


PUBLISH_TRANSFER_STATE = "Publishv2Transfer"
# the registered functions that are shims of the endpoint library (tomocupy_gladier.compute)
LIBRARY_SHIMS = (tomocupy_recon, make_previews, scan_metadata, make_choice_options)


def pass_client_version(definition: dict) -> None:
    """Give every task of a library shim the client's version (``$.input.tomocupy_gladier_version``),
    which the shim compares with the endpoint's: only its source is shipped, so the version
    travels in the flow input. Covers Gladier's states and hand-written ones alike."""
    function_ids = {f"$.input.{function.__name__}_function_id" for function in LIBRARY_SHIMS}
    for state in definition["States"].values():
        if state.get("Type") != "Action" or not state["ActionUrl"].startswith(COMPUTE_V2_URL):
            continue
        for task in state.get("Parameters", {}).get("tasks", []):
            if task.get("function_id.$") in function_ids and isinstance(task.get("kwargs"), dict):
                task["kwargs"][f"{VERSION_FIELD}.$"] = f"$.input.{VERSION_FIELD}"


def mirror_publication(definition: dict) -> None:
    """Make the publication copy a mirror of this run's dataset.

    gladier-tools passes the gather step's ``transfer`` block as the whole request
    (``InputPath``); a rerun would then add its files to the previous run's in the
    publication folder (Transfer keeps destination files the source lacks). The same request
    is written as ``Parameters`` with ``delete_destination_extra`` and a checksum sync, so
    unchanged files are not copied again and stale ones are removed.
    """
    state = definition["States"].get(PUBLISH_TRANSFER_STATE)
    if not state or "InputPath" not in state:
        return
    source = state.pop("InputPath")
    state["Parameters"] = {
        "source_endpoint.$": f"{source}.source_endpoint",
        "destination_endpoint.$": f"{source}.destination_endpoint",
        "DATA.$": f"{source}.DATA",
        "sync_level": SYNC_CHECKSUM,
        "verify_checksum": True,
        "delete_destination_extra": True,
    }


class TomocupyClient(GladierBaseClient):
    """Behaviour shared by the tomocupy flows.

    Functions are registered as their source text (:class:`SourceComputeManager`). The
    definition is exactly what Gladier generates from the tools, with each Action state's
    ``WaitTime`` sized for a beamline's data: ``recon_wait_time`` for the reconstruction,
    ``transfer_wait_time`` for every transfer (the scan, publication, return; 50 GB volumes),
    ``step_wait_time`` for the other compute steps (previews, metadata), which may queue for a
    batch job on the endpoint.
    """

    recon_wait_time: int = RECON_WAIT_TIME
    transfer_wait_time: int = TRANSFER_WAIT_TIME
    step_wait_time: int = STEP_WAIT_TIME

    def __init__(self, *args: Any, recon_wait_time: int | None = None,
                 transfer_wait_time: int | None = None, **kwargs: Any) -> None:
        if recon_wait_time is not None:
            self.recon_wait_time = int(recon_wait_time)
        if transfer_wait_time is not None:
            self.transfer_wait_time = int(transfer_wait_time)
        if kwargs.get("compute_manager") is None:
            # functions registered as their source text, not with gladier 0.11's DillCodeSource
            kwargs["compute_manager"] = SourceComputeManager(group=self.globus_group)
        super().__init__(*args, **kwargs)

    def run_flow(self, flow_input: dict | None = None, use_defaults: bool = True,
                 **flow_kwargs: Any) -> Any:
        """Gladier's ``run_flow``, also sending the input's top-level private fields (the
        notification's account, ``_private_email_credentials``) beside ``input``: Gladier
        accepts nothing but ``input`` there, and Flows hides ``_private*`` run state."""
        flow_input = dict(flow_input or {})
        private = {k: flow_input.pop(k) for k in list(flow_input) if is_private(k)}
        if not private:
            return super().run_flow(flow_input or None, use_defaults=use_defaults, **flow_kwargs)
        if set(flow_input) != {"input"}:
            raise gladier.exc.ConfigException(
                f'Malformed input to flow: besides private fields all input is nested under "input", '
                f"got {sorted(flow_input)}")
        body = self.get_input() if use_defaults else {"input": {}}
        body["input"].update(flow_input["input"])
        for tool in self.tools:
            self.check_input(tool, body)
        self.sync_flow()
        return self.flows_manager.run_flow(body={**body, **private}, **flow_kwargs)

    def _determine_storage(self) -> Any:
        # Gladier's own storage rewrites its file in place: unsafe for runs started together
        return locked_storage(self)

    def get_flow_definition(self) -> dict:
        definition = copy.deepcopy(super().get_flow_definition())
        for name, state in definition["States"].items():
            if state.get("Type") != "Action":
                continue
            if name == RECON_STATE:
                state["WaitTime"] = self.recon_wait_time
            elif state["ActionUrl"].startswith(TRANSFER_URL):
                state["WaitTime"] = self.transfer_wait_time
            elif state["ActionUrl"].startswith(COMPUTE_V2_URL):
                state["WaitTime"] = max(int(state.get("WaitTime", 0)), self.step_wait_time)
        mirror_publication(definition)
        pass_client_version(definition)
        add_notifications(definition)
        return definition


@generate_flow_definition(modifiers=AFTER_RECON_MODIFIERS)
class TomocupyFlow(TomocupyClient):
    """Copy a scan from the beamline to the facility, reconstruct it with tomocupy, publish the result
    with its metadata and previews, then (if enabled) send results back to the scientist."""

    gladier_tools = [ScanTransfer, TomocupyRecon, Previews, ScanMetadata, Publish, ReturnData]
    flow_schema = flow_schema_of(
        gladier_tools,
        title="tomocupy: transfer, reconstruct, publish",
        description="Copies a scan to the computing facility, reconstructs it with tomocupy on a GPU "
        "node, publishes the reconstruction with its metadata and, when asked, sends the previews or "
        "the reconstruction back to the scientist; it emails when the run ends, if asked.",
    )


@generate_flow_definition(modifiers=AFTER_RECON_MODIFIERS)
class TomocupyReconFlow(TomocupyClient):
    """Reconstruct a scan already at the facility with tomocupy, then publish (or only catalogue) it."""

    gladier_tools = [TomocupyRecon, Previews, ScanMetadata, Publish, ReturnData]
    flow_schema = flow_schema_of(
        gladier_tools,
        title="tomocupy: reconstruct, publish",
        description="Reconstructs a scan that is already at the computing facility, publishes the result "
        "and, when asked, sends the previews or the reconstruction back to the scientist and emails "
        "when the run ends.",
    )


FLOWS = {"tomocupy": TomocupyFlow, "recon": TomocupyReconFlow}


def moves_scan(flow: Any) -> bool:
    """Whether a flow (a client class, decorated or not) copies the scan from the beamline first:
    whether its tools include the scan transfer. Callers ask this, never the flow's name."""
    return ScanTransfer in getattr(flow, "gladier_tools", ())


def waits_for_choice(flow: Any) -> bool:
    """Whether a flow (a client class or instance) stops after a try for the scientist to choose
    the centre: whether its tools include the wait for that choice."""
    return WaitForChoice in getattr(flow, "gladier_tools", ())


def transfer_sections(flow: Any, config: Any) -> list[str]:
    """The experiment's collection sections whose collections the flow's Transfer states use:
    ``source`` when it moves the scan, ``publish`` when it publishes with a transfer, ``return``
    when results are sent back, and ``facility``, where each of those transfers starts or ends."""
    tools = getattr(flow, "gladier_tools", ())
    sections = ["source"] if moves_scan(flow) else []
    if Publish in tools and config.publish is not None and config.publish.transfer:
        sections.append("publish")
    if ReturnData in tools and config.return_data is not None:
        sections.append("return")
    return ["facility", *sections] if sections else []


def data_access_collections(flow: Any, config: Any) -> list[str]:
    """The collections whose ``data_access`` consent the flow's run scope carries: those of
    :func:`transfer_sections` with ``data_access`` on in the experiment file."""
    return config.data_access_collections(transfer_sections(flow, config))
