"""The main job: `tomocupy-gladier demo` runs the real flow locally and leaves a starting template."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tomocupy_gladier.cli import main
from tomocupy_gladier.config import load_config


def test_demo_runs_the_flow_end_to_end_and_leaves_a_template(tmp_path: Path):
    workdir = tmp_path / "demo"
    result = CliRunner().invoke(main, ["demo", "--workdir", str(workdir), "--projections", "120",
                                       "--rows", "4", "--columns", "96"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "SUCCEEDED" in result.output
    for state in ("Transfer", "TomocupyRecon", "MakePreviews", "ScanMetadata", "Publishv2Ingest"):
        assert state in result.output
    assert "rotation axis" in result.output and "index entry" in result.output

    config = load_config(workdir / "experiment.toml")
    assert config.backend == "local" and config.executable == "tomocupy-cpu"
    assert (workdir / "beamline/demo_scan_0001.h5").exists()
    assert list((workdir / "facility/raw_rec/demo_scan_0001_rec").glob("recon_*.tiff"))
    assert list((workdir / "portal/published/demo").iterdir())

    # the template works for the next command a user types
    dry = CliRunner().invoke(main, ["run", "demo_scan_0001.h5", "--config", str(workdir / "experiment.toml"),
                                    "--try", "--dry-run"], catch_exceptions=False)
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output)["input"]["recon"]["reconstruction-type"] == "try"


def test_the_template_is_commented_for_a_new_user(tmp_path: Path):
    from tomocupy_gladier.demo import EXPERIMENT_TOML

    comments = [line for line in EXPERIMENT_TOML.splitlines() if "#" in line]
    assert len(comments) >= 10
    assert "backend" in EXPERIMENT_TOML and "posix_root" in EXPERIMENT_TOML
