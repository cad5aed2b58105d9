"""The Gladier clients: reconstruct a scan, with or without moving it first, or with the choice
of the centre inside the run. Each flow is a choice of the registered steps
(``tools/registry.py``): its tools, input schema and modifiers come from them, its definition
from Gladier and the passes of ``flows/definition.py``."""

from __future__ import annotations

from typing import Any, Sequence

import gladier.exc
from gladier import GladierBaseClient, generate_flow_definition
from gladier.utils.name_generation import get_snake_case

from tomocupy_gladier.experiment.limits import RECON_WAIT_TIME, STEP_WAIT_TIME, TRANSFER_WAIT_TIME
from tomocupy_gladier.flows.definition import build_definition
from tomocupy_gladier.globus.compute_manager import SourceComputeManager
from tomocupy_gladier.globus.gladier_storage import locked_storage
from tomocupy_gladier.redaction import is_private
from tomocupy_gladier.tools.choice.tool import WaitForChoice
from tomocupy_gladier.tools.registry import flow_schema_of, modifiers_of, steps_of, tools_of, without
from tomocupy_gladier.tools.step import Step
from tomocupy_gladier.tools.transfer.tool import ScanTransfer


class TomocupyClient(GladierBaseClient):
    """Behaviour shared by the tomocupy flows.

    ``steps``: the registered steps the flow is made of (its tools, input, passes). Functions are
    registered as their source text (:class:`SourceComputeManager`). The definition is what
    Gladier generates from the tools, after the passes of :mod:`tomocupy_gladier.flows.definition`
    (each Action state's ``WaitTime`` sized for a beamline's data: ``recon_wait_time`` for the
    reconstruction, ``transfer_wait_time`` for every transfer, ``step_wait_time`` for the other
    compute steps, which may queue for a batch job on the endpoint).
    """

    steps: tuple[Step, ...] = ()
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
        return build_definition(super().get_flow_definition(), self, flow_steps(self))


def flow_steps(flow: Any) -> tuple[Step, ...]:
    """The steps of a flow (a client class or instance): those it is made of, else those of its
    tools (an extended flow's own tools belong to no step)."""
    return tuple(getattr(flow, "steps", ()) or steps_of(getattr(flow, "gladier_tools", ()), strict=False))


def flow_client(name: str, steps: Sequence[Step], *, doc: str, title: str, description: str) -> Any:
    """A flow's Gladier client class called ``name``, made of ``steps``: its tools, input schema
    (``title``, ``description``) and modifiers come from them (Gladier generates its definition
    from the tools and modifiers); ``doc`` says what it does."""
    steps = tuple(steps)
    client = type(name, (TomocupyClient,), {
        "__doc__": doc, "__module__": __name__, "steps": steps,
        "gladier_tools": tools_of(steps),
        "flow_schema": flow_schema_of(steps, title=title, description=description)})
    return generate_flow_definition(modifiers=modifiers_of(steps))(client)


TomocupyFlow = flow_client(
    "TomocupyFlow", without("choice"),
    doc="Copy a scan from the beamline to the facility, reconstruct it with tomocupy, publish the result\n"
    "    with its metadata and previews, then (if enabled) send results back to the scientist.",
    title="tomocupy: transfer, reconstruct, publish",
    description="Copies a scan to the computing facility, reconstructs it with tomocupy on a GPU "
    "node, publishes the reconstruction with its metadata and, when asked, sends the previews or "
    "the reconstruction back to the scientist; it emails when the run ends, if asked.")

TomocupyReconFlow = flow_client(
    "TomocupyReconFlow", without("transfer", "choice"),
    doc="Reconstruct a scan already at the facility with tomocupy, then publish (or only catalogue) it.",
    title="tomocupy: reconstruct, publish",
    description="Reconstructs a scan that is already at the computing facility, publishes the result "
    "and, when asked, sends the previews or the reconstruction back to the scientist and emails "
    "when the run ends.")

TomocupyInteractiveFlow = flow_client(
    "TomocupyInteractiveFlow", without(),
    doc="Copy a scan to the facility, reconstruct a try, publish its montage and wait for the\n"
    "    scientist to choose the rotation axis; then reconstruct the whole volume at that centre and\n"
    "    publish it (and send results back) as TomocupyFlow does.",
    title="tomocupy: transfer, try, choose the centre, reconstruct, publish",
    description="Copies a scan to the computing facility, reconstructs a try over a range of "
    "centres, publishes its montage and waits for the scientist to choose the rotation axis; "
    "then reconstructs the whole volume at that centre, publishes it with its metadata and, "
    "when asked, sends the previews or the reconstruction back; it emails when it waits and "
    "when it ends, if asked.")

FLOWS = {"tomocupy": TomocupyFlow, "recon": TomocupyReconFlow, "interactive": TomocupyInteractiveFlow}


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
    each of its steps' (``Step.collections``: the scan's source, the publication, the return)
    and ``facility``, where each of those transfers starts or ends."""
    sections = [s for step in flow_steps(flow) if step.collections for s in step.collections(config)]
    return ["facility", *sections] if sections else []


def data_access_collections(flow: Any, config: Any) -> list[str]:
    """The collections whose ``data_access`` consent the flow's run scope carries: those of
    :func:`transfer_sections` with ``data_access`` on in the experiment file."""
    return config.data_access_collections(transfer_sections(flow, config))


def storage_section_collections(config: Any) -> Any:
    """For a flow's Gladier storage section, the ``data_access`` collections its run scope
    carries (:func:`data_access_collections`); a section of a flow this package does not know
    (an extended flow) gets those of every collection of the experiment."""
    by_section = {get_snake_case(flow.__name__): flow for flow in FLOWS.values()}

    def collections(section: str) -> list[str]:
        flow = by_section.get(section)
        if flow is not None:
            return data_access_collections(flow, config)
        return config.data_access_collections(config.collection_sections)

    return collections
