"""Flow definitions are checked before anything runs; errors name the state."""

import pytest

from tomocupy_gladier.local import DefinitionError, validate_definition


def _flow(**states):
    return {"StartAt": next(iter(states)), "States": states}


def test_a_valid_definition_passes():
    validate_definition(_flow(A={"Type": "Pass", "Next": "B"}, B={"Type": "Pass", "End": True}))


@pytest.mark.parametrize("definition, message", [
    ({"States": {"A": {"Type": "Pass", "End": True}}}, "'StartAt' is missing"),
    ({"StartAt": "Z", "States": {"A": {"Type": "Pass", "End": True}}}, "'StartAt' names 'Z'"),
    (_flow(A={"Type": "Task", "End": True}), "state 'A': unknown state type 'Task'"),
    (_flow(A={"Type": "Pass", "End": True, "OutputPath": "$.x"}),
     "state 'A': 'OutputPath' is not supported"),
    (_flow(A={"Type": "Pass"}), "state 'A': needs 'Next' or 'End: true'"),
    (_flow(A={"Type": "Pass", "Next": "Nowhere"}), "state 'A': 'Next' names 'Nowhere'"),
    (_flow(A={"Type": "Choice", "Choices": [{"Variable": "$.x", "IsPresent": True,
                                             "Next": "B"}], "Default": "Gone"},
           B={"Type": "Pass", "End": True}), "state 'A': 'Default' names 'Gone'"),
    (_flow(A={"Type": "Action", "ActionUrl": "https://x", "End": True,
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Lost"}]}),
     "state 'A': Catch[0] 'Next' names 'Lost'"),
    (_flow(A={"Type": "Pass", "ResultPath": "$._context.x", "End": True}),
     "read-only $._context"),
    (_flow(A={"Type": "Action", "End": True}), "an Action needs 'ActionUrl'"),
    (_flow(A={"Type": "Action", "ActionUrl": "https://x", "WaitTime": 0, "End": True}),
     "'WaitTime' must be a positive number"),
    (_flow(A={"Type": "Pass", "Parameters": {"x.$": "input.a"}, "End": True}),
     "Parameters.x.$: 'input.a' is not a valid JSONPath"),
    (_flow(A={"Type": "Wait", "End": True}), "exactly one of Seconds"),
    (_flow(A={"Type": "Pass", "ResultPath": "$.a[0]", "End": True}),
     "ResultPath '$.a[0]' must be '$' or a dotted path"),
    (_flow(A={"Type": "Fail", "End": True}), "a Fail state takes neither"),
    (_flow(A={"Type": "Pass", "End": True, "Retry": []}), "'Retry' is not supported"),
    (_flow(A={"Type": "Pass", "End": True, "Bogus": 1}), "field 'Bogus' is not allowed"),
])
def test_each_problem_is_reported_with_its_state(definition, message):
    with pytest.raises(DefinitionError) as info:
        validate_definition(definition)
    assert message in str(info.value)


def test_every_problem_is_listed_at_once():
    with pytest.raises(DefinitionError) as info:
        validate_definition(_flow(A={"Type": "Pass", "Next": "X"}, B={"Type": "Nope"}))
    text = str(info.value)
    assert "state 'A'" in text and "state 'B'" in text
