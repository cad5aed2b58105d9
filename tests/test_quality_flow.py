"""The quality gates end to end on the local backend: an impossible scan is refused by `run`
before anything starts; a doubtful one is reconstructed, published and shown with its warning."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from tomocupy_gladier.cli import main
from tomocupy_gladier.demo.synthetic import add_fault
from tomocupy_gladier.experiment.config import load_config
from tomocupy_gladier.web.app import create_app
from tomocupy_gladier.web.sources import sources_for

from tests.test_local_flow import engine_experiment  # noqa: F401  (the fixture: CPU engine, 90 x 4 x 64 scan)


def run(experiment: Path, *args: str):
    return CliRunner().invoke(main, ["run", "scan1.h5", "--config", str(experiment), *args])


def test_a_scan_with_zero_flats_is_refused_by_run_and_nothing_starts(engine_experiment):
    add_fault(engine_experiment.parent / "beamline" / "scan1.h5", "zero-flats")
    result = run(engine_experiment, "--full")
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        "error: scan1.h5 cannot be reconstructed: /exchange/data_white is all zero "
        "(shutter closed during the flat field?)")
    assert "Traceback" not in result.output
    root = engine_experiment.parent
    assert not (root / "facility/raw/scan1.h5").exists(), "the scan was not moved"
    listed = CliRunner().invoke(main, ["runs", "--config", str(engine_experiment)])
    assert "scan1" not in listed.output, "no run was started"


def test_a_beam_dump_scan_is_reconstructed_with_a_warning_and_a_quality_block(engine_experiment):
    add_fault(engine_experiment.parent / "beamline" / "scan1.h5", "beam-dump")
    result = run(engine_experiment, "--full")
    assert result.exit_code == 0, result.output
    warning = ("/exchange/data has 9 of 90 projections far darker than their neighbours (from "
               "projection 36): beam lost during the scan?")
    assert f"warning: scan quality: {warning}" in result.output

    config = load_config(engine_experiment)
    from tomocupy_gladier.local.providers.search import SearchIndex

    index = SearchIndex(config.local_state_dir / "search.db")
    try:
        [entry] = index.search("scan1", limit=10)
    finally:
        index.close()
    quality = entry["content"]["tomography"]["quality"]
    assert quality["status"] == "warning" and quality["warnings"] == [warning]
    assert quality["figures"]["projections"]["beam_lost"] == 9
    assert quality["figures"]["volume"]["checked_slices"] == 4

    run_id = result.output.split()[0]
    sources = sources_for(config)
    try:
        html = create_app(sources).test_client().get(f"/runs/{run_id}").text
    finally:
        sources.runs.store.close()
    assert 'id="quality"' in html and f"warning: {warning}" in html
