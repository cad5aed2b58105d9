"""The metadata step's part of the flow input schema: its function id (it reads the
blocks of the other steps that its record describes)."""

from __future__ import annotations

from typing import Any

from tomocupy_gladier.experiment.schema import function_id_field

METADATA_PROPERTIES: dict[str, Any] = {
    "scan_metadata_function_id": function_id_field("scan_metadata"),
}
METADATA_REQUIRED = ("scan_metadata_function_id",)
