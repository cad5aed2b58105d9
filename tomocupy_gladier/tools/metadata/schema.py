"""The metadata step's part of the flow input schema: its function id (it reads the recon,
tomocupy, publishv2 and return_data blocks of the other steps)."""

from __future__ import annotations

from typing import Any

from tomocupy_gladier.experiment.schema import function_id_field

METADATA_PROPERTIES: dict[str, Any] = {
    "scan_metadata_function_id": function_id_field("scan_metadata"),
}
METADATA_REQUIRED = ("scan_metadata_function_id",)
