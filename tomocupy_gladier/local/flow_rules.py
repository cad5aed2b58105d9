"""The rules Globus Flows applies to a flow definition (and its input schema), checked offline.

Every rule comes from the Globus Flows documentation (Authoring Flows, Authoring Input
Schemas, Limits) or from what the service is known to refuse; :data:`RULES` names the source
of each, and ``docs/local-backend.md`` has the same table. :func:`check_definition` returns
every :class:`Problem` at once: ``error`` problems make Globus refuse the flow (and the local
backend refuses it too), ``warning`` problems are accepted by Globus but are most likely
mistakes (a ``States.All`` that never matches) or are not described by the documentation.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from .jsonpath import is_valid_path, is_writable_path, parse_python

DOCS = "https://docs.globus.org/api/flows"

# rule id -> (what it checks, where it is documented)
RULES: dict[str, tuple[str, str]] = {
    "definition-object": ("the definition is a JSON object",
                          "Authoring Flows: Introduction"),
    "top-level-fields": ("only `StartAt`, `States` and `Comment` at the top level",
                         "Authoring Flows: Introduction"),
    "states": ("`States` is a non-empty object of objects", "Authoring Flows: Introduction"),
    "start-at": ("`StartAt` is a string naming a state", "Authoring Flows: Introduction"),
    "state-type": ("`Type` is Action, ExpressionEval, Choice, Pass, Wait or Fail",
                   "Authoring Flows: Introduction (other States Language types are rejected)"),
    "unknown-field": ("a state holds only the fields documented for its type",
                      ("Authoring Flows: Actions, Choice, Wait, Fail, Pass States; "
                      "ExpressionEval under Expressions")),
    "output-path": ("no `OutputPath`", "Authoring Flows: Introduction"),
    "next-or-end": ("exactly one of `Next` / `\"End\": true` (none on Choice and Fail)",
                    "Authoring Flows: Actions, Wait, Pass States"),
    "next-target": ("every `Next`, `Default` and Catch `Next` names a state",
                    "Authoring Flows: Introduction, Choice States, Handling Exceptions"),
    "unreachable": ("every state is reachable from `StartAt`",
                    "Validating Flow Definitions (the service analyses every traversal)"),
    "action-url": ("an Action has an `ActionUrl` string", "Authoring Flows: Actions"),
    "action-input": ("an Action has `Parameters` or `InputPath`, not both",
                     "Authoring Flows: Actions"),
    "wait-time": ("`WaitTime` is an integer from 1 to 31536000 seconds",
                  ("Authoring Flows: Actions (integer seconds, default 300); upper bound: "
                  "Limits, maximum run duration 1 year")),
    "field-type": (("typed fields: `ExceptionOnActionFailure` boolean, `RunAs`, "
                   "`ActionScope`, `Comment`, `Error`, `Cause` strings"),
                   "Authoring Flows: Actions, Fail States"),
    "jsonpath": (("`.$` values, `InputPath`, `Variable`, `...Path` fields are JSONPaths "
                 "starting with `$`"), "Authoring Flows: Introduction (Data Within Runs)"),
    "jsonpath-filter": ("no JSONPath filter or script expressions (`[?(...)]`, `[(...)]`)",
                        "Authoring Flows: Introduction (reference paths of the States Language)"),
    "result-path": ("`ResultPath` is `$` or a dotted path, never under `$._context`",
                    "Authoring Flows: Actions; Run Context (read-only)"),
    "parameters": (("`Parameters` is an object; `.$`/`.=` values are strings; "
                   "`__Private_Parameters` lists keys"), ("Authoring Flows: Actions, Protecting "
                   "Secrets")),
    "expression-syntax": ("a `.=` expression parses", "Authoring Flows: Expressions"),
    "expression-function": (("expressions call only `pathsplit`, `is_present`, `getattr` "
                            "(and methods of values)"), "Authoring Flows: Expressions"),
    "expression-comprehension": ("warning: a comprehension in a `.=` expression",
                                 ("not on the Expressions page; used by the Looping Batched "
                                 "Move example flow, so accepted")),
    "expression-backtick": ("warning: a backtick JSONPath (`` `$.a.b` ``) inside an expression",
                            ("the Globus Automate docs' ExpressionEval example; the current "
                            "Expressions page names values instead (`a.b`)")),
    "catch": ("`Catch` is a list of {`ErrorEquals`, `Next`, `ResultPath`}",
              "Authoring Flows: Actions, Handling Exceptions"),
    "error-equals": ("`ErrorEquals` is a non-empty list of strings",
                     "Authoring Flows: Handling Exceptions"),
    "error-name": (("warning: an `ErrorEquals` name Flows does not raise (`States.All` never "
                   "matches: the catch-all is `States.ALL`)"), ("Authoring Flows: Handling "
                   "Exceptions")),
    "choice": ("`Choices` is a non-empty list of rules; each top-level rule has `Next`",
               "Authoring Flows: Choice States"),
    "choice-rule": ("a rule is And/Or/Not or `Variable` + one comparison, nothing else",
                    "Authoring Flows: Choice States"),
    "wait": (("a Wait has exactly one of `Seconds`, `SecondsPath`, `Timestamp`, "
             "`TimestampPath`; `Seconds` a non-negative number"), "Authoring Flows: Wait States"),
    "fail": ("`Error`/`ErrorPath` and `Cause`/`CausePath` are mutually exclusive",
             "Authoring Flows: Fail States"),
    "pass": ("a Pass has at most one of `Result`, `Parameters`, `InputPath`",
             "Authoring Flows: Pass States"),
    "expression-eval": ("an ExpressionEval has `Parameters`", "Authoring Flows: Expressions"),
    "input-schema": ("the input schema is a valid JSON Schema object",
                     "Authoring Input Schemas"),
    "input-size": ("a run input is at most 200 KB (it is the run's first state)",
                   "Limits: maximum run state size 200KB"),
}

STATE_TYPES = ("Action", "ExpressionEval", "Choice", "Pass", "Wait", "Fail")
TOP_LEVEL_FIELDS = {"StartAt", "States", "Comment"}
_COMMON = {"Type", "Comment"}
_FLOW = {"Next", "End"}
ALLOWED_FIELDS: dict[str, set[str]] = {
    "Action": _COMMON | _FLOW | {
        "ActionUrl", "ActionScope", "Parameters", "InputPath", "ResultPath", "WaitTime",
        "ExceptionOnActionFailure", "RunAs", "Catch",
    },
    "Pass": _COMMON | _FLOW | {"Parameters", "InputPath", "ResultPath", "Result"},
    "ExpressionEval": _COMMON | _FLOW | {"Parameters", "ResultPath"},
    "Choice": _COMMON | {"Choices", "Default"},
    "Wait": _COMMON | _FLOW | {"Seconds", "SecondsPath", "Timestamp", "TimestampPath"},
    "Fail": _COMMON | {"Error", "Cause", "ErrorPath", "CausePath"},
}
CATCH_FIELDS = {"ErrorEquals", "Next", "ResultPath"}

MIN_WAIT_TIME = 1
MAX_WAIT_TIME = 365 * 24 * 3600  # the maximum run duration (Limits: 1 year)
MAX_STATE_BYTES = 200_000  # Limits: maximum run state size 200KB

# Run statuses: ACTIVE, INACTIVE (waiting for something, then goes on), and these, which never
# change again (ENDED: cancelled on the service; the local backend never cancels).
FINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "ENDED"})

CATCH_ALL = "States.ALL"
# What Flows raises from an Action (Handling Exceptions), the catch-all, and the names Gladier's
# state models list (accepted by Flows; never raised locally).
ERROR_NAMES = {
    "ActionUnableToRun", "ActionFailedException", "ActionTimeout", CATCH_ALL,
    "NoTokenException", "States.IntrinsicFailure", "States.ParameterPathFailure",
    "States.ResultPathMatchFailure", "States.Runtime",
}
EXPRESSION_FUNCTIONS = ("pathsplit", "is_present", "getattr")

_STRING_OPS = ("Equals", "LessThan", "GreaterThan", "LessThanEquals", "GreaterThanEquals")
COMPARATORS: dict[str, str] = {}
for _op in _STRING_OPS:
    COMPARATORS["String" + _op] = "string"
    COMPARATORS["Numeric" + _op] = "number"
    COMPARATORS["Timestamp" + _op] = "string"
COMPARATORS["StringMatches"] = "string"
COMPARATORS["BooleanEquals"] = "boolean"
PATH_COMPARATORS = {c + "Path" for c in COMPARATORS if c != "StringMatches"}
TYPE_TESTS = {"IsPresent", "IsNull", "IsString", "IsNumeric", "IsBoolean", "IsTimestamp"}
_LOGICAL = ("And", "Or", "Not")

_FILTER = re.compile(r"\[\s*\?|\[\s*\(")


@dataclass(frozen=True)
class Problem:
    """One broken rule: where (state, field) and why."""

    rule: str
    message: str
    state: str | None = None
    field: str | None = None
    severity: str = "error"  # or "warning"

    def where(self) -> str:
        parts = []
        if self.state is not None:
            parts.append(f"state {self.state!r}")
        if self.field is not None:
            parts.append(f"field {self.field}")
        return ", ".join(parts) or "definition"

    def __str__(self) -> str:
        return f"{self.where()}: {self.message}"


def errors(problems: Iterable[Problem]) -> list[Problem]:
    """The problems that make Globus refuse a flow."""
    return [p for p in problems if p.severity == "error"]


def check_definition(definition: Any, input_schema: Any = None) -> list[Problem]:
    """Every problem of ``definition`` (and of ``input_schema`` when given), errors first in
    definition order."""
    problems = list(_definition(definition))
    if input_schema is not None:
        problems.extend(check_input_schema(input_schema))
    return problems


def check_input_schema(schema: Any) -> list[Problem]:
    """Problems of a flow's input schema (Authoring Input Schemas: a JSON Schema object)."""
    import jsonschema

    if not isinstance(schema, dict):
        return [Problem("input-schema", "the input schema must be a JSON object",
                        field="input_schema")]
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        return [Problem("input-schema", f"not a valid JSON Schema at {where}: {exc.message}",
                        field="input_schema")]
    return []


def check_input(body: Any, schema: Any = None) -> list[Problem]:
    """Problems of a run input: its size (Limits) and, given a schema, its validity."""
    problems = []
    try:
        size = len(json.dumps(body, separators=(",", ":")))
    except (TypeError, ValueError) as exc:
        return [Problem("input-size", f"the run input is not JSON: {exc}", field="input")]
    if size > MAX_STATE_BYTES:
        problems.append(Problem(
            "input-size", f"the run input is {size} bytes, over the {MAX_STATE_BYTES}-byte "
            "limit of a run state", field="input"))
    if isinstance(schema, dict) and not check_input_schema(schema):
        import jsonschema

        validator = jsonschema.validators.validator_for(schema)(schema)
        for err in sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path)):
            where = "/".join(map(str, err.absolute_path)) or "(root)"
            problems.append(Problem("input-schema", f"{where}: {err.message}", field="input"))
    return problems


# --------------------------------------------------------------------------- definition

def _definition(definition: Any) -> Iterator[Problem]:
    if not isinstance(definition, dict):
        yield Problem("definition-object", "the definition must be a JSON object")
        return
    for key in sorted(set(definition) - TOP_LEVEL_FIELDS, key=str):
        yield Problem("top-level-fields", "not allowed at the top level of a definition "
                      "(only StartAt, States, Comment)", field=repr(key))
    if "Comment" in definition and not isinstance(definition["Comment"], (str, type(None))):
        yield Problem("field-type", "must be a string", field="'Comment'")
    states = definition.get("States")
    if not isinstance(states, dict) or not states:
        yield Problem("states", "must be a non-empty object of states", field="'States'")
        return
    start = definition.get("StartAt")
    if not isinstance(start, str):
        yield Problem("start-at", "is missing (a string naming the first state)",
                      field="'StartAt'")
    elif start not in states:
        yield Problem("start-at", f"names {start!r}, which is not a state", field="'StartAt'")
    for name, state in states.items():
        if not isinstance(state, dict):
            yield Problem("states", "must be an object", state=name)
            continue
        yield from _state(name, state, states)
    if isinstance(start, str) and start in states:
        reached = _reachable(start, states)
        for name in states:
            if name not in reached:
                yield Problem("unreachable", f"is not reachable from StartAt {start!r}",
                              state=name)


def _targets(state: Any) -> Iterator[Any]:
    if not isinstance(state, dict):
        return
    if state.get("Type") != "Choice" and "Next" in state:
        yield state["Next"]
    if state.get("Type") == "Choice":
        for rule in state.get("Choices") or []:
            if isinstance(rule, dict) and "Next" in rule:
                yield rule["Next"]
        if "Default" in state:
            yield state["Default"]
    catchers = state.get("Catch")
    if isinstance(catchers, list):
        for catcher in catchers:
            if isinstance(catcher, dict) and "Next" in catcher:
                yield catcher["Next"]


def _reachable(start: str, states: dict) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for target in _targets(states[todo.pop()]):
            if isinstance(target, str) and target in states and target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def _state(name: str, state: dict, states: dict) -> Iterator[Problem]:
    def problem(rule: str, message: str, field: str | None = None,
                severity: str = "error") -> Problem:
        return Problem(rule, message, state=name, field=field, severity=severity)

    stype = state.get("Type")
    if stype not in STATE_TYPES:
        yield problem("state-type", f"unknown state type {stype!r} (Globus Flows has "
                      f"{', '.join(STATE_TYPES)})", "'Type'")
        return
    for key in sorted(set(state) - ALLOWED_FIELDS[stype], key=str):
        if key == "OutputPath":
            yield problem("output-path", "OutputPath is not supported by Globus Flows "
                          "(use ResultPath)", "'OutputPath'")
        else:
            article = "an" if stype[0] in "AEIOU" else "a"
            yield problem("unknown-field", f"not allowed on {article} {stype} state",
                          repr(key))
    if not isinstance(state.get("Comment", ""), (str, type(None))):
        yield problem("field-type", "must be a string", "'Comment'")

    # transitions
    if stype in ("Choice", "Fail"):
        for key in ("Next", "End"):
            if key in state:
                yield problem("next-or-end", f"a {stype} state takes neither Next nor End",
                              repr(key))
    else:
        has_next, end = "Next" in state, state.get("End")
        if "End" in state and end is not True:
            yield problem("next-or-end", f"must be true when present, got {end!r}", "'End'")
        elif has_next and end is True:
            yield problem("next-or-end", "a state has either Next or \"End\": true, not both",
                          "'Next'")
        elif not has_next and end is not True:
            yield problem("next-or-end", "missing: the state needs Next or \"End\": true",
                          "'Next'")
        if has_next:
            yield from _target(problem, state["Next"], states, "'Next'")

    # paths and parameters
    for key in ("InputPath", "SecondsPath", "TimestampPath", "ErrorPath", "CausePath"):
        if key in state:
            yield from _path(problem, state[key], repr(key))
    if "ResultPath" in state:
        yield from _result_path(problem, state["ResultPath"], "'ResultPath'")
    if "Parameters" in state:
        if not isinstance(state["Parameters"], dict):
            yield problem("parameters", "must be an object", "'Parameters'")
        else:
            yield from _template(problem, state["Parameters"], "Parameters", top=True)

    yield from _BY_TYPE[stype](problem, state, states)


def _action(problem, state: dict, states: dict) -> Iterator[Problem]:
    url = state.get("ActionUrl")
    if not isinstance(url, str) or not url.strip():
        yield problem("action-url", "missing: an Action needs the URL of its action provider",
                      "'ActionUrl'")
    elif not url.startswith(("https://", "http://")):
        yield problem("action-url", f"{url!r} is not an http(s) URL", "'ActionUrl'")
    has_params, has_input = "Parameters" in state, "InputPath" in state
    if has_params and has_input:
        yield problem("action-input", "Parameters and InputPath are mutually exclusive",
                      "'Parameters'")
    elif not has_params and not has_input:
        yield problem("action-input", "missing: an Action needs Parameters or InputPath",
                      "'Parameters'")
    if "WaitTime" in state:
        wait = state["WaitTime"]
        if isinstance(wait, bool) or not isinstance(wait, int):
            yield problem("wait-time", f"must be an integer number of seconds, got {wait!r}",
                          "'WaitTime'")
        elif not MIN_WAIT_TIME <= wait <= MAX_WAIT_TIME:
            yield problem("wait-time", f"{wait} is outside {MIN_WAIT_TIME}..{MAX_WAIT_TIME} "
                          "seconds", "'WaitTime'")
    if "ExceptionOnActionFailure" in state and not isinstance(
            state["ExceptionOnActionFailure"], bool):
        yield problem("field-type", "must be a boolean", "'ExceptionOnActionFailure'")
    for key in ("RunAs", "ActionScope"):
        if key in state and not isinstance(state[key], str):
            yield problem("field-type", "must be a string", repr(key))
    if "Catch" in state:
        yield from _catch(problem, state["Catch"], states)


def _catch(problem, catchers: Any, states: dict) -> Iterator[Problem]:
    if not isinstance(catchers, list):
        yield problem("catch", "must be a list of catchers", "'Catch'")
        return
    for i, catcher in enumerate(catchers):
        where = f"Catch[{i}]"
        if not isinstance(catcher, dict):
            yield problem("catch", "must be an object", where)
            continue
        for key in sorted(set(catcher) - CATCH_FIELDS, key=str):
            yield problem("catch", "not allowed in a catcher (only ErrorEquals, Next, "
                          "ResultPath)", f"{where}.{key}")
        names = catcher.get("ErrorEquals")
        if not isinstance(names, list) or not names or not all(
                isinstance(n, str) for n in names):
            yield problem("error-equals", "must be a non-empty list of error names",
                          f"{where}.ErrorEquals")
        else:
            for name in names:
                yield from _error_name(problem, name, f"{where}.ErrorEquals")
        if "Next" not in catcher:
            yield problem("catch", "missing: a catcher needs Next", f"{where}.Next")
        else:
            yield from _target(problem, catcher["Next"], states, f"{where}.Next")
        if "ResultPath" in catcher:
            yield from _result_path(problem, catcher["ResultPath"], f"{where}.ResultPath")


def _error_name(problem, name: str, where: str) -> Iterator[Problem]:
    if name in ERROR_NAMES:
        return
    same_case = [n for n in ERROR_NAMES if n.lower() == name.lower()]
    if same_case:
        yield problem("error-name", f"{name!r} never matches: error names are case-sensitive, "
                      f"write {same_case[0]!r}", where, "warning")
    else:
        yield problem("error-name", f"{name!r} is not an error Globus Flows raises (known: "
                      "ActionUnableToRun, ActionFailedException, ActionTimeout, States.ALL)",
                      where, "warning")


def _pass(problem, state: dict, states: dict) -> Iterator[Problem]:
    given = [k for k in ("Result", "Parameters", "InputPath") if k in state]
    if len(given) > 1:
        yield problem("pass", f"{' and '.join(given)} are mutually exclusive", repr(given[1]))


def _expression_eval(problem, state: dict, states: dict) -> Iterator[Problem]:
    if "Parameters" not in state:
        yield problem("expression-eval", "missing: an ExpressionEval state needs Parameters",
                      "'Parameters'")


def _wait(problem, state: dict, states: dict) -> Iterator[Problem]:
    given = [k for k in ("Seconds", "SecondsPath", "Timestamp", "TimestampPath") if k in state]
    if len(given) != 1:
        yield problem("wait", "a Wait state needs exactly one of Seconds, SecondsPath, "
                      f"Timestamp, TimestampPath (found {len(given)})",
                      repr(given[1]) if len(given) > 1 else "'Seconds'")
    if "Seconds" in state:
        seconds = state["Seconds"]
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            yield problem("wait", f"must be a non-negative number, got {seconds!r}",
                          "'Seconds'")
    if "Timestamp" in state and not isinstance(state["Timestamp"], str):
        yield problem("wait", "must be an ISO 8601 timestamp string", "'Timestamp'")


def _fail(problem, state: dict, states: dict) -> Iterator[Problem]:
    for plain, path in (("Error", "ErrorPath"), ("Cause", "CausePath")):
        if plain in state and path in state:
            yield problem("fail", f"{plain} and {path} are mutually exclusive", repr(path))
        if plain in state and not isinstance(state[plain], str):
            yield problem("field-type", "must be a string", repr(plain))


def _choice(problem, state: dict, states: dict) -> Iterator[Problem]:
    choices = state.get("Choices")
    if not isinstance(choices, list) or not choices:
        yield problem("choice", "must be a non-empty list of rules", "'Choices'")
    else:
        for i, rule in enumerate(choices):
            where = f"Choices[{i}]"
            if not isinstance(rule, dict):
                yield problem("choice", "must be an object", where)
                continue
            if "Next" not in rule:
                yield problem("choice", "missing: a top-level rule needs Next", f"{where}.Next")
            else:
                yield from _target(problem, rule["Next"], states, f"{where}.Next")
            yield from _rule(problem, rule, where, top=True)
    if "Default" in state:
        yield from _target(problem, state["Default"], states, "'Default'")


def _rule(problem, rule: dict, where: str, top: bool = False) -> Iterator[Problem]:
    allowed_extra = {"Next"} if top else set()
    logical = [k for k in _LOGICAL if k in rule]
    if logical:
        key = logical[0]
        for extra in sorted(set(rule) - {key} - allowed_extra, key=str):
            yield problem("choice-rule", f"not allowed beside {key}", f"{where}.{extra}")
        subs = rule[key]
        if key == "Not":
            subs = [subs]
            if not isinstance(rule[key], dict):
                yield problem("choice-rule", "Not takes one rule (an object)", f"{where}.Not")
                return
        elif not isinstance(subs, list) or not subs:
            yield problem("choice-rule", "needs a non-empty list of rules", f"{where}.{key}")
            return
        for i, sub in enumerate(subs):
            sub_where = f"{where}.{key}" + ("" if key == "Not" else f"[{i}]")
            if not isinstance(sub, dict):
                yield problem("choice-rule", "must be a rule object", sub_where)
            else:
                yield from _rule(problem, sub, sub_where)
        return
    if "Variable" not in rule:
        yield problem("choice-rule", "missing: a rule needs Variable (or And, Or, Not)",
                      f"{where}.Variable")
    else:
        yield from _path(problem, rule["Variable"], f"{where}.Variable")
    ops = [k for k in rule if k in COMPARATORS or k in PATH_COMPARATORS or k in TYPE_TESTS]
    for extra in sorted(set(rule) - {"Variable"} - allowed_extra - set(ops), key=str):
        yield problem("choice-rule", "not allowed in a Choice rule", f"{where}.{extra}")
    if len(ops) != 1:
        yield problem("choice-rule", f"a rule needs exactly one comparison, found "
                      f"{len(ops)}", where)
        return
    op, value = ops[0], rule[ops[0]]
    if op in PATH_COMPARATORS:
        yield from _path(problem, value, f"{where}.{op}")
    elif op in TYPE_TESTS:
        if not isinstance(value, bool):
            yield problem("choice-rule", "must be true or false", f"{where}.{op}")
    else:
        kind = COMPARATORS[op]
        ok = {"string": isinstance(value, str),
              "boolean": isinstance(value, bool),
              "number": isinstance(value, (int, float)) and not isinstance(value, bool)}[kind]
        if not ok:
            yield problem("choice-rule", f"must be a {kind}, got {value!r}", f"{where}.{op}")


_BY_TYPE = {"Action": _action, "Pass": _pass, "ExpressionEval": _expression_eval,
            "Wait": _wait, "Fail": _fail, "Choice": _choice}


# --------------------------------------------------------------------------- helpers

def _target(problem, target: Any, states: dict, field: str) -> Iterator[Problem]:
    if not isinstance(target, str) or target not in states:
        yield problem("next-target", f"names {target!r}, which is not a state", field)


def _path(problem, path: Any, field: str) -> Iterator[Problem]:
    if not isinstance(path, str) or not path.startswith("$"):
        yield problem("jsonpath", f"{path!r} is not a JSONPath (it must start with '$')", field)
    elif _FILTER.search(path):
        yield problem("jsonpath-filter", f"{path!r} uses a JSONPath filter or script "
                      "expression, which Globus Flows does not support", field)
    elif not is_valid_path(path):
        yield problem("jsonpath", f"{path!r} is not a valid JSONPath", field)


def _result_path(problem, path: Any, field: str) -> Iterator[Problem]:
    if path is None:
        return
    if not isinstance(path, str) or not is_writable_path(path):
        yield problem("result-path", f"{path!r} must be '$' or a dotted path such as '$.a.b'",
                      field)
    elif path == "$._context" or path.startswith(("$._context.", "$._context[")):
        yield problem("result-path", f"{path!r} would write the read-only $._context", field)


def _template(problem, template: Any, where: str, top: bool = False) -> Iterator[Problem]:
    if isinstance(template, dict):
        for key, value in template.items():
            field = f"{where}.{key}"
            if top and key == "__Private_Parameters":
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    yield problem("parameters", "must be a list of parameter names", field)
                continue
            if key.endswith(".$"):
                yield from _path(problem, value, field)
            elif key.endswith(".="):
                if not isinstance(value, str):
                    yield problem("parameters", "an expression must be a string", field)
                else:
                    yield from _expression(problem, value, field)
            else:
                yield from _template(problem, value, field)
    elif isinstance(template, list):
        for i, value in enumerate(template):
            yield from _template(problem, value, f"{where}[{i}]")


_BACKTICK = re.compile(r"`([^`]*)`")


def _expression(problem, expression: str, field: str) -> Iterator[Problem]:
    quoted = _BACKTICK.findall(expression)
    if quoted:
        yield problem("expression-backtick", "backtick JSONPaths are the older form of the "
                      "Globus Automate docs; the Expressions page names values (a.b)", field,
                      "warning")
        for path in quoted:
            yield from _path(problem, path, field)
        expression = _BACKTICK.sub("__path__", expression)
    try:
        tree = parse_python(expression.strip())
    except SyntaxError as exc:
        yield problem("expression-syntax", f"{expression!r} is not a valid expression: "
                      f"{exc.msg}", field)
        return
    comprehension = False
    for node in ast.walk(tree):
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            comprehension = True
        elif isinstance(node, ast.Lambda):
            yield problem("expression-syntax", "lambda is not part of the expression language",
                          field)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id not in EXPRESSION_FUNCTIONS):
            yield problem("expression-function", f"{node.func.id}() is not an expression "
                          f"function of Globus Flows (documented: "
                          f"{', '.join(EXPRESSION_FUNCTIONS)})", field)
    if comprehension:
        yield problem("expression-comprehension", "a comprehension is not described on the "
                      "Expressions page (Globus' Looping Batched Move example uses one)",
                      field, "warning")
