"""TomocupyFlow for real on the local backend: CPU engine, previews, metadata, publication."""

from __future__ import annotations

import json
import runpy
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from tomocupy_gladier.clients.client_factory import local_backend, make_client
from tomocupy_gladier.runs.catalog import SearchFilters, search_local
from tomocupy_gladier.cli import main
from tomocupy_gladier.runs.run_record import RunRecord
from tomocupy_gladier.tools.registry import load_config
from tomocupy_gladier.planning.flow_input import build_flow_input, recon_parameters
from tomocupy_gladier.demo.synthetic import write_scan

from tests.conftest import experiment_toml

ENGINE = json.dumps([sys.executable, "-m", "tomocupy_gladier.engine"])
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def engine_experiment(tmp_path: Path) -> Path:
    """An experiment whose compute step runs the CPU engine on a small synthetic scan."""
    for folder in ("beamline", "facility/raw", "portal"):
        (tmp_path / folder).mkdir(parents=True)
    write_scan(tmp_path / "beamline" / "scan1.h5", nproj=90, nrows=4, ncols=64, rotation_axis=34.5, seed=3)
    path = tmp_path / "experiment.toml"
    text = experiment_toml(executable=ENGINE).replace("rotation-axis = 256.5", textwrap.dedent("""\
        rotation-axis = 34.5
        center-search-width = 4.0
        center-search-step = 0.5
        nsino-per-chunk = 4"""))
    path.write_text(text)
    return path


def result_of(record: dict, state: str) -> dict:
    return record["details"]["output"][state]["details"]["results"][0]["output"]


def test_full_reconstruction_is_transferred_reconstructed_previewed_and_published(engine_experiment):
    config = load_config(engine_experiment)
    body = build_flow_input(config, "scan1.h5", recon_parameters(config, {}, "full"))
    record = make_client("tomocupy", config).run_flow(flow_input=body, label="scan1 full")

    assert record["status"] == "SUCCEEDED", record["details"]
    root = engine_experiment.parent
    assert (root / "facility/raw/scan1.h5").read_bytes() == (root / "beamline/scan1.h5").read_bytes()
    recon = result_of(record, "TomocupyRecon")
    output = root / "facility/raw_rec/scan1_rec"
    assert recon["output"] == str(output)
    assert sorted(p.name for p in output.glob("recon_*.tiff")) == [f"recon_{r:05d}.tiff" for r in range(4)]
    assert recon["rotation_axis"] == 34.5 and recon["tool_version"]
    assert {"xy.png", "xz.png", "yz.png"} <= {p.name for p in (output / "previews").iterdir()}
    published = root / "portal/published/cells/scan1_rec"
    assert (published / "recon_00000.tiff").exists() and (published / "previews/xy.png").exists()

    [found] = search_local(config.local_state_dir, "scan1", SearchFilters(energy_kev=25.0))
    assert found.kind == "full" and found.rotation_axis == 34.5
    assert len(found.previews) == 3 and found.files >= 7


def test_a_reconstruction_the_engine_refuses_fails_the_run_and_publishes_nothing(engine_experiment):
    config = load_config(engine_experiment)
    recon = recon_parameters(config, {"remove-stripe-method": "ti"}, "full")
    body = build_flow_input(config, "scan1.h5", recon)
    record = make_client("tomocupy", config).run_flow(flow_input=body)

    assert record["status"] == "FAILED"
    # the flow catches the failure (to email it) and ends in RunFailed with the step's own error
    assert record["details"]["code"] == "ActionFailedException"
    assert "remove-stripe-method" in record["details"]["description"]
    failed = RunRecord(record)
    assert failed.failed_state == "TomocupyRecon"
    assert failed.failure.startswith("ActionFailedException: ")
    assert "remove-stripe-method" in failed.failure
    assert "NotifyFailedError" not in record["details"]["output"]  # no [notify]: nothing was sent
    assert not (engine_experiment.parent / "portal/published").exists()
    assert not list((engine_experiment.parent / "facility").rglob("recon_*.tiff"))


def test_try_then_full_from_the_command_line(engine_experiment):
    runner = CliRunner()
    config = str(engine_experiment)
    tried = runner.invoke(main, ["run", "scan1.h5", "--config", config, "--try"], catch_exceptions=False)
    assert tried.exit_code == 0, tried.output
    assert "suggested centre:" in tried.output
    suggested = float(tried.output.split("suggested centre:")[1].split()[0])
    assert abs(suggested - 34.5) <= 1.0
    try_run = tried.output.split("--from-try ")[1].split()[0]

    full = runner.invoke(main, ["run", "scan1.h5", "--config", config, "--full", "--from-try", try_run,
                                "--center", "34.5"], catch_exceptions=False)
    assert full.exit_code == 0, full.output
    assert "previews:" in full.output
    assert (engine_experiment.parent / "facility/raw_rec/scan1_rec/recon_00003.tiff").exists()

    status = runner.invoke(main, ["status", try_run, "--config", config], catch_exceptions=False)
    assert "SUCCEEDED" in status.output and "TomocupyRecon" in status.output
    listed = runner.invoke(main, ["runs", "--config", config], catch_exceptions=False)
    assert try_run[:8] in listed.output
    found = runner.invoke(main, ["search", "scan1", "--config", config, "--json"], catch_exceptions=False)
    kinds = sorted(r["kind"] for r in json.loads(found.output))
    assert kinds == ["full", "try"]


def test_from_try_refuses_a_run_that_was_not_a_try(engine_experiment):
    config = load_config(engine_experiment)
    body = build_flow_input(config, "scan1.h5", recon_parameters(config, {}, "full"))
    record = make_client("tomocupy", config).run_flow(flow_input=body)
    result = CliRunner().invoke(main, ["run", "scan1.h5", "--config", str(engine_experiment),
                                       "--from-try", record["run_id"]])
    assert result.exit_code == 2
    assert "was a full reconstruction, not a try" in result.output


def test_the_example_client_script_runs(engine_experiment, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["reconstruct_scan.py", str(engine_experiment), "scan1.h5"])
    with pytest.raises(SystemExit) as exited:
        runpy.run_path(str(REPO / "examples/reconstruct_scan.py"), run_name="__main__")
    assert exited.value.code == 0
    assert "reconstruction:" in capsys.readouterr().out


def test_the_extended_flow_example_adds_its_step(engine_experiment, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["notify_flow.py", "scan1.h5", "--config", str(engine_experiment)])
    with pytest.raises(SystemExit) as exited:
        runpy.run_path(str(REPO / "examples/notify_flow.py"), run_name="__main__")
    assert exited.value.code == 0
    [notice] = [json.loads(line) for line in (engine_experiment.parent / "notices.jsonl").read_text().splitlines()]
    assert notice["output"].endswith("raw_rec/scan1_rec") and notice["rotation_axis"] == 34.5


def test_runs_survive_the_process_and_are_read_from_another(engine_experiment):
    config = load_config(engine_experiment)
    body = build_flow_input(config, "scan1.h5", recon_parameters(config, {}, "try"))
    record = make_client("tomocupy", config).run_flow(flow_input=body)
    # a fresh backend object over the same state folder, as another process would open it
    again = local_backend(config)
    assert again.store.get_run(record["run_id"])["status"] == "SUCCEEDED"
    codes = [e["code"] for e in again.store.get_log(record["run_id"])]
    assert codes[0] == "FlowStarted" and codes[-1] == "FlowSucceeded"


def test_a_try_with_tomocupys_default_search_on_a_narrow_scan_suggests_the_true_axis(tmp_path):
    # 50 px each side of the axis on a 64-column scan: a third of the candidates put the axis
    # off the detector, where the emptied slices used to win the focus measure
    from tests.tiny_experiment import tiny_experiment

    path = tiny_experiment(tmp_path)
    truth = float(load_config(path).recon["rotation-axis"])
    tried = CliRunner().invoke(main, ["run", "scan1.h5", "--config", str(path), "--try"],
                               catch_exceptions=False)
    assert tried.exit_code == 0, tried.output
    suggested = float(tried.output.split("suggested centre:")[1].split()[0])
    assert abs(suggested - truth) <= 1.0, tried.output


def test_a_try_whose_sharpest_candidate_ends_the_range_says_so(tmp_path):
    """The axis may lie outside the range searched: the suggestion is then only its nearest end."""
    from tests.tiny_experiment import tiny_experiment

    path = tiny_experiment(tmp_path)
    truth = float(load_config(path).recon["rotation-axis"])
    tried = CliRunner().invoke(main, ["run", "scan1.h5", "--config", str(path), "--try",
                                      "--rotation-axis", str(truth + 8), "--center-search-width", "2"],
                               catch_exceptions=False)
    assert tried.exit_code == 0, tried.output
    warning = "is at the edge of the search"
    # the candidates are rotation-axis - 1.5 ... + 2 (tomocupy's shifts), the sharpest the first
    first, last = truth + 6.5, truth + 10
    assert f"warning: the suggested centre {first:.2f} {warning} ({first:.2f} to {last:.2f}): " \
           "widen it (center-search-width)" in tried.output
    # the run's page and its published record say so too
    from tomocupy_gladier.web.data import LocalRuns

    config = load_config(path)
    backend = local_backend(config)
    view = LocalRuns(backend.store).run(tried.output.split()[0])
    assert any(name == "warning" and warning in value for name, value in view.facts)
    record = search_local(config.local_state_dir, "scan1")[0]
    entry = backend.search_index.search("*", limit=10)[0]["content"]["tomography"]["previews"]
    assert entry["at_edge"] is True and warning in entry["warning"] and record.kind == "try"
