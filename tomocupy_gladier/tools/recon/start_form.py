"""The reconstruction's defaults in the start form deployed for an experiment."""

from __future__ import annotations

from typing import Any

from tomocupy_gladier.experiment.compute_endpoints import user_endpoint_config
from tomocupy_gladier.experiment.config import ExperimentConfig
from tomocupy_gladier.tools.step import Put


def scan_folder(config: ExperimentConfig) -> str:
    """The facility folder as the compute nodes see it, ending in ``/``: the flow that copies
    the scan adds the scan's name (tools/transfer/); for a scan already there the scientist
    completes it."""
    return str(config.facility.to_posix(config.facility_path)).rstrip("/") + "/"


def recon_defaults(properties: dict[str, Any], config: ExperimentConfig, put: Put) -> None:
    """The compute endpoint and its batch job, the time limit, the scan's folder, and the
    experiment's own ``[recon]`` defaults in place of tomocupy's (its command's form first)."""
    put(("compute_endpoint",), config.compute_endpoint)
    for key, value in user_endpoint_config(config).items():
        put(("tomocupy_endpoint_config", key), value)
    put(("tomocupy", "timeout"), config.timeout)
    put(("tomocupy", "file_name"), scan_folder(config))
    for name, value in dict(config.recon).items():
        if name != "out-path-name":
            put(("recon", name), value)
    forms = properties.get("recon", {}).get("oneOf")
    if forms and config.recon.get("command"):
        forms.sort(key=lambda f: f["properties"]["command"]["enum"] != [config.recon["command"]])
