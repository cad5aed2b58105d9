"""Removing what ``[retention]`` allows once the run's publication is verified: a Choice on an
explicit flag, a compute task that decides the targets, and Transfer's delete action provider.

The flow input's ``retention`` block says whether (``enable``: some rule is ``"after-publish"``)
and which rules (``raw``, ``reconstruction``). ``RetentionTargets`` (Compute v3, the run's one
endpoint configuration, so no second batch job) runs :func:`retention_targets`, the shim of
:func:`tomocupy_gladier.compute.retention.after_publish_targets`, which checks the publication
and decides what goes: it removes nothing. When it names targets, ``RetentionDelete`` hands
them to Transfer's delete action provider (its request: ``endpoint``, ``DATA`` of
``{"path"}``, ``recursive``, ``ignore_missing``, ``label``, as docs.globus.org's "Transfer
Action Provider: Delete" and globus-sdk's ``DeleteData`` have them), under the run's own Transfer
consents (the facility collection is in the run scope: ``Step.collections``). Every branch
leaves ``$.Retention``: what was removed (the targets, their rule and bytes, the delete task's
id, time and counts), what was kept and why, or why nothing could be.

The step comes after the return step, on the success path only: a run that failed or stopped
before it removes nothing. Its own failures do not fail the run, whose result is published and
verified by then: a delete that fails (Transfer removes one file at a time, so each file is
either there, whole, or gone) or a decision that could not be made ends SUCCEEDED with a
warning (``results.py``) that names what may be left. When the flag is false the flow passes
through ``RetentionSkipped``, which the run log shows.
"""

from __future__ import annotations

from typing import Any

from gladier import GladierBaseTool
from gladier.utils.name_generation import get_compute_flow_state_name

from tomocupy_gladier.action_urls import COMPUTE_V3_URL, TRANSFER_DELETE_URL
from tomocupy_gladier.compute import retention as retention_library
from tomocupy_gladier.experiment.limits import STEP_WAIT_TIME, TRANSFER_WAIT_TIME
from tomocupy_gladier.tools.publish.tool import GATHER_STATE, PUBLISH_TRANSFER_STATE
from tomocupy_gladier.tools.recon.tomocupy_recon import RECON_STATE, RUN_ID_PATH


def retention_targets(retention: dict | None = None, tomocupy: dict | None = None,
                      recon_result: dict | None = None, publishv2: dict | None = None,
                      published: dict | None = None, publication: dict | None = None,
                      scan_source: dict | None = None, scan_copy: dict | None = None,
                      run_id: str | None = None, **data: object) -> dict:
    """The shim of :func:`tomocupy_gladier.compute.retention.after_publish_targets` (its docstring becomes this one)."""
    # Only this function's source reaches the endpoint: the work is in the installed library,
    # which must be the client's version (``data["tomocupy_gladier_version"]``).
    from tomocupy_gladier.compute import VERSION_FIELD, check_version, on_worker
    from tomocupy_gladier.compute.retention import after_publish_targets

    check_version(data.get(VERSION_FIELD))
    return on_worker(after_publish_targets(
        retention=retention, tomocupy=tomocupy, recon_result=recon_result, publishv2=publishv2,
        published=published, publication=publication, scan_source=scan_source, scan_copy=scan_copy,
        run_id=run_id))


# the library's full docstring: what the step does
retention_targets.__doc__ = retention_library.after_publish_targets.__doc__

CHOICE_STATE = "RetentionChoice"
SKIPPED_STATE = "RetentionSkipped"
TARGETS_STATE = get_compute_flow_state_name(retention_targets)
DELETE_CHOICE_STATE = "RetentionDeleteChoice"
KEPT_STATE = "RetentionKept"
DELETE_STATE = "RetentionDelete"
DONE_STATE = "RetentionDone"
NOT_REMOVED_STATE = "RetentionNotRemoved"
UNDECIDED_STATE = "RetentionUndecided"
#: where every branch leaves what the step did (``results.py`` reads it)
RESULT_KEY = "Retention"
ERROR_KEY = "RetentionError"
TARGETS = f"$.{TARGETS_STATE}.details.results[0].output"
DELETE_LABEL = "tomocupy-gladier: removed after publication"


def retention_tasks() -> list[dict[str, Any]]:
    """The Compute v3 ``tasks``: the rules, the scan and folders, the reconstruction's result, the
    publication's request and its Transfer task, where the scan came from (absent in a flow that
    does not copy it, or a run whose publication copied nothing: hence ``getattr``)."""
    return [{"function_id.$": f"$.input.{retention_targets.__name__}_function_id",
             "kwargs": {
                 "retention.$": "$.input.retention",
                 "tomocupy.$": "$.input.tomocupy",
                 "publishv2.$": "$.input.publishv2",
                 "recon_result.$": f"$.{RECON_STATE}.details.results[0].output",
                 "published.$": f"$.{GATHER_STATE}.details.results[0].output.transfer",
                 "publication.=": f"getattr('{PUBLISH_TRANSFER_STATE}', None)",
                 "scan_source.=": "getattr('input.source', None)",
                 "scan_copy.=": "getattr('input.destination', None)",
                 "run_id.$": RUN_ID_PATH,
             }}]


def _decided(**extra: Any) -> dict[str, Any]:
    """The Parameters of a Pass state recording the decision, with ``extra``."""
    return {"kept.$": f"{TARGETS}.kept", "verified.$": f"{TARGETS}.verified",
            "unverified.$": f"{TARGETS}.unverified", **extra}


def _caught(warning: str, **extra: Any) -> dict[str, Any]:
    """A Pass state that records a caught error as a warning and ends the step."""
    return {"Type": "Pass", "Parameters": {"removed": [], "warning": warning,
                                            "error.$": f"$.{ERROR_KEY}.Error",
                                            "cause.$": f"$.{ERROR_KEY}.Cause", **extra},
            "ResultPath": f"$.{RESULT_KEY}", "End": True}


def _catch(next_state: str) -> list[dict[str, Any]]:
    return [{"ErrorEquals": ["States.ALL"], "ResultPath": f"$.{ERROR_KEY}", "Next": next_state}]


def _retention_definition() -> dict[str, Any]:
    return {
        "Comment": "Remove what the [retention] rules allow once the publication is verified",
        "StartAt": CHOICE_STATE,
        "States": {
            CHOICE_STATE: {
                "Comment": "Decide what to remove only when input.retention.enable is true",
                "Type": "Choice",
                # no IsPresent guard: a missing flag fails the run instead of skipping silently
                "Choices": [{"Variable": "$.input.retention.enable", "BooleanEquals": True,
                             "Next": TARGETS_STATE}],
                "Default": SKIPPED_STATE,
            },
            SKIPPED_STATE: {
                "Comment": "No [retention] rule is \"after-publish\": the run removes nothing",
                "Type": "Pass",
                "Result": {"skipped": True, "reason": "retention.enable is false"},
                "ResultPath": f"$.{RESULT_KEY}",
                "End": True,
            },
            TARGETS_STATE: {
                "Comment": "Check the publication and decide what to remove at the facility (removes nothing)",
                "Type": "Action",
                "ActionUrl": COMPUTE_V3_URL,
                "ExceptionOnActionFailure": True,
                "Parameters": {"endpoint_id.$": "$.input.compute_endpoint", "tasks": retention_tasks(),
                               "user_endpoint_config.$": "$.input.tomocupy_endpoint_config"},
                "ResultPath": f"$.{TARGETS_STATE}",
                "WaitTime": STEP_WAIT_TIME,
                "Next": DELETE_CHOICE_STATE,
                "Catch": _catch(UNDECIDED_STATE),
            },
            DELETE_CHOICE_STATE: {
                "Comment": "Delete only what the decision names",
                "Type": "Choice",
                "Choices": [{"Variable": f"{TARGETS}.delete", "BooleanEquals": True, "Next": DELETE_STATE}],
                "Default": KEPT_STATE,
            },
            KEPT_STATE: {
                "Comment": "Nothing to remove: what was kept, and why",
                "Type": "Pass",
                "Parameters": _decided(removed=[]),
                "ResultPath": f"$.{RESULT_KEY}",
                "End": True,
            },
            DELETE_STATE: {
                "Comment": "Delete the decided paths on the facility collection with Transfer",
                "Type": "Action",
                "ActionUrl": TRANSFER_DELETE_URL,
                "Parameters": {
                    "endpoint.$": f"{TARGETS}.request.endpoint",
                    "DATA.$": f"{TARGETS}.request.DATA",
                    "recursive.$": f"{TARGETS}.request.recursive",
                    # the paths were there a moment ago: one that is not is a fault to report
                    "ignore_missing": False,
                    "label": DELETE_LABEL,
                },
                "ResultPath": f"$.{DELETE_STATE}",
                "WaitTime": TRANSFER_WAIT_TIME,
                "Next": DONE_STATE,
                "Catch": _catch(NOT_REMOVED_STATE),
            },
            DONE_STATE: {
                "Comment": "Record what was removed: the targets, their rules, the delete task",
                "Type": "Pass",
                "Parameters": _decided(**{
                    "removed.$": f"{TARGETS}.targets",
                    "task_id.=": f"getattr('{DELETE_STATE}.details.task_id', None)",
                    "completion_time.=": f"getattr('{DELETE_STATE}.completion_time', None)",
                    "files.=": f"getattr('{DELETE_STATE}.details.files', None)",
                    "directories.=": f"getattr('{DELETE_STATE}.details.directories', None)",
                }),
                "ResultPath": f"$.{RESULT_KEY}",
                "End": True,
            },
            NOT_REMOVED_STATE: {
                "Comment": "The delete failed: the published result stands; say what may be left",
                **_caught("the removal after publication failed: each file is either still there, "
                          "whole, or gone; the published copy is verified and intact",
                          **{"not_removed.$": f"{TARGETS}.targets"}),
            },
            UNDECIDED_STATE: {
                "Comment": "What to remove could not be decided: nothing was removed",
                **_caught("what to remove after publication could not be decided: nothing was removed"),
            },
        },
    }


class Retention(GladierBaseTool):
    """Remove the scan's copy and the reconstruction at the facility, as ``[retention]`` allows,
    once the publication is verified (see the module); skipped visibly when off."""

    flow_definition = _retention_definition()
    compute_functions = [retention_targets]
    required_input = ["retention", "compute_endpoint", "tomocupy_endpoint_config"]
    # every branch goes on to the next tool of an extended flow
    flow_transition_states = [SKIPPED_STATE, KEPT_STATE, DONE_STATE, NOT_REMOVED_STATE, UNDECIDED_STATE]
