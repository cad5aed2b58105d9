"""PNG previews of a reconstruction, and the rotation-axis suggestion from a try run."""

from __future__ import annotations

from typing import Any

from gladier import GladierBaseTool, generate_flow_definition
from gladier.utils.name_generation import get_compute_flow_state_name

from tomocupy_gladier.compute import previews as previews_library
from tomocupy_gladier.action_urls import COMPUTE_V3_URL
from tomocupy_gladier.tools.recon.tomocupy_recon import tomocupy_recon


def make_previews(tomocupy: dict | None = None, recon: dict | None = None,
                  recon_result: dict | None = None, previews: dict | None = None,
                  run_id: str | None = None, **data: object) -> dict:
    """The shim of :func:`tomocupy_gladier.compute.previews.make_previews` (its docstring becomes this one)."""
    # Only this function's source reaches the endpoint: the work is in the installed library,
    # which must be the client's version (``data["tomocupy_gladier_version"]``).
    from tomocupy_gladier.compute import VERSION_FIELD, check_version, on_worker
    from tomocupy_gladier.compute.previews import make_previews as previews_of

    check_version(data.get(VERSION_FIELD))
    return on_worker(previews_of(tomocupy=tomocupy, recon=recon, recon_result=recon_result,
                                 previews=previews, run_id=run_id))


# Gladier makes the state's Comment from the function's docstring: the library's full one
make_previews.__doc__ = previews_library.make_previews.__doc__


@generate_flow_definition(modifiers={make_previews: {"endpoint_id": "compute_endpoint"}})
class Previews(GladierBaseTool):
    """PNG previews of the reconstruction; for a try run, the suggested rotation axis (Compute v3).

    Pass TomocupyRecon's result with a ``tasks`` modifier (see ``make_previews_tasks``);
    with the default ``$.input`` kwargs the output is found by tomocupy's naming convention.
    """

    action_url = COMPUTE_V3_URL
    compute_functions = [make_previews]
    required_input = ["tomocupy", "compute_endpoint"]


def make_previews_tasks(recon_state: str = get_compute_flow_state_name(tomocupy_recon),
                        with_options: bool = False) -> list[dict[str, Any]]:
    """The Compute v3 ``tasks`` value for ``make_previews``:
    ``modifiers={make_previews: {"tasks": make_previews_tasks()}}``.

    ``with_options`` also passes ``$.input.previews`` (the flow input must then have it).
    """
    kwargs = {
        "tomocupy.$": "$.input.tomocupy",
        "recon.$": "$.input.recon",
        "recon_result.$": f"$.{recon_state}.details.results[0].output",
        "run_id.$": "$._context.run_id",
    }
    if with_options:
        kwargs["previews.$"] = "$.input.previews"
    return [{"function_id.$": "$.input.make_previews_function_id", "kwargs": kwargs}]


PREVIEWS_STATE = get_compute_flow_state_name(make_previews)
"""The name Gladier gives this step's state in a flow (and in a run's record)."""
