"""What sending back leaves in a run's state: whether this run's results went back, and where."""

from __future__ import annotations

from typing import Any, Mapping

from tomocupy_gladier.tools.metadata.scan_metadata import METADATA_STATE

RETURN_STATE = "ReturnData"
"""The state that copies the results back (``tool.py``); ``ReturnDataSkipped`` when off."""


def sent_back(state: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The return step's request (``source``, ``destination``) when a run (its state) sent its
    results back; None when the step was skipped, failed or has not run. The request is the
    metadata step's (``compute/metadata.py``'s ``return_request``), which knows the run's folders."""
    step = state.get(RETURN_STATE)
    if not isinstance(step, Mapping) or step.get("status") != "SUCCEEDED":
        return None
    try:
        request = state[METADATA_STATE]["details"]["results"][0]["output"].get("return_data") or {}
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
    return request if request.get("enable") else None
