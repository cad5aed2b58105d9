"""The registry of steps: every step of the flows, and what is built by looping over them.

A new step is one folder, ``tools/<step>/`` (its ``step.py`` names its ``STEP``, see
:class:`~.step.Step` and README's "Adding a step"), and one line in :data:`STEPS`. From the steps come the experiment file's schema
and parsing (:func:`load_config`), the flows' tools, input schemas and modifiers
(:func:`tools_of`, :func:`flow_schema_of`, :func:`modifiers_of`), the flow input's type
(:func:`input_type_of`; ``planning/flow_input.py`` builds the input from the steps' builders), the
start form's defaults (``flows/start_form.py``), the definition passes (``flows/definition.py``)
and the shims of the endpoint library (:func:`library_shims`). Every function takes the steps it
loops over (default :data:`STEPS`), so a flow may add a step of its own (the tests do).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, NotRequired, Sequence, TypedDict, get_type_hints

from tomocupy_gladier.experiment.config import ExperimentConfig, Section, config_from_dict as _from_dict, read_config
from tomocupy_gladier.experiment.schema import flow_input_schema
from tomocupy_gladier.tools.choice import step as choice
from tomocupy_gladier.tools.metadata import step as metadata
from tomocupy_gladier.tools.notify import step as notify
from tomocupy_gladier.tools.previews import step as previews
from tomocupy_gladier.tools.publish import step as publish
from tomocupy_gladier.tools.recon import step as recon
from tomocupy_gladier.tools.retention import step as retention
from tomocupy_gladier.tools.return_data import step as return_data
from tomocupy_gladier.tools.step import Step
from tomocupy_gladier.tools.transfer import step as transfer

# The steps in registry order: the order of their inputs in a flow's schema, of their tools in a
# flow (unless a step runs ``before`` another) and of their definition passes. The notification
# is last: its pass routes every state the others made through the email.
STEPS: tuple[Step, ...] = (
    transfer.STEP,
    recon.STEP,
    previews.STEP,
    metadata.STEP,
    choice.STEP,
    publish.STEP,
    return_data.STEP,
    retention.STEP,
    notify.STEP,
)


def step_named(name: str, steps: Sequence[Step] = STEPS) -> Step:
    """The registered step called ``name``."""
    for step in steps:
        if step.name == name:
            return step
    raise KeyError(f"no step {name!r}; registered: {', '.join(s.name for s in steps)}")


def without(*names: str, steps: Sequence[Step] = STEPS) -> tuple[Step, ...]:
    """The registered steps but those called ``names`` (a flow's steps)."""
    unknown = set(names) - {s.name for s in steps}
    if unknown:
        raise KeyError(f"no step(s) {sorted(unknown)}")
    return tuple(s for s in steps if s.name not in names)


# --- the experiment file ------------------------------------------------------------------------

def sections(steps: Sequence[Step] = STEPS) -> tuple[Section, ...]:
    """The steps' own sections of the experiment file."""
    return tuple(step.section for step in steps if step.section is not None)


def load_config(path: str | os.PathLike[str], steps: Sequence[Step] = STEPS) -> ExperimentConfig:
    """Read and validate an experiment file with every step's section; :class:`ConfigError`
    names file, key and problem."""
    return read_config(path, sections(steps))


def config_from_dict(raw: Mapping[str, Any], path: Path, steps: Sequence[Step] = STEPS) -> ExperimentConfig:
    """Validate an already-parsed experiment file (``path`` for messages and relative paths)."""
    return _from_dict(raw, path, sections(steps))


# --- a flow's tools, schema and modifiers -------------------------------------------------------

def tools_of(steps: Sequence[Step]) -> list[type]:
    """A flow's Gladier tools from its steps: each step's tools in registry order, a step's that
    runs ``before`` another just before that one's."""
    placed: list[Step] = [s for s in steps if s.before is None]
    for step in (s for s in steps if s.before is not None):
        anchor = next((i for i, s in enumerate(placed) if s.name == step.before), len(placed))
        placed.insert(anchor, step)
    return [tool for step in placed for tool in step.tools]


def steps_of(tools: Iterable[type], steps: Sequence[Step] = STEPS, *, strict: bool = True) -> tuple[Step, ...]:
    """The steps a flow with these Gladier tools has, in registry order: those with a tool
    among them, and those in every flow. ``strict``: a tool of no step is refused (otherwise it
    is left to its flow: an extended flow's own tool)."""
    tools = list(tools)
    known = {tool for step in steps for tool in step.tools}
    unknown = [tool.__name__ for tool in tools if tool not in known]
    if unknown and strict:
        raise ValueError(f"tools of no step (tools/<step>/__init__.py): {unknown}")
    return tuple(step for step in steps if step.in_every_flow or set(step.tools) & set(tools))


def flow_schema_of(steps: Sequence[Step], *, title: str, description: str) -> dict[str, Any]:
    """The input schema of a flow with these steps: their parts, required fields and order."""
    return flow_input_schema(*(step.properties for step in steps),
                             required=tuple(name for step in steps for name in step.required),
                             title=title, description=description,
                             first=tuple(name for step in steps for name in step.form_first))


def modifiers_of(steps: Sequence[Step]) -> dict[Callable[..., Any], dict[str, Any]]:
    """Gladier's modifiers of a flow with these steps (compute function -> modifiers)."""
    found: dict[Callable[..., Any], dict[str, Any]] = {}
    for step in steps:
        for function, modifiers in step.modifiers.items():
            if function in found:
                raise ValueError(f"step {step.name} modifies {function.__name__} again")
            found[function] = dict(modifiers)
    return found


def library_shims(steps: Sequence[Step] = STEPS) -> tuple[Callable[..., Any], ...]:
    """The registered functions that are shims of the endpoint library (tomocupy_gladier.compute)."""
    return tuple(shim for step in steps for shim in step.shims)


# --- the flow input's type ----------------------------------------------------------------------

def input_type_of(steps: Sequence[Step], name: str = "FlowInputData") -> type:
    """The ``TypedDict`` of a flow's ``input`` with these steps: every key each step's
    ``input_type`` declares, required as there. At run time the input stays plain dicts (JSON
    for the flow); each step's own ``TypedDict`` is what the type checker reads."""
    fields: dict[str, Any] = {}
    for step in steps:
        if step.input_type is None:
            continue
        hints = get_type_hints(step.input_type, include_extras=True)
        required = getattr(step.input_type, "__required_keys__", frozenset(hints))
        for key, hint in hints.items():
            fields[key] = hint if key in required else NotRequired[hint]
    return TypedDict(name, fields)  # type: ignore[operator]
