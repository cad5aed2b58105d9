"""The command line, offline: definitions, schemas, export and dry runs."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tomocupy_gladier.cli import main
from tomocupy_gladier.cli.flow_commands import export_flows

REPO = Path(__file__).resolve().parent.parent


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_definition_and_schema_print_json_offline():
    definition = json.loads(invoke("definition").output)
    assert definition["StartAt"] == "LocateScan"
    schema = json.loads(invoke("schema", "--flow", "recon").output)
    assert "source" not in schema["properties"]["input"]["properties"]


def test_committed_flow_files_match_the_code(tmp_path: Path):
    """flows/*.json are what the code generates: run `tomocupy-gladier export` after a change."""
    for path in export_flows(tmp_path):
        committed = REPO / "flows" / path.name
        assert committed.exists(), f"flows/{path.name} is missing: run tomocupy-gladier export"
        assert json.loads(committed.read_text()) == json.loads(path.read_text()), (
            f"flows/{path.name} drifted from the code: run tomocupy-gladier export")


def test_dry_run_prints_the_validated_input_with_cli_parameters(experiment: Path):
    result = invoke("run", "scan1.h5", "--config", str(experiment), "--dry-run", "--full",
                    "--binning", "1", "--no-minus-log", "--fbp-filter", "shepp")
    assert result.exit_code == 0, result.output
    recon = json.loads(result.stdout)["input"]["recon"]
    assert recon == {"rotation-axis": 256.5, "binning": 1, "minus-log": False, "fbp-filter": "shepp",
                     "reconstruction-type": "full", "command": "recon"}


def test_a_parameter_for_the_other_command_is_a_clear_error(experiment: Path):
    result = invoke("run", "scan1.h5", "--config", str(experiment), "--dry-run", "--energy", "20")
    assert result.exit_code == 2
    assert "input.recon.energy: only valid with command 'recon_steps'" in result.output
    assert "Traceback" not in result.output


def test_a_bad_choice_is_refused_by_the_command_line(experiment: Path):
    result = invoke("run", "scan1.h5", "--config", str(experiment), "--dry-run", "--fbp-filter", "shep")
    assert result.exit_code == 2
    assert "'shep' is not one of" in result.output


def test_missing_config_and_missing_scan_are_one_line_errors(experiment: Path, tmp_path: Path):
    result = invoke("run", "scan1.h5", "--config", str(tmp_path / "none.toml"), "--dry-run")
    assert result.exit_code == 2 and "no such configuration file" in result.output
    result = invoke("run", "scan7.h5", "--config", str(experiment), "--dry-run")
    assert result.exit_code == 2 and "scan not found" in result.output
    result = invoke("run", "scan1.h5", "--dry-run")
    assert result.exit_code == 2 and "no experiment file" in result.output


def test_ctrl_c_while_following_says_the_run_goes_on(experiment: Path, mocker):
    """Stopping `run` only stops following: the run keeps going and `status` finds it."""
    client = mocker.Mock()
    client.run_flow.return_value = {"run_id": "r-1"}
    mocker.patch("tomocupy_gladier.clients.client_factory.make_client", return_value=client)
    mocker.patch("tomocupy_gladier.cli.flow_commands.follow_run", side_effect=KeyboardInterrupt)
    result = CliRunner().invoke(main, ["run", "scan1.h5", "--config", str(experiment)])
    assert result.exit_code == 130
    assert "r-1" in result.output and "runs already started go on" in result.output


def test_a_folder_that_cannot_be_made_is_named_without_a_traceback(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = CliRunner().invoke(main, ["demo", "--workdir", str(blocker / "demo")])
    assert result.exit_code == 2
    assert "error:" in result.output and str(blocker) in result.output
    assert "Traceback" not in result.output


def test_schema_with_config_prints_the_experiments_start_form_offline(experiment: Path):
    """Facility settings become defaults; function ids only once a deploy or run registered them."""
    from tests.conftest import ENDPOINT, INDEX

    form = json.loads(invoke("schema", "--config", str(experiment)).output)
    fields = form["properties"]["input"]["properties"]
    assert form["title"].endswith("(cells)")
    assert fields["compute_endpoint"]["default"] == ENDPOINT
    assert fields["publishv2"]["properties"]["index"]["default"] == INDEX
    assert all(f["properties"]["rotation-axis"]["default"] == 256.5 for f in fields["recon"]["oneOf"])
    assert "default" not in fields["tomocupy_recon_function_id"]
