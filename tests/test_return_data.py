"""The return step on the local backend: results land in the scientist's folder, the step is
skipped visibly when [return] is absent, and a bad return collection fails with its reason."""

from __future__ import annotations

from pathlib import Path

from tomocupy_gladier.clients.client_factory import local_backend, make_client
from tomocupy_gladier.runs.run_record import RunRecord
from tomocupy_gladier.tools.registry import load_config
from tomocupy_gladier.planning.flow_input import build_flow_input, recon_parameters
from tomocupy_gladier.tools.return_data.config import return_config

from tests.tiny_experiment import RETURN, return_section, state_names, tiny_experiment


def _run(config_path: Path, flow: str = "tomocupy", rtype: str = "full", edit=None) -> tuple:
    config = load_config(config_path)
    body = build_flow_input(config, "scan1.h5", recon_parameters(config, {}, rtype),
                            flow=flow)
    if edit:
        edit(body["input"])
    run = make_client(flow, config).run_flow(flow_input=body, label="return test")
    return config, body, run


def test_previews_land_in_the_return_folder(tmp_path: Path):
    config, _, run = _run(tiny_experiment(tmp_path, return_section()))
    assert run["status"] == "SUCCEEDED", run["details"]
    returned = tmp_path / "analysis/incoming/scan1_rec/previews"
    made = tmp_path / "facility/raw_rec/scan1_rec/previews"
    assert sorted(p.name for p in returned.iterdir()) == ["xy.png", "xz.png", "yz.png"]
    for png in returned.iterdir():
        assert png.read_bytes() == (made / png.name).read_bytes()
        assert png.read_bytes().startswith(b"\x89PNG")
    # previews only: no slices came back
    assert not list((tmp_path / "analysis").rglob("*.tiff"))
    transfer = run["details"]["output"]["ReturnData"]["details"]
    assert (transfer["files_transferred"], transfer["destination_endpoint_id"]) == (3, RETURN)
    names = state_names(local_backend(config), run["run_id"])
    # after publication, never before
    assert names.index("ReturnData") > names.index("Publishv2Done")
    assert "ReturnDataSkipped" not in names


def test_the_whole_reconstruction_comes_back_when_asked(tmp_path: Path):
    from click.testing import CliRunner

    from tomocupy_gladier.cli import main

    path = tiny_experiment(tmp_path, return_section("reconstruction"), at_facility=True)
    result = CliRunner().invoke(main, ["run", "scan1.h5", "--config", str(path), "--flow", "recon", "--full"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    returned = tmp_path / "analysis/incoming/scan1_rec"
    assert f"sent back to: {returned}" in result.output
    slices = sorted(p.name for p in returned.glob("recon_*.tiff"))
    assert slices == [f"recon_{row:05d}.tiff" for row in range(4)]
    assert (returned / "previews/xy.png").is_file()
    original = tmp_path / "facility/raw_rec/scan1_rec/recon_00002.tiff"
    assert (returned / "recon_00002.tiff").read_bytes() == original.read_bytes()


def test_without_a_return_section_the_step_is_skipped_visibly(tmp_path: Path):
    path = tiny_experiment(tmp_path, at_facility=True)
    config, body, run = _run(path, flow="recon", rtype="try")
    assert body["input"]["return_data"] == {"enable": False}
    assert run["status"] == "SUCCEEDED", run["details"]
    names = state_names(local_backend(config), run["run_id"])
    assert names[-4:] == ["ReturnDataChoice", "ReturnDataSkipped", "NotifyChoice", "NotifySkipped"]
    assert "ReturnData" not in names
    assert run["details"]["output"]["ReturnData"] == {"skipped": True, "reason": "return_data.enable is false"}
    assert list((tmp_path / "analysis").iterdir()) == []


def test_a_missing_flag_fails_the_run_rather_than_skipping(tmp_path: Path):
    from tomocupy_gladier.local import LocalBackend

    config = load_config(tiny_experiment(tmp_path, at_facility=True))
    backend = LocalBackend(tmp_path / "state", config.local_collections)
    # the schema refuses it first; below the schema, the Choice itself refuses it too
    from tomocupy_gladier.tools.return_data.tool import ReturnData

    flow_id = backend.register_flow(ReturnData.flow_definition)
    run = backend.start_run(flow_id, {"input": {"return_data": {}}})
    assert (run["status"], run["details"]["code"]) == ("FAILED", "States.Runtime")
    assert "return_data.enable" in run["details"]["description"]
    backend.close()


def test_an_unknown_return_collection_fails_with_a_clear_reason(tmp_path: Path):
    stranger = "99999999-9999-4999-8999-999999999999"

    def elsewhere(data: dict) -> None:
        data["return_data"]["destination"]["id"] = stranger

    path = tiny_experiment(tmp_path, return_section(), at_facility=True)
    _, _, run = _run(path, flow="recon", rtype="try", edit=elsewhere)
    record = RunRecord(run)
    assert (record.status, record.failed_state) == ("FAILED", "ReturnData")
    assert record.failure.startswith("ActionFailedException: ")
    assert "ENDPOINT_NOT_FOUND" in record.failure
    assert stranger in record.failure
    # the publication before it is done and stays done
    assert (tmp_path / "portal/published/cells/try_center/scan1/previews/try_montage.png").is_file()
    assert not list((tmp_path / "portal").rglob("recon_slice*")), "a try publishes its montage only"


def test_the_demo_template_sends_previews_to_its_analysis_folder(tmp_path: Path):
    from tomocupy_gladier.demo.demo import ANALYSIS, prepare

    setup = prepare(tmp_path, nproj=90, nrows=4, ncols=64)
    back = return_config(setup.config)
    assert back is not None and (back.collection, back.what) == (ANALYSIS, "previews")
    assert setup.config.local_collections[ANALYSIS] == tmp_path / "analysis"
    assert (tmp_path / "analysis").is_dir()
    body = build_flow_input(setup.config, setup.scan.name, recon_parameters(setup.config))
    # the folder only: the run's own subfolder is named in the flow (see the tests below)
    assert body["input"]["return_data"]["destination"] == {"id": ANALYSIS, "path": "/incoming"}


def test_each_run_sends_back_exactly_its_own_results_beside_the_other_scans(tmp_path: Path):
    """A rerun with other rows replaces what came back of the scan (no slice of the first run
    is left); a try comes back beside the full reconstruction, and another scan beside both."""
    import shutil

    from tomocupy_gladier.flows import TomocupyReconFlow
    from tomocupy_gladier.planning.plan import plan_run

    path = tiny_experiment(tmp_path, return_section("reconstruction"), at_facility=True)
    shutil.copyfile(tmp_path / "facility/raw/scan1.h5", tmp_path / "facility/raw/scan2.h5")
    config = load_config(path)
    incoming = tmp_path / "analysis" / "incoming"

    def run(scan: str, overrides: dict, rtype: str) -> str:
        plan = plan_run(config, scan, recon_parameters(config, overrides, rtype), flow=TomocupyReconFlow)
        started = plan.client(background=False).run_flow(flow_input=plan.body, label="return test")
        record = RunRecord(local_backend(config).get_run(started["run_id"]))
        assert record.succeeded, record.failure
        return plan.returned_to(record)

    assert run("scan1.h5", {}, "full") == str(incoming / "scan1_rec")
    assert sorted(p.name for p in (incoming / "scan1_rec").glob("recon_*.tiff")) == [
        f"recon_{row:05d}.tiff" for row in range(4)]
    assert run("scan1.h5", {"start-row": 1, "end-row": 3}, "full") == str(incoming / "scan1_rec")
    assert sorted(p.name for p in (incoming / "scan1_rec").glob("recon_*.tiff")) == [
        "recon_00001.tiff", "recon_00002.tiff"]
    facility = tmp_path / "facility/raw_rec/scan1_rec"
    assert (incoming / "scan1_rec/recon_00002.tiff").read_bytes() == (facility / "recon_00002.tiff").read_bytes()

    assert run("scan1.h5", {}, "try") == str(incoming / "scan1")
    assert list((incoming / "scan1").rglob("*.tiff")), "the try's slices, in their own folder"
    assert run("scan2.h5", {}, "full") == str(incoming / "scan2_rec")
    assert sorted(p.name for p in incoming.iterdir()) == ["scan1", "scan1_rec", "scan2_rec"]
    assert len(list((incoming / "scan1_rec").glob("recon_*.tiff"))) == 2
