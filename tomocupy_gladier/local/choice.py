"""Choice rules of the Globus Flows language, evaluated on a run state.

Values of the wrong type never match a comparison (as in the States language) rather than
raise; a missing ``Variable`` is an error except for ``IsPresent``.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import StatesRuntime
from .jsonpath import PathError, read_path
from .timestamps import parse_timestamp


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _wildcard(pattern: str) -> re.Pattern:
    parts = re.split(r"(\\\*|\*)", pattern)
    rx = "".join(".*" if p == "*" else re.escape("*" if p == "\\*" else p) for p in parts)
    return re.compile(rx + r"\Z", re.S)


_ORDER = {
    "Equals": lambda a, b: a == b,
    "LessThan": lambda a, b: a < b,
    "GreaterThan": lambda a, b: a > b,
    "LessThanEquals": lambda a, b: a <= b,
    "GreaterThanEquals": lambda a, b: a >= b,
}


def _compare(op: str, value: Any, expected: Any) -> bool:
    # Values of the wrong type never match (as in the States language), they do not raise.
    if op == "StringMatches":
        return isinstance(value, str) and bool(_wildcard(expected).match(value))
    if op == "BooleanEquals":
        return isinstance(value, bool) and isinstance(expected, bool) and value is expected
    for kind, check in (("String", lambda v: isinstance(v, str)), ("Numeric", _is_number),
                        ("Timestamp", lambda v: isinstance(v, str))):
        if op.startswith(kind):
            if not (check(value) and check(expected)):
                return False
            if kind == "Timestamp":
                try:
                    value, expected = parse_timestamp(value), parse_timestamp(expected)
                except ValueError:
                    return False
            return _ORDER[op[len(kind):]](value, expected)
    raise StatesRuntime(f"unknown comparison {op}")


def evaluate_rule(rule: dict, view: dict) -> bool:
    """Whether a Choice rule (``And``/``Or``/``Not``, a type test or a comparison, with
    ``...Path`` forms) holds on ``view`` (the run state).

    :raises StatesRuntime: the rule's variable (or a ``...Path`` operand) is not present
    """
    if "And" in rule:
        return all(evaluate_rule(r, view) for r in rule["And"])  # short-circuits, in order
    if "Or" in rule:
        return any(evaluate_rule(r, view) for r in rule["Or"])
    if "Not" in rule:
        return not evaluate_rule(rule["Not"], view)
    variable = rule["Variable"]
    try:
        value = read_path(view, variable)
        present = True
    except PathError:
        value, present = None, False
    if "IsPresent" in rule:
        return present is bool(rule["IsPresent"])
    if not present:
        raise StatesRuntime(f"Choice variable {variable} is not present in the run state")
    tests = {
        "IsNull": lambda v: v is None,
        "IsString": lambda v: isinstance(v, str),
        "IsNumeric": _is_number,
        "IsBoolean": lambda v: isinstance(v, bool),
        "IsTimestamp": lambda v: _is_timestamp(v),
    }
    for test, check in tests.items():
        if test in rule:
            return check(value) is bool(rule[test])
    for op, expected in rule.items():
        if op in ("Variable", "Next", "Comment"):
            continue
        if op.endswith("Path"):
            try:
                expected = read_path(view, expected)
            except PathError:
                raise StatesRuntime(f"{op} {expected} is not present in the run state") from None
            op = op[:-4]
        return _compare(op, value, expected)
    raise StatesRuntime(f"rule on {variable} has no comparison")


def _is_timestamp(v: Any) -> bool:
    try:
        parse_timestamp(v)
        return True
    except (TypeError, ValueError):
        return False
