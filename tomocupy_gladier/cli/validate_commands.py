"""``tomocupy-gladier validate``: check a flow definition offline, as Globus Flows would."""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from tomocupy_gladier.errors import UserError
from tomocupy_gladier.flows import FLOWS


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{what} {path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{what} {path} is not JSON: {exc}") from None


def _load_class(ref: str) -> Any:
    """``package.module:Class`` or ``path/to/file.py:Class``."""
    module_ref, _, name = ref.rpartition(":")
    if not module_ref or not name:
        raise UserError(f"{ref!r} is not MODULE:CLASS (e.g. examples/catalog_flow.py:TomocupyFlowWithCatalog)")
    try:
        if module_ref.endswith(".py"):
            path = Path(module_ref)
            if not path.is_file():
                raise UserError(f"{module_ref} does not exist")
            spec = importlib.util.spec_from_file_location(path.stem, path)
            if spec is None or spec.loader is None:
                raise UserError(f"cannot import {module_ref}: not a Python module")
            module = importlib.util.module_from_spec(spec)
            sys.modules.setdefault(path.stem, module)
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_ref)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - an import error in user code: one line
        raise UserError(f"cannot import {module_ref}: {exc.__class__.__name__}: {exc}") from None
    try:
        return getattr(module, name)
    except AttributeError:
        raise UserError(f"{module_ref} has no {name}") from None


def _from_client(client_cls: Any) -> tuple[dict, dict | None]:
    from gladier.managers.login_manager import CallbackLoginManager

    from tomocupy_gladier.globus.gladier_storage import client_with_storage

    storage = Path(tempfile.mkdtemp(prefix="tomocupy-gladier-validate-")) / "offline.cfg"
    try:
        client = client_with_storage(client_cls, storage, login_manager=CallbackLoginManager({}))
        return client.get_flow_definition(), client.get_flow_schema()
    except Exception as exc:  # noqa: BLE001 - a broken client: one line, no traceback
        raise UserError(f"cannot build the flow of {getattr(client_cls, '__name__', client_cls)}"
                        f": {exc.__class__.__name__}: {exc}") from None


def _target(target: str | None, flow_name: str | None) -> tuple[str, dict, dict | None]:
    if (target is None) == (flow_name is None):
        raise UserError("give one of: a definition FILE, MODULE:CLASS, or --flow NAME")
    if flow_name is not None:
        from tomocupy_gladier.clients.client_factory import offline_client

        client = offline_client(flow_name)
        return f"flow {flow_name}", client.get_flow_definition(), client.get_flow_schema()
    assert target is not None  # exactly one of the two, checked above
    path = Path(target)
    if path.suffix == ".json" or path.is_file():
        doc = _read_json(path, "definition file")
        if isinstance(doc, dict) and "definition" in doc and "States" not in doc:
            # a flow document, as Flows' API takes it: {definition, input_schema, ...}
            return str(path), doc["definition"], doc.get("input_schema")
        return str(path), doc, None
    definition, schema = _from_client(_load_class(target))
    return target, definition, schema


@click.command()
@click.argument("target", required=False)
@click.option("--flow", "flow_name", type=click.Choice(list(FLOWS)), default=None,
              help="One of this project's flows instead of TARGET.")
@click.option("--schema", "schema_path", type=click.Path(dir_okay=False),
              help="Input schema (JSON) to check with the definition.")
@click.option("--input", "input_path", type=click.Path(dir_okay=False),
              help="A run input (JSON) to check against the schema and the size limit.")
def validate(target: str | None, flow_name: str | None, schema_path: str | None,
             input_path: str | None) -> None:
    """Check a flow definition offline against Globus Flows' rules.

    TARGET is a JSON file (a definition, or {"definition", "input_schema"}) or a Gladier
    client as MODULE:CLASS (e.g. examples/catalog_flow.py:TomocupyFlowWithCatalog). Every problem is
    printed with its state and field; exit status 0 when there are no errors (warnings are
    accepted by Globus), 1 otherwise. The local backend runs the same checks before a run.
    """
    from tomocupy_gladier.local.flow_rules import check_definition, check_input

    name, definition, schema = _target(target, flow_name)
    if schema_path:
        schema = _read_json(Path(schema_path), "input schema")
    problems = check_definition(definition, schema)
    if input_path:
        problems += check_input(_read_json(Path(input_path), "run input"), schema)
    errors = [p for p in problems if p.severity == "error"]
    warnings = [p for p in problems if p.severity != "error"]
    for problem in errors + warnings:
        click.echo(f"{problem.severity}: {problem} [{problem.rule}]")
    states = len(definition.get("States") or {}) if isinstance(definition, dict) else 0
    checked = "definition" + (" and input schema" if schema is not None else "")
    if errors:
        click.echo(f"{name}: {len(errors)} error(s), {len(warnings)} warning(s); "
                   "Globus Flows would refuse this flow")
        sys.exit(1)
    click.echo(f"{name}: {checked} valid ({states} states"
               + (f", {len(warnings)} warning(s)" if warnings else "") + ")")


COMMANDS = [validate]
