"""Run Gladier-generated Globus flows on this machine, with no Globus account or network.

Entry points:

* :class:`LocalBackend` -- owns the run store, function registry, search index and action
  providers; ``backend.client(MyGladierClient)`` gives a Gladier client running on it.
* :class:`FlowRunner` -- the Globus Flows language interpreter, usable on its own.
* :func:`validate_definition` -- the static check of a flow definition (the rules Globus
  Flows applies, :mod:`.flow_rules`; :func:`check_definition` lists every problem).
"""

from .backend import FINAL_STATUSES, LocalBackend
from .definition import validate_definition
from .flow_rules import Problem, check_definition
from .errors import (
    ActionFailedException,
    ActionTimeout,
    ActionUnableToRun,
    DefinitionError,
    FlowError,
    InputValidationError,
    InvalidRequest,
    UnknownFlowError,
    UnknownRunError,
)
from .runner import ActionRegistry, ActionRequest, ActionResult, FlowRunner, RunOutcome
from .store import RunStore

_GLADIER_NAMES = ("LocalComputeManager", "LocalFlowsManager", "LocalLoginManager", "local_client")


def __getattr__(name: str):
    # The Gladier managers import gladier (seconds); load them only when asked for.
    if name in _GLADIER_NAMES:
        from . import managers

        return getattr(managers, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FINAL_STATUSES", "LocalBackend", "validate_definition", "check_definition", "Problem",
    "ActionFailedException",
    "ActionTimeout", "ActionUnableToRun", "DefinitionError", "FlowError",
    "InputValidationError", "InvalidRequest", "UnknownFlowError", "UnknownRunError",
    "LocalComputeManager", "LocalFlowsManager", "LocalLoginManager", "local_client",
    "ActionRegistry", "ActionRequest", "ActionResult", "FlowRunner", "RunOutcome", "RunStore",
]
