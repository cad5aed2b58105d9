"""The tomocupy reconstruction step: its Globus Compute function and its Gladier tool."""

from __future__ import annotations

from gladier import GladierBaseTool, generate_flow_definition
from gladier.utils.name_generation import get_compute_flow_state_name

from tomocupy_gladier.compute import recon as recon_library
from tomocupy_gladier.experiment.limits import RECON_WAIT_TIME
from tomocupy_gladier.action_urls import COMPUTE_V3_URL


def tomocupy_recon(recon: dict | None = None, tomocupy: dict | None = None,
                   run_id: str | None = None, **data: object) -> dict:
    """The shim of :func:`tomocupy_gladier.compute.recon.reconstruct` (its docstring becomes this one)."""
    # Only this function's source reaches the endpoint: the work is in the installed library,
    # which must be the client's version (``data["tomocupy_gladier_version"]``).
    from tomocupy_gladier.compute import VERSION_FIELD, check_version, on_worker
    from tomocupy_gladier.compute.recon import reconstruct

    check_version(data.get(VERSION_FIELD))
    return on_worker(reconstruct(recon=recon, tomocupy=tomocupy, run_id=run_id))


# Gladier makes the state's Comment from the function's docstring: the library's full one
tomocupy_recon.__doc__ = recon_library.reconstruct.__doc__


RUN_ID_PATH = "$._context.run_id"


def tomocupy_recon_tasks() -> list[dict]:
    """The Compute v3 ``tasks``: the flow input's ``recon`` and ``tomocupy`` blocks and the run id
    (which names the staging folder and the log of this run)."""
    return [{"function_id.$": "$.input.tomocupy_recon_function_id",
             "kwargs": {"recon.$": "$.input.recon", "tomocupy.$": "$.input.tomocupy",
                        "run_id.$": RUN_ID_PATH}}]


@generate_flow_definition(
    modifiers={
        tomocupy_recon: {
            "tasks": tomocupy_recon_tasks(),
            "endpoint_id": "compute_endpoint",
            "user_endpoint_config": "tomocupy_endpoint_config",
            "WaitTime": RECON_WAIT_TIME,
        }
    }
)
class TomocupyRecon(GladierBaseTool):
    """Reconstruct the scan with tomocupy on the compute endpoint (Compute v3 action provider).

    The per-run ``tomocupy_endpoint_config`` (queue, account, walltime, nodes) reaches the
    endpoint's PBS template as ``user_endpoint_config``.
    """

    action_url = COMPUTE_V3_URL
    compute_functions = [tomocupy_recon]
    required_input = ["recon", "tomocupy", "compute_endpoint", "tomocupy_endpoint_config"]


RECON_STATE = get_compute_flow_state_name(tomocupy_recon)
"""The name Gladier gives this step's state in a flow (and in a run's record)."""
