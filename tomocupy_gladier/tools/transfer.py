"""Moving the scan from the beamline to the facility: gladier-tools' Transfer, fed from collection fields."""

from __future__ import annotations

import copy

from gladier_tools.globus import Transfer


def _scan_transfer_definition() -> dict:
    definition = copy.deepcopy(Transfer.flow_definition)
    state = definition["States"]["Transfer"]
    state["Comment"] = "Copy the scan from the beamline collection to the facility collection"
    state["Parameters"] = {
        "source_endpoint.$": "$.input.source.id",
        "destination_endpoint.$": "$.input.destination.id",
        # gladier-tools declares transfer_sync_level but never passes it on
        "sync_level.$": "$.input.transfer_sync_level",
        "verify_checksum": True,
        "DATA": [
            {
                "source_path.$": "$.input.source.path",
                "destination_path.$": "$.input.destination.path",
                "recursive.$": "$.input.transfer_recursive",
            }
        ],
    }
    return definition


class ScanTransfer(Transfer):
    """gladier-tools' Transfer state, reading source and destination as collection objects
    (``{"id", "path"}``, the web form's collection picker) and honouring the sync level."""

    flow_definition = _scan_transfer_definition()
    flow_input = {"transfer_sync_level": "checksum", "transfer_recursive": False}
    required_input = ["source", "destination", "transfer_sync_level", "transfer_recursive"]
