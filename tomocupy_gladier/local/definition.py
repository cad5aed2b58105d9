"""Static checks of a Globus Flows definition, run before a flow is stored or started.

Every problem is reported at once in one :class:`DefinitionError`, each line naming its state.
"""

from __future__ import annotations

from typing import Any, Iterable

from .errors import DefinitionError
from .paths import is_valid_path, is_writable_path

STATE_TYPES = ("Action", "Pass", "Choice", "Wait", "Fail", "ExpressionEval")
CATCH_ALL = ("States.ALL", "States.All")  # the language spells ALL, Gladier writes All

_COMMON = {"Type", "Comment"}
_FLOW = {"Next", "End"}
ALLOWED_FIELDS: dict[str, set[str]] = {
    "Action": _COMMON | _FLOW | {
        "ActionUrl", "ActionScope", "Parameters", "InputPath", "ResultPath", "WaitTime",
        "ExceptionOnActionFailure", "RunAs", "Catch",
    },
    "Pass": _COMMON | _FLOW | {"Parameters", "InputPath", "ResultPath", "Result"},
    "ExpressionEval": _COMMON | _FLOW | {"Parameters", "ResultPath", "Catch"},
    "Choice": _COMMON | {"Choices", "Default"},
    "Wait": _COMMON | _FLOW | {
        "Seconds", "SecondsPath", "Timestamp", "TimestampPath", "InputPath", "ResultPath",
    },
    "Fail": _COMMON | {"Error", "Cause"},
}

COMPARATORS = {
    "StringEquals", "StringLessThan", "StringGreaterThan", "StringLessThanEquals",
    "StringGreaterThanEquals", "StringMatches",
    "NumericEquals", "NumericLessThan", "NumericGreaterThan", "NumericLessThanEquals",
    "NumericGreaterThanEquals",
    "BooleanEquals",
    "TimestampEquals", "TimestampLessThan", "TimestampGreaterThan",
    "TimestampLessThanEquals", "TimestampGreaterThanEquals",
}
PATH_COMPARATORS = {c + "Path" for c in COMPARATORS if c != "StringMatches"}
TYPE_TESTS = {"IsPresent", "IsNull", "IsString", "IsNumeric", "IsBoolean", "IsTimestamp"}


def validate_definition(definition: Any) -> None:
    """Check ``definition``; raise :class:`DefinitionError` listing every problem found."""
    problems = list(_problems(definition))
    if problems:
        raise DefinitionError("invalid flow definition:\n  " + "\n  ".join(problems))


def _problems(definition: Any) -> Iterable[str]:
    if not isinstance(definition, dict):
        yield "the definition must be a JSON object"
        return
    states = definition.get("States")
    if not isinstance(states, dict) or not states:
        yield "'States' must be a non-empty object"
        return
    start = definition.get("StartAt")
    if not isinstance(start, str):
        yield "'StartAt' is missing"
    elif start not in states:
        yield f"'StartAt' names {start!r}, which is not a state"
    for name, state in states.items():
        if not isinstance(state, dict):
            yield f"state {name!r}: must be an object"
            continue
        yield from (f"state {name!r}: {p}" for p in _state_problems(state, states))


def _state_problems(state: dict, states: dict) -> Iterable[str]:
    stype = state.get("Type")
    if stype not in STATE_TYPES:
        yield f"unknown state type {stype!r} (known: {', '.join(STATE_TYPES)})"
        return
    for field in sorted(set(state) - ALLOWED_FIELDS[stype]):
        if field == "OutputPath":
            yield "'OutputPath' is not supported by Globus Flows"
        elif field == "Retry":
            yield "'Retry' is not supported by Globus Flows"
        else:
            yield f"field {field!r} is not allowed on a {stype} state"

    if stype in ("Choice", "Fail"):
        if "Next" in state or "End" in state:
            yield f"a {stype} state takes neither 'Next' nor 'End'"
    else:
        has_next, ends = "Next" in state, state.get("End") is True
        if has_next and ends:
            yield "has both 'Next' and 'End'"
        elif not has_next and not ends:
            yield "needs 'Next' or 'End: true'"
        elif has_next and state["Next"] not in states:
            yield f"'Next' names {state['Next']!r}, which is not a state"

    for field in ("InputPath", "SecondsPath", "TimestampPath"):
        if field in state and not is_valid_path(state[field]):
            yield f"{field} {state[field]!r} is not a valid JSONPath"
    if "ResultPath" in state:
        yield from _result_path_problems(state["ResultPath"], "ResultPath")
    if "Parameters" in state:
        if not isinstance(state["Parameters"], dict):
            yield "'Parameters' must be an object"
        else:
            yield from _template_problems(state["Parameters"], "Parameters")

    if stype == "Action":
        if not isinstance(state.get("ActionUrl"), str) or not state["ActionUrl"]:
            yield "an Action needs 'ActionUrl'"
        if "Parameters" in state and "InputPath" in state:
            yield "'Parameters' and 'InputPath' are mutually exclusive"
        wait = state.get("WaitTime", 300)
        if isinstance(wait, bool) or not isinstance(wait, (int, float)) or wait <= 0:
            yield f"'WaitTime' must be a positive number of seconds, got {wait!r}"
        if not isinstance(state.get("ExceptionOnActionFailure", True), bool):
            yield "'ExceptionOnActionFailure' must be a boolean"
    elif stype == "Pass":
        given = [f for f in ("Parameters", "InputPath", "Result") if f in state]
        if len(given) > 1:
            yield f"{' and '.join(repr(g) for g in given)} are mutually exclusive"
    elif stype == "ExpressionEval":
        if "Parameters" not in state:
            yield "an ExpressionEval state needs 'Parameters'"
    elif stype == "Wait":
        given = [f for f in ("Seconds", "SecondsPath", "Timestamp", "TimestampPath") if f in state]
        if len(given) != 1:
            yield "a Wait state needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath"
    elif stype == "Choice":
        choices = state.get("Choices")
        if not isinstance(choices, list) or not choices:
            yield "'Choices' must be a non-empty list"
        else:
            for i, rule in enumerate(choices):
                if not isinstance(rule, dict) or "Next" not in rule:
                    yield f"Choices[{i}] needs 'Next'"
                    continue
                if rule["Next"] not in states:
                    yield f"Choices[{i}] 'Next' names {rule['Next']!r}, which is not a state"
                yield from (f"Choices[{i}]: {p}" for p in _rule_problems(rule, top=True))
        if "Default" in state and state["Default"] not in states:
            yield f"'Default' names {state['Default']!r}, which is not a state"

    if "Catch" in state:
        catchers = state["Catch"]
        if not isinstance(catchers, list):
            yield "'Catch' must be a list"
            return
        for i, catcher in enumerate(catchers):
            if not isinstance(catcher, dict):
                yield f"Catch[{i}] must be an object"
                continue
            errors = catcher.get("ErrorEquals")
            if not isinstance(errors, list) or not errors:
                yield f"Catch[{i}] needs a non-empty 'ErrorEquals' list"
            if catcher.get("Next") not in states:
                yield f"Catch[{i}] 'Next' names {catcher.get('Next')!r}, which is not a state"
            if "ResultPath" in catcher:
                yield from _result_path_problems(catcher["ResultPath"], f"Catch[{i}] ResultPath")
            for field in sorted(set(catcher) - {"ErrorEquals", "Next", "ResultPath", "Comment"}):
                yield f"Catch[{i}]: field {field!r} is not allowed"


def _result_path_problems(path: Any, label: str) -> Iterable[str]:
    if path is None:
        return
    if not isinstance(path, str) or not is_writable_path(path):
        yield f"{label} {path!r} must be '$' or a dotted path such as '$.a.b'"
    elif path == "$._context" or path.startswith("$._context.") or path.startswith("$._context["):
        yield f"{label} {path!r} would write the read-only $._context"


def _template_problems(template: Any, where: str) -> Iterable[str]:
    if isinstance(template, dict):
        for key, value in template.items():
            if key.endswith(".$"):
                if not isinstance(value, str) or not is_valid_path(value):
                    yield f"{where}.{key}: {value!r} is not a valid JSONPath"
            elif key.endswith(".="):
                if not isinstance(value, str):
                    yield f"{where}.{key}: an expression must be a string"
            else:
                yield from _template_problems(value, f"{where}.{key}")
    elif isinstance(template, list):
        for i, value in enumerate(template):
            yield from _template_problems(value, f"{where}[{i}]")


def _rule_problems(rule: dict, top: bool = False) -> Iterable[str]:
    logical = [k for k in ("And", "Or", "Not") if k in rule]
    if logical:
        key = logical[0]
        subs = rule[key] if key != "Not" else [rule[key]]
        if not isinstance(subs, list) or not subs:
            yield f"'{key}' needs a non-empty list of rules"
            return
        for sub in subs:
            if not isinstance(sub, dict):
                yield f"'{key}' holds a rule that is not an object"
            else:
                yield from _rule_problems(sub)
        return
    if "Variable" not in rule:
        yield "a rule needs 'Variable' (or And/Or/Not)"
    elif not is_valid_path(rule["Variable"]):
        yield f"'Variable' {rule['Variable']!r} is not a valid JSONPath"
    ops = [k for k in rule if k in COMPARATORS | PATH_COMPARATORS | TYPE_TESTS]
    if len(ops) != 1:
        yield f"a rule needs exactly one comparison, found {ops or 'none'}"
    extra = set(rule) - {"Variable", "Next", "Comment"} - set(ops)
    if extra:
        yield f"unknown rule fields {sorted(extra)}"
