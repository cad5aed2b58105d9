"""The quality gates end to end on the local backend: an impossible scan is refused by `run`
before anything starts; a doubtful one is reconstructed, published and shown with its warning."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from tomocupy_gladier.cli import main
from tomocupy_gladier.demo.synthetic import add_fault
from tomocupy_gladier.tools.registry import load_config
from tomocupy_gladier.web.app import create_app
from tomocupy_gladier.web.sources import sources_for

from tests.test_local_flow import engine_experiment  # noqa: F401  (the fixture: CPU engine, 90 x 4 x 64 scan)


def run(experiment: Path, *args: str):
    return CliRunner().invoke(main, ["run", "scan1.h5", "--config", str(experiment), *args])


def published_quality(config) -> dict:
    """The quality block of the one record the run published."""
    from tomocupy_gladier.local.providers.search import SearchIndex

    index = SearchIndex(config.local_state_dir / "search.db")
    try:
        [entry] = index.search("scan1", limit=10)
    finally:
        index.close()
    return entry["content"]["tomography"]["quality"]


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
    quality = published_quality(config)
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


def test_a_dead_pixel_with_fw_ring_removal_is_published_with_its_warnings_not_as_ok(engine_experiment):
    """The DLS I13 case (issue 27): pixel (0, 0) is 0 in projections, flats and darks. tomocupy's
    pipeline (and the CPU engine, which follows it) turns slice 0 into a featureless disc with
    fw ring removal; the quality block says so instead of "ok", naming the pixel and the slice."""
    add_fault(engine_experiment.parent / "beamline" / "scan1.h5", "dead-pixel")
    result = run(engine_experiment, "--full", "--remove-stripe-method", "fw")
    assert result.exit_code == 0, result.output
    assert "RuntimeWarning" not in result.output  # tomocupy's division is silent, so is the engine's
    assert "warning: scan quality: /exchange/data_white shows" in result.output
    assert "1 pixel no brighter than /exchange/data_dark (row 0, column 0)" in result.output
    assert ("warning: scan quality: 1 of 4 checked slices are blank, constant or featureless inside the "
            "volume") in result.output
    assert "recon_00000.tiff (detail" in result.output

    config = load_config(engine_experiment)
    quality = published_quality(config)
    assert quality["status"] == "warning" and len(quality["warnings"]) == 2
    assert quality["figures"]["flats"]["dead_pixels_at"] == [[0, 0]]
    assert quality["figures"]["volume"]["blank_slices"] == ["recon_00000.tiff"]
