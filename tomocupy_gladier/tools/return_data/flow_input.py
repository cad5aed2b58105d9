"""The ``return_data`` block of the flow input: whether, what and where results are sent back."""

# No ``from __future__ import annotations``: TypedDict reads NotRequired from real annotations.
from pathlib import PurePosixPath
from typing import NotRequired, TypedDict

from tomocupy_gladier.experiment.config import ExperimentConfig
from tomocupy_gladier.experiment.schema import CollectionPath
from tomocupy_gladier.tools.return_data.config import ReturnWhat, return_config
from tomocupy_gladier.tools.step import RunFacts


class ReturnDataBlock(TypedDict):
    """``return_data``: the optional copy back after publication (only ``enable`` when off)."""

    enable: bool
    what: NotRequired[ReturnWhat]
    destination: NotRequired[CollectionPath]  # a folder: the run's results land in a subfolder


def return_input(config: ExperimentConfig) -> ReturnDataBlock:
    """The ``return_data`` block: an explicit ``enable`` flag and, when enabled, what is sent
    (``[return] what``) to which folder (``[return] path`` on ``[return] collection``).

    Which folder of this run that is, and the subfolder it lands in (named after the
    reconstruction, so returned results keep tomocupy's names), is worked out in the flow by
    the metadata step (``tools/return_data/``), as it is for a run started from a form.
    """
    back = return_config(config)
    if back is None:
        return {"enable": False}
    return {
        "enable": True,
        "what": back.what,
        "destination": {"id": back.collection, "path": str(PurePosixPath("/", back.path))},
    }


class ReturnInput(TypedDict):
    """Sending back's key of the flow input."""

    return_data: ReturnDataBlock


def return_block(facts: RunFacts) -> ReturnInput:
    """Sending back's part of the flow input (:func:`return_input`)."""
    return {"return_data": return_input(facts.config)}
