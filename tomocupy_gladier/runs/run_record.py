"""A flow run as either backend reports it: status, whether it is over, each step's result.

The local backend and Globus Flows return the same run document (``run_id``, ``status``,
``details.output`` = the run state, ``details.code``/``description`` on failure); this is the
one place that reads it. Step names are Gladier's (``get_compute_flow_state_name``), taken
from the compute functions, not written out by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence, cast

from gladier.utils.name_generation import get_compute_flow_state_name
from gladier_tools.publish.publishv2 import publishv2_gather_metadata

from tomocupy_gladier.compute.disk_space import DISK_FULL
from tomocupy_gladier.local import flow_rules
from tomocupy_gladier.runs.step_results import PreviewsResult, ReconResult
from tomocupy_gladier.tools.metadata.scan_metadata import METADATA_STATE
from tomocupy_gladier.tools.previews.previews import PREVIEWS_STATE
from tomocupy_gladier.tools.recon.tomocupy_recon import RECON_STATE
from tomocupy_gladier.tools.registry import STEPS
from tomocupy_gladier.tools.return_data.results import sent_back

__all__ = ["GATHER_STATE", "METADATA_STATE", "PREVIEWS_STATE", "RECON_STATE", "RunRecord"]
GATHER_STATE = get_compute_flow_state_name(publishv2_gather_metadata)

# Flows' run statuses that never change again: one definition, with the Flows language's rules
FINAL_STATUSES = flow_rules.FINAL_STATUSES


@dataclass(frozen=True)
class RunRecord:
    """One run's document, read-only."""

    raw: Mapping[str, Any]

    @property
    def run_id(self) -> str:
        return str(self.raw.get("run_id"))

    @property
    def status(self) -> str:
        return str(self.raw.get("status"))

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"

    @property
    def state(self) -> Mapping[str, Any]:
        """The run state: the flow input under ``input`` and each step's result by state name."""
        return (self.raw.get("details") or {}).get("output") or {}

    @property
    def flow_input(self) -> Mapping[str, Any]:
        return self.state.get("input") or {}

    def result(self, state: str) -> dict[str, Any]:
        """A compute step's return value (``details.results[0].output``), or {} if it has none."""
        try:
            return dict(self.state[state]["details"]["results"][0]["output"] or {})
        except (KeyError, IndexError, TypeError):
            return {}

    @property
    def recon_result(self) -> ReconResult:
        """The reconstruction step's result ({} when it has none)."""
        return cast(ReconResult, self.result(RECON_STATE))

    @property
    def previews_result(self) -> PreviewsResult:
        """The previews step's result ({} when it has none)."""
        return cast(PreviewsResult, self.result(PREVIEWS_STATE))

    @property
    def metadata_result(self) -> dict[str, Any]:
        """The metadata step's result ({} when it has none)."""
        return self.result(METADATA_STATE)

    @property
    def sent_back(self) -> Mapping[str, Any] | None:
        """Where this run's results were sent back (the return step's request: ``source``,
        ``destination``); None when they were not."""
        return sent_back(self.state)

    @property
    def caught_failure(self) -> Mapping[str, Any]:
        """``{state, error, cause}`` of the step whose failure the flow caught (a step's
        ``caught_failure``: the email's, which catches every failure to send it); {} when no
        step failed or nothing caught it."""
        for step in STEPS:
            caught = step.caught_failure(self.state) if step.caught_failure else {}
            if caught:
                return caught
        return {}

    @property
    def failed_state(self) -> str | None:
        """The step that failed: as the flow recorded it, else as the run's details name it."""
        if self.status != "FAILED":
            return None
        details = self.raw.get("details") or {}
        return self.caught_failure.get("state") or details.get("state_name")

    @property
    def failure(self) -> str | None:
        """``CODE: description`` of a failed run, without empty parts; None otherwise.

        A failure the flow caught (to email it) ends in ``RunFailed``, whose ``ErrorPath`` and
        ``CausePath`` make these the failing step's own error and cause.
        """
        if self.status != "FAILED":
            return None
        details = self.raw.get("details") or {}
        parts = [str(p) for p in (details.get("code"), details.get("description")) if p]
        text = ": ".join(parts) or "no reason given"
        return text + self._full_collection(text)

    def _full_collection(self, failure: str) -> str:
        """Which of the experiment's collections a full disk (:data:`DISK_FULL`) was on: the
        one the message names (a transfer's destination), else the facility (the compute steps
        write only there)."""
        if DISK_FULL not in failure:
            return ""
        data = self.flow_input
        publish = data.get("publishv2") or {}
        back = (data.get("return_data") or {}).get("destination") or {}
        facility = publish.get("source_collection") or (data.get("destination") or {}).get("id")
        for section, collection in (("publish", publish.get("destination_collection")),
                                    ("return", back.get("id")), ("facility", facility)):
            if collection and str(collection) in failure:
                return f" (the experiment's [{section}] collection)"
        return f" (on collection {facility}, the experiment's [facility])" if facility else ""


    @property
    def warnings(self) -> list[str]:
        """What went wrong without failing the run, as the steps' states left it (a step's
        ``warnings``: a success email that was not sent)."""
        return [warning for step in STEPS if step.warnings for warning in step.warnings(self.state)]

    @property
    def outcomes(self) -> list[str]:
        """What the steps did beside the run's result, as their states left it (a step's
        ``outcomes``: ``removed after publication: ...``), one line each."""
        return [line for step in STEPS if step.outcomes for line in step.outcomes(self.state)]


def logged_result(entries: Sequence[Mapping[str, Any]], state: str) -> dict[str, Any]:
    """A compute step's return value from the run log (its latest ``ActionCompleted`` entry),
    for a run still going on, whose state neither backend reports; {} when there is none."""
    for entry in reversed(entries):
        details = entry.get("details") or {}
        if entry.get("code") == "ActionCompleted" and details.get("state_name") == state:
            try:
                return dict(details["output"]["details"]["results"][0]["output"] or {})
            except (KeyError, IndexError, TypeError):
                return {}
    return {}


def run_log_entries(client: Any, run_id: str) -> list[dict]:
    """The run's log entries (FlowStarted, ActionStarted, ...) from whichever backend runs it."""
    manager = client.flows_manager
    if hasattr(manager, "get_run_logs"):
        return list(manager.get_run_logs(run_id))
    response = manager.flows_client.get_run_logs(run_id, limit=100)
    return list(response.get("entries", []))
