"""Static checks of a Globus Flows definition, run before a flow is stored or started.

The rules live in :mod:`.flow_rules`; this module turns their errors into one
:class:`DefinitionError` that lists every problem, each naming its state and field.
Warnings (accepted by Globus) never stop a flow.
"""

from __future__ import annotations

from typing import Any

from .errors import DefinitionError
from .flow_rules import (  # noqa: F401  (re-exported)
    ALLOWED_FIELDS,
    CATCH_ALL,
    COMPARATORS,
    PATH_COMPARATORS,
    STATE_TYPES,
    TYPE_TESTS,
    Problem,
    check_definition,
    errors,
)


def validate_definition(definition: Any, input_schema: Any = None) -> list[Problem]:
    """Check ``definition`` (and ``input_schema`` when given) as Globus Flows would.

    :returns: the warnings (problems Globus accepts)
    :raises DefinitionError: listing every error found
    """
    problems = check_definition(definition, input_schema)
    found = errors(problems)
    if found:
        raise DefinitionError("invalid flow definition:\n  " + "\n  ".join(map(str, found)))
    return [p for p in problems if p.severity != "error"]
