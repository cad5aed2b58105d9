"""What a step of a flow is: everything it adds to the house, declared in one place.

A step is one folder, ``tools/<step>/``, whose ``step.py`` names a :class:`Step` (``STEP``), and one
line in the registry (``tools/registry.py``'s ``STEPS``). The registry builds, by looping over the
steps, the experiment file's schema and parsing, the flow input and its type, the flows' input
schemas and start forms, the flows' tools, modifiers and definition passes, and the list of
registered functions that are shims of the endpoint library. README's "Adding a step" says what
a new step provides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, Callable, Mapping

from tomocupy_gladier.backends import Backend
from tomocupy_gladier.experiment.config import ExperimentConfig, Section

if TYPE_CHECKING:
    from gladier import GladierBaseClient


@dataclass(frozen=True)
class ScanLocation:
    """One scan: where it is written (beamline) and where it is reconstructed (facility)."""

    name: str
    source_path: PurePosixPath | None  # path on the beamline collection (None: already at the facility)
    facility_path: PurePosixPath       # path on the facility collection
    posix_path: PurePosixPath          # the facility path as the compute endpoint sees it


@dataclass
class RunFacts:
    """What a step's block builder (:attr:`Step.flow_input`) is given: one run, decided.

    ``recon``: the reconstruction's parameters (tomocupy's names; ``out-path-name`` is consumed:
    it named ``output``, the reconstruction folder decided once). ``try_recon``: the try's of a
    flow that waits for the choice of the centre. ``previews``, ``publish_metadata``: the run's
    previews options and extra published metadata. ``blocks``: the flow input built so far (the
    steps before this one, in registry order): a step may read an earlier step's block.
    """

    config: ExperimentConfig
    location: ScanLocation
    recon: Mapping[str, Any]
    output: PurePosixPath
    backend: Backend
    previews: Mapping[str, Any] = field(default_factory=dict)
    publish_metadata: Mapping[str, Any] | None = None
    try_recon: Mapping[str, Any] | None = None
    blocks: dict[str, Any] = field(default_factory=dict)


#: a step's part of the flow input: its keys of ``input`` (keys that start with ``_private`` go
#: beside ``input``: private run state, which Flows shows nowhere)
BlockBuilder = Callable[[RunFacts], Mapping[str, Any]]
#: sets a default of the start form: the path of nested properties under ``input``, the value
Put = Callable[[tuple[str, ...], Any], None]
#: a step's part of the start form: its defaults from the experiment (through ``put``), and any
#: change of its own properties (``input``'s properties, deployed per experiment)
FormDefaults = Callable[[dict[str, Any], ExperimentConfig, Put], None]
#: a pass over a flow's generated definition (in place), given the flow's client
DefinitionPass = Callable[[dict[str, Any], "GladierBaseClient"], None]


@dataclass(frozen=True)
class Step:
    """One step: its Gladier tools, its part of the flow input (schema, builder, type), its
    section of the experiment file, its start-form defaults, its modifiers and definition passes.

    - ``tools``: the Gladier tools that make its states, in the order they run; ``before``: the
      step whose tools its own come before in a flow (the interactive choice: before the
      reconstruction), else registry order.
    - ``properties``/``required``: its part of the flow's input schema, and what a flow with the
      step requires; ``form_first``: its fields the scientist fills, first in the start form.
    - ``in_every_flow``: its part belongs to every flow, whichever tools it lists (the
      notification, which its definition pass adds to every flow).
    - ``shims``: its registered compute functions that are shims of the endpoint library (their
      tasks get the client's version).
    - ``section``: its own section of ``experiment.toml`` (schema, parsing, collection, template).
    - ``flow_input``/``input_type``: its keys of the flow input, built from :class:`RunFacts`,
      and their ``TypedDict``.
    - ``start_form``: its defaults in the start form deployed for an experiment.
    - ``modifiers``: Gladier modifiers of its compute functions in a flow (how its tasks read
      the other steps' results); ``passes``: its passes over the generated definition, run in
      registry order after the flow's own (``flows/definition.py``).
    - ``switch``: its block whose ``enable`` flag turns it on or off; ``off_in_campaigns``: a
      campaign's jobs turn it off (a per-run message a campaign of hundreds would bury);
      ``needs_private``: it reads private run state, which a timer's body cannot carry, so a
      timer turns it off.
    - ``collections``: the experiment's collection sections its Transfer states use (their
      ``data_access`` consents go into the run scope).
    - ``warnings``/``caught_failure``/``outcomes``: what its states left in a run's state: things
      that went wrong without failing the run, the failure of another step they caught, and what
      they did that the run's record tells beside its result (data removed after publication).
    """

    name: str
    tools: tuple[type, ...] = ()
    properties: Mapping[str, Any] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    in_every_flow: bool = False
    before: str | None = None
    form_first: tuple[str, ...] = ()
    shims: tuple[Callable[..., Any], ...] = ()
    section: Section | None = None
    flow_input: BlockBuilder | None = None
    input_type: type | None = None
    start_form: FormDefaults | None = None
    modifiers: Mapping[Callable[..., Any], Mapping[str, Any]] = field(default_factory=dict)
    passes: tuple[DefinitionPass, ...] = ()
    switch: str | None = None
    off_in_campaigns: bool = False
    needs_private: bool = False
    collections: Callable[[ExperimentConfig], tuple[str, ...]] | None = None
    warnings: Callable[[Mapping[str, Any]], list[str]] | None = None
    caught_failure: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None
    outcomes: Callable[[Mapping[str, Any]], list[str]] | None = None

    def __post_init__(self) -> None:
        unknown = set(self.required) - set(self.properties)
        if unknown:
            raise ValueError(f"step {self.name} requires inputs it does not describe: {sorted(unknown)}")
        if self.switch is not None and self.switch not in self.properties:
            raise ValueError(f"step {self.name} is switched by an input it does not describe: {self.switch}")
