"""The flows' input schemas, assembled from parts so extended flows can reuse them.

A Gladier flow body is ``{"input": {...}}``; Globus Flows validates it against the
flow's ``input_schema`` and the web app renders that schema as the start form.
"""

from __future__ import annotations

import copy
from typing import Any, Mapping

from tomocupy_gladier import __version__
from tomocupy_gladier.compute import VERSION_FIELD
from tomocupy_gladier.options import recon_schema
from tomocupy_gladier.redaction import PRIVATE_PREFIX

PRIVATE_FIELDS = f"^{PRIVATE_PREFIX}"  # top-level input fields Flows keeps out of sight
UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


def uuid_field(title: str, description: str) -> dict[str, Any]:
    return {"title": title, "description": description, "type": "string", "format": "uuid",
            "pattern": UUID_PATTERN}


def collection_field(title: str, description: str) -> dict[str, Any]:
    """A Globus collection and a path on it: the web app shows a collection picker with a path
    browser (``format: globus-collection``, properties named ``id`` and ``path``, both required).
    Each picker's fields carry the picker's own title, so two pickers never read alike."""
    return {
        "title": title,
        "description": description,
        "type": "object",
        "format": "globus-collection",
        "properties": {
            "id": uuid_field(f"{title}: collection", f"The Globus collection of '{title}'."),
            "path": {"title": f"{title}: path", "description": f"The path of '{title}' on that "
                     "collection.", "type": "string", "minLength": 1},
        },
        "propertyOrder": ["id", "path"],
        "required": ["id", "path"],
        "additionalProperties": False,
    }


def function_id_field(function_name: str) -> dict[str, Any]:
    return uuid_field(f"Deployment: {function_name} function",
                      "Globus Compute function id, set by `tomocupy-gladier deploy` for this "
                      "experiment; leave it as it is.")


def with_property_order(schema: Any) -> Any:
    """``schema`` with a ``propertyOrder`` (the form's field order) on every object field that
    has properties and none yet: the order the properties are declared in. Rules (``if``,
    ``then``) are left as they are."""
    if isinstance(schema, dict):
        out = {k: with_property_order(v) for k, v in schema.items()}
        props = out.get("properties")
        if out.get("type") == "object" and isinstance(props, dict) and props and "propertyOrder" not in out:
            out["propertyOrder"] = list(props)
        return out
    if isinstance(schema, list):
        return [with_property_order(v) for v in schema]
    return schema


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

RECON_PROPERTIES: dict[str, Any] = {
    "recon": recon_schema(flow_input=True),
    "tomocupy": {
        "title": "How to run tomocupy",
        "description": "The scan and its reconstruction folder as the compute endpoint sees them. The "
        "program is the endpoint's choice, never the flow input's.",
        "type": "object",
        "properties": {
            "file_name": {"title": "Scan file", "description": "Path of the scan (HDF5 file) as the "
                          "compute nodes see it, e.g. /eagle/TOMO/raw/scan_0001.h5. When the flow "
                          "copies the scan first, the facility folder as the compute nodes see it, "
                          "ending in / (the scan's name is added; of a full path only the folder "
                          "is used).", "type": "string", "minLength": 1},
            "output": {"title": "Reconstruction folder", "description": "Leave empty for tomocupy's "
                       "own folder: <scan folder>_rec/<scan>_rec (a try: <scan folder>_rec/try_center/"
                       "<scan>). The command line sets it; a path given here must be absolute.",
                       "type": "string", "pattern": "^/"},
            "logs": {"title": "Logs folder", "description": "Leave empty for <reconstruction "
                     "folder>.logs: the folder that keeps each run's reconstruction log "
                     "(<run id>.log).", "type": "string", "pattern": "^/"},
            "timeout": {"title": "Time limit (s)", "description": "The reconstruction is stopped after "
                        "this long (less than the step's wait time).", "type": "number",
                        "exclusiveMinimum": 0, "maximum": 7 * 86400, "default": 6900},
        },
        "required": ["file_name"],
        "additionalProperties": False,
    },
    "compute_endpoint": uuid_field("Deployment: compute endpoint", "Globus Compute endpoint that "
                                   "runs tomocupy (e.g. on Polaris); set for the experiment."),
    "tomocupy_recon_function_id": function_id_field("tomocupy_recon"),
    VERSION_FIELD: {"title": "Deployment: tomocupy-gladier version", "description": "The client's "
                    "version; the compute endpoint's tomocupy-gladier must be the same. Set by "
                    "tomocupy-gladier; leave it as it is.", "type": "string", "default": __version__},
    "tomocupy_endpoint_config": {
        "title": "Deployment: batch job",
        "description": "PBS settings for the job that runs the reconstruction; set for the experiment.",
        "type": "object",
        "properties": {
            "queue": {"title": "Queue", "type": "string", "minLength": 1, "default": "debug"},
            "account": {"title": "Project (allocation)", "description": "The allocation charged "
                        "for the job.", "type": "string", "minLength": 1},
            "walltime": {"title": "Walltime", "description": "HH:MM:SS", "type": "string",
                         "pattern": "^[0-9]{1,3}:[0-5][0-9]:[0-5][0-9]$", "default": "01:00:00"},
            "nodes": {"title": "Nodes", "type": "integer", "minimum": 1, "maximum": 64, "default": 1},
        },
        "additionalProperties": False,
    },
}

PREVIEW_PROPERTIES: dict[str, Any] = {
    "previews": {
        "title": "Previews",
        "description": "PNG previews written next to the reconstruction: three mid-sections of a full "
        "reconstruction, or a montage of the candidate centres of a try.",
        "type": "object",
        "properties": {
            "folder": {"title": "Folder", "type": "string", "minLength": 1, "default": "previews"},
            "percentiles": {"title": "Contrast percentiles", "description": "Intensities below and above "
                            "these percentiles are clipped.", "type": "array", "minItems": 2, "maxItems": 2,
                            "items": {"title": "Percentile", "type": "number", "minimum": 0,
                                      "maximum": 100},
                            "default": [0.5, 99.5]},
            "max_size": {"title": "Largest side (px)", "type": "integer", "minimum": 64, "maximum": 8192,
                         "default": 1024},
            "max_sections": {"title": "Slices read for side views", "type": "integer", "minimum": 8,
                             "default": 512},
            "pixel_size_um": {"title": "Pixel size (microns)", "description": "For the scale bar; "
                              "default: from the parameters or the scan.", "type": "number",
                              "exclusiveMinimum": 0},
            "tile_size": {"title": "Montage tile (px)", "type": "integer", "minimum": 32, "default": 192},
            "montage_max": {"title": "Most centres shown", "type": "integer", "minimum": 1, "default": 64},
        },
        "additionalProperties": False,
    },
    "make_previews_function_id": function_id_field("make_previews"),
    "scan_metadata_function_id": function_id_field("scan_metadata"),
}

PUBLISH_PROPERTIES: dict[str, Any] = {
    "publishv2": {
        "title": "Publication",
        "description": "Catalogue the reconstruction in Globus Search and copy it to the publication "
        "collection.",
        "type": "object",
        "properties": {
            "dataset": {"title": "What to publish", "description": "Path (on the compute nodes) of "
                        "what is published, inside the reconstruction folder. Leave empty to publish "
                        "the reconstruction this run made.", "type": "string", "minLength": 1},
            "destination": {"title": "Publish to", "description": "Folder on the publication collection.",
                            "type": "string", "minLength": 1},
            "source_collection": uuid_field("Facility collection", "Collection holding the reconstruction."),
            "source_collection_basepath": {"title": "Facility collection root",
                                           "description": "POSIX path that the facility collection's / "
                                           "maps to.", "type": ["string", "null"]},
            "destination_collection": uuid_field("Publication collection", "Collection the results are "
                                                 "copied to."),
            "index": uuid_field("Search index", "Globus Search index for the record."),
            "visible_to": {"title": "Visible to", "description": "Who may find the record: 'public', "
                           "or Globus identity/group URNs (urn:globus:groups:id:...).",
                           "type": "array", "items": {"title": "Person, group or 'public'",
                                                      "type": "string", "minLength": 1},
                           "minItems": 1, "default": ["public"]},
            "entry_id": {"title": "Entry id", "type": "string", "default": "metadata"},
            "metadata": {"title": "Extra metadata", "type": "object"},
            "checksum_algorithms": {"title": "Checksums", "description": "Checksums recorded for "
                                    "every published file.", "type": "array", "minItems": 0,
                                    "items": {"title": "Checksum algorithm", "type": "string",
                                              "enum": ["md5", "sha1", "sha256", "sha512"]},
                                    "default": ["sha256"]},
            "enable_transfer": {"title": "Copy the results", "description": "Copy the reconstruction "
                                "to the publication collection.", "type": "boolean", "default": True},
            "enable_publish": {"title": "Catalogue in Globus Search", "description": "Add the record "
                               "to the search index.", "type": "boolean", "default": True},
            "enable_meta_dc": {"title": "Add DataCite metadata", "description": "Describe the dataset "
                               "with DataCite fields in the record.", "type": "boolean", "default": True},
            "enable_meta_files": {"title": "List every file in the record", "description": "Off: the "
                                  "published manifest.json lists the files with their checksums.",
                                  "type": "boolean", "default": False},
            "recursive_transfer": {"title": "Copy the folder", "type": "boolean", "default": True},
        },
        "required": ["destination", "source_collection", "destination_collection", "index",
                     "visible_to", "enable_transfer", "enable_publish", "enable_meta_dc"],
        "additionalProperties": False,
    },
    "publishv2_gather_metadata_function_id": function_id_field("publishv2_gather_metadata"),
}

def optional_section(title: str, description: str, *, enable_title: str, when_off: str,
                     fields: Mapping[str, Any], needed_when_on: tuple[str, ...]) -> dict[str, Any]:
    """An optional step's block: an ``enable`` checkbox (default off, so a form left alone is
    valid) and ``fields`` that are required only when it is ticked.

    ``when_off`` describes the unticked box to the scientist (e.g. which Skipped state the run
    log shows).
    """
    return {
        "title": title,
        "description": description,
        "type": "object",
        "properties": {
            "enable": {"title": enable_title, "description": when_off, "type": "boolean",
                       "default": False},
            **fields,
        },
        "required": ["enable"],
        # only an enabled step needs its fields: the rule fires when enable is present and true
        "if": {"properties": {"enable": {"const": True}}, "required": ["enable"]},
        "then": {"required": list(needed_when_on)},
        "additionalProperties": False,
    }


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

NOTIFY_PROPERTIES: dict[str, Any] = {
    "notify": optional_section(
        "Email when the run ends",
        "One message when the run succeeds (with the published record) or fails (with the step "
        "and the reason).",
        enable_title="Send an email",
        when_off="Unticked: nobody is emailed (shown as NotifySkipped in the run log) and the "
        "fields below are not needed.",
        fields={
            "destination": {"title": "To", "description": "Email addresses, separated by commas.",
                            "type": "string", "minLength": 3},
            "sender": {"title": "From", "type": "string", "minLength": 3},
            "subject": {"title": "Subject", "description": "\"succeeded\" or \"FAILED\" is added.",
                        "type": "string", "minLength": 1},
            "scan": {"title": "Scan named in the message", "type": "string"},
            "output": {"title": "Reconstruction named in the message", "type": "string"},
            "record": {"title": "Published record named in the message", "type": "string"},
            "run_page": {"title": "Run page address", "description": "The run id is appended.",
                         "type": "string"},
            "choose_page": {"title": "Choice page address", "description": "Interactive runs: "
                            "where the centre is chosen; the run id and the suffix below are "
                            "appended.", "type": "string"},
            "choose_suffix": {"title": "Choice page suffix", "type": "string"},
        },
        needed_when_on=("destination", "sender", "subject", "scan", "output", "record", "run_page"),
    ),
}


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

# The start form's order: the scan, then the reconstruction (type and axis first, see
# options.recon_property_order), previews, sending back, and last the deployment settings that
# `tomocupy-gladier deploy` fills in for the experiment. Inputs of extended flows come after the
# scientist's own fields, before the deployment settings.
SCIENTIST_ORDER = ("source", "tomocupy", "recon", "previews", "return_data", "notify")
DEPLOYMENT_ORDER = ("destination", "transfer_recursive", "transfer_sync_level", "publishv2",
                    VERSION_FIELD, "tomocupy_endpoint_config", "compute_endpoint")


def input_property_order(names: list[str]) -> list[str]:
    """The order of the flow input's fields in the start form (see ``SCIENTIST_ORDER``)."""
    first = [n for n in SCIENTIST_ORDER if n in names]
    last = [n for n in DEPLOYMENT_ORDER if n in names]
    last += [n for n in names if n.endswith("_function_id")]
    middle = [n for n in names if n not in first and n not in last]
    return first + middle + last


def flow_input_schema(
    *parts: Mapping[str, Any],
    required: tuple[str, ...] = (),
    title: str = "tomocupy reconstruction",
    description: str = "",
) -> dict[str, Any]:
    """A flow input schema from property groups (``TRANSFER_PROPERTIES``, ...).

    Extended flows add their own group: ``flow_input_schema(*TomocupyFlow.schema_parts, mine)``.
    """
    properties: dict[str, Any] = {}
    for part in parts:
        overlap = set(properties) & set(part)
        if overlap:
            raise ValueError(f"schema parts define the same input twice: {sorted(overlap)}")
        properties.update(copy.deepcopy(dict(part)))
    return with_property_order({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        "description": description,
        "type": "object",
        "properties": {
            "input": {
                "title": "Flow input",
                "type": "object",
                "properties": properties,
                "propertyOrder": input_property_order(list(properties)),
                "required": list(required),
                "additionalProperties": False,
            }
        },
        "required": ["input"],
        # the notification's sending account travels beside "input" as private run state
        # (redaction.py); a pattern, not a property, so that no start form shows a field for it
        "patternProperties": {PRIVATE_FIELDS: {"type": "object"}},
        "additionalProperties": False,
    })


def extend_flow_schema(base: Mapping[str, Any], properties: Mapping[str, Any],
                       required: tuple[str, ...] = (), title: str | None = None) -> dict[str, Any]:
    """A copy of a flow's input schema with more inputs, for flows that add steps."""
    schema = copy.deepcopy(dict(base))
    inner = schema["properties"]["input"]
    overlap = set(inner["properties"]) & set(properties)
    if overlap:
        raise ValueError(f"the base flow already has input(s) {sorted(overlap)}")
    inner["properties"].update(with_property_order(copy.deepcopy(dict(properties))))
    inner["propertyOrder"] = input_property_order(list(inner["properties"]))
    inner["required"] = list(inner["required"]) + [r for r in required if r not in inner["required"]]
    if title:
        schema["title"] = title
    return schema
