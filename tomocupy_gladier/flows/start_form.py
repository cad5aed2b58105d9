"""A flow as it is deployed for one experiment: its input schema with the facility's settings as
defaults, so a scientist starting it from the Globus web app only types what is theirs.

:func:`deployed_schema` fills in, as defaults, the function ids Gladier registered and what each
step takes from ``experiment.toml`` (``Step.start_form``: the compute endpoint and batch job, the
beamline and facility collections, the publication, where results are sent back, the
experiment's ``[recon]`` defaults and the time limit, the interactive try). Nothing about the
validation changes: the same inputs are accepted and refused as by the generic schema.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from tomocupy_gladier.experiment.config import ExperimentConfig
from tomocupy_gladier.tools.registry import STEPS
from tomocupy_gladier.tools.step import Step


def _put(node: Mapping[str, Any], path: tuple[str, ...], value: Any) -> None:
    """Set the default of the property at ``path`` (names of nested properties), wherever it
    exists: in each form of a ``oneOf`` (the ``recon`` block has one per command) that offers
    ``value`` (a default is never one of the choices its form refuses)."""
    if not path:
        if "enum" not in node or value in node["enum"]:
            node["default"] = copy.deepcopy(value)  # type: ignore[index]
        return
    for branch in [node, *(node.get("oneOf") or [])]:
        child = (branch.get("properties") or {}).get(path[0])
        if child is not None:
            _put(child, path[1:], value)


def deployed_schema(schema: Mapping[str, Any], config: ExperimentConfig,
                    function_ids: Mapping[str, str] | None = None,
                    steps: Sequence[Step] = STEPS) -> dict[str, Any]:
    """``schema`` (a flow's generic input schema) with ``config``'s settings as defaults.

    ``function_ids``: ``{"<function>_function_id": id}`` as Gladier registered them; ids not
    given stay without a default. ``steps``: whose defaults are set (those of inputs the schema
    lacks are left out).
    """
    deployed = copy.deepcopy(dict(schema))
    deployed["title"] = f"{schema.get('title', 'tomocupy')} ({config.name})"[:128]
    props = deployed["properties"]["input"]["properties"]

    def put(path: tuple[str, ...], value: Any) -> None:
        _put({"properties": props}, path, value)

    for name, function_id in (function_ids or {}).items():
        if name.endswith("_function_id"):
            put((name,), function_id)
    for step in steps:
        if step.start_form is not None:
            step.start_form(props, config, put)
    return deployed


def use_deployed_schema(client: Any, config: ExperimentConfig) -> Any:
    """Make ``client`` send the deployed schema of ``config`` (with the function ids it has
    registered) whenever it creates or updates its flow, so `run` and `deploy` agree and a run
    does not put the generic schema back."""
    # idempotent: the generic schema is kept the first time
    generic = getattr(client, "_generic_flow_schema", None) or client.get_flow_schema()
    client._generic_flow_schema = generic

    def get_flow_schema() -> dict[str, Any]:
        return deployed_schema(generic, config, client.get_compute_function_ids())

    client.get_flow_schema = get_flow_schema
    return client
