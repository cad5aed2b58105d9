"""Moving the scan from the beamline to the facility: gladier-tools' Transfer, fed from collection
fields, after three small states that derive the scan's facility paths from the one path a
scientist types.

The scan is named once, by ``source.path`` (on the beamline collection). Its copy keeps that
name: ``destination.path`` and ``tomocupy.file_name`` give the facility folder (collection path,
and the same folder as the compute nodes see it), ending in ``/``, as the start form's defaults
do. A full path is accepted too (what ``tomocupy-gladier run`` sends): only its folder is used,
and the name is the scan's, which is what ``run`` puts there anyway. So a start form asks for the
scan once and a command-line input keeps its meaning.

``LocateScan`` (ExpressionEval) computes both paths; two Pass states write them back into the
input (``$.input.destination.path``, ``$.input.tomocupy.file_name``), so every later step reads
the scan where it always did. Only ``pathsplit``, string methods and ``+`` are used: what the
Globus Flows expression language documents and its published example flows use.
"""

from __future__ import annotations

import copy

from gladier_tools.globus import Transfer

from tomocupy_gladier.action_urls import TRANSFER_URL

# The Transfer API's "checksum" sync level, as the Transfer action provider takes it: an
# integer (0 exists, 1 size, 2 mtime, 3 checksum), as globus-sdk's TransferData sends it
SYNC_CHECKSUM = 3

LOCATE_STATE = "LocateScan"
SCAN_FILE_STATE = "ScanFile"


def in_folder_of(path: str) -> str:
    """Expression: ``path``'s folder (itself when it ends in ``/``) + the scan's name."""
    scan_name = "pathsplit(input.source.path.rstrip('/'))[1]"
    return f"pathsplit({path})[0].rstrip('/') + '/' + {scan_name}"


def _scan_transfer_definition() -> dict:
    definition = copy.deepcopy(Transfer.flow_definition)
    state = definition["States"]["Transfer"]
    state["Comment"] = "Copy the scan from the beamline collection to the facility collection"
    state["ActionUrl"] = TRANSFER_URL  # gladier-tools' own, written once in action_urls
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
    locate = {
        LOCATE_STATE: {
            "Type": "ExpressionEval",
            "Comment": "The scan's path at the facility and on the compute nodes: the facility "
                       "folders given, with the scan's own name",
            "Parameters": {
                "destination_path.=": in_folder_of("input.destination.path"),
                "file_name.=": in_folder_of("input.tomocupy.file_name"),
            },
            "ResultPath": f"$.{LOCATE_STATE}",
            "Next": "ScanAtFacility",
        },
        "ScanAtFacility": {
            "Type": "Pass",
            "Comment": "Where the transfer puts the scan",
            "InputPath": f"$.{LOCATE_STATE}.destination_path",
            "ResultPath": "$.input.destination.path",
            "Next": SCAN_FILE_STATE,
        },
        SCAN_FILE_STATE: {
            "Type": "Pass",
            "Comment": "The scan file every later step reads",
            "InputPath": f"$.{LOCATE_STATE}.file_name",
            "ResultPath": "$.input.tomocupy.file_name",
            "Next": "Transfer",
        },
    }
    definition["States"] = {**locate, **definition["States"]}
    definition["StartAt"] = LOCATE_STATE
    return definition


class ScanTransfer(Transfer):
    """gladier-tools' Transfer state, reading source and destination as collection objects
    (``{"id", "path"}``, the web form's collection picker) and honouring the sync level, after
    the states that name the scan at the facility from its beamline path (see the module)."""

    flow_definition = _scan_transfer_definition()
    flow_input = {"transfer_sync_level": SYNC_CHECKSUM, "transfer_recursive": False}
    required_input = ["source", "destination", "transfer_sync_level", "transfer_recursive"]
