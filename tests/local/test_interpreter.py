"""The Globus Flows language as the local runner executes it."""

from __future__ import annotations

import time

import pytest

from tomocupy_gladier.local.errors import ActionTimeout
from tomocupy_gladier.local.actions import ActionRegistry, ActionResult
from tomocupy_gladier.local.interpreter import FlowRunner

from .conftest import ECHO_URL, FAIL_URL, PICKY_URL, Recorder

CONTEXT = {"run_id": "run-1", "flow_id": "flow-1", "username": "tester"}

EVERYTHING = {
    "Comment": "one of every state type and field",
    "StartAt": "Constants",
    "States": {
        "Constants": {"Type": "Pass", "Result": {"limit": 3}, "ResultPath": "$.constants",
                      "Next": "Params"},
        "Params": {
            "Type": "Pass",
            "Parameters": {
                "n.$": "$.input.n",
                "name.=": "pathsplit(input.path)[1]",
                "has_flag.=": "is_present('input.flag')",
                "fallback.=": "getattr('input.missing', 'default')",
                "run.$": "$._context.run_id",
                "nested": {"items": [{"first.$": "$.input.items[0]"}, "literal"]},
                "all_items.$": "$.input.items[*]",
            },
            "ResultPath": "$.params",
            "Next": "Echo",
        },
        "Echo": {
            "Type": "Action",
            "ActionUrl": ECHO_URL + "/",  # trailing slash: same provider
            "Parameters": {"n.$": "$.params.n", "secret.$": "$.input.secret",
                           "__Private_Parameters": ["secret"]},
            "WaitTime": 5,
            "ResultPath": "$.echo",
            "Next": "EchoInput",
        },
        "EchoInput": {"Type": "Action", "ActionUrl": ECHO_URL, "InputPath": "$.params.nested",
                      "ResultPath": "$.echo2", "Next": "Calc"},
        "Calc": {"Type": "ExpressionEval", "Parameters": {"double.=": "params.n * 2"},
                 "ResultPath": "$.calc", "Next": "Pause"},
        "Pause": {"Type": "Wait", "SecondsPath": "$.input.pause", "Next": "Decide"},
        "Decide": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.input.flag", "BooleanEquals": False, "Next": "Rejected"},
                {"And": [
                    {"Variable": "$.calc.double", "NumericGreaterThanPath": "$.constants.limit"},
                    {"Or": [{"Variable": "$.params.name", "StringMatches": "*.h5"},
                            {"Variable": "$.params.name", "StringEquals": "other"}]},
                    {"Not": {"Variable": "$.input.nothing", "IsPresent": True}},
                ], "Next": "Soft"},
            ],
            "Default": "Rejected",
        },
        "Soft": {"Type": "Action", "ActionUrl": FAIL_URL, "ExceptionOnActionFailure": False,
                 "Parameters": {}, "ResultPath": "$.soft", "Next": "Hard"},
        "Hard": {"Type": "Action", "ActionUrl": FAIL_URL, "Parameters": {},
                 "ResultPath": "$.hard",
                 "Catch": [{"ErrorEquals": ["ActionFailedException"], "ResultPath": "$.caught",
                            "Next": "Done"}],
                 "Next": "Rejected"},
        "Done": {"Type": "Pass", "End": True},
        "Rejected": {"Type": "Fail", "Error": "Rejected", "Cause": "the choice said no"},
    },
}

INPUT = {"input": {"n": 2, "path": "/data/scan.h5", "flag": True, "items": [10, 20],
                   "secret": "hunter2", "pause": 1.5}}


def _run(definition, run_input, providers, **kw):
    events = []
    sleeps = []
    runner = FlowRunner(definition, providers, sleep=sleeps.append, **kw)
    outcome = runner.run(run_input, CONTEXT, lambda c, d, det: events.append((c, d, det)))
    return outcome, events, sleeps


def test_every_state_type_and_field(providers, echo):
    outcome, events, sleeps = _run(EVERYTHING, INPUT, providers)

    assert outcome.status == "SUCCEEDED" and outcome.code == "FlowSucceeded"
    out = outcome.output
    assert out["input"] == INPUT["input"]  # the input is not modified
    assert out["constants"] == {"limit": 3}
    assert out["params"] == {
        "n": 2, "name": "scan.h5", "has_flag": True, "fallback": "default", "run": "run-1",
        "nested": {"items": [{"first": 10}, "literal"]}, "all_items": [10, 20],
    }
    # Parameters reach the provider without the private list; InputPath sends a sub-tree.
    assert echo.requests[0].body == {"n": 2, "secret": "hunter2"}
    assert echo.requests[0].wait_time == 5
    assert echo.requests[1].body == {"items": [{"first": 10}, "literal"]}
    assert out["echo"]["status"] == "SUCCEEDED"
    assert out["echo"]["details"] == {"echo": {"n": 2, "secret": "hunter2"}}
    assert out["calc"] == {"double": 4}
    assert sleeps == [1.5]
    # ExceptionOnActionFailure false: the FAILED action is stored and the flow goes on.
    assert out["soft"]["status"] == "FAILED"
    assert out["soft"]["details"] == {"reason": "it broke"}
    # The default (true) raises ActionFailedException, caught into $.caught.
    assert out["caught"]["Error"] == "ActionFailedException"
    assert out["caught"]["details"]["details"] == {"reason": "it broke"}
    assert "hard" not in out
    assert "_context" not in out

    codes = [e[0] for e in events]
    assert codes == [
        "FlowStarted", "PassCompleted", "PassCompleted",
        "ActionStarted", "ActionCompleted", "ActionStarted", "ActionCompleted",
        "ExpressionEvalCompleted", "WaitStarted", "WaitCompleted", "ChoiceCompleted",
        "ActionStarted", "ActionFailed", "ActionStarted", "ActionFailed", "ErrorCaught",
        "PassCompleted", "FlowSucceeded",
    ]
    started = events[3][2]
    assert started["parameters"] == {"n": 2, "secret": "<private>"}  # not written to the log


def test_default_result_path_replaces_the_whole_state(providers):
    flow = {"StartAt": "A", "States": {
        "A": {"Type": "Action", "ActionUrl": ECHO_URL, "Parameters": {"x": 1}, "End": True}}}
    outcome, _, _ = _run(flow, {"input": {"a": 1}}, providers)
    assert set(outcome.output) == {"action_id", "state_name", "status", "display_status",
                                   "details", "start_time", "completion_time", "release_after"}


def test_context_is_readable_but_never_written(providers):
    flow = {"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Parameters": {"_context": {"run_id": "forged"},
                                             "seen.$": "$._context.run_id"}, "Next": "B"},
        "B": {"Type": "Pass", "Parameters": {"again.$": "$._context.run_id"},
              "ResultPath": "$.b", "End": True}}}
    outcome, _, _ = _run(flow, {"input": {}, "_context": {"run_id": "x"}}, providers)
    assert outcome.output == {"seen": "run-1", "b": {"again": "run-1"}}


def test_uncaught_action_failure_fails_the_run(providers):
    flow = {"StartAt": "A", "States": {
        "A": {"Type": "Action", "ActionUrl": FAIL_URL, "Parameters": {}, "End": True}}}
    outcome, events, _ = _run(flow, {"input": {}}, providers)
    assert outcome.status == "FAILED"
    assert outcome.code == "ActionFailedException"
    assert outcome.state_name == "A"
    assert "it broke" in outcome.description
    assert [e[0] for e in events][-2:] == ["ActionFailed", "FlowFailed"]


@pytest.mark.parametrize("state, cause", [
    ({"ActionUrl": "https://nobody.example.org/x", "Parameters": {}}, "no action provider"),
    ({"ActionUrl": ECHO_URL, "Parameters": {"v.$": "$.input.absent"}}, "no value at"),
    ({"ActionUrl": PICKY_URL, "Parameters": {"other": 1}}, "'needed' is required"),
])
def test_actions_that_cannot_start_raise_action_unable_to_run(providers, state, cause):
    flow = {"StartAt": "A", "States": {"A": {"Type": "Action", "End": True, **state}}}
    outcome, _, _ = _run(flow, {"input": {}}, providers)
    assert (outcome.status, outcome.code) == ("FAILED", "ActionUnableToRun")
    assert cause in outcome.description


def _slow(request):
    time.sleep(1.05)  # past the smallest WaitTime Flows accepts (1 s)
    return ActionResult("SUCCEEDED", {"late": True})


def test_an_action_past_its_wait_time_times_out_and_states_all_catches_it():
    providers = ActionRegistry({ECHO_URL: _slow})
    flow = {"StartAt": "A", "States": {
        "A": {"Type": "Action", "ActionUrl": ECHO_URL, "Parameters": {}, "WaitTime": 1,
              "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.err", "Next": "B"}],
              "End": True},
        "B": {"Type": "Pass", "End": True}}}
    outcome, events, _ = _run(flow, {"input": {}}, providers)
    assert outcome.status == "SUCCEEDED"
    err = outcome.output["err"]
    assert err["Error"] == "ActionTimeout"
    # the exception holds the action's last status, as Flows reports its most recent poll
    assert (err["details"]["status"], err["details"]["state_name"]) == ("ACTIVE", "A")
    assert ("ErrorCaught" in [e[0] for e in events])


def test_gladier_states_all_never_matches():
    # Flows compares error names exactly: Gladier's "States.All" is not the catch-all
    providers = ActionRegistry({ECHO_URL: _slow})
    flow = {"StartAt": "A", "States": {
        "A": {"Type": "Action", "ActionUrl": ECHO_URL, "Parameters": {}, "WaitTime": 1,
              "Catch": [{"ErrorEquals": ["States.All"], "ResultPath": "$.err", "Next": "B"}],
              "End": True},
        "B": {"Type": "Pass", "End": True}}}
    outcome, _, _ = _run(flow, {"input": {}}, providers)
    assert (outcome.status, outcome.code) == ("FAILED", "ActionTimeout")


def test_a_provider_timeout_is_uncaught_without_catch():
    def timing_out(request):
        raise ActionTimeout("took too long", {"task": "t"})

    flow = {"StartAt": "A", "States": {
        "A": {"Type": "Action", "ActionUrl": ECHO_URL, "Parameters": {}, "End": True}}}
    outcome, _, _ = _run(flow, {"input": {}}, ActionRegistry({ECHO_URL: timing_out}))
    assert (outcome.status, outcome.code) == ("FAILED", "ActionTimeout")


def test_catch_only_matches_listed_errors(providers):
    flow = {"StartAt": "A", "States": {
        "A": {"Type": "Action", "ActionUrl": FAIL_URL, "Parameters": {},
              "Catch": [{"ErrorEquals": ["ActionTimeout"], "Next": "B"}], "End": True},
        "B": {"Type": "Pass", "End": True}}}
    outcome, _, _ = _run(flow, {"input": {}}, providers)
    assert outcome.code == "ActionFailedException"


def test_catch_with_default_result_path_replaces_the_state(providers):
    flow = {"StartAt": "A", "States": {
        "A": {"Type": "Action", "ActionUrl": FAIL_URL, "Parameters": {},
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "B"}], "End": True},
        "B": {"Type": "Pass", "End": True}}}
    outcome, _, _ = _run(flow, {"input": {}}, providers)
    assert outcome.status == "SUCCEEDED"
    assert outcome.output["Error"] == "ActionFailedException"
    assert "input" not in outcome.output


def test_fail_state_sets_code_and_description(providers):
    outcome, _, _ = _run(EVERYTHING, {"input": {**INPUT["input"], "flag": False}}, providers)
    assert (outcome.status, outcome.code, outcome.description) == (
        "FAILED", "Rejected", "the choice said no")
    assert outcome.details()["state_name"] == "Rejected"


def test_fail_state_takes_error_and_cause_from_the_run_data_with_error_path(providers):
    flow = {"StartAt": "Boom", "States": {
        "Boom": {"Type": "Action", "ActionUrl": FAIL_URL, "Parameters": {},
                 "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.caught", "Next": "Stop"}],
                 "End": True},
        "Stop": {"Type": "Fail", "ErrorPath": "$.caught.Error", "CausePath": "$.caught.Cause"}}}
    outcome, _, _ = _run(flow, {"input": {}}, providers)
    assert (outcome.status, outcome.code) == ("FAILED", "ActionFailedException")
    assert outcome.description == outcome.output["caught"]["Cause"]


def test_fail_state_with_an_error_path_to_nothing_is_a_runtime_error(providers):
    flow = {"StartAt": "Stop", "States": {"Stop": {"Type": "Fail", "ErrorPath": "$.missing"}}}
    outcome, _, _ = _run(flow, {"input": {}}, providers)
    assert (outcome.status, outcome.code) == ("FAILED", "States.Runtime")


@pytest.mark.parametrize("rule, value, expected", [
    ({"StringEquals": "a"}, "a", True),
    ({"StringLessThan": "b"}, "a", True),
    ({"StringGreaterThanEquals": "b"}, "a", False),
    ({"StringMatches": "scan_*.h5"}, "scan_01.h5", True),
    ({"StringMatches": r"a\*"}, "a*", True),
    ({"StringMatches": r"a\*"}, "ab", False),
    ({"NumericEquals": 3}, 3.0, True),
    ({"NumericLessThanEquals": 3}, 4, False),
    ({"NumericEquals": 1}, True, False),  # a boolean is not a number
    ({"NumericEquals": 3}, "3", False),  # wrong type: no match, no error
    ({"BooleanEquals": True}, True, True),
    ({"BooleanEquals": True}, 1, False),
    ({"TimestampLessThan": "2030-01-01T00:00:00Z"}, "2026-11-26T10:00:00Z", True),
    ({"IsNull": True}, None, True),
    ({"IsString": True}, "x", True),
    ({"IsNumeric": False}, "x", True),
    ({"IsBoolean": True}, False, True),
])
def test_choice_comparisons(providers, rule, value, expected):
    flow = {"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.v", **rule, "Next": "Yes"}],
              "Default": "No"},
        "Yes": {"Type": "Pass", "Result": "yes", "ResultPath": "$.r", "End": True},
        "No": {"Type": "Pass", "Result": "no", "ResultPath": "$.r", "End": True}}}
    outcome, _, _ = _run(flow, {"v": value}, providers)
    assert outcome.output["r"] == ("yes" if expected else "no")


def test_choice_on_a_missing_variable_fails_the_run_unless_guarded(providers):
    guarded = {"And": [{"Variable": "$.input.enable", "IsPresent": True},
                       {"Variable": "$.input.enable", "BooleanEquals": True}], "Next": "Yes"}
    bare = {"Variable": "$.input.enable", "BooleanEquals": True, "Next": "Yes"}
    for rule, status in ((guarded, "SUCCEEDED"), (bare, "FAILED")):
        flow = {"StartAt": "C", "States": {
            "C": {"Type": "Choice", "Choices": [rule], "Default": "No"},
            "Yes": {"Type": "Pass", "End": True}, "No": {"Type": "Pass", "End": True}}}
        outcome, _, _ = _run(flow, {"input": {}}, providers)
        assert outcome.status == status
        if status == "FAILED":
            assert outcome.code == "States.Runtime"
            assert "$.input.enable" in outcome.description


def test_choice_without_match_or_default_fails(providers):
    flow = {"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.v", "NumericEquals": 1,
                                             "Next": "Y"}]},
        "Y": {"Type": "Pass", "End": True}}}
    outcome, _, _ = _run(flow, {"v": 2}, providers)
    assert (outcome.status, outcome.code) == ("FAILED", "States.Runtime")


def test_wait_variants(providers):
    flow = {"StartAt": "W1", "States": {
        "W1": {"Type": "Wait", "Seconds": 2, "Next": "W2"},
        "W2": {"Type": "Wait", "Timestamp": "2000-01-01T00:00:00Z", "Next": "W3"},
        "W3": {"Type": "Wait", "TimestampPath": "$.when", "End": True}}}
    outcome, _, sleeps = _run(flow, {"when": "2000-01-01T00:00:00+00:00"}, providers)
    assert outcome.status == "SUCCEEDED"
    assert sleeps == [2.0]  # timestamps in the past do not sleep


def test_state_size_limit(providers):
    flow = {"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Result": "x" * 5000, "ResultPath": "$.big", "End": True}}}
    outcome, _, _ = _run(flow, {}, providers, max_state_bytes=1000)
    assert (outcome.status, outcome.code) == ("FAILED", "States.Runtime")
    assert "1000-byte limit" in outcome.description


def test_expression_errors_name_the_key(providers):
    flow = {"StartAt": "E", "States": {
        "E": {"Type": "ExpressionEval", "Parameters": {"bad.=": "nope + 1"}, "End": True}}}
    outcome, _, _ = _run(flow, {}, providers)
    assert outcome.code == "States.Runtime"
    assert "'bad.='" in outcome.description


def test_registry_normalises_urls():
    rec = Recorder()
    registry = ActionRegistry({"HTTPS://Transfer.Example.org/transfer/": rec})
    assert registry.get("https://transfer.example.org/transfer") is rec


def test_one_runner_serves_concurrent_runs():
    from concurrent.futures import ThreadPoolExecutor

    def slow_echo(request):
        time.sleep(0.05)
        return ActionResult("SUCCEEDED", {"run": request.run_id})

    flow = {"StartAt": "A", "States": {
        "A": {"Type": "Action", "ActionUrl": ECHO_URL, "Parameters": {}, "ResultPath": "$.a",
              "Next": "B"},
        "B": {"Type": "Pass", "Parameters": {"run.$": "$._context.run_id"}, "End": True}}}
    runner = FlowRunner(flow, ActionRegistry({ECHO_URL: slow_echo}))
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda i: runner.run({}, {"run_id": f"r{i}"}), range(8)))
    assert [o.output for o in outcomes] == [{"run": f"r{i}"} for i in range(8)]


@pytest.mark.parametrize("rule, expected", [
    ({"StringEqualsPath": "$.other.s"}, True),
    ({"NumericLessThanPath": "$.other.n"}, True),
    ({"BooleanEqualsPath": "$.other.b"}, False),
    ({"TimestampGreaterThanEqualsPath": "$.other.t"}, False),
])
def test_choice_path_variants_compare_with_another_value(providers, rule, expected):
    state = {"v": "x", "other": {"s": "x", "n": 5, "b": True, "t": "2030-01-01T00:00:00Z"}}
    variable = {"StringEqualsPath": "$.v", "NumericLessThanPath": "$.n",
                "BooleanEqualsPath": "$.flag", "TimestampGreaterThanEqualsPath": "$.when"}
    state.update(n=1, flag=False, when="2026-01-01T00:00:00Z")
    flow = {"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Default": "No", "Choices": [
            {"Variable": variable[next(iter(rule))], **rule, "Next": "Yes"}]},
        "Yes": {"Type": "Pass", "Result": True, "ResultPath": "$.r", "End": True},
        "No": {"Type": "Pass", "Result": False, "ResultPath": "$.r", "End": True}}}
    outcome, _, _ = _run(flow, state, providers)
    assert outcome.output["r"] is expected


def test_expressions_read_keys_before_methods_and_stay_safe(providers):
    flow = {"StartAt": "E", "States": {"E": {"Type": "ExpressionEval", "End": True,
                                             "Parameters": {
        "first.=": "input.items[0] + 1",  # a key named like dict.items
        "doubled.=": "[x * 2 for x in input.items]",
        "upper.=": "input.path.upper()",  # methods of values, as in Globus' examples
        "name.=": "'%s_rec' % pathsplit(input.path)[1]",
        "run.=": "_context.run_id",
    }}}}
    outcome, _, _ = _run(flow, {"input": {"items": [1, 2], "path": "/d/scan.h5"}}, providers)
    assert outcome.output == {"first": 2, "doubled": [2, 4], "upper": "/D/SCAN.H5",
                              "name": "scan.h5_rec", "run": "run-1"}

    unsafe = {"StartAt": "E", "States": {"E": {"Type": "ExpressionEval", "End": True,
                                               "Parameters": {"x.=": "input.__class__"}}}}
    outcome, _, _ = _run(unsafe, {"input": []}, providers)
    assert outcome.code == "States.Runtime" and "not available" in outcome.description
