"""The flows' input schemas, assembled from the steps' parts so extended flows can reuse them.

Each step keeps its part (properties and required fields) in ``tools/<step>/schema.py``, built
from the field helpers here; a flow's schema joins the parts of its steps
(``flows.flow_schema_of``). A Gladier flow body is ``{"input": {...}}``; Globus Flows validates it against the
flow's ``input_schema`` and the web app renders that schema as the start form.
"""

from __future__ import annotations

import copy
from typing import Any, Mapping, TypedDict

from tomocupy_gladier.compute import VERSION_FIELD
from tomocupy_gladier.compute.multiscale import DEFAULT_CHUNKS, DEFAULT_PERCENTILES, EXPORT_DTYPES
from tomocupy_gladier.redaction import PRIVATE_PREFIX

PRIVATE_FIELDS = f"^{PRIVATE_PREFIX}"  # top-level input fields Flows keeps out of sight
UUID_BODY = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
UUID_PATTERN = f"^{UUID_BODY}$"


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


class CollectionPath(TypedDict):
    """A path on a Globus collection: the value of a :func:`collection_field`."""

    id: str
    path: str


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


# The start form's order: the scientist's own fields first (each step names its own,
# Step.form_first: the scan, the reconstruction with type and axis first, see
# options.recon_property_order, previews, sending back, the email), the other inputs, and last the
# deployment settings that `tomocupy-gladier deploy` fills in for the experiment. Inputs of
# extended flows come after the scientist's own fields, before the deployment settings.
DEPLOYMENT_ORDER = ("destination", "transfer_recursive", "transfer_sync_level", "publishv2",
                    VERSION_FIELD, "tomocupy_endpoint_config", "compute_endpoint")


def _is_deployment(name: str) -> bool:
    return name in DEPLOYMENT_ORDER or name.endswith("_function_id")


def input_property_order(names: list[str], first_names: tuple[str, ...] = ()) -> list[str]:
    """The order of the flow input's fields in the start form: ``first_names`` (the scientist's
    own), the others, the deployment settings (see ``DEPLOYMENT_ORDER``)."""
    first = [n for n in first_names if n in names]
    last = [n for n in DEPLOYMENT_ORDER if n in names]
    last += [n for n in names if n.endswith("_function_id")]
    middle = [n for n in names if n not in first and n not in last]
    return first + middle + last


def flow_input_schema(
    *parts: Mapping[str, Any],
    required: tuple[str, ...] = (),
    title: str = "tomocupy reconstruction",
    description: str = "",
    first: tuple[str, ...] = (),
) -> dict[str, Any]:
    """A flow input schema from property groups (the steps' parts, ``TRANSFER_PROPERTIES``, ...);
    extended flows add theirs with :func:`extend_flow_schema`."""
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
                "propertyOrder": input_property_order(list(properties), first),
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
    old = [n for n in inner.get("propertyOrder") or inner["properties"] if n in inner["properties"]]
    inner["properties"].update(with_property_order(copy.deepcopy(dict(properties))))
    # the added inputs after the scientist's and the base's own, before the deployment settings
    added = [n for n in properties if not n.endswith("_function_id")]
    ids = [n for n in properties if n.endswith("_function_id")]
    split = next((i for i, n in enumerate(old) if _is_deployment(n)), len(old))
    inner["propertyOrder"] = old[:split] + added + old[split:] + ids
    inner["required"] = list(inner["required"]) + [r for r in required if r not in inner["required"]]
    if title:
        schema["title"] = title
    return schema


ZARR_SCHEMA: dict[str, Any] = {  # the [zarr] section and the flow input's tomocupy.zarr
    "title": "Multiscale OME-Zarr",
    "description": "A full reconstruction also gets volume.ome.zarr (OME-NGFF 0.4, levels halving "
    "down to about 256 px) for browser viewers, written on the compute endpoint beside the slices.",
    "type": "object",
    "properties": {
        "enable": {"title": "Write the OME-Zarr", "type": "boolean", "default": True},
        "chunks": {"title": "Chunk shape (z, y, x px)", "description": "Slabs of tiles: a viewer reads a "
                   "chunk's depth of slices to show one; the step reads that many slices at a time. "
                   "Even numbers; z 2 to 512, y and x 16 to 2048.", "type": "array", "minItems": 3,
                   "maxItems": 3, "items": {"title": "Pixels (z, then y, then x)", "type": "integer",
                                            "minimum": 2, "maximum": 2048, "multipleOf": 2},
                   "default": list(DEFAULT_CHUNKS)},
        "exports": {"title": "Compact copies", "description": "uint8 and/or uint16 copies of every "
                    "level (volume_uint8.ome.zarr ...), scaled between the whole volume's percentiles.",
                    "type": "array", "uniqueItems": True,
                    "items": {"title": "Type", "type": "string", "enum": list(EXPORT_DTYPES)},
                    "default": []},
        "percentiles": {"title": "Window percentiles", "description": "The whole volume's percentiles "
                        "that viewers show as black and white (the Zarr's omero window) and where the "
                        "compact copies clip.", "type": "array",
                        "minItems": 2, "maxItems": 2,
                        "items": {"title": "Percentile", "type": "number", "minimum": 0, "maximum": 100},
                        "default": list(DEFAULT_PERCENTILES)},
    },
    "additionalProperties": False,
}
