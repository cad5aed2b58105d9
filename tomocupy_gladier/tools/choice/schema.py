"""The interactive loop's part of the flow input schema: the try, the centres offered, the montage
published and who may choose."""

from __future__ import annotations

import copy
from typing import Any

from tomocupy_gladier.experiment.schema import collection_field, function_id_field, optional_section
from tomocupy_gladier.tools.recon.schema import RECON_PROPERTIES

def _interactive_properties() -> dict[str, Any]:
    try_recon = copy.deepcopy(RECON_PROPERTIES["recon"])
    try_recon.update({"title": "Try: reconstruction parameters",
                      "description": "The try (one slice over a range of centres) that the centre "
                      "is chosen from; the full reconstruction uses the parameters above."})
    try_tomocupy = copy.deepcopy(RECON_PROPERTIES["tomocupy"])
    try_tomocupy.update({"title": "Try: how to run tomocupy",
                         "description": "The scan and the try's folder as the compute endpoint sees "
                         "them (the same scan as above)."})
    for name, prop in try_tomocupy["properties"].items():
        prop["title"] = f"Try: {prop['title'][0].lower()}{prop['title'][1:]}"
    return {
        "interactive": {
            "title": "Choosing the rotation axis",
            "description": "A try first; its montage is published and the run waits until the "
            "scientist chooses a centre (the suggested one or a ranked candidate); the full "
            "reconstruction then runs at that centre.",
            "type": "object",
            "properties": {
                "try_recon": try_recon,
                "try_tomocupy": try_tomocupy,
                "choices": {"title": "Centres offered", "description": "The suggested centre and "
                            "the best-ranked candidates (the montage's crops), this many in all.",
                            "type": "integer", "minimum": 1, "maximum": 16, "default": 8},
                "montage": optional_section(
                    "Publish the montage",
                    "Copy the try's previews to the publication collection before waiting, where "
                    "the scientist can open them.",
                    enable_title="Publish the montage",
                    when_off="Unticked: the previews stay at the facility (PublishMontageSkipped).",
                    fields={
                        "source": collection_field("Try previews at the facility", "The try's "
                                                   "previews folder."),
                        "destination": collection_field("Montage published to", "Where the try's "
                                                        "previews are copied."),
                    },
                    needed_when_on=("source", "destination"),
                ),
                "selectable_by": {
                    "title": "Who else may choose",
                    "description": "Globus identities (urn:globus:auth:identity:...) that may "
                    "choose the centre besides the person who started the run ([choice] "
                    "selectable_by of the experiment).",
                    "type": "array", "uniqueItems": True, "default": [],
                    "items": {"title": "Identity", "type": "string",
                              "pattern": "^urn:globus:auth:identity:[0-9a-fA-F-]{36}$"},
                },
            },
            "required": ["try_recon", "try_tomocupy", "choices", "montage"],
            "additionalProperties": False,
        },
        "make_choice_options_function_id": function_id_field("make_choice_options"),
    }


INTERACTIVE_PROPERTIES: dict[str, Any] = _interactive_properties()
INTERACTIVE_REQUIRED = ("interactive", "make_choice_options_function_id")
