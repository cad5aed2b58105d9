"""An interpreter of the Globus Flows language that runs any flow definition in-process.

Outcomes, as recorded on the run:

* the flow reaches an ``End`` state -> ``SUCCEEDED``, ``details.code == "FlowSucceeded"``;
* a ``Fail`` state -> ``FAILED``, ``details.code`` = its ``Error`` (default ``FlowFailed``);
* an uncaught error -> ``FAILED``, ``details.code`` = the error name: ``ActionUnableToRun``
  (unknown ActionUrl, unresolvable or rejected parameters), ``ActionTimeout`` (past
  ``WaitTime``), ``ActionFailedException`` (action FAILED with ``ExceptionOnActionFailure``
  true), ``States.Runtime`` (a path outside an action's parameters, e.g. a Choice variable,
  does not exist; or the state outgrew the size limit).

``details.output`` always holds the run state at the end (without ``_context``, and without
the fields whose names start with ``_private``, which Flows never shows) and
``details.state_name`` the state that failed, if any.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import time
import traceback
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from tomocupy_gladier.redaction import omit_private

from .actions import ActionRegistry, ActionRequest, ActionResult
from .choice import evaluate_rule
from .definition import CATCH_ALL, validate_definition
from .errors import (
    ActionFailedException,
    ActionTimeout,
    ActionUnableToRun,
    FlowError,
    InvalidRequest,
    ProviderError,
    StatesRuntime,
)
from .flow_rules import MAX_STATE_BYTES
from .jsonpath import PathError, read_path, render_parameters, write_path
from .timestamps import now_iso, parse_timestamp

DEFAULT_WAIT_TIME = 300  # seconds (Flows' default WaitTime)


# --------------------------------------------------------------------------- events

EventSink = Callable[[str, str, dict], None]
"""Receives every log entry: ``(code, description, details)``."""


def _discard(code: str, description: str, details: dict) -> None:
    pass


Checkpoint = Callable[[dict], None]
"""Receives, after each completed state, where the run goes on: ``{next, state, steps}``
(the next state's name, the run state, how many states were completed)."""


def _no_checkpoint(point: dict) -> None:
    pass


@dataclass
class RunOutcome:
    """The end of a run."""

    status: str  # SUCCEEDED or FAILED
    code: str
    description: str
    output: dict
    state_name: str | None = None

    def details(self) -> dict:
        """The ``details`` object of a Flows run record."""
        out = {"code": self.code, "description": self.description, "output": self.output}
        if self.state_name:
            out["state_name"] = self.state_name
        return out


class _FailState(Exception):
    def __init__(self, error: str, cause: str) -> None:
        super().__init__(cause)
        self.error, self.cause = error, cause


# --------------------------------------------------------------------------- interpreter

class FlowRunner:
    """Executes one flow definition. Create once per flow, call :meth:`run` per run.

    :param definition: a Flows definition (checked with :func:`validate_definition`)
    :param providers: the action providers, by ActionUrl
    :param sleep: how a Wait state sleeps (tests pass a fake)
    :param max_state_bytes: size limit of the run state as JSON; None disables the check
    """

    def __init__(
        self,
        definition: dict,
        providers: ActionRegistry,
        *,
        sleep: Callable[[float], None] = time.sleep,
        max_state_bytes: int | None = MAX_STATE_BYTES,
    ) -> None:
        validate_definition(definition)
        self.definition = definition
        self.states: dict[str, dict] = definition["States"]
        self.providers = providers
        self.sleep = sleep
        self.max_state_bytes = max_state_bytes
        self._context: dict = {}
        self._emit: EventSink = _discard
        self._checkpoint: Checkpoint = _no_checkpoint
        self._resumes: str | None = None

    _HANDLERS = {"Action": "_action", "Pass": "_pass", "Choice": "_choice", "Wait": "_wait",
                 "Fail": "_fail", "ExpressionEval": "_expression_eval"}

    def run(
        self,
        run_input: dict,
        context: Mapping[str, Any] | None = None,
        emit: EventSink = _discard,
        *,
        checkpoint: Checkpoint = _no_checkpoint,
        resume: Mapping[str, Any] | None = None,
    ) -> RunOutcome:
        """Run the flow on ``run_input`` to its end; never raises for in-flow errors.

        :param context: the read-only ``$._context`` (run_id, flow_id, username, ...)
        :param emit: called with every log entry as it happens
        :param checkpoint: called after each completed state (see :data:`Checkpoint`)
        :param resume: a checkpoint to go on from instead of starting (a run whose worker
            died); its ``action_id``, when given, is the interrupted action of its next state
        """
        # One shallow copy per run keeps concurrent runs of a cached runner apart.
        execution = copy.copy(self)
        execution._context = dict(context or {})
        execution._emit = emit
        execution._checkpoint = checkpoint
        return execution._execute(run_input, resume)

    def _execute(self, run_input: dict, resume: Mapping[str, Any] | None = None) -> RunOutcome:
        emit = self._emit
        name: str | None
        if resume is None:
            state = copy.deepcopy(run_input)
            state.pop("_context", None)
            # what is shown of a run leaves its private fields out, as Flows does (redaction.py)
            emit("FlowStarted", "The Flow Instance started execution", {"input": omit_private(run_input)})
            name, steps = self.definition["StartAt"], 0
        else:
            state, name, steps = copy.deepcopy(resume["state"]), resume["next"], int(resume["steps"])
            self._resumes = resume.get("action_id")
            emit("FlowResumed", f"The run goes on at state {name}, its first state not completed",
                 {"state_name": name, "steps": steps})
        while name is not None:
            sdef = self.states[name]
            try:
                handler = getattr(self, self._HANDLERS[sdef["Type"]])
                next_name, state = handler(name, sdef, state)
                self._check_size(state)
            except _FailState as fail:
                return self._finish_failed(name, fail.error, fail.cause, state, {})
            except FlowError as err:
                catcher = self._matching_catcher(sdef, err.error)
                if catcher is None:
                    return self._finish_failed(name, err.error, err.cause, state, err.as_result())
                state = self._write_result(state, catcher.get("ResultPath", "$"), err.as_result())
                emit(
                    "ErrorCaught",
                    f"State {name} raised {err.error}; continuing at {catcher['Next']}",
                    {"state_name": name, "error": err.error, "cause": err.cause,
                     "next": catcher["Next"]},
                )
                next_name = catcher["Next"]
            name = next_name
            steps += 1
            self._resumes = None
            if name is not None:
                self._checkpoint({"next": name, "state": state, "steps": steps})
        shown = omit_private(state)
        emit("FlowSucceeded", "The Flow Instance completed successfully", {"output": shown})
        return RunOutcome("SUCCEEDED", "FlowSucceeded",
                          "The Flow Instance completed successfully", shown)

    # ---------------------------------------------------------------- helpers

    def _finish_failed(self, name: str, error: str, cause: str, state: dict,
                       result: dict) -> RunOutcome:
        self._emit("FlowFailed", f"State {name} failed with {error}: {cause}",
                   {"state_name": name, "error": error, "cause": cause, "result": result})
        return RunOutcome("FAILED", error, cause, omit_private(state), state_name=name)

    @staticmethod
    def _matching_catcher(sdef: dict, error: str) -> dict | None:
        for catcher in sdef.get("Catch", ()):
            names = catcher["ErrorEquals"]
            # exact, case-sensitive names, as in Flows: "States.All" catches nothing
            if error in names or CATCH_ALL in names:
                return catcher
        return None

    def _view(self, state: dict) -> dict:
        # A shallow overlay: reads see $._context, writes never reach it.
        view = dict(state)
        view["_context"] = self._context
        return view

    def _write_result(self, state: dict, result_path: str | None, value: Any) -> dict:
        if result_path is None:  # Flows: a null ResultPath discards the result
            return state
        try:
            new = write_path(state, result_path, value)
        except PathError as exc:
            raise StatesRuntime(str(exc)) from None
        new.pop("_context", None)
        return new

    def _check_size(self, state: dict) -> None:
        if self.max_state_bytes is None:
            return
        try:
            size = len(json.dumps(state, separators=(",", ":")))
        except (TypeError, ValueError) as exc:
            raise StatesRuntime(f"the run state is not JSON: {exc}") from None
        if size > self.max_state_bytes:
            raise StatesRuntime(
                f"the run state is {size} bytes, over the {self.max_state_bytes}-byte limit "
                "of Globus Flows"
            )

    def _state_input(self, sdef: dict, state: dict, *, in_action: bool) -> Any:
        view = self._view(state)
        try:
            if "Parameters" in sdef:
                params = dict(sdef["Parameters"])
                params.pop("__Private_Parameters", None)
                return render_parameters(params, view)
            if "InputPath" in sdef:
                return copy.deepcopy(read_path(view, sdef["InputPath"]))
        except PathError as exc:
            if in_action:
                raise ActionUnableToRun(f"parameters could not be resolved: {exc}") from None
            raise StatesRuntime(str(exc)) from None
        return copy.deepcopy(state)

    @staticmethod
    def _hide_private(sdef: dict, body: Any) -> Any:
        private = (sdef.get("Parameters") or {}).get("__Private_Parameters") or []
        if not private or not isinstance(body, dict):
            return body
        return {k: ("<private>" if k in private else v) for k, v in body.items()}

    # ---------------------------------------------------------------- states

    def _action(self, name: str, sdef: dict, state: dict) -> tuple[str | None, dict]:
        url = sdef["ActionUrl"]
        wait_time = sdef.get("WaitTime", DEFAULT_WAIT_TIME)
        body = self._state_input(sdef, state, in_action=True)
        provider = self.providers.get(url)
        if provider is None:
            raise ActionUnableToRun(f"no action provider serves {url}")
        action_id = str(uuid.uuid4())
        self._emit("ActionStarted", f"State {name} started an action at {url}",
                   {"state_name": name, "action_url": url, "action_id": action_id,
                    "parameters": self._hide_private(sdef, body)})
        start = now_iso()
        request = ActionRequest(
            action_id=action_id, action_url=url, state_name=name, body=body,
            wait_time=wait_time, deadline=time.monotonic() + wait_time,
            run_id=self._context.get("run_id", ""), flow_id=self._context.get("flow_id", ""),
            resumes=self._resumes, user_id=self._context.get("user_id", ""),
        )
        try:
            result = provider(request)
        except InvalidRequest as exc:
            self._emit("ActionFailed", f"State {name} could not start its action: {exc}",
                       {"state_name": name, "action_id": action_id, "error": "ActionUnableToRun",
                        "cause": str(exc)})
            raise ActionUnableToRun(str(exc)) from None
        except ActionTimeout as exc:
            raise self._timeout(name, url, action_id, wait_time, start, exc.cause,
                                exc.details) from None
        except ProviderError as exc:
            result = ActionResult("FAILED", {"error": str(exc)})
        except Exception as exc:  # a provider bug: report it on the action, keep the run sane
            result = ActionResult("FAILED", {
                "error": f"the local provider for {url} crashed: {exc.__class__.__name__}: {exc}",
                "traceback": traceback.format_exc(),
            })
        if request.remaining() < 0:
            # Flows stops waiting at WaitTime; a later answer is never seen.
            raise self._timeout(name, url, action_id, wait_time, start,
                                f"action {action_id} at {url} did not complete within "
                                f"{wait_time:g} s", result.details)
        status_doc = {
            "action_id": action_id,
            "state_name": name,
            "status": result.status,
            "display_status": result.display_status or result.status,
            "details": result.details,
            "start_time": start,
            "completion_time": now_iso(),
            "release_after": "P30D",
        }
        if result.status == "FAILED":
            self._emit("ActionFailed", f"State {name} ended FAILED",
                       {"state_name": name, "action_id": action_id, "error": "ActionFailed",
                        "details": result.details})
            if sdef.get("ExceptionOnActionFailure", True):
                raise ActionFailedException(
                    f"action {action_id} at {url} failed: {_short(result.details)}",
                    status_doc,
                )
        else:
            self._emit("ActionCompleted", f"State {name} completed its action",
                       {"state_name": name, "action_id": action_id, "output": status_doc})
        return _next(sdef), self._write_result(state, sdef.get("ResultPath", "$"), status_doc)

    def _timeout(self, name: str, url: str, action_id: str, wait_time: float, start: str,
                 cause: str, details: Any) -> ActionTimeout:
        """The ActionTimeout of a state: its body is the action's last status (ACTIVE), as
        Flows puts the most recent poll of the action in the exception."""
        status_doc = {
            "action_id": action_id, "state_name": name, "status": "ACTIVE",
            "display_status": "ACTIVE", "details": details, "start_time": start,
            "completion_time": None, "release_after": "P30D",
        }
        self._emit("ActionFailed", f"State {name} timed out after {wait_time:g} s",
                   {"state_name": name, "action_id": action_id, "action_url": url,
                    "error": "ActionTimeout", "cause": cause, "details": status_doc})
        return ActionTimeout(cause, status_doc)

    def _pass(self, name: str, sdef: dict, state: dict) -> tuple[str | None, dict]:
        if "Result" in sdef:
            value = copy.deepcopy(sdef["Result"])
        else:
            value = self._state_input(sdef, state, in_action=False)
        state = self._write_result(state, sdef.get("ResultPath", "$"), value)
        self._emit("PassCompleted", f"Pass state {name} completed", {"state_name": name})
        return _next(sdef), state

    def _expression_eval(self, name: str, sdef: dict, state: dict) -> tuple[str | None, dict]:
        value = self._state_input(sdef, state, in_action=False)
        state = self._write_result(state, sdef.get("ResultPath", "$"), value)
        self._emit("ExpressionEvalCompleted", f"ExpressionEval state {name} completed",
                   {"state_name": name, "output": value})
        return _next(sdef), state

    def _fail(self, name: str, sdef: dict, state: dict) -> tuple[str | None, dict]:
        error, cause = sdef.get("Error", "FlowFailed"), sdef.get("Cause", f"Fail state {name}")
        # ErrorPath / CausePath (Fail States): the values come from the run's current data
        view = self._view(state)
        try:
            if "ErrorPath" in sdef:
                error = read_path(view, sdef["ErrorPath"])
            if "CausePath" in sdef:
                cause = read_path(view, sdef["CausePath"])
        except PathError as exc:
            raise StatesRuntime(f"Fail state {name}: {exc}") from None
        raise _FailState(str(error), cause if isinstance(cause, str) else json.dumps(cause))

    def _wait(self, name: str, sdef: dict, state: dict) -> tuple[str | None, dict]:
        view = self._view(state)
        try:
            if "Seconds" in sdef:
                seconds = float(sdef["Seconds"])
            elif "SecondsPath" in sdef:
                seconds = float(read_path(view, sdef["SecondsPath"]))
            else:
                stamp = sdef.get("Timestamp") or read_path(view, sdef["TimestampPath"])
                seconds = (parse_timestamp(stamp) - dt.datetime.now(dt.timezone.utc)).total_seconds()
        except (PathError, TypeError, ValueError) as exc:
            raise StatesRuntime(f"Wait state {name}: {exc}") from None
        seconds = max(0.0, seconds)
        self._emit("WaitStarted", f"Wait state {name} waits {seconds:g} s",
                   {"state_name": name, "seconds": seconds})
        if seconds:
            self.sleep(seconds)
        self._emit("WaitCompleted", f"Wait state {name} completed", {"state_name": name})
        return _next(sdef), state

    def _choice(self, name: str, sdef: dict, state: dict) -> tuple[str | None, dict]:
        view = self._view(state)
        chosen = sdef.get("Default")
        for rule in sdef["Choices"]:
            if evaluate_rule(rule, view):
                chosen = rule["Next"]
                break
        else:
            if chosen is None:
                raise StatesRuntime(f"Choice state {name}: no rule matched and there is no Default")
        self._emit("ChoiceCompleted", f"Choice state {name} chose {chosen}",
                   {"state_name": name, "next": chosen})
        return chosen, state


def _next(sdef: dict) -> str | None:
    return None if sdef.get("End") is True else sdef["Next"]


def _short(details: Any, limit: int = 300) -> str:
    """The reason a provider gave for a failure, else the start of its details."""
    if isinstance(details, dict):
        fatal = details.get("fatal_error")
        if isinstance(fatal, dict) and fatal.get("description"):
            return f"{fatal.get('code')}: {fatal['description']}"
        exc = details.get("exception")
        if isinstance(exc, str) and exc.strip():
            return exc.strip().splitlines()[-1]  # the last line of a traceback names the error
        for key in ("error", "description", "reason"):
            if isinstance(details.get(key), str):
                return details[key]
    text = details if isinstance(details, str) else json.dumps(details, default=str)
    return text if len(text) <= limit else text[:limit] + "..."
