"""Sending results back: its part of the flow input schema."""

from __future__ import annotations

from typing import Any

from tomocupy_gladier.experiment.schema import collection_field, optional_section

RETURN_PROPERTIES: dict[str, Any] = {
    "return_data": optional_section(
        "Send results back",
        "After publication, copy the previews (or the whole reconstruction) to a collection "
        "of the scientist's choice, e.g. the beamline's analysis machine.",
        enable_title="Send results back",
        when_off="Unticked: the step is skipped (shown as ReturnDataSkipped in the run log) and the "
        "fields below are not needed.",
        fields={
            "what": {"title": "What to send", "description": "previews: the PNG previews folder; "
                     "reconstruction: the whole reconstruction (previews included).",
                     "type": "string", "enum": ["previews", "reconstruction"], "default": "previews"},
            "destination": collection_field(
                "Send to", "The folder that receives this scan's results: they land in a subfolder "
                "named after the reconstruction (e.g. scan_0001_rec/previews), so scans sent to one "
                "folder never replace each other's results."),
        },
        needed_when_on=("destination",),
    ),
}
RETURN_REQUIRED = ("return_data",)
