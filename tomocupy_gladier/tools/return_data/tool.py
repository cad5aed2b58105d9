"""Sending results back to the scientist after publication: a Choice on an explicit flag, then a
Transfer of the previews (or the whole reconstruction) to a collection of their choice.

The flow input says whether, what and to which folder (``return_data``: ``enable``, ``what``,
``destination``); the metadata step, which knows this run's folders, turns that into the
transfer's request (``scan_metadata``'s ``return_data``): this run's previews or reconstruction on
the facility collection, into a subfolder named after the reconstruction. So a run started from a
form sends back its own results without anyone typing where they are. When the flag is false
the flow passes through ``ReturnDataSkipped``, which the run log shows.
"""

from __future__ import annotations

from gladier import GladierBaseTool
from gladier.utils.name_generation import get_compute_flow_state_name

from tomocupy_gladier.action_urls import TRANSFER_URL
from tomocupy_gladier.experiment.limits import TRANSFER_WAIT_TIME
from tomocupy_gladier.tools.metadata.scan_metadata import scan_metadata
from tomocupy_gladier.tools.transfer.tool import SYNC_CHECKSUM
# the request the metadata step made for this run (see the module)
REQUEST = f"$.{get_compute_flow_state_name(scan_metadata)}.details.results[0].output.return_data"


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
                "Comment": "Copy this run's results to a subfolder of the chosen folder on the return collection",
                "Type": "Action",
                "ActionUrl": TRANSFER_URL,
                "Parameters": {
                    "source_endpoint.$": f"{REQUEST}.source.id",
                    "destination_endpoint.$": f"{REQUEST}.destination.id",
                    "label": "tomocupy-gladier: results sent back",
                    "sync_level": SYNC_CHECKSUM,
                    "verify_checksum": True,
                    # the scientist's copy mirrors this run's results, never a mix of runs
                    "delete_destination_extra": True,
                    "DATA": [{
                        "source_path.$": f"{REQUEST}.source.path",
                        "destination_path.$": f"{REQUEST}.destination.path",
                        "recursive.$": f"{REQUEST}.recursive",
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

