"""The ``interactive`` block of the flow input (TomocupyInteractiveFlow): the try, the centres
offered, where the montage is published and who may choose."""

# No ``from __future__ import annotations``: TypedDict reads NotRequired from real annotations.
from pathlib import PurePosixPath
from typing import Any, Mapping, NotRequired, TypedDict

from tomocupy_gladier.experiment.config import ExperimentConfig
from tomocupy_gladier.experiment.schema import CollectionPath
from tomocupy_gladier.tools.choice.config import selectable_by
from tomocupy_gladier.tools.output_folders import previews_folder
from tomocupy_gladier.tools.publish.config import publish_config
from tomocupy_gladier.tools.recon.flow_input import TomocupyBlock, recon_output, tomocupy_block
from tomocupy_gladier.tools.step import RunFacts, ScanLocation


class MontageBlock(TypedDict):
    """``interactive.montage``: the try's previews copied to the publication collection
    (only ``enable`` when off)."""

    enable: bool
    source: NotRequired[CollectionPath]
    destination: NotRequired[CollectionPath]


class InteractiveBlock(TypedDict):
    """``interactive``: the try's parameters (tomocupy's options) and folder, how many centres
    are offered, the montage, and who else may choose."""

    try_recon: dict[str, Any]
    try_tomocupy: TomocupyBlock
    choices: int
    montage: MontageBlock
    selectable_by: list[str]


def interactive_input(config: ExperimentConfig, location: ScanLocation, try_recon: Mapping[str, Any],
                      previews: Mapping[str, Any] | None = None, choices: int = 8) -> InteractiveBlock:
    """The ``interactive`` block of TomocupyInteractiveFlow: the try's parameters and folder, how
    many centres are offered, and where the try's previews (the montage) are published.

    The try's folder is tomocupy's own for a try (or ``out-path-name``); its previews go where a
    try run publishes them (``<publish path>/<experiment>/try_center/<scan>/<previews folder>``).
    """
    output = recon_output(location, try_recon)
    options = {k: v for k, v in try_recon.items() if k != "out-path-name"}
    folder = str((previews or {}).get("folder", "previews"))
    montage: MontageBlock = {"enable": False}
    publish = publish_config(config)
    if publish is not None and publish.transfer:
        montage = {
            "enable": True,
            "source": {"id": config.facility.id,
                       "path": str(config.facility.to_globus(previews_folder(output, folder)))},
            "destination": {"id": publish.collection,
                            "path": str(PurePosixPath("/", publish.path, config.name, "try_center",
                                                      output.name, folder))},
        }
    return {
        "try_recon": options,
        "try_tomocupy": tomocupy_block(config, location, output),
        "choices": int(choices),
        "montage": montage,
        "selectable_by": list(selectable_by(config)),
    }


class InteractiveInput(TypedDict):
    """The interactive loop's key of the flow input."""

    interactive: InteractiveBlock


def interactive_block(facts: RunFacts) -> InteractiveInput | dict[str, Any]:
    """The interactive loop's part of the flow input, for a run with a try (``facts.try_recon``)."""
    if facts.try_recon is None:
        return {}
    return {"interactive": interactive_input(facts.config, facts.location, facts.try_recon,
                                             facts.blocks.get("previews"))}
