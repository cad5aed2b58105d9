"""The interactive loop's own steps: a try, its montage published, the choice of the centre.

``TomocupyInteractiveFlow`` (flows/tomocupy_flow.py, from the registered steps) puts them between the scan transfer
and the full reconstruction:

- ``TryRecon`` / ``TryPreviews``: the same compute functions as ``TomocupyRecon`` and
  ``MakePreviews``, on the try's parameters and folder (``input.interactive.try_recon`` and
  ``try_tomocupy``), under their own state names.
- ``PublishMontage``: a Transfer of the try's previews folder to the publication collection
  (a Choice on ``input.interactive.montage.enable``), as a try run publishes its previews.
- ``MakeChoiceOptions``: a compute function that turns the previews' result into the options of
  Globus' "Wait For User Selection" action provider: the suggested centre and the best-ranked
  candidates, each with the full reconstruction's parameters at that centre.
- ``WaitForChoice``: that action provider; ``ChosenCentre`` (ExpressionEval) then reads the
  chosen option's parameters by its name, and the full reconstruction reads them from there.
"""

from __future__ import annotations

from typing import Any

from gladier import GladierBaseTool, generate_flow_definition

from tomocupy_gladier.action_urls import COMPUTE_V3_URL, TRANSFER_URL, WAIT_FOR_OPTION_URL
from tomocupy_gladier.compute import choice as choice_library
from tomocupy_gladier.experiment.limits import (
    CHOICE_WAIT_TIME,
    RECON_WAIT_TIME,
    STEP_WAIT_TIME,
    TRANSFER_WAIT_TIME,
)
from tomocupy_gladier.tools.transfer.tool import LOCATE_STATE, SCAN_FILE_STATE, SYNC_CHECKSUM

WEBOPTION_SCOPE = ("https://auth.globus.org/scopes/5fac2e64-c734-4e6b-90ea-ff12ddbf9653/"
                   "weboption_wait_for_option")

TRY_RECON_STATE = "TryRecon"
TRY_PREVIEWS_STATE = "TryPreviews"
CHOICE_OPTIONS_STATE = "MakeChoiceOptions"
WAIT_STATE = "WaitForChoice"
CHOSEN_STATE = "ChosenCentre"
CHOSEN_RECON_PATH = f"$.{CHOSEN_STATE}.recon"
TRY_SCAN_FILE_STATE = "TryScanFile"


def make_choice_options(previews_result: dict | None = None, recon: dict | None = None,
                        interactive: dict | None = None, run_id: str | None = None,
                        user_id: str | None = None, **data: object) -> dict:
    """The shim of :func:`tomocupy_gladier.compute.choice.make_choice_options` (its docstring becomes this one)."""
    # Only this function's source reaches the endpoint: the work is in the installed library,
    # which must be the client's version (``data["tomocupy_gladier_version"]``).
    from tomocupy_gladier.compute import VERSION_FIELD, check_version, on_worker
    from tomocupy_gladier.compute.choice import make_choice_options as options_of

    check_version(data.get(VERSION_FIELD))
    return on_worker(options_of(previews_result=previews_result, recon=recon, interactive=interactive,
                                run_id=run_id, user_id=user_id))


# Gladier makes the state's Comment from the function's docstring: the library's full one
make_choice_options.__doc__ = choice_library.make_choice_options.__doc__


def make_choice_options_tasks() -> list[dict[str, Any]]:
    """The Compute v3 ``tasks`` of ``make_choice_options``: the try's previews, the full
    reconstruction's parameters, the interactive block and the run id."""
    return [{"function_id.$": "$.input.make_choice_options_function_id",
             "kwargs": {"previews_result.$": f"$.{TRY_PREVIEWS_STATE}.details.results[0].output",
                        "recon.$": "$.input.recon", "interactive.$": "$.input.interactive",
                        "run_id.$": "$._context.run_id", "user_id.$": "$._context.user_id"}}]


@generate_flow_definition(modifiers={make_choice_options: {
    "endpoint_id": "compute_endpoint", "tasks": make_choice_options_tasks(),
    "user_endpoint_config": "tomocupy_endpoint_config", "WaitTime": STEP_WAIT_TIME}})
class ChoiceOptions(GladierBaseTool):
    """The options offered to the scientist, made from the try's previews (Compute v3)."""

    action_url = COMPUTE_V3_URL
    compute_functions = [make_choice_options]
    required_input = ["interactive", "compute_endpoint"]


def _compute_state(comment: str, function_id: str, kwargs: dict[str, str], result: str,
                   wait: int, next_state: str) -> dict[str, Any]:
    return {
        "Comment": comment,
        "Type": "Action",
        "ActionUrl": COMPUTE_V3_URL,
        "Parameters": {
            "endpoint_id.$": "$.input.compute_endpoint",
            "tasks": [{"function_id.$": f"$.input.{function_id}", "kwargs": kwargs}],
            "user_endpoint_config.$": "$.input.tomocupy_endpoint_config",
        },
        "ResultPath": f"$.{result}",
        "WaitTime": wait,
        "ExceptionOnActionFailure": True,
        "Next": next_state,
    }


def _try_definition() -> dict:
    try_input = {"recon.$": "$.input.interactive.try_recon",
                 "tomocupy.$": "$.input.interactive.try_tomocupy", "run_id.$": "$._context.run_id"}
    return {
        "Comment": "A try reconstruction, its previews and its montage published",
        "StartAt": TRY_RECON_STATE,
        "States": {
            TRY_RECON_STATE: _compute_state(
                "Reconstruct one slice for a range of centres (input.interactive.try_recon)",
                "tomocupy_recon_function_id", try_input, TRY_RECON_STATE, RECON_WAIT_TIME,
                TRY_PREVIEWS_STATE),
            TRY_PREVIEWS_STATE: _compute_state(
                "The try's montage, suggested centre and ranked candidates",
                "make_previews_function_id",
                {"tomocupy.$": "$.input.interactive.try_tomocupy",
                 "recon.$": "$.input.interactive.try_recon",
                 "recon_result.$": f"$.{TRY_RECON_STATE}.details.results[0].output",
                 "previews.$": "$.input.previews", "run_id.$": "$._context.run_id"},
                TRY_PREVIEWS_STATE, STEP_WAIT_TIME, "PublishMontageChoice"),
            "PublishMontageChoice": {
                "Comment": "Publish the montage only when input.interactive.montage.enable is true",
                "Type": "Choice",
                "Choices": [{"Variable": "$.input.interactive.montage.enable", "BooleanEquals": True,
                             "Next": "PublishMontage"}],
                "Default": "PublishMontageSkipped",
            },
            "PublishMontage": {
                "Comment": "Copy the try's previews folder to the publication collection",
                "Type": "Action",
                "ActionUrl": TRANSFER_URL,
                "Parameters": {
                    "source_endpoint.$": "$.input.interactive.montage.source.id",
                    "destination_endpoint.$": "$.input.interactive.montage.destination.id",
                    "label": "tomocupy-gladier: try montage",
                    "sync_level": SYNC_CHECKSUM,
                    "verify_checksum": True,
                    "delete_destination_extra": True,
                    "DATA": [{"source_path.$": "$.input.interactive.montage.source.path",
                              "destination_path.$": "$.input.interactive.montage.destination.path",
                              "recursive": True}],
                },
                "ResultPath": "$.PublishMontage",
                "WaitTime": TRANSFER_WAIT_TIME,
                "End": True,
            },
            "PublishMontageSkipped": {
                "Comment": "No publication collection: the montage stays at the facility",
                "Type": "Pass",
                "Result": {"skipped": True, "reason": "interactive.montage.enable is false"},
                "ResultPath": "$.PublishMontage",
                "End": True,
            },
        },
    }


class TryReconstruction(GladierBaseTool):
    """The try: TomocupyRecon's and MakePreviews' functions on the try's parameters and folder,
    then its previews published (their function ids come from those tools)."""

    flow_definition = _try_definition()
    required_input = ["interactive", "compute_endpoint", "tomocupy_endpoint_config", "previews"]
    flow_transition_states = ["PublishMontage", "PublishMontageSkipped"]


def _wait_definition() -> dict:
    options = f"$.{CHOICE_OPTIONS_STATE}.details.results[0].output"
    return {
        "Comment": "Wait for the scientist's choice of the rotation axis",
        "StartAt": WAIT_STATE,
        "States": {
            WAIT_STATE: {
                "Comment": "The suggested centre and the best-ranked candidates, each at its own URL, "
                           "and a landing page listing them",
                "Type": "Action",
                "ActionUrl": WAIT_FOR_OPTION_URL,
                "Parameters": {"options.$": f"{options}.options",
                               "landing_page.$": f"{options}.landing_page"},
                "ResultPath": f"$.{WAIT_STATE}",
                "WaitTime": CHOICE_WAIT_TIME,
                "ExceptionOnActionFailure": True,
                "Next": CHOSEN_STATE,
            },
            CHOSEN_STATE: {
                "Comment": "The chosen option's centre and full-reconstruction parameters, by its name",
                "Type": "ExpressionEval",
                "Parameters": {
                    "option.$": f"$.{WAIT_STATE}.details.name",
                    "center.=": f"{CHOICE_OPTIONS_STATE}.details.results[0].output.centers"
                                f"[{WAIT_STATE}.details.name]",
                    "recon.=": f"{CHOICE_OPTIONS_STATE}.details.results[0].output.recon"
                               f"[{WAIT_STATE}.details.name]",
                },
                "ResultPath": f"$.{CHOSEN_STATE}",
                "End": True,
            },
        },
    }


class WaitForChoice(GladierBaseTool):
    """Globus' "Wait For User Selection" action provider on the options ``MakeChoiceOptions``
    made; ``ChosenCentre`` then holds the chosen centre and parameters."""

    flow_definition = _wait_definition()
    required_input = ["interactive"]
    flow_transition_states = [CHOSEN_STATE]


def read_the_chosen_parameters(definition: dict[str, Any], client: Any = None) -> None:
    """After the choice, every compute step reads the chosen parameters
    (``$.ChosenCentre.recon``), not the input's: each task that reads ``$.input.recon``, other
    than the one that makes the options from them (``MakeChoiceOptions``)."""
    for name, state in definition["States"].items():
        if name == CHOICE_OPTIONS_STATE or state.get("Type") != "Action":
            continue
        for task in (state.get("Parameters") or {}).get("tasks") or []:
            kwargs = task.get("kwargs")
            if isinstance(kwargs, dict) and kwargs.get("recon.$") == "$.input.recon":
                kwargs["recon.$"] = CHOSEN_RECON_PATH


def try_reads_the_scan_file(definition: dict[str, Any], client: Any = None) -> None:
    """The try reads the same scan file that ``LocateScan`` names (a start form types it once):
    a Pass state after ``ScanFile`` writes it into ``input.interactive.try_tomocupy``."""
    states = definition["States"]
    scan_file = states.get(SCAN_FILE_STATE)
    if scan_file is None or TRY_RECON_STATE not in states:
        return
    states[TRY_SCAN_FILE_STATE] = {
        "Type": "Pass",
        "Comment": "The scan file the try reads: the same as the full reconstruction's",
        "InputPath": f"$.{LOCATE_STATE}.file_name",
        "ResultPath": "$.input.interactive.try_tomocupy.file_name",
        "Next": scan_file["Next"],
    }
    scan_file["Next"] = TRY_SCAN_FILE_STATE
