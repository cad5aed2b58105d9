"""The retention step's part of the flow input schema: its block and its function id."""

from __future__ import annotations

from typing import Any

from tomocupy_gladier.experiment.schema import function_id_field, optional_section
from tomocupy_gladier.tools.retention.config import AFTER_PUBLISH, KEEP

_WORDS = [KEEP, AFTER_PUBLISH]

RETENTION_PROPERTIES: dict[str, Any] = {
    "retention": optional_section(
        "Remove the facility's copies after publication",
        "Once the publication is verified (every file at the publication collection, its checksum "
        "compared, and the facility's folder still as its manifest lists it), remove the scan's copy "
        "and/or the full reconstruction at the facility. The beamline's scan, tries, run logs and the "
        "published copy are never removed; a run that fails removes nothing.",
        enable_title="Remove after publication",
        when_off="Unticked: the run removes nothing (shown as RetentionSkipped in the run log) and the "
        "fields below are not needed.",
        fields={
            "raw": {"title": "The scan's copy at the facility", "description": "after-publish: removed "
                    "once the full reconstruction is published and verified, when this flow copied it "
                    "there (never the beamline's own file; a try keeps it). keep: left to the "
                    "experiment's [retention] rules (tomocupy-gladier prune).",
                    "type": "string", "enum": _WORDS, "default": KEEP},
            "reconstruction": {"title": "The full reconstruction at the facility", "description":
                               "after-publish: its folder is removed once its published copy is "
                               "verified (its run log and preview copies stay). keep: left to the "
                               "experiment's [retention] rules.",
                               "type": "string", "enum": _WORDS, "default": KEEP},
        },
        needed_when_on=("raw", "reconstruction"),
    ),
    "retention_targets_function_id": function_id_field("retention_targets"),
}
RETENTION_REQUIRED = ("retention", "retention_targets_function_id")
