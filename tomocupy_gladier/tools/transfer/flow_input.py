"""The scan transfer's keys of the flow input (``source``, ``destination``, ``transfer_*``): at the
top of ``input``, present only when the flow copies the scan first."""

# No ``from __future__ import annotations``: TypedDict reads NotRequired from real annotations.
from typing import TypedDict

from tomocupy_gladier.experiment.config import ExperimentConfig
from tomocupy_gladier.experiment.schema import CollectionPath
from tomocupy_gladier.tools.step import RunFacts, ScanLocation
from tomocupy_gladier.tools.transfer.tool import SYNC_CHECKSUM


class TransferInput(TypedDict, total=False):
    """The scan on the beamline collection, where it is copied on the facility collection, and
    how (a folder or one file; Transfer's sync level)."""

    source: CollectionPath
    destination: CollectionPath
    transfer_recursive: bool
    transfer_sync_level: int


def transfer_input(config: ExperimentConfig, location: ScanLocation) -> TransferInput:
    """The transfer keys for this scan: from the beamline collection to the facility's."""
    assert config.source is not None and location.source_path is not None
    return {
        "source": {"id": config.source.id, "path": str(location.source_path)},
        "destination": {"id": config.facility.id, "path": str(location.facility_path)},
        "transfer_recursive": False,
        "transfer_sync_level": SYNC_CHECKSUM,
    }


def transfer_block(facts: RunFacts) -> TransferInput:
    """The scan transfer's part of the flow input (:func:`transfer_input`)."""
    return transfer_input(facts.config, facts.location)
