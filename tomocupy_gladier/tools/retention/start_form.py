"""The retention step's defaults in the start form deployed for an experiment."""

from __future__ import annotations

from typing import Any

from tomocupy_gladier.experiment.config import ExperimentConfig
from tomocupy_gladier.tools.retention.flow_input import retention_input
from tomocupy_gladier.tools.step import Put


def retention_defaults(properties: dict[str, Any], config: ExperimentConfig, put: Put) -> None:
    """As ``run`` does: a run started from the Globus web app removes after publication what the
    experiment's ``[retention]`` rules say (the box ticked, the rules filled in)."""
    block = retention_input(config)
    for key, value in block.items():
        put(("retention", key), value)
