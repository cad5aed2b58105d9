"""How a flow's definition is built: what Gladier generates, then named passes, in order.

1. Gladier generates the definition from the flow's tools (``gladier_tools``), each tool's own
   modifiers and the flow's, which are its steps' (:func:`~tomocupy_gladier.tools.registry.modifiers_of`:
   how each compute step reads the others' results and sends the run's one endpoint
   configuration).
2. :func:`set_wait_times`: every Action state's ``WaitTime``, sized for a beamline's data.
3. :func:`send_client_version`: every task of an endpoint-library shim gets the client's version.
4. The steps' own passes, in registry order (``Step.passes``): the interactive choice makes the
   full reconstruction read the chosen parameters and the try read the scan file; the
   publication makes its copy a mirror; the notification, registered last, routes every end and
   every failure through the email.

:func:`build_definition` runs them; ``TomocupyClient.get_flow_definition`` calls it. An
extended flow's own tools take part in 1 to 3; steps come from the registry.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Sequence

from tomocupy_gladier.action_urls import COMPUTE_V2_URL, TRANSFER_URL
from tomocupy_gladier.compute import VERSION_FIELD
from tomocupy_gladier.tools.recon.tomocupy_recon import tomocupy_recon
from tomocupy_gladier.tools.registry import library_shims
from tomocupy_gladier.tools.step import Step

#: the function id of the reconstruction, as every state that runs it reads it
RECON_FUNCTION_ID = f"$.input.{tomocupy_recon.__name__}_function_id"


def _task_functions(state: dict[str, Any]) -> set[str]:
    return {str(task.get("function_id.$")) for task in (state.get("Parameters") or {}).get("tasks") or []}


def set_wait_times(definition: dict[str, Any], client: Any) -> None:
    """Each Action state's ``WaitTime`` from the client's limits (``experiment/limits.py``): a
    state that runs the reconstruction (the full one, a try) waits ``recon_wait_time``, a
    transfer (the scan, publication, return, montage; 50 GB volumes) ``transfer_wait_time``, the
    other compute steps (previews, metadata, options) at least ``step_wait_time``: they may queue
    for a batch job on the endpoint. Other states keep their tools' own."""
    for state in definition["States"].values():
        if state.get("Type") != "Action":
            continue
        if RECON_FUNCTION_ID in _task_functions(state):
            state["WaitTime"] = client.recon_wait_time
        elif state["ActionUrl"].startswith(TRANSFER_URL):
            state["WaitTime"] = client.transfer_wait_time
        elif state["ActionUrl"].startswith(COMPUTE_V2_URL):
            state["WaitTime"] = max(int(state.get("WaitTime", 0)), client.step_wait_time)


def send_client_version(definition: dict[str, Any], client: Any) -> None:
    """Give every task of a library shim the client's version (``$.input.tomocupy_gladier_version``),
    which the shim compares with the endpoint's: only its source is shipped, so the version
    travels in the flow input. Covers Gladier's states and hand-written ones alike."""
    function_ids = {f"$.input.{function.__name__}_function_id" for function in library_shims()}
    for state in definition["States"].values():
        if state.get("Type") != "Action" or not state["ActionUrl"].startswith(COMPUTE_V2_URL):
            continue
        for task in state.get("Parameters", {}).get("tasks", []):
            if task.get("function_id.$") in function_ids and isinstance(task.get("kwargs"), dict):
                task["kwargs"][f"{VERSION_FIELD}.$"] = f"$.input.{VERSION_FIELD}"


#: the flow's own passes, before its steps' (see the module)
PASSES: tuple[Callable[[dict[str, Any], Any], None], ...] = (set_wait_times, send_client_version)


def build_definition(generated: dict[str, Any], client: Any, steps: Sequence[Step]) -> dict[str, Any]:
    """The flow's definition: Gladier's ``generated`` one after :data:`PASSES` and ``steps``'
    passes, in order (a copy; Gladier's is left as it is)."""
    definition = copy.deepcopy(generated)
    for flow_pass in PASSES:
        flow_pass(definition, client)
    for step in steps:
        for step_pass in step.passes:
            step_pass(definition, client)
    return definition
