"""Validation of flow input against a flow's schema, with messages that name the field."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import jsonschema
from jsonschema.exceptions import ValidationError

from tomocupy_gladier.errors import FlowInputError
from tomocupy_gladier.experiment.options import COMMANDS, RECON_OPTIONS


def _where(error: ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join(parts) if parts else "(top level)"


def describe_error(error: ValidationError) -> str:
    where = _where(error)
    validator = error.validator
    if validator == "enum":
        allowed = ", ".join(repr(v) for v in error.validator_value)
        return f"{where}: {error.instance!r} is not allowed; choose one of {allowed}"
    if validator == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(known))
        return f"{where}: unknown key(s) {', '.join(map(repr, extra))}; known keys: {', '.join(known)}"
    if validator == "required":
        return f"{where}: {error.message}"
    if validator == "type":
        return f"{where}: expected {error.validator_value}, got {error.instance!r}"
    if validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return f"{where}: {error.message}"
    if validator == "format":
        return f"{where}: {error.instance!r} is not a valid {error.validator_value}"
    if validator == "pattern" and error.validator_value.startswith("^[0-9a-fA-F]{8}"):
        return f"{where}: {error.instance!r} is not a valid UUID"
    return f"{where}: {error.message}"


def _command_of_variants(error: ValidationError) -> list[str] | None:
    """The command of each form of a ``oneOf`` split by command (the ``recon`` block), else None."""
    variants = error.validator_value if error.validator == "oneOf" else None
    try:
        commands = [v["properties"]["command"]["enum"] for v in variants or []]
    except (KeyError, TypeError):
        return None
    return [c[0] for c in commands] if commands and all(len(c) == 1 for c in commands) else None


def leaf_errors(errors: Iterable[ValidationError]) -> Iterable[ValidationError]:
    for error in errors:
        commands = _command_of_variants(error)
        if commands is not None and isinstance(error.instance, Mapping):
            # one form per command: only the form of the command given speaks
            command = error.instance.get("command", commands[0])
            if command not in commands:
                yield ValidationError(f"{command!r} is not a tomocupy command", validator="enum",
                                      validator_value=commands, instance=command,
                                      path=list(error.absolute_path) + ["command"])
                continue
            index = commands.index(command)
            yield from leaf_errors(e for e in error.context if e.relative_schema_path[0] == index)
        elif error.context:
            yield from leaf_errors(error.context)
        else:
            yield error


def _command_problems(recon: Mapping[str, Any], where: str) -> list[str]:
    command = recon.get("command", "recon")
    if command not in COMMANDS:
        return []  # reported by the schema
    problems = []
    for option in RECON_OPTIONS:
        if option.name in recon and command not in option.commands:
            problems.append(f"{where}.{option.name}: only valid with command "
                            f"{' or '.join(repr(c) for c in option.commands)}, not {command!r}")
        choices = option.choices(command)
        value = recon.get(option.name)
        if option.name in recon and command in option.commands and choices and value not in choices:
            problems.append(f"{where}.{option.name}: {value!r} is not allowed with command "
                            f"{command!r}; choose one of {', '.join(map(repr, choices))}")
    return problems


def validate_flow_input(schema: Mapping[str, Any], body: Mapping[str, Any]) -> None:
    """Raise :class:`FlowInputError` listing every problem of ``body`` against ``schema``."""
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    problems: list[str] = []
    recon = body.get("input", {}).get("recon") if isinstance(body.get("input"), Mapping) else None
    if isinstance(recon, Mapping):
        problems += _command_problems(recon, "input.recon")
    explained = {p.split(":", 1)[0] for p in problems}
    for error in sorted(validator.iter_errors(body), key=lambda e: list(map(str, e.absolute_path))):
        for leaf in ([error] if error.validator == "not" else leaf_errors([error])):
            extra = (set(leaf.instance) - set(leaf.schema.get("properties", {}))
                     if leaf.validator == "additionalProperties" else set())
            if (_where(leaf) in explained or (explained and leaf.validator in ("not", "if"))
                    or (extra and all(f"{_where(leaf)}.{k}" in explained for k in extra))):
                continue  # the command check above already said it, by name
            message = describe_error(leaf)
            if message not in problems:
                problems.append(message)
    if problems:
        raise FlowInputError(problems)
