"""One minimal definition per Globus Flows rule, each breaking only that rule, checked against
the exact message; the local runner refuses the same definitions before anything runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tomocupy_gladier.local import DefinitionError, validate_definition
from tomocupy_gladier.local.flow_rules import (
    RULES,
    Problem,
    check_definition,
    check_input,
)
from tomocupy_gladier.local.actions import ActionRegistry
from tomocupy_gladier.local.interpreter import FlowRunner

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "flows"
URL = "https://actions.example.org/hello"


def _flow(**states):
    return {"StartAt": next(iter(states)), "States": states}


def _action(**fields):
    return {"Type": "Action", "ActionUrl": URL, "Parameters": {}, "End": True, **fields}


def _pass(**fields):
    return {"Type": "Pass", "End": True, **fields}


def _choice(rule, **fields):
    return _flow(C={"Type": "Choice", "Choices": [{**rule, "Next": "D"}], "Default": "D",
                    **fields}, D=_pass())


# (rule, definition breaking only that rule, exact message, severity)
CASES = [
    ("definition-object", [], "definition: the definition must be a JSON object", "error"),
    ("top-level-fields", {**_flow(A=_pass()), "Version": "1.0"},
     ("field 'Version': not allowed at the top level of a definition (only StartAt, States, "
     "Comment)"), "error"),
    ("states", {"StartAt": "A", "States": {}},
     "field 'States': must be a non-empty object of states", "error"),
    ("start-at", {"States": {"A": _pass()}},
     "field 'StartAt': is missing (a string naming the first state)", "error"),
    ("state-type", _flow(A={"Type": "Task", "End": True}),
     ("state 'A', field 'Type': unknown state type 'Task' (Globus Flows has Action, "
     "ExpressionEval, Choice, Pass, Wait, Fail)"), "error"),
    ("unknown-field", _flow(A=_pass(Bogus=1)),
     "state 'A', field 'Bogus': not allowed on a Pass state", "error"),
    ("output-path", _flow(A=_pass(OutputPath="$.x")),
     ("state 'A', field 'OutputPath': OutputPath is not supported by Globus Flows (use "
     "ResultPath)"), "error"),
    ("next-or-end", _flow(A={"Type": "Pass"}),
     "state 'A', field 'Next': missing: the state needs Next or \"End\": true", "error"),
    ("next-target", _flow(A={"Type": "Pass", "Next": "Nowhere"}),
     "state 'A', field 'Next': names 'Nowhere', which is not a state", "error"),
    ("unreachable", _flow(A=_pass(), B=_pass()),
     "state 'B': is not reachable from StartAt 'A'", "error"),
    ("action-url", _flow(A=_action(ActionUrl="")),
     "state 'A', field 'ActionUrl': missing: an Action needs the URL of its action provider",
     "error"),
    ("action-input", _flow(A={"Type": "Action", "ActionUrl": URL, "End": True}),
     "state 'A', field 'Parameters': missing: an Action needs Parameters or InputPath",
     "error"),
    ("wait-time", _flow(A=_action(WaitTime=0.5)),
     "state 'A', field 'WaitTime': must be an integer number of seconds, got 0.5", "error"),
    ("field-type", _flow(A=_action(ExceptionOnActionFailure="yes")),
     "state 'A', field 'ExceptionOnActionFailure': must be a boolean", "error"),
    ("jsonpath", _flow(A=_pass(Parameters={"x.$": "input.a"})),
     "state 'A', field Parameters.x.$: 'input.a' is not a JSONPath (it must start with '$')",
     "error"),
    ("jsonpath-filter", _choice({"Variable": "$.input.items[?(@ > 1)]", "IsPresent": True}),
     ("state 'C', field Choices[0].Variable: '$.input.items[?(@ > 1)]' uses a JSONPath filter "
     "or script expression, which Globus Flows does not support"), "error"),
    ("result-path", _flow(A=_pass(ResultPath="$._context.x")),
     "state 'A', field 'ResultPath': '$._context.x' would write the read-only $._context",
     "error"),
    ("parameters", _flow(A=_action(Parameters={"__Private_Parameters": "secret"})),
     "state 'A', field Parameters.__Private_Parameters: must be a list of parameter names",
     "error"),
    ("expression-syntax", _flow(A=_pass(Parameters={"x.=": "input.a +"})),
     "state 'A', field Parameters.x.=: 'input.a +' is not a valid expression: invalid syntax",
     "error"),
    ("expression-function", _flow(A=_pass(Parameters={"n.=": "len(input.items)"})),
     ("state 'A', field Parameters.n.=: len() is not an expression function of Globus Flows "
     "(documented: pathsplit, is_present, getattr)"), "error"),
    ("expression-comprehension",
     _flow(A=_pass(Parameters={"d.=": "[x * 2 for x in input.items]"})),
     ("state 'A', field Parameters.d.=: a comprehension is not described on the Expressions "
     "page (Globus' Looping Batched Move example uses one)"), "warning"),
    ("expression-backtick", _flow(A=_pass(Parameters={"d.=": "[`$.input.path`]"})),
     ("state 'A', field Parameters.d.=: backtick JSONPaths are the older form of the Globus "
     "Automate docs; the Expressions page names values (a.b)"), "warning"),
    ("catch", _flow(A=_action(Catch=[{"ErrorEquals": ["States.ALL"], "Next": "B",
                                      "Comment": "why"}]), B=_pass()),
     ("state 'A', field Catch[0].Comment: not allowed in a catcher (only ErrorEquals, Next, "
     "ResultPath)"), "error"),
    ("error-equals", _flow(A=_action(Catch=[{"ErrorEquals": [], "Next": "B"}]), B=_pass()),
     "state 'A', field Catch[0].ErrorEquals: must be a non-empty list of error names", "error"),
    ("error-name", _flow(A=_action(Catch=[{"ErrorEquals": ["States.All"], "Next": "B"}]),
                         B=_pass()),
     ("state 'A', field Catch[0].ErrorEquals: 'States.All' never matches: error names are "
     "case-sensitive, write 'States.ALL'"), "warning"),
    ("choice", _flow(C={"Type": "Choice", "Choices": [], "Default": "D"}, D=_pass()),
     "state 'C', field 'Choices': must be a non-empty list of rules", "error"),
    ("choice-rule", _choice({"Variable": "$.x", "IsPresent": True, "Comment": "why"}),
     "state 'C', field Choices[0].Comment: not allowed in a Choice rule", "error"),
    ("wait", _flow(W={"Type": "Wait", "End": True}),
     ("state 'W', field 'Seconds': a Wait state needs exactly one of Seconds, SecondsPath, "
     "Timestamp, TimestampPath (found 0)"), "error"),
    ("fail", _flow(F={"Type": "Fail", "Error": "E", "ErrorPath": "$.e"}),
     "state 'F', field 'ErrorPath': Error and ErrorPath are mutually exclusive", "error"),
    ("pass", _flow(A=_pass(Result={}, InputPath="$.x")),
     "state 'A', field 'InputPath': Result and InputPath are mutually exclusive", "error"),
    ("expression-eval", _flow(E={"Type": "ExpressionEval", "End": True}),
     "state 'E', field 'Parameters': missing: an ExpressionEval state needs Parameters",
     "error"),
]

# the problems the issue reported as accepted by the old, too permissive, checker
ISSUE_CASES = [
    ("Catch on an ExpressionEval state",
     _flow(E={"Type": "ExpressionEval", "Parameters": {"a": 1}, "End": True,
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "F"}]}, F=_pass()),
     ["state 'E', field 'Catch': not allowed on an ExpressionEval state"]),
    ("list comprehension in .=", _flow(A=_pass(Parameters={"x.=": "[y for y in input]"})),
     []),  # accepted, with a warning: Globus' own example flow uses one
]


@pytest.mark.parametrize("rule, definition, message, severity", CASES,
                         ids=[c[0] for c in CASES])
def test_each_rule_with_its_exact_message(rule, definition, message, severity):
    problems = check_definition(definition)
    assert [(p.rule, str(p), p.severity) for p in problems] == [(rule, message, severity)]


@pytest.mark.parametrize("rule, definition, message, severity",
                         [c for c in CASES if c[3] == "error"],
                         ids=[c[0] for c in CASES if c[3] == "error"])
def test_the_runner_refuses_the_same_definitions_before_starting(rule, definition, message,
                                                                 severity):
    with pytest.raises(DefinitionError) as info:
        FlowRunner(definition, ActionRegistry())
    assert message in str(info.value)


@pytest.mark.parametrize("rule, definition, message, severity",
                         [c for c in CASES if c[3] == "warning"],
                         ids=[c[0] for c in CASES if c[3] == "warning"])
def test_warnings_do_not_stop_a_flow(rule, definition, message, severity):
    assert [str(w) for w in validate_definition(definition)] == [message]
    FlowRunner(definition, ActionRegistry())


def test_every_rule_has_a_test_and_a_doc_source():
    tested = {c[0] for c in CASES} | {"input-schema", "input-size"}
    assert tested == set(RULES)
    assert all(summary and source for summary, source in RULES.values())


def test_every_rule_is_in_the_docs_table():
    text = (ROOT / "docs" / "local-backend.md").read_text()
    missing = [rule for rule in RULES if f"`{rule}`" not in text]
    assert missing == []


@pytest.mark.parametrize("case, definition, messages", ISSUE_CASES,
                         ids=[c[0] for c in ISSUE_CASES])
def test_the_issue_examples(case, definition, messages):
    problems = check_definition(definition)
    assert [str(p) for p in problems if p.severity == "error"] == messages


@pytest.mark.parametrize("wait_time, message", [
    (0, "0 is outside 1..31536000 seconds"),
    (31536001, "31536001 is outside 1..31536000 seconds"),
    (True, "must be an integer number of seconds, got True"),
    ("60", "must be an integer number of seconds, got '60'"),
])
def test_wait_time_range(wait_time, message):
    [problem] = check_definition(_flow(A=_action(WaitTime=wait_time)))
    assert str(problem) == f"state 'A', field 'WaitTime': {message}"


def test_wait_time_limits_are_accepted():
    assert check_definition(_flow(A=_action(WaitTime=1), B=_action(WaitTime=31536000))) == [
        Problem("unreachable", "is not reachable from StartAt 'A'", state="B")]


def test_input_schema_must_be_a_json_schema():
    [problem] = check_definition(_flow(A=_pass()), {"type": "objekt"})
    assert problem.rule == "input-schema"
    assert str(problem).startswith("field input_schema: not a valid JSON Schema at type: ")
    assert check_definition(_flow(A=_pass()), {"type": "object"}) == []


def test_input_size_limit_and_schema():
    schema = {"type": "object", "required": ["input"]}
    assert [str(p) for p in check_input({"x": 1}, schema)] == [
        "field input: (root): 'input' is a required property"]
    [big] = check_input({"input": "x" * 200_000})
    assert str(big) == ("field input: the run input is 200012 bytes, over the 200000-byte "
                        "limit of a run state")


def test_every_problem_is_listed_at_once():
    with pytest.raises(DefinitionError) as info:
        validate_definition(_flow(A={"Type": "Pass", "Next": "X"}, B={"Type": "Nope"}))
    text = str(info.value)
    assert "state 'A', field 'Next': names 'X'" in text and "state 'B', field 'Type'" in text


def test_gladier_comment_null_and_result_path_null_are_accepted():
    flow = _flow(A=_pass(Comment=None, ResultPath=None))
    assert check_definition(flow) == []


# ------------------------------------------------------------------ real, published flows

EXPECTED_WARNINGS = {
    "globus_looping_batched_move.json": ["expression-comprehension"] * 2,
    "automate_transfer_mv.json": ["expression-backtick"],
}


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.name)
def test_published_flows_validate(path):
    definition = json.loads(path.read_text())
    problems = check_definition(definition)
    assert [p.rule for p in problems] == EXPECTED_WARNINGS.get(path.name, []), problems
    FlowRunner(definition, ActionRegistry())  # and the local runner takes them


@pytest.mark.parametrize("name", ["tomocupy", "recon"])
def test_our_exported_flows_validate_clean(name):
    definition = json.loads((ROOT / "flows" / f"{name}.definition.json").read_text())
    schema = json.loads((ROOT / "flows" / f"{name}.schema.json").read_text())
    assert check_definition(definition, schema) == []
