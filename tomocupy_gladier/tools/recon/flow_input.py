"""The reconstruction's blocks of the flow input: ``tomocupy`` (the scan and where this run
writes) and ``tomocupy_endpoint_config`` (the batch job), and the folder decided for the run."""

# No ``from __future__ import annotations``: TypedDict reads NotRequired from real annotations.
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, Mapping, NotRequired, TypedDict, cast

from tomocupy_gladier.compute.multiscale import volume_formats, zarr_options
from tomocupy_gladier.experiment.compute_endpoints import user_endpoint_config
from tomocupy_gladier.experiment.config import ExperimentConfig
from tomocupy_gladier.errors import UserError
from tomocupy_gladier.tools.output_folders import run_logs_folder, tomocupy_output

if TYPE_CHECKING:
    from tomocupy_gladier.planning.flow_input import ScanLocation


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


def is_try(recon: Mapping[str, Any]) -> bool:
    """Whether these parameters ask for a try (centre search) reconstruction."""
    return str(recon.get("reconstruction-type", "try")).startswith("try")


def recon_output(location: "ScanLocation", recon: Mapping[str, Any]) -> PurePosixPath:
    """POSIX path of the reconstruction of this scan with these parameters (tomocupy's rule)."""
    output = tomocupy_output(location.posix_path, str(recon.get("reconstruction-type", "try")),
                             recon.get("out-path-name"))
    if not output.is_absolute():
        raise UserError(f"out-path-name {str(output)!r} must be an absolute path on the compute endpoint")
    return output


def tomocupy_block(config: ExperimentConfig, location: "ScanLocation",
                   output: PurePosixPath) -> TomocupyBlock:
    """The ``tomocupy`` block of a reconstruction of this scan into ``output`` (a try's too)."""
    given = config.publish.formats if config.publish is not None else None
    return {"file_name": str(location.posix_path), "output": str(output),
            "logs": str(run_logs_folder(output)), "timeout": config.timeout, "zarr": dict(config.zarr),
            "formats": volume_formats(given, zarr_options(dict(config.zarr)))}
