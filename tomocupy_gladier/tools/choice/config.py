"""The interactive loop's section of the experiment file, ``[choice]``: who else may choose."""

from __future__ import annotations

from typing import Any, Mapping

from tomocupy_gladier.experiment.config import ExperimentConfig, Section

SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Who may choose the centre of an interactive run",
    "properties": {
        # Wait For User Selection's selectable_by takes Globus Auth identity URNs
        "selectable_by": {"type": "array", "uniqueItems": True,
                          "items": {"type": "string",
                                    "pattern": "^urn:globus:auth:identity:[0-9a-fA-F-]{36}$"}},
    },
    "additionalProperties": False,
}


def parse(section: Mapping[str, Any], raw: Mapping[str, Any]) -> tuple[str, ...]:
    """``[choice] selectable_by``: besides the run's own user, the identities that may choose."""
    return tuple(section.get("selectable_by", ()))


SECTION = Section("choice", SCHEMA, parse)


def selectable_by(config: ExperimentConfig) -> tuple[str, ...]:
    """Besides the run's own user, the identities that may choose an interactive run's centre."""
    return config.sections.get(SECTION.name) or ()
