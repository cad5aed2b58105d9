"""Run Globus flows on this machine, with no Globus account or network.

This package knows nothing of Gladier: :mod:`tomocupy_gladier.clients.gladier_local` plugs a Gladier
client into it (``local_client(MyGladierClient, backend)``).

Entry points:

* :class:`LocalBackend` -- owns the run store, function registry, search index and action
  providers.
* :class:`FlowRunner` -- the Globus Flows language interpreter (:mod:`.interpreter`; Choice
  rules in :mod:`.choice`), usable on its own with action providers (:mod:`.actions`: the
  interface, :mod:`.providers`: Transfer, Compute, Search ingest, notification email).
* :func:`validate_definition` -- the static check of a flow definition (the rules Globus
  Flows applies, :mod:`.flow_rules`; :func:`check_definition` lists every problem).
"""

from .backend import LocalBackend
from .definition import validate_definition
from .flow_rules import FINAL_STATUSES, Problem, check_definition
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
from .actions import ActionRegistry, ActionRequest, ActionResult
from .interpreter import FlowRunner, RunOutcome
from .store import RunStore

__all__ = [
    "FINAL_STATUSES", "LocalBackend", "validate_definition", "check_definition", "Problem",
    "ActionFailedException",
    "ActionTimeout", "ActionUnableToRun", "DefinitionError", "FlowError",
    "InputValidationError", "InvalidRequest", "UnknownFlowError", "UnknownRunError",
    "ActionRegistry", "ActionRequest", "ActionResult", "FlowRunner", "RunOutcome", "RunStore",
]
