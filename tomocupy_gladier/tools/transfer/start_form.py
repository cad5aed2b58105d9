"""The scan transfer's defaults in the start form deployed for an experiment."""

from __future__ import annotations

from typing import Any

from tomocupy_gladier.experiment.config import ExperimentConfig
from tomocupy_gladier.tools.step import Put


def transfer_defaults(properties: dict[str, Any], config: ExperimentConfig, put: Put) -> None:
    """The beamline collection and folder, and the facility folder the scan is copied into (the
    flow adds the scan's name to each folder, ending in ``/``: tools/transfer/tool.py)."""
    if config.source is not None:
        put(("source", "id"), config.source.id)
        if config.source_path is not None:
            put(("source", "path"), str(config.source_path).rstrip("/") + "/")
    put(("destination", "id"), config.facility.id)
    put(("destination", "path"), str(config.facility_path).rstrip("/") + "/")
