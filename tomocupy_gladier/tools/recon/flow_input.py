"""The reconstruction's blocks of the flow input: ``tomocupy`` (the scan and where this run
writes) and ``tomocupy_endpoint_config`` (the batch job), and the folder decided for the run."""

# No ``from __future__ import annotations``: TypedDict reads NotRequired from real annotations.
from pathlib import PurePosixPath
from typing import Any, Mapping, NotRequired, TypedDict, cast

from tomocupy_gladier import __version__
from tomocupy_gladier.compute.multiscale import volume_formats, zarr_options
from tomocupy_gladier.experiment.compute_endpoints import user_endpoint_config
from tomocupy_gladier.experiment.config import ExperimentConfig
from tomocupy_gladier.errors import UserError
from tomocupy_gladier.tools.output_folders import run_logs_folder, tomocupy_output
from tomocupy_gladier.tools.publish.config import publish_config
from tomocupy_gladier.tools.step import RunFacts, ScanLocation


class TomocupyBlock(TypedDict):
    """``tomocupy``: the scan and where this run writes (POSIX paths on the compute nodes)."""

    file_name: str
    output: str
    logs: str
    timeout: NotRequired[float | None]  # seconds before tomocupy is stopped
    zarr: dict[str, Any]  # the experiment's [zarr] section, as given ({}: the endpoint's defaults)
    axis: NotRequired[dict[str, Any]]  # how the axis was decided (compute.axis.axis_block)
    formats: list[str]  # what a full reconstruction is kept and published as ([publish] formats)


class EndpointConfig(TypedDict, total=False):
    """``tomocupy_endpoint_config``: the ``user_endpoint_config`` every compute step sends
    (:func:`~tomocupy_gladier.experiment.compute_endpoints.user_endpoint_config`): ALCF's
    documented options, or the keys of our endpoint template."""

    queue: str
    account: str
    walltime: str  # HH:MM:SS
    nodes: int  # our template's name
    nodes_per_block: int  # ALCF's
    max_workers_per_node: int
    init_blocks: int
    min_blocks: int
    max_blocks: int
    max_idletime: int
    launcher_type: str
    worker_init: str
    scheduler_options: str
    select_options: str


def endpoint_config_block(config: ExperimentConfig) -> EndpointConfig:
    """The ``tomocupy_endpoint_config`` block: the one configuration of the run's compute steps."""
    return cast(EndpointConfig, user_endpoint_config(config))


def recon_output(location: ScanLocation, recon: Mapping[str, Any]) -> PurePosixPath:
    """POSIX path of the reconstruction of this scan with these parameters (tomocupy's rule)."""
    output = tomocupy_output(location.posix_path, str(recon.get("reconstruction-type", "try")),
                             recon.get("out-path-name"))
    if not output.is_absolute():
        raise UserError(f"out-path-name {str(output)!r} must be an absolute path on the compute endpoint")
    return output


def tomocupy_block(config: ExperimentConfig, location: ScanLocation,
                   output: PurePosixPath) -> TomocupyBlock:
    """The ``tomocupy`` block of a reconstruction of this scan into ``output`` (a try's too)."""
    publish = publish_config(config)
    given = publish.formats if publish is not None else None
    return {"file_name": str(location.posix_path), "output": str(output),
            "logs": str(run_logs_folder(output)), "timeout": config.timeout, "zarr": dict(config.zarr),
            "formats": volume_formats(given, zarr_options(dict(config.zarr)))}


class ReconInput(TypedDict):
    """The reconstruction's keys of the flow input: the parameters, the scan and folders, and the
    compute endpoint, batch job and client version every compute step shares."""

    recon: dict[str, Any]  # tomocupy's options by their command-line names
    tomocupy: TomocupyBlock
    compute_endpoint: str
    tomocupy_endpoint_config: EndpointConfig
    tomocupy_gladier_version: str  # VERSION_FIELD: the client's; the compute endpoint's must be the same


def recon_block(facts: RunFacts) -> ReconInput:
    """The reconstruction's part of the flow input: ``recon`` (without ``out-path-name``, which
    named the folder), ``tomocupy``, the endpoint and its one configuration (every compute
    step sends it: one user endpoint, one batch job for the whole run), the client's version."""
    config = facts.config
    return {
        "recon": {k: v for k, v in facts.recon.items() if k != "out-path-name"},
        "tomocupy": tomocupy_block(config, facts.location, facts.output),
        "compute_endpoint": config.compute_endpoint,
        "tomocupy_endpoint_config": endpoint_config_block(config),
        "tomocupy_gladier_version": __version__,  # the endpoint library's must be the same
    }
