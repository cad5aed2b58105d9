"""A step of a flow: its Gladier tools and its part of the flow input, kept together."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping


@dataclass(frozen=True)
class Step:
    """One step (``tools/<name>/``): the Gladier tools that make its states, the input-schema
    properties it reads and which of them a flow that has the step requires.

    ``in_every_flow``: the step's part belongs to every flow's input, whichever tools it lists
    (the notification, which ``TomocupyClient`` adds to every definition).
    """

    name: str
    tools: tuple[type, ...]
    properties: Mapping[str, Any]
    required: tuple[str, ...]
    in_every_flow: bool = False

    def __post_init__(self) -> None:
        unknown = set(self.required) - set(self.properties)
        if unknown:
            raise ValueError(f"step {self.name} requires inputs it does not describe: {sorted(unknown)}")
