"""Sending back's defaults in the start form deployed for an experiment."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from tomocupy_gladier.experiment.config import ExperimentConfig
from tomocupy_gladier.tools.return_data.config import return_config
from tomocupy_gladier.tools.step import Put


def return_defaults(properties: dict[str, Any], config: ExperimentConfig, put: Put) -> None:
    """As ``run`` does: this run's results go back to the experiment's ``[return]`` folder."""
    back = return_config(config)
    if back is not None:
        put(("return_data", "enable"), True)
        put(("return_data", "what"), back.what)
        put(("return_data", "destination", "id"), back.collection)
        put(("return_data", "destination", "path"), str(PurePosixPath("/", back.path)))
