"""The interactive loop's defaults in the start form deployed for an experiment."""

from __future__ import annotations

from typing import Any

from tomocupy_gladier.experiment.config import ExperimentConfig
from tomocupy_gladier.tools.recon.start_form import scan_folder
from tomocupy_gladier.tools.step import Put


def choice_defaults(properties: dict[str, Any], config: ExperimentConfig, put: Put) -> None:
    """The try: the same scan and the experiment's defaults, as a try."""
    put(("interactive", "try_tomocupy", "file_name"), scan_folder(config))
    put(("interactive", "try_tomocupy", "timeout"), config.timeout)
    for name, value in dict(config.recon).items():
        if name != "out-path-name":
            put(("interactive", "try_recon", name), value)
    put(("interactive", "try_recon", "reconstruction-type"), "try")
