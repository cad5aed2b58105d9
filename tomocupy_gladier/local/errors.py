"""Error types of the local backend.

Names of the errors raised *inside* a run follow the Globus Flows language, so that ``Catch``
clauses written for production (``ActionTimeout``, ``ActionFailedException``,
``ActionUnableToRun``, ``States.ALL``) behave the same locally.
"""

from __future__ import annotations

from typing import Any, Collection

from tomocupy_gladier.errors import UserError

# Gladier is not imported here: it takes seconds, and worker processes do not need it.
# Through a Gladier client these errors arrive as subclasses that are also
# gladier.exc.ConfigException (see tomocupy_gladier/clients/gladier_local.py).


class LocalBackendError(UserError):
    """Base class of every error the local backend raises to its caller (a clear message,
    shown to a user without a traceback)."""


class DefinitionError(LocalBackendError, ValueError):
    """A flow definition is not valid; the message names the offending state."""


class InputValidationError(LocalBackendError, ValueError):
    """A run input violates the flow's input schema; no run is created (Flows answers 400)."""


class _UnknownError(LocalBackendError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class UnknownRunError(_UnknownError):
    """No run with this id exists in the store."""


class SelectionError(LocalBackendError):
    """A choice that cannot be made: the run waits for none, or offers no such option."""


class UnknownFlowError(_UnknownError):
    """No flow with this id exists in the store."""


class FlowError(Exception):
    """An error raised while a run executes; it can be caught by a state's ``Catch``.

    :param error: the error name matched against ``ErrorEquals`` (e.g. ``ActionTimeout``)
    :param cause: a human readable reason
    :param details: extra structured data (e.g. a failed action's ``details``)
    """

    def __init__(self, error: str, cause: str, details: Any = None) -> None:
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause
        self.details = details

    def as_result(self) -> dict:
        """The object a ``Catch`` writes at its ``ResultPath``."""
        result = {"Error": self.error, "Cause": self.cause}
        if self.details is not None:
            result["details"] = self.details
        return result


class ActionUnableToRun(FlowError):
    """An action could not be started: unknown ActionUrl or invalid parameters."""

    def __init__(self, cause: str, details: Any = None) -> None:
        super().__init__("ActionUnableToRun", cause, details)


class ActionTimeout(FlowError):
    """An action did not complete within its state's ``WaitTime``."""

    def __init__(self, cause: str, details: Any = None) -> None:
        super().__init__("ActionTimeout", cause, details)


class ActionFailedException(FlowError):
    """An action ended FAILED while ``ExceptionOnActionFailure`` was true."""

    def __init__(self, cause: str, details: Any = None) -> None:
        super().__init__("ActionFailedException", cause, details)


class StatesRuntime(FlowError):
    """A path or expression outside an action's parameters could not be evaluated."""

    def __init__(self, cause: str, details: Any = None) -> None:
        super().__init__("States.Runtime", cause, details)


class ProviderError(Exception):
    """Raised by an action provider when the request itself is invalid (bad path, unknown
    collection, missing function). The runner reports it as the action FAILING with this
    reason, not as ``ActionUnableToRun``, because the provider accepted the request."""


class InvalidRequest(Exception):
    """Raised by an action provider when the parameters do not match its input schema;
    the runner reports it as ``ActionUnableToRun``."""


def request_object(value: Any, known: Collection[str], what: str) -> dict:
    """``value`` when it is an object with only ``known`` fields (as the hosted providers' input
    schemas allow); :class:`InvalidRequest` naming ``what`` (e.g. ``"a transfer request"``,
    ``"DATA[0]"``) otherwise."""
    if not isinstance(value, dict):
        raise InvalidRequest(f"{what} must be an object")
    unknown = set(value) - set(known)
    if unknown:
        raise InvalidRequest(f"{what} has unknown fields {sorted(unknown)}; known: {sorted(known)}")
    return value
