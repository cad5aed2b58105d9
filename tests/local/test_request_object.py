"""The one check every local action provider makes first: an object with only known fields."""

from __future__ import annotations

import pytest

from tomocupy_gladier.local.errors import InvalidRequest, request_object


def test_an_object_with_known_fields_is_returned_as_is():
    body = {"a": 1}
    assert request_object(body, {"a", "b"}, "a request") is body


@pytest.mark.parametrize("value, message", [
    (["a"], "a request must be an object"),
    ({"a": 1, "c": 2}, "a request has unknown fields ['c']; known: ['a', 'b']"),
])
def test_anything_else_is_refused_naming_what_and_why(value, message):
    with pytest.raises(InvalidRequest) as refused:
        request_object(value, {"a", "b"}, "a request")
    assert str(refused.value) == message
