"""Email when a run ends: the last step of every flow, through Globus's Send Notification Email.

Added to a Gladier-generated definition by :func:`add_notifications` (so an extended flow gets
it too, after its own last step):

* every state that ended the flow now goes on to ``NotifyChoice``: with ``notify.enable`` the
  run sends ``NotifySucceeded`` (the record and preview links), otherwise it passes through
  ``NotifySkipped``, which the run log shows;
* every Action state catches its errors (``States.ALL``) into ``$.RunFailure``; a Pass state
  ``<State>Failed`` records which step failed, ``NotifyFailureChoice`` sends ``NotifyFailed``
  (the state and the reason) when enabled, and the run ends in the Fail state ``RunFailed``,
  whose ``ErrorPath``/``CausePath`` give the run the failing step's own error and cause, as
  if nothing had caught it. :class:`~tomocupy_gladier.runs.run_record.RunRecord` reads which step
  failed from ``$.RunFailure``.

The action provider (https://docs.globus.org/api/flows/hosted-action-providers/ap-notification-notify/)
is synchronous, needs sending credentials (SMTP or AWS SES) in the request and substitutes
``$name`` in ``body_template`` from ``body_variables``. The SMTP credential's value is read from
``$._private_email_credentials``, a top-level field of the flow input that Flows keeps out of
every view of the run's state (its name starts with ``_private``; the Flows docs' "Protecting
Secrets", and the MDF curation flow Globus published does the same); ``send_credentials`` is
listed in ``__Private_Parameters`` so that the request is not shown either.

A success email that cannot be sent leaves the run SUCCEEDED: ``NotifySucceeded`` catches its
error into ``$.NotifyUnsent`` and ends in ``NotifySucceededUnsent``, which
:attr:`~tomocupy_gladier.runs.run_record.RunRecord.warnings` reports.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from gladier import GladierBaseTool

from tomocupy_gladier.action_urls import NOTIFY_URL
from tomocupy_gladier.experiment.limits import NOTIFY_WAIT_TIME
from tomocupy_gladier.redaction import EMAIL_CREDENTIALS_KEY
from tomocupy_gladier.tools.choice.tool import CHOICE_OPTIONS_STATE

CHOICE_STATE = "NotifyChoice"
SUCCEEDED_STATE = "NotifySucceeded"
SKIPPED_STATE = "NotifySkipped"
FAILURE_CHOICE_STATE = "NotifyFailureChoice"
FAILED_STATE = "NotifyFailed"
FAIL_STATE = "RunFailed"
FAILURE_PATH = "$.RunFailure"
FAILURE_KEY = "RunFailure"
RESULT_PATH = "$.Notify"
WAITING_CHOICE_STATE = "NotifyWaitingChoice"
WAITING_STATE = "NotifyWaiting"
WAITING_SKIPPED_STATE = "NotifyWaitingSkipped"
UNSENT_STATE = "NotifySucceededUnsent"
UNSENT_KEY = "NotifyUnsent"
NO_ACCOUNT_STATE = "NotifyNoAccount"
FAILED_NO_ACCOUNT_STATE = "NotifyFailedNoAccount"
WAITING_NO_ACCOUNT_STATE = "NotifyWaitingNoAccount"
NOTIFY_STATES = (CHOICE_STATE, SUCCEEDED_STATE, SKIPPED_STATE, FAILURE_CHOICE_STATE, FAILED_STATE,
                 FAIL_STATE, WAITING_CHOICE_STATE, WAITING_STATE, WAITING_SKIPPED_STATE,
                 UNSENT_STATE, NO_ACCOUNT_STATE, FAILED_NO_ACCOUNT_STATE, WAITING_NO_ACCOUNT_STATE)
NO_ACCOUNT = ("the email was not sent: notify.enable is true but the run carries no email account "
              f"({EMAIL_CREDENTIALS_KEY}); a run started from a start form or a timer has none")

SUCCEEDED_TEMPLATE = """\
Run $run_id succeeded.

Scan: $scan
Reconstruction: $output
Published: $record
Run: $run_page$run_id
"""

WAITING_TEMPLATE = """\
Run $run_id waits for your choice of the rotation axis.

Scan: $scan
Suggested centre: $suggested
Choose here: $choose_page$run_id$choose_suffix
"""

FAILED_TEMPLATE = """\
Run $run_id failed at step $state.

Scan: $scan
Reason: $error: $cause
Run: $run_page$run_id
"""


def _message(subject_suffix: str, template: str, variables: dict[str, str]) -> dict[str, Any]:
    """The Parameters of one Send Notification Email request built from ``input.notify``."""
    return {
        "notification_method": "email",
        "notification_priority": "low",
        "destination.$": "$.input.notify.destination",
        "sender.$": "$.input.notify.sender",
        "subject.=": f"input.notify.subject + '{subject_suffix}'",
        "body_mimetype": "text/plain",
        "body_template": template,
        "body_variables": {
            "run_id.$": "$._context.run_id",
            "run_page.$": "$.input.notify.run_page",
            "scan.$": "$.input.notify.scan",
            **variables,
        },
        "send_credentials": [{"credential_method": "email", "credential_type": "smtp",
                              "credential_value.$": f"$.{EMAIL_CREDENTIALS_KEY}"}],
        "__Private_Parameters": ["send_credentials"],
    }


def notify_state(subject_suffix: str, template: str, variables: dict[str, str], *,
                 comment: str, result_path: str = RESULT_PATH, **transition: Any) -> dict[str, Any]:
    """One Send Notification Email Action state (``transition``: ``Next=...`` or ``End=True``).

    ``variables`` are more ``body_variables`` (``name.$`` JSONPaths or ``name.=`` expressions)
    for ``$name`` in ``template``; the run id, run page and scan are always there.
    """
    return {
        "Comment": comment,
        "Type": "Action",
        "ActionUrl": NOTIFY_URL,
        "Parameters": _message(subject_suffix, template, variables),
        "ResultPath": result_path,
        "WaitTime": NOTIFY_WAIT_TIME,
        **transition,
    }


def _enabled_choice(comment: str, yes: str, no: str, no_account: str) -> dict[str, Any]:
    """Email when ``notify.enable`` is true and the run carries the sending account; with the
    flag but no account (a run started from a form or a timer: neither can carry private run
    state) go to ``no_account``, which says so, instead of reading a path the run lacks."""
    enabled = {"Variable": "$.input.notify.enable", "BooleanEquals": True}
    return {
        "Comment": comment,
        "Type": "Choice",
        # no IsPresent guard on the flag: a flow input without it fails instead of skipping silently
        "Choices": [{"And": [enabled, {"Variable": f"$.{EMAIL_CREDENTIALS_KEY}", "IsPresent": True}],
                     "Next": yes},
                    {**enabled, "Next": no_account}],
        "Default": no,
    }


def _no_account(result_path: str, **transition: Any) -> dict[str, Any]:
    """The Pass state of a run whose email could not be sent for want of an account."""
    return {"Comment": "notify.enable is true but the run carries no email account: say so, send nothing",
            "Type": "Pass", "Result": {"warning": NO_ACCOUNT}, "ResultPath": result_path, **transition}


def _catch_all(result_path: str, next_state: str) -> list[dict[str, Any]]:
    """A ``Catch`` of every error (``States.ALL``), kept at ``result_path``, going on at ``next_state``."""
    return [{"ErrorEquals": ["States.ALL"], "ResultPath": result_path, "Next": next_state}]


class NotifyWaiting(GladierBaseTool):
    """Email that an interactive run waits for the scientist's choice, with the page to choose
    on (``notify.choose_page`` + run id + ``notify.choose_suffix``); skipped visibly when off.

    A message that cannot be sent does not stop the run: it goes on waiting for the choice
    (the error is kept at ``$.NotifyWaitingError``; :func:`add_notifications` adds that Catch).
    """

    flow_definition = {
        "Comment": "Tell the [notify] addresses that the run waits for a choice",
        "StartAt": WAITING_CHOICE_STATE,
        "States": {
            WAITING_CHOICE_STATE: _enabled_choice(
                "Email only when input.notify.enable is true", WAITING_STATE, WAITING_SKIPPED_STATE,
                WAITING_NO_ACCOUNT_STATE),
            WAITING_NO_ACCOUNT_STATE: _no_account("$.NotifyWaitingError", End=True),
            WAITING_STATE: notify_state(
                " waits for your choice", WAITING_TEMPLATE,
                {"choose_page.$": "$.input.notify.choose_page",
                 "choose_suffix.$": "$.input.notify.choose_suffix",
                 "suggested.$": f"$.{CHOICE_OPTIONS_STATE}.details.results[0].output.suggested_center"},
                comment="Email the page where the centre is chosen", result_path="$.NotifyWaiting",
                End=True),
            WAITING_SKIPPED_STATE: {
                "Comment": "No [notify] email in the experiment: nobody is emailed",
                "Type": "Pass",
                "Result": {"skipped": True, "reason": "notify.enable is false"},
                "ResultPath": "$.NotifyWaiting",
                "End": True,
            },
        },
    }
    required_input = ["notify"]
    flow_transition_states = [WAITING_STATE, WAITING_SKIPPED_STATE, WAITING_NO_ACCOUNT_STATE]


def _ending_states(states: dict[str, dict]) -> Iterable[str]:
    for name, state in states.items():
        if state.get("End") and state.get("Type") != "Fail" and name not in NOTIFY_STATES:
            yield name


def add_notifications(definition: dict[str, Any], client: Any = None) -> None:
    """Make notification the last step of ``definition`` and route failures through it (in place)."""
    states: dict[str, dict] = definition["States"]
    if CHOICE_STATE in states:
        return
    for name in list(_ending_states(states)):
        del states[name]["End"]
        states[name]["Next"] = CHOICE_STATE
    waiting = states.get(WAITING_STATE)
    if waiting is not None and "Catch" not in waiting and "Next" in waiting:
        waiting["Catch"] = _catch_all("$.NotifyWaitingError", waiting["Next"])
    for name in [n for n, s in states.items() if s.get("Type") == "Action" and "Catch" not in s]:
        states[name]["Catch"] = _catch_all(FAILURE_PATH, f"{name}Failed")
        states[f"{name}Failed"] = {
            "Comment": f"Record that {name} failed, then notify",
            "Type": "Pass",
            "Parameters": {"state": name, "error.$": f"{FAILURE_PATH}.Error",
                           "cause.$": f"{FAILURE_PATH}.Cause"},
            "ResultPath": FAILURE_PATH,
            "Next": FAILURE_CHOICE_STATE,
        }
    states[CHOICE_STATE] = _enabled_choice(
        "Email the run's end only when input.notify.enable is true", SUCCEEDED_STATE, SKIPPED_STATE,
        NO_ACCOUNT_STATE)
    states[NO_ACCOUNT_STATE] = _no_account(f"$.{UNSENT_KEY}", End=True)
    states[SUCCEEDED_STATE] = {
        **notify_state(" succeeded", SUCCEEDED_TEMPLATE,
                       {"output.$": "$.input.notify.output", "record.$": "$.input.notify.record"},
                       comment="Email that the run succeeded, with the published record", End=True),
        # the reconstruction is done and published: an email that cannot be sent must not fail it
        "Catch": _catch_all(f"$.{UNSENT_KEY}", UNSENT_STATE),
    }
    states[UNSENT_STATE] = {
        "Comment": "The run succeeded but its email could not be sent: say so and end SUCCEEDED",
        "Type": "Pass",
        "Parameters": {"warning": "the success email was not sent",
                       "error.$": f"$.{UNSENT_KEY}.Error", "cause.$": f"$.{UNSENT_KEY}.Cause"},
        "ResultPath": f"$.{UNSENT_KEY}",
        "End": True,
    }
    states[SKIPPED_STATE] = {
        "Comment": "No [notify] email in the experiment: nobody is emailed",
        "Type": "Pass",
        "Result": {"skipped": True, "reason": "notify.enable is false"},
        "ResultPath": RESULT_PATH,
        "End": True,
    }
    states[FAILURE_CHOICE_STATE] = _enabled_choice(
        "Email the failure only when input.notify.enable is true", FAILED_STATE, FAIL_STATE,
        FAILED_NO_ACCOUNT_STATE)
    states[FAILED_NO_ACCOUNT_STATE] = _no_account("$.NotifyFailedError", Next=FAIL_STATE)
    states[FAILED_STATE] = {
        **notify_state(" FAILED", FAILED_TEMPLATE,
                       {"state.$": f"{FAILURE_PATH}.state", "error.$": f"{FAILURE_PATH}.error",
                        "cause.$": f"{FAILURE_PATH}.cause"},
                       comment="Email which step failed and why", Next=FAIL_STATE),
        # a failure to email must not hide the run's own failure
        "Catch": _catch_all("$.NotifyFailedError", FAIL_STATE),
    }
    states[FAIL_STATE] = {
        "Comment": "End the run FAILED with the failing step's own error and cause",
        "Type": "Fail",
        "ErrorPath": f"{FAILURE_PATH}.error",
        "CausePath": f"{FAILURE_PATH}.cause",
    }


def caught_failure(state: Mapping[str, Any]) -> Mapping[str, Any]:
    """``{state, error, cause}`` of the step whose failure the flow caught (to email it, see the
    module); {} when no step failed or nothing caught it."""
    caught = state.get(FAILURE_KEY)
    return caught if isinstance(caught, Mapping) and "error" in caught else {}


def unsent_warnings(state: Mapping[str, Any]) -> list[str]:
    """A success email that was not sent (``NotifySucceededUnsent``): the run succeeded anyway."""
    unsent = state.get(UNSENT_KEY)
    if not isinstance(unsent, Mapping):
        return []
    reason = ": ".join(str(p) for p in (unsent.get("error"), unsent.get("cause")) if p)
    return [f"{unsent.get('warning', 'the success email was not sent')}" + (f" ({reason})" if reason else "")]
