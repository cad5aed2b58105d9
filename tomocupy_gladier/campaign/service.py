"""The run service a campaign talks to, and the errors it may raise.

A :class:`RunService` is the smallest surface the runner needs: start a run, read a
run, find runs by tag. Implementations turn their own errors into the three kinds
below so the runner never has to know which backend it is driving.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from tomocupy_gladier.runs.run_record import FINAL_STATUSES as TERMINAL_STATUSES  # one definition
from tomocupy_gladier.runs.run_record import RunRecord


class ServiceError(Exception):
    """Base of the errors a run service raises."""


class TransientError(ServiceError):
    """The request did not take effect and may be repeated after a pause.

    ``retry_after`` is the pause the service asked for (seconds), if any.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AmbiguousError(TransientError):
    """The request may or may not have taken effect (a 5xx or a dropped connection).

    Repeating a read is harmless; a submission must be reconciled first.
    """


class PermanentError(ServiceError):
    """The request was refused for a reason that repeating it will not fix."""


class NotFoundError(PermanentError):
    """The run does not exist (any more) at the service."""


class AuthError(PermanentError):
    """Not logged in, or not allowed (401/403): a problem of the whole campaign, not of a job."""


@runtime_checkable
class RunService(Protocol):
    """Start and follow flow runs."""

    def submit(self, body: Mapping[str, Any], label: str, tags: list[str]) -> str:
        """Start a run with flow input ``body``; return its run id."""
        ...

    def status(self, run_id: str) -> dict[str, Any]:
        """The run record: at least ``run_id`` and ``status``; ``details`` when it failed."""
        ...

    def find_runs(self, tag: str) -> list[dict[str, Any]]:
        """Every run (record) carrying ``tag``, oldest first."""
        ...


def failure_reason(record: Mapping[str, Any]) -> str:
    """A one-line reason from a failed run record (as :attr:`RunRecord.failure` reads it)."""
    details = record.get("details") or {}
    if not isinstance(details, Mapping):
        return str(details)[:500]
    if record.get("status") == "FAILED":
        return str(RunRecord(record).failure)[:500]
    parts = [str(details.get(k)) for k in ("code", "description") if details.get(k)]
    return (": ".join(parts) or str(record.get("status", "FAILED")))[:500]
