"""A flow's input schema and required fields, derived from its tools through their steps."""

from __future__ import annotations

from typing import Any, Iterable

from tomocupy_gladier.experiment.schema import flow_input_schema
from tomocupy_gladier.tools import (choice, metadata, notify, previews, publish, recon, return_data,
                                    transfer)
from tomocupy_gladier.tools.step import Step

# The steps in the order their inputs come in a flow's schema (the start form's own order is
# schema.input_property_order's).
STEPS: tuple[Step, ...] = (transfer.STEP, recon.STEP, previews.STEP, metadata.STEP, choice.STEP,
                           publish.STEP, return_data.STEP, notify.STEP)


def steps_of(tools: Iterable[type]) -> tuple[Step, ...]:
    """The steps a flow with these Gladier tools has, in :data:`STEPS` order: those with a tool
    among them, and those in every flow. A tool that belongs to no step is refused."""
    tools = list(tools)
    known = {tool for step in STEPS for tool in step.tools}
    unknown = [tool.__name__ for tool in tools if tool not in known]
    if unknown:
        raise ValueError(f"tools of no step (tools/<step>/__init__.py): {unknown}")
    return tuple(step for step in STEPS if step.in_every_flow or set(step.tools) & set(tools))


def flow_schema_of(tools: Iterable[type], *, title: str, description: str) -> dict[str, Any]:
    """The flow input schema of a flow with these tools: its steps' parts and required fields."""
    steps = steps_of(tools)
    return flow_input_schema(*(step.properties for step in steps),
                             required=tuple(name for step in steps for name in step.required),
                             title=title, description=description)
