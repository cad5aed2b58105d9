"""The publication: gladier-tools' Publishv2 with its metadata gathering on Compute v3.

gladier-tools 0.5.4's ``Publishv2`` gathers the metadata through Compute action provider v2
(``https://compute.actions.globus.org``: ``tasks[{endpoint, function, payload}]``), which takes no
``user_endpoint_config``. Globus Compute starts a user endpoint per distinct configuration
(globus/globus-compute ``docs/endpoints/endpoints.rst``), so that one step would start a second
user endpoint, and on PBS a second batch job, whose queue wait counts against its WaitTime.

:class:`Publish` is the same tool, the same registered function (gladier-tools'
``publishv2_gather_metadata``, so the record it gathers is what it was) and the same states,
with the gather state written for Compute v3 (``endpoint_id``, ``tasks[{function_id, kwargs}]``,
``user_endpoint_config``): every compute step of a run then sends the same endpoint and
configuration. The function takes its input as keyword arguments, which is what v2's payload
object became on the endpoint too.
"""

from __future__ import annotations

import copy
from typing import Any

from gladier_tools.publish import Publishv2
from gladier_tools.publish.publishv2 import publishv2_gather_metadata

from tomocupy_gladier.action_urls import COMPUTE_V3_URL
from tomocupy_gladier.tools.transfer.tool import SYNC_CHECKSUM

GATHER_STATE = "Publishv2GatherMetadata"
PUBLISH_TRANSFER_STATE = "Publishv2Transfer"


def gather_tasks(payload: str = "$.input.publishv2") -> list[dict[str, Any]]:
    """The gather step's Compute v3 ``tasks``: gladier-tools' function with ``payload`` (a JSONPath
    to Publishv2's input block) as its keyword arguments."""
    return [{"function_id.$": "$.input.publishv2_gather_metadata_function_id", "kwargs.$": payload}]


def _gather_on_v3(definition: dict[str, Any]) -> dict[str, Any]:
    definition = copy.deepcopy(definition)
    state = definition["States"][GATHER_STATE]
    (task,) = state["Parameters"]["tasks"]
    state["ActionUrl"] = COMPUTE_V3_URL
    state["Parameters"] = {"endpoint_id.$": task["endpoint.$"],
                           "tasks": gather_tasks(task["payload.$"]),
                           "user_endpoint_config.$": "$.input.tomocupy_endpoint_config"}
    return definition


class Publish(Publishv2):
    """Publishv2 with its metadata gathering on Compute v3, in the run's one user endpoint."""

    action_url = COMPUTE_V3_URL
    compute_functions = [publishv2_gather_metadata]
    flow_definition = _gather_on_v3(Publishv2.flow_definition)


def mirror_publication(definition: dict, client: Any = None) -> None:
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
