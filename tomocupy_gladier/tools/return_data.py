"""Sending results back to the scientist after publication: a Choice on an explicit flag, then a
Transfer of the previews (or the whole reconstruction) to a collection of their choice.

The paths come from the flow input (``return_data``, built by ``flow_input.return_input``);
when the flag is false the flow passes through ``ReturnDataSkipped``, which the run log shows.
"""

from __future__ import annotations

from gladier import GladierBaseTool
from gladier_tools.globus import Transfer

from tomocupy_gladier.limits import TRANSFER_WAIT_TIME

TRANSFER_URL: str = Transfer.flow_definition["States"]["Transfer"]["ActionUrl"]


def _return_definition() -> dict:
    return {
        "Comment": "Send the previews or the reconstruction back to the scientist's collection",
        "StartAt": "ReturnDataChoice",
        "States": {
            "ReturnDataChoice": {
                "Comment": "Send results back only when input.return_data.enable is true",
                "Type": "Choice",
                # no IsPresent guard: a missing flag fails the run instead of skipping silently
                "Choices": [{"Variable": "$.input.return_data.enable", "BooleanEquals": True,
                             "Next": "ReturnData"}],
                "Default": "ReturnDataSkipped",
            },
            "ReturnData": {
                "Comment": "Copy the results folder to the return collection",
                "Type": "Action",
                "ActionUrl": TRANSFER_URL,
                "Parameters": {
                    "source_endpoint.$": "$.input.return_data.source.id",
                    "destination_endpoint.$": "$.input.return_data.destination.id",
                    "label": "tomocupy-gladier: results sent back",
                    "sync_level": "checksum",
                    "verify_checksum": True,
                    # the scientist's copy mirrors this run's results, never a mix of runs
                    "delete_destination_extra": True,
                    "DATA": [{
                        "source_path.$": "$.input.return_data.source.path",
                        "destination_path.$": "$.input.return_data.destination.path",
                        "recursive.$": "$.input.return_data.recursive",
                    }],
                },
                "ResultPath": "$.ReturnData",
                "WaitTime": TRANSFER_WAIT_TIME,
                "End": True,
            },
            "ReturnDataSkipped": {
                "Comment": "No [return] section in the experiment: nothing is sent back",
                "Type": "Pass",
                "Result": {"skipped": True, "reason": "return_data.enable is false"},
                "ResultPath": "$.ReturnData",
                "End": True,
            },
        },
    }


class ReturnData(GladierBaseTool):
    """Copy the previews folder (or the reconstruction) to the scientist's collection, if enabled."""

    flow_definition = _return_definition()
    required_input = ["return_data"]
    # both branches continue to the next tool of an extended flow
    flow_transition_states = ["ReturnData", "ReturnDataSkipped"]

