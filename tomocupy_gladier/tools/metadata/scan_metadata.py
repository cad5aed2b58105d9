"""The scan's DXchange metadata and the reconstruction's facts, as Publishv2 ``metadata``."""

from __future__ import annotations

from typing import Any

from gladier import GladierBaseTool, generate_flow_definition
from gladier.utils.name_generation import get_compute_flow_state_name

from tomocupy_gladier.compute import metadata as metadata_library
from tomocupy_gladier.action_urls import COMPUTE_V3_URL
from tomocupy_gladier.tools.recon.tomocupy_recon import tomocupy_recon


def scan_metadata(tomocupy: dict | None = None, recon: dict | None = None,
                  recon_result: dict | None = None, previews_result: dict | None = None,
                  publishv2: dict | None = None, return_data: dict | None = None,
                  run_id: str | None = None, **data: object) -> dict:
    """The shim of :func:`tomocupy_gladier.compute.metadata.scan_metadata` (its docstring becomes this one)."""
    # Only this function's source reaches the endpoint: the work is in the installed library,
    # which must be the client's version (``data["tomocupy_gladier_version"]``).
    from tomocupy_gladier.compute import VERSION_FIELD, check_version, on_worker
    from tomocupy_gladier.compute.metadata import scan_metadata as metadata_of

    check_version(data.get(VERSION_FIELD))
    return on_worker(metadata_of(tomocupy=tomocupy, recon=recon, recon_result=recon_result,
                                 previews_result=previews_result, publishv2=publishv2,
                                 return_data=return_data, run_id=run_id))


# Gladier makes the state's Comment from the function's docstring: the library's full one
scan_metadata.__doc__ = metadata_library.scan_metadata.__doc__


@generate_flow_definition(modifiers={scan_metadata: {"endpoint_id": "compute_endpoint"}})
class ScanMetadata(GladierBaseTool):
    """Read the scan's DXchange metadata and the reconstruction's facts (Compute v3).

    By default the task gets ``$.input`` as keyword arguments; pass the reconstruction's
    result with a ``tasks`` modifier (see ``scan_metadata_tasks``).
    """

    action_url = COMPUTE_V3_URL
    compute_functions = [scan_metadata]
    required_input = ["tomocupy", "compute_endpoint"]


def scan_metadata_tasks(recon_state: str = get_compute_flow_state_name(tomocupy_recon),
                        previews_state: str | None = None) -> list[dict[str, Any]]:
    """The Compute v3 ``tasks`` value that feeds the flow input and earlier results to
    ``scan_metadata``: ``modifiers={scan_metadata: {"tasks": scan_metadata_tasks()}}``."""
    kwargs = {
        "tomocupy.$": "$.input.tomocupy",
        "recon.$": "$.input.recon",
        "publishv2.$": "$.input.publishv2",
        "return_data.$": "$.input.return_data",
        "recon_result.$": f"$.{recon_state}.details.results[0].output",
        "run_id.$": "$._context.run_id",
    }
    if previews_state:
        kwargs["previews_result.$"] = f"$.{previews_state}.details.results[0].output"
    return [{"function_id.$": "$.input.scan_metadata_function_id", "kwargs": kwargs}]


METADATA_STATE = get_compute_flow_state_name(scan_metadata)
"""The name Gladier gives this step's state in a flow (and in a run's record)."""
