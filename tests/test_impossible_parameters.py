"""Parameters that cannot describe the scan are refused before anything moves (issue 27,
finding 1): an axis off the detector (after binning; -1 stays the middle), a try whose centres
miss the detector, rows outside the scan. tomocupy 1.1.0 reconstructs all of them without a
word (a centre of 5000 on a 512-px detector gives a featureless disc), so the refusal is ours,
the same at planning (every way a run is planned) and in the reconstruction step on the
endpoint (where planning cannot read the scan)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tomocupy_gladier.cli import main
from tomocupy_gladier.clients.client_factory import local_backend
from tomocupy_gladier.compute.recon import expected_output
from tomocupy_gladier.compute.rules import axis_problem
from tomocupy_gladier.errors import UserError
from tomocupy_gladier.tools.registry import load_config
from tomocupy_gladier.planning.plan import Ask, Origin, RunRequest, plan


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """The demo's own experiment and scan (720 projections of 32 rows x 512 columns)."""
    from tomocupy_gladier.demo.demo import prepare

    return prepare(tmp_path_factory.mktemp("demo")).config.path


def refused(config: Path, *args: str) -> str:
    result = CliRunner().invoke(main, ["run", "demo_scan_0001.h5", "--config", str(config), *args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert not (config.parent / "facility/raw/demo_scan_0001.h5").exists(), "nothing moved"
    assert local_backend(load_config(config)).store.list_runs() == [], "nothing started"
    return result.output


def test_the_demo_scan_with_an_axis_of_5000_is_refused_naming_the_detectors_width(demo):
    output = refused(demo, "--full", "--rotation-axis", "5000")
    assert ("rotation-axis 5000 is outside the detector: demo_scan_0001.h5 is 512 columns wide; "
            "the axis must lie between 0 and 511") in output


def test_binning_does_not_move_the_axis_off_a_detector_it_lies_on(demo):
    output = refused(demo, "--full", "--rotation-axis", "512", "--binning", "2")
    assert "512 columns wide, 128 columns at binning 2" in output
    config = load_config(demo)
    for axis in (-1.0, 0.0, 255.5, 511.0):  # the middle, and both edges, at binning 2
        planned = plan(config, RunRequest("demo_scan_0001.h5", ask=Ask.FULL,
                                          overrides={"rotation-axis": axis, "binning": 2}))
        assert planned.recon["rotation-axis"] == axis


def test_a_try_whose_centres_miss_the_detector_is_refused(demo):
    output = refused(demo, "--try", "--rotation-axis", "1600", "--rotation-axis-auto", "manual")
    assert "the try's centres 1550 to 1650 (rotation-axis 1600 +- center-search-width 50) miss the " \
           "detector: demo_scan_0001.h5 is 512 columns wide" in output
    # a try centred just off the detector still reaches it: its search is what it is for
    planned = plan(load_config(demo), RunRequest("demo_scan_0001.h5", ask=Ask.TRY,
                                                 overrides={"rotation-axis": 530.0,
                                                            "rotation-axis-auto": "manual"}))
    assert planned.is_try


def test_rows_outside_the_scan_are_refused(demo):
    assert "outside the scan's 32 rows" in refused(demo, "--full", "--start-row", "40", "--end-row", "48")


@pytest.mark.parametrize("origin", [Origin.CAMPAIGN, Origin.PROGRAM])
def test_a_campaign_job_watch_and_a_script_are_refused_alike(demo, origin):
    with pytest.raises(UserError, match="rotation-axis 5000 is outside the detector"):
        plan(load_config(demo), RunRequest("demo_scan_0001.h5", ask=Ask.FULL, origin=origin,
                                           overrides={"rotation-axis": 5000}))


def test_the_start_form_is_refused_alike(demo):
    config = load_config(demo)
    planned = plan(config, RunRequest("demo_scan_0001.h5", ask=Ask.FULL))
    body = json.loads(json.dumps(planned.body))
    for key in [k for k in body["input"] if k.endswith("_function_id")]:
        del body["input"][key]
    body["input"]["recon"]["rotation-axis"] = 5000
    body["input"]["recon"]["rotation-axis-auto"] = "manual"
    with pytest.raises(UserError, match="rotation-axis 5000 is outside the detector: .* 512 columns wide"):
        plan(config, RunRequest("demo_scan_0001.h5", form=body, origin=Origin.FORM))


def test_an_interactive_run_checks_its_try_and_leaves_the_full_axis_to_the_choice(demo):
    config = load_config(demo)
    with pytest.raises(UserError, match="the try's centres .* miss the detector"):
        plan(config, RunRequest("demo_scan_0001.h5", flow="interactive", ask=Ask.INTERACTIVE,
                                overrides={"rotation-axis": 1600, "rotation-axis-auto": "manual"}))
    # centred just off the edge: the try reaches the detector, the full axis is chosen later
    planned = plan(config, RunRequest("demo_scan_0001.h5", flow="interactive", ask=Ask.INTERACTIVE,
                                      overrides={"rotation-axis": 530.0, "rotation-axis-auto": "manual"}))
    assert planned.body["input"]["interactive"]["try_recon"]["rotation-axis"] == 530.0


def test_an_automatic_search_ignores_the_axis_it_replaces():
    params = {"rotation-axis": 5000, "rotation-axis-auto": "auto"}
    assert axis_problem(params, 512, "scan.h5", try_range=False) is None
    assert axis_problem(params, 512, "scan.h5", try_range=True) is None


def test_the_reconstruction_step_refuses_it_where_planning_could_not_read_the_scan(tmp_path):
    """On Globus the beamline's scan is seldom readable where the run is planned: the step on
    the endpoint refuses the same parameters, before tomocupy starts, with the same words."""
    from tomocupy_gladier.demo.synthetic import write_scan

    scan = tmp_path / "scan.h5"
    write_scan(scan, nproj=12, nrows=2, ncols=160, seed=1)
    with pytest.raises(ValueError, match="rotation-axis 5000 is outside the detector: scan.h5 is 160 "
                                         "columns wide"):
        expected_output(scan, {"rotation-axis": 5000.0}, "full")
    with pytest.raises(ValueError, match="the try's centres 1550 to 1650 .* miss the detector"):
        expected_output(scan, {"rotation-axis": 1600.0, "rotation-axis-auto": "manual"}, "try")
    assert expected_output(scan, {"rotation-axis": 80.0}, "full").n == 160
