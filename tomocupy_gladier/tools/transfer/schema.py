"""The scan transfer's part of the flow input schema: the scan at the beamline and where it is copied."""

from __future__ import annotations

from typing import Any

from tomocupy_gladier.experiment.schema import collection_field

TRANSFER_PROPERTIES: dict[str, Any] = {
    "source": collection_field("Scan at the beamline",
                               "The raw scan (DXchange HDF5 file) on the beamline's collection."),
    "destination": collection_field("Scan at the facility",
                                    "The folder (ending in /) on the computing facility's collection "
                                    "the scan is copied into; the copy keeps the scan's name. A full "
                                    "path is accepted too: its folder is used."),
    "transfer_recursive": {"title": "Scan is a folder", "description": "Tick when the scan at the "
                           "beamline is a folder rather than one HDF5 file.",
                           "type": "boolean", "default": False},
    "transfer_sync_level": {"title": "Skip a scan already copied",
                            "description": "How the copy decides the scan is already at the facility "
                            "(the Transfer API's sync levels): 0 = a file of that name is there; "
                            "1 = same size; 2 = same size and not older; 3 = same content "
                            "(checksum, safest).",
                            "type": "integer", "enum": [0, 1, 2, 3], "default": 3},
}
TRANSFER_REQUIRED = ("source", "destination")
