"""``tomocupy-gladier validate``: a file, ``--flow NAME`` or ``MODULE:CLASS``; exit 0 / 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tomocupy_gladier.cli import main

ROOT = Path(__file__).resolve().parents[2]


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.parametrize("args", [
    ["--flow", "tomocupy"],
    ["--flow", "recon"],
    [str(ROOT / "examples" / "notify_flow.py") + ":TomocupyFlowWithNotice"],
    [str(ROOT / "examples" / "catalog_flow.py") + ":TomocupyFlowWithCatalog"],
    ["tomocupy_gladier.flows:TomocupyReconFlow"],
    [str(ROOT / "flows" / "tomocupy.definition.json"),
     "--schema", str(ROOT / "flows" / "tomocupy.schema.json")],
    [str(ROOT / "flows" / "recon.definition.json"),
     "--schema", str(ROOT / "flows" / "recon.schema.json")],
])
def test_our_flows_and_examples_pass(args):
    result = invoke("validate", *args)
    assert result.exit_code == 0, result.output
    assert "valid (" in result.output and "warning" not in result.output


def test_problems_are_printed_with_state_and_field_and_exit_1(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"StartAt": "A", "Version": "1", "States": {
        "A": {"Type": "Action", "ActionUrl": "https://x.example.org", "WaitTime": 0.5,
              "End": True},
        "B": {"Type": "Pass", "End": True}}}))
    result = invoke("validate", str(bad))
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        ("error: field 'Version': not allowed at the top level of a definition (only StartAt, "
        "States, Comment) [top-level-fields]"),
        ("error: state 'A', field 'Parameters': missing: an Action needs Parameters or "
        "InputPath [action-input]"),
        ("error: state 'A', field 'WaitTime': must be an integer number of seconds, got 0.5 "
        "[wait-time]"),
        "error: state 'B': is not reachable from StartAt 'A' [unreachable]",
        f"{bad}: 4 error(s), 0 warning(s); Globus Flows would refuse this flow",
    ]


def test_warnings_only_exit_0(tmp_path):
    result = invoke("validate", str(ROOT / "tests/fixtures/flows/globus_looping_batched_move.json"))
    assert result.exit_code == 0
    assert result.output.count("warning: ") == 2
    assert result.output.endswith("definition valid (7 states, 2 warning(s))\n")


def test_a_flow_document_with_its_schema_and_an_input(tmp_path):
    doc = tmp_path / "flow.json"
    doc.write_text(json.dumps({
        "definition": {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}},
        "input_schema": {"type": "object", "required": ["input"]}}))
    run_input = tmp_path / "input.json"
    run_input.write_text(json.dumps({"other": "x" * 200_000}))
    result = invoke("validate", str(doc), "--input", str(run_input))
    assert result.exit_code == 1
    assert "error: field input: the run input is 200012 bytes, over the 200000-byte limit " \
           "of a run state [input-size]" in result.output
    assert "error: field input: (root): 'input' is a required property [input-schema]" \
           in result.output


@pytest.mark.parametrize("args, message", [
    ([], "error: give one of: a definition FILE, MODULE:CLASS, or --flow NAME"),
    (["missing.json"], "error: definition file missing.json does not exist"),
    (["no_such_module_xyz:Flow"], ("error: cannot import no_such_module_xyz: "
                                  "ModuleNotFoundError: No module named 'no_such_module_xyz'")),
    (["tomocupy_gladier.flows:Nope"], "error: tomocupy_gladier.flows has no Nope"),
])
def test_bad_targets_are_one_line_errors(args, message):
    result = CliRunner().invoke(main, ["validate", *args])
    assert result.exit_code == 2
    assert result.output.strip() == message
