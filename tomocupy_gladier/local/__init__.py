"""Run Gladier-generated Globus flows on this machine, with no Globus account or network.

Entry points:

* :class:`LocalBackend` -- owns the run store, function registry, search index and action
  providers; ``backend.client(MyGladierClient)`` gives a Gladier client running on it.
* :class:`FlowRunner` -- the Globus Flows language interpreter, usable on its own.
* :func:`validate_definition` -- the static check of a flow definition.
"""

from .backend import FINAL_STATUSES, LocalBackend
from .definition import validate_definition
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
from .managers import LocalComputeManager, LocalFlowsManager, LocalLoginManager, local_client
from .runner import ActionRegistry, ActionRequest, ActionResult, FlowRunner, RunOutcome
from .store import RunStore

__all__ = [
    "FINAL_STATUSES", "LocalBackend", "validate_definition", "ActionFailedException",
    "ActionTimeout", "ActionUnableToRun", "DefinitionError", "FlowError",
    "InputValidationError", "InvalidRequest", "UnknownFlowError", "UnknownRunError",
    "LocalComputeManager", "LocalFlowsManager", "LocalLoginManager", "local_client",
    "ActionRegistry", "ActionRequest", "ActionResult", "FlowRunner", "RunOutcome", "RunStore",
]
