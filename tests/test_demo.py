"""The main job: `tomocupy-gladier demo` runs the real flow locally and leaves a starting template."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import tifffile
from click.testing import CliRunner

from tomocupy_gladier.cli import main
from tomocupy_gladier.compute.multiscale import ZARR_NAME, read_level
from tomocupy_gladier.tools.registry import load_config
from tomocupy_gladier.local.providers.search import SearchIndex


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

    # the full reconstruction's OME-Zarr is published with its slices, in the manifest and record
    [published] = (workdir / "portal/published/demo").rglob("demo_scan_0001_rec")
    slices = sorted(published.glob("recon_*.tiff"))
    finest = read_level(published / ZARR_NAME)
    assert np.array_equal(finest, np.stack([tifffile.imread(p) for p in slices]))
    listed = {e["path"] for e in json.loads((published / "manifest.json").read_text())["files"]}
    assert f"{ZARR_NAME}/.zattrs" in listed and f"{ZARR_NAME}/0/.zarray" in listed
    index = SearchIndex(config.local_state_dir / "search.db")
    try:
        [entry] = [e for e in index.search("*", limit=100) if "demo_scan_0001" in e["subject"]]
    finally:
        index.close()
    [zarr] = entry["content"]["tomography"]["files"]["zarr"]
    assert zarr["path"] == ZARR_NAME and zarr["url"].startswith("globus://")
    assert zarr["url"].endswith(f"/demo_scan_0001_rec/{ZARR_NAME}")

    # the template works for the next command a user types
    dry = CliRunner().invoke(main, ["run", "demo_scan_0001.h5", "--config", str(workdir / "experiment.toml"),
                                    "--try", "--dry-run"], catch_exceptions=False)
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["input"]["recon"]["reconstruction-type"] == "try"


def test_the_template_is_commented_for_a_new_user(tmp_path: Path):
    from tomocupy_gladier.demo.demo import EXPERIMENT_TOML

    comments = [line for line in EXPERIMENT_TOML.splitlines() if "#" in line]
    assert len(comments) >= 10
    assert "backend" in EXPERIMENT_TOML and "posix_root" in EXPERIMENT_TOML


def test_a_failed_demo_says_why_without_empty_fields(tmp_path: Path, capsys):
    """The summary of a run that failed at the reconstruction: its reason, and no 'None'."""
    from tomocupy_gladier.cli import local_commands
    from tomocupy_gladier.demo.demo import prepare

    setup = prepare(tmp_path, nproj=90, nrows=4, ncols=64)
    summary = {"run_id": "r-1", "status": "FAILED", "states": [],
               "failure": "ActionFailedException: tomocupy exited with status 1 [return] x",
               "reconstruction": None, "files": None, "rotation_axis": None, "axis_source": "",
               "engine": "", "log": "/x/scan_rec.logs/r-1.log", "previews": [], "published_to": None,
               "returned_to": None, "index_entry": None}
    local_commands._print_summary(summary, 1.0, setup)
    out = capsys.readouterr().out
    assert "None" not in out
    assert "tomocupy exited with status 1 [return] x" in out, "brackets are text, not markup"
    assert "the reconstruction step did not finish" in out and "not published" in out
