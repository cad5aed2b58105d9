"""Sending results back: its section of the experiment file, ``[return]``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Mapping, get_args

from tomocupy_gladier.experiment.config import DATA_ACCESS_FIELD, ExperimentConfig, Section
from tomocupy_gladier.experiment.schema import uuid_field

ReturnWhat = Literal["previews", "reconstruction"]
RETURN_WHAT: tuple[ReturnWhat, ...] = get_args(ReturnWhat)


@dataclass(frozen=True)
class ReturnConfig:
    """Where results go back to after publication (the ``[return]`` section).

    ``what``: ``"previews"`` sends the previews folder only, ``"reconstruction"`` the whole
    reconstruction folder (previews included).
    """

    collection: str
    path: str
    what: ReturnWhat = "previews"


SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Results sent back to the scientist",
    "properties": {
        "collection": uuid_field("Return collection", "Globus collection the results are sent to"),
        "path": {"type": "string", "minLength": 1},
        "what": {"type": "string", "enum": list(RETURN_WHAT)},
        "enable": {"type": "boolean"},
        "data_access": DATA_ACCESS_FIELD,
    },
    "required": ["collection", "path"],
    "additionalProperties": False,
}


def parse(section: Mapping[str, Any], raw: Mapping[str, Any]) -> ReturnConfig | None:
    """``[return]`` as :class:`ReturnConfig`; None when ``enable = false`` keeps the section but
    skips the step."""
    if not section.get("enable", True):
        return None
    return ReturnConfig(collection=section["collection"], path=section["path"],
                        what=section.get("what", "previews"))


TEMPLATE = """\
[return]                        # after publication, send results back to the scientist
collection = "{analysis}"   # e.g. the beamline's analysis machine
path = "/incoming"
what = "previews"               # "previews", or "reconstruction" (the whole volume, previews included)
# enable = false                # keep the section but skip the step (the run log shows ReturnDataSkipped)
"""

SECTION = Section("return", SCHEMA, parse,
                  collection=lambda section: section["collection"] if section.get("enable", True) else None,
                  data_access=False, template=TEMPLATE)


def return_config(config: ExperimentConfig) -> ReturnConfig | None:
    """The experiment's ``[return]`` section, or None when results are not sent back."""
    return config.sections.get(SECTION.name)
