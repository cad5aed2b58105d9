"""What a run leaves behind, in the flow: once its publication is verified, a run removes what the
experiment's ``[retention]`` rules mark ``"after-publish"`` (the scan's copy at the facility, the
facility's full reconstruction) through Transfer's delete action provider. A run that failed,
stopped or published nothing verified removes nothing and says why; the beamline's scan, tries,
run logs and the published copy are never removed.

The runs are real, on the local backend (tests/tiny_experiment.py, the demo). The publication's
Transfer task document Globus returns is globus-sdk 4.10's own test data
(``globus_sdk.testing``: ``TransferClient.task_list``); the delete request is held against
globus-sdk's ``DeleteData`` and the example request of docs.globus.org's "Transfer Action
Provider: Delete" (tests/fixtures/action_providers/SOURCES.md).
"""

from __future__ import annotations

import copy
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import globus_sdk
import pytest
from click.testing import CliRunner
from globus_sdk.testing import get_response_set

from tomocupy_gladier.cli import main
from tomocupy_gladier.clients.client_factory import local_backend, make_client, offline_client
from tomocupy_gladier.compute.checksums import verify_manifest
from tomocupy_gladier.compute.retention import after_publish_targets
from tomocupy_gladier.local.jsonpath import render_parameters
from tomocupy_gladier.planning.flow_input import build_flow_input, recon_parameters
from tomocupy_gladier.compute.disk_space import human
from tomocupy_gladier.runs.run_record import RunRecord
from tomocupy_gladier.tools.registry import load_config
from tomocupy_gladier.tools.retention.tool import DELETE_STATE, TARGETS_STATE

from tests.conftest import FACILITY, SOURCE
# the engine held before it starts while a file "gate" exists beside it (a worker to kill)
from tests.test_durable_flow import GATED, _wait_for
from tests.tiny_experiment import isolate, state_names, tiny_experiment

BOTH = 'raw = "after-publish"\nreconstruction = "after-publish"\n'
DOCS_DELETE = Path(__file__).parent / "fixtures/action_providers/transfer_delete_ap_docs_example.json"


def experiment(root: Path, rules: str = BOTH, **kw: Any) -> Path:
    return tiny_experiment(root, "\n[retention]\n" + rules if rules else "", **kw)


def run(path: Path, flow: str = "tomocupy", rtype: str = "full", edit=None, **overrides: Any) -> dict:
    config = load_config(path)
    body = build_flow_input(config, "scan1.h5", recon_parameters(config, overrides, rtype), flow=flow)
    if edit:
        edit(body["input"])
    return make_client(flow, config).run_flow(flow_input=body, label="retention test")


def names(path: Path, record: dict) -> list[str]:
    return state_names(local_backend(load_config(path)), record["run_id"])


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- after a verified publication ----------------------------------------------------------------

def test_the_demo_with_raw_after_publish_ends_with_the_facility_copy_gone_and_the_result_verified(tmp_path):
    from tomocupy_gladier.demo.demo import prepare

    workdir = tmp_path / "demo"
    sizes = {"nproj": 90, "nrows": 4, "ncols": 64}
    setup = prepare(workdir, **sizes)
    config_path = workdir / "experiment.toml"
    config_path.write_text(config_path.read_text() + '\n[retention]\nraw = "after-publish"\n')
    scan = setup.scan
    before = scan.read_bytes()
    # the demo's experiment, run as a scientist runs it (`demo` itself would write the scan again,
    # with the time of writing in its metadata)
    result = CliRunner().invoke(main, ["run", scan.name, "--config", str(config_path), "--full"],
                                catch_exceptions=False)

    assert result.exit_code == 0, result.output
    assert "SUCCEEDED" in result.output
    printed = " ".join(result.output.split())  # as printed, lines wrapped at the console's width
    assert "removed after publication: the scan's copy at the facility (/raw/demo_scan_0001.h5" in printed
    assert not (workdir / "facility/raw/demo_scan_0001.h5").exists()
    assert scan.read_bytes() == before, "the beamline's scan is untouched"
    [published] = (workdir / "portal/published/demo").rglob("demo_scan_0001_rec")
    assert verify_manifest(published) == [], "the published result is whole, every byte as listed"
    # the reconstruction rule keeps (its default): the facility's folder stays
    assert verify_manifest(workdir / "facility/raw_rec/demo_scan_0001_rec") == []

    config = load_config(config_path)
    [record] = local_backend(config).store.list_runs(limit=1)
    [journal] = (config.local_state_dir / "deletes").iterdir()  # what the delete removed, each path
    assert [json.loads(line)["path"] for line in journal.read_text().splitlines()] == [
        str(workdir / "facility/raw/demo_scan_0001.h5")]
    status = CliRunner().invoke(main, ["status", record["run_id"], "--config", str(config_path)],
                                catch_exceptions=False)
    printed = " ".join(status.output.split())
    assert "removed after publication: the scan's copy at the facility (/raw/demo_scan_0001.h5" in printed
    assert 'raw = "after-publish")' in printed


def test_reconstruction_after_publish_removes_the_folder_never_tries_logs_nor_the_published_copy(tmp_path):
    from tomocupy_gladier.web.data import LocalRuns

    path = experiment(tmp_path, 'reconstruction = "after-publish"\n')
    tried = run(path, rtype="try")
    assert tried["status"] == "SUCCEEDED", tried["details"]
    full = run(path)
    assert full["status"] == "SUCCEEDED", full["details"]

    facility = tmp_path / "facility"
    assert not (facility / "raw_rec/scan1_rec").exists()
    # the try, the runs' logs and the previews kept beside them stay; the scan's copy too (raw: keep)
    assert (facility / "raw_rec/try_center/scan1/previews/try_montage.png").is_file()
    logs = facility / "raw_rec/scan1_rec.logs"
    assert (logs / f"{full['run_id']}.log").is_file()
    assert sorted(p.name for p in (logs / f"{full['run_id']}.previews").iterdir()) == ["xy.png", "xz.png", "yz.png"]
    assert (facility / "raw/scan1.h5").is_file()
    assert verify_manifest(tmp_path / "portal/published/cells/scan1_rec") == []

    record = RunRecord(full)
    removed = record.state["Retention"]["removed"]
    assert [(t["what"], t["path"], t["rule"]) for t in removed] == [
        ("reconstruction", "/raw_rec/scan1_rec", "after-publish")]
    assert removed[0]["bytes"] > 0 and record.state["Retention"]["files"] == removed[0]["files"]
    assert record.outcomes == [f'removed after publication: the full reconstruction at the facility '
                               f'(/raw_rec/scan1_rec, {human(removed[0]["bytes"])}; '
                               f'reconstruction = "after-publish")']
    assert record.warnings == []
    # a try keeps its folder: tries follow their own rule, and say so
    assert RunRecord(tried).outcomes == ['kept after publication: the full reconstruction at the facility '
                                         '(reconstruction = "after-publish"): a try: try reconstructions '
                                         'follow the tries rule']
    # the run's page still shows its previews, from the copy beside its log
    view = LocalRuns(local_backend(load_config(path)).store).run(full["run_id"])
    assert sorted(p.name for p in view.previews) == ["xy.png", "xz.png", "yz.png"]
    assert ("removed after publication", record.outcomes[0].split(": ", 1)[1]) in view.facts


def test_the_beamline_scan_and_the_published_copy_survive_removing_both(tmp_path):
    path = experiment(tmp_path)
    beamline = tree(tmp_path / "beamline")
    record = run(path)
    assert record["status"] == "SUCCEEDED", record["details"]
    assert names(path, record)[-4:] == ["RetentionDelete", "RetentionDone", "NotifyChoice", "NotifySkipped"]
    assert not (tmp_path / "facility/raw/scan1.h5").exists()
    assert not (tmp_path / "facility/raw_rec/scan1_rec").exists()
    assert tree(tmp_path / "beamline") == beamline
    assert verify_manifest(tmp_path / "portal/published/cells/scan1_rec") == []
    done = record["details"]["output"]["Retention"]
    # the delete task's own account: one file, one folder of files, each listed before it went
    assert done["task_id"] and done["completion_time"]
    assert done["files"] == sum(t["files"] for t in done["removed"])
    journal = load_config(path).local_state_dir / "deletes" / f"{done['task_id']}.jsonl"
    gone = [json.loads(line)["path"] for line in journal.read_text().splitlines()]
    assert str(tmp_path / "facility/raw/scan1.h5") in gone
    assert not any(str(tmp_path / "beamline") in p or str(tmp_path / "portal") in p for p in gone)


# --- nothing removed ------------------------------------------------------------------------------

def test_a_failed_run_removes_nothing(tmp_path):
    path = experiment(tmp_path)
    record = run(path, **{"remove-stripe-method": "ti"})  # the CPU engine refuses it: the step fails
    assert (record["status"], RunRecord(record).failed_state) == ("FAILED", "TomocupyRecon")
    assert (tmp_path / "facility/raw/scan1.h5").is_file()
    assert "Retention" not in record["details"]["output"]
    assert not any(n.startswith("Retention") for n in names(path, record))
    deletes = load_config(path).local_state_dir / "deletes"
    assert not deletes.exists() or not list(deletes.iterdir())


def test_a_publication_that_copied_nothing_removes_nothing_and_says_why(tmp_path):
    path = experiment(tmp_path)

    def no_copy(data: dict) -> None:
        data["publishv2"]["enable_transfer"] = False

    record = RunRecord(run(path, edit=no_copy))
    assert record.succeeded, record.failure
    assert (tmp_path / "facility/raw/scan1.h5").is_file()
    assert verify_manifest(tmp_path / "facility/raw_rec/scan1_rec") == []
    assert record.state["Retention"]["removed"] == []
    assert record.warnings == [
        'nothing removed after publication (raw = "after-publish", reconstruction = "after-publish"): '
        "the run copied nothing to the publication collection (publishv2.enable_transfer is false): "
        "nothing is removed without a verified published copy"]
    assert record.outcomes == []


def test_the_recon_flow_never_removes_the_scan_it_did_not_copy(tmp_path):
    path = experiment(tmp_path, 'raw = "after-publish"\n', at_facility=True)
    scan = (tmp_path / "facility/raw/scan1.h5").read_bytes()
    record = run(path, flow="recon")
    assert record["status"] == "SUCCEEDED", record["details"]
    assert (tmp_path / "facility/raw/scan1.h5").read_bytes() == scan
    assert names(path, record)[-4:] == ["RetentionDeleteChoice", "RetentionKept", "NotifyChoice", "NotifySkipped"]
    assert RunRecord(record).outcomes == [
        'kept after publication: the scan\'s copy at the facility (raw = "after-publish"): this flow did '
        "not copy the scan: the facility's file is the original, never removed"]


def test_without_an_after_publish_rule_the_step_is_skipped_and_nothing_else_changes(tmp_path):
    path = experiment(tmp_path, 'raw = "14d"\ntries = "0d"\n')  # ages are prune's, not the run's
    config = load_config(path)
    body = build_flow_input(config, "scan1.h5", recon_parameters(config, {}, "full"))
    assert body["input"]["retention"] == {"enable": False}
    record = make_client("tomocupy", config).run_flow(flow_input=body)
    assert record["status"] == "SUCCEEDED", record["details"]
    assert names(path, record)[-4:] == ["RetentionChoice", "RetentionSkipped", "NotifyChoice", "NotifySkipped"]
    assert record["details"]["output"]["Retention"] == {"skipped": True, "reason": "retention.enable is false"}
    assert (tmp_path / "facility/raw/scan1.h5").is_file()
    assert verify_manifest(tmp_path / "facility/raw_rec/scan1_rec") == []
    assert RunRecord(record).outcomes == [] and RunRecord(record).warnings == []


def test_a_delete_that_fails_midway_leaves_the_run_succeeded_with_a_warning(tmp_path, monkeypatch):
    """Transfer removes one file at a time: a task that fails midway (an I/O error on the second
    target) leaves the first gone, the second whole; the published result is verified and stays."""
    from tomocupy_gladier.local.providers import delete

    real = delete.remove_paths

    def fails_after_the_first(targets, **kw):
        real(targets[:1], **kw)
        raise OSError(5, "Input/output error", str(targets[1]))

    monkeypatch.setattr(delete, "remove_paths", fails_after_the_first)
    path = experiment(tmp_path)
    record = RunRecord(run(path))
    assert record.succeeded, record.failure
    assert names(path, record.raw)[-3:] == ["RetentionNotRemoved", "NotifyChoice", "NotifySkipped"]
    assert not (tmp_path / "facility/raw/scan1.h5").exists()
    assert verify_manifest(tmp_path / "facility/raw_rec/scan1_rec") == []
    assert verify_manifest(tmp_path / "portal/published/cells/scan1_rec") == []
    [warning] = record.warnings
    assert warning.startswith("the removal after publication failed: each file is either still there, whole, "
                              "or gone; the published copy is verified and intact; its targets: /raw/scan1.h5 "
                              '(raw = "after-publish"), /raw_rec/scan1_rec (reconstruction = "after-publish") '
                              "(ActionFailedException: ")
    assert "IO_ERROR" in warning


def test_a_killed_run_removes_nothing_until_resumed_and_published(tmp_path):
    from tomocupy_gladier.local.store import process_alive

    path = experiment(tmp_path)
    gated = tmp_path / "gated.py"
    gated.write_text(GATED)
    text = path.read_text()
    engine = json.dumps([sys.executable, "-m", "tomocupy_gladier.engine"])
    assert f"executable = {engine}" in text
    path.write_text(text.replace(f"executable = {engine}", f"executable = {json.dumps([sys.executable, str(gated)])}"))
    config = load_config(path)
    body = build_flow_input(config, "scan1.h5", recon_parameters(config, {}, "full"))
    (tmp_path / "gate").touch()
    run_id = make_client("tomocupy", config, background=True).run_flow(flow_input=body)["run_id"]
    _wait_for(lambda: (tmp_path / "held").exists() and (tmp_path / "held").read_text())
    held = int((tmp_path / "held").read_text())
    backend = local_backend(config)
    owner = backend.store.get_run(run_id)["owner_pid"]
    os.kill(owner, signal.SIGKILL)
    _wait_for(lambda: not process_alive(owner, None) and not process_alive(held, None), timeout=10)
    (tmp_path / "gate").unlink()

    stopped = CliRunner().invoke(main, ["status", run_id, "--config", str(path)], catch_exceptions=False)
    assert f"run {run_id} is INACTIVE (WorkerLost)" in stopped.output
    assert (tmp_path / "facility/raw/scan1.h5").is_file(), "a run stopped before its publication removes nothing"

    resumed = CliRunner().invoke(main, ["resume", run_id, "--config", str(path)], catch_exceptions=False)
    assert resumed.exit_code == 0, resumed.output
    final = backend.wait(run_id, timeout=300)
    backend.close()
    assert final["status"] == "SUCCEEDED", final["details"]
    assert not (tmp_path / "facility/raw/scan1.h5").exists()
    assert verify_manifest(tmp_path / "portal/published/cells/scan1_rec") == []


# --- the decision, from a real run's state --------------------------------------------------------

@pytest.fixture(scope="module")
def kept_run(tmp_path_factory) -> tuple[Path, dict]:
    """A real run that removed nothing (no [retention]), and its state as the retention step's
    task would see it (``_context`` added: the run's state lacks it once over)."""
    root = tmp_path_factory.mktemp("kept")
    path = experiment(root, "")
    with pytest.MonkeyPatch.context() as mp:
        isolate(mp, root)  # a module's fixture runs before each test's own isolation
        record = run(path)
    assert record["status"] == "SUCCEEDED", record["details"]
    state = copy.deepcopy(record["details"]["output"])
    state["_context"] = {"run_id": record["run_id"]}
    state["input"]["retention"] = {"enable": True, "raw": "after-publish", "reconstruction": "after-publish"}
    return root, state


def task_kwargs(state: dict) -> dict:
    """The keyword arguments the flow's RetentionTargets state sends, resolved from ``state``."""
    definition = offline_client("tomocupy").get_flow_definition()
    kwargs = definition["States"][TARGETS_STATE]["Parameters"]["tasks"][0]["kwargs"]
    return render_parameters({k: v for k, v in kwargs.items() if "version" not in k}, state)


def test_a_verified_publication_names_both_targets_and_removes_nothing_itself(kept_run):
    root, state = kept_run
    decided = after_publish_targets(**task_kwargs(state))
    assert decided["unverified"] is None and decided["delete"] is True
    assert decided["verified"]["published"].endswith("/published/cells/scan1_rec")
    assert decided["request"] == {"endpoint": FACILITY, "recursive": True,
                                  "DATA": [{"path": "/raw/scan1.h5"}, {"path": "/raw_rec/scan1_rec"}]}
    assert (root / "facility/raw/scan1.h5").is_file() and (root / "facility/raw_rec/scan1_rec").is_dir()


@pytest.mark.parametrize("change, problem", [
    (lambda folder: (folder / "notes.txt").write_text("added later"), "notes.txt: not in the manifest"),
    (lambda folder: os.truncate(folder / "rec_line.txt", 1), "rec_line.txt: 1 bytes, the manifest says"),
    (lambda folder: os.rename(folder / "rec_line.txt", folder.parent / "moved.txt"),
     "rec_line.txt: listed in the manifest, missing"),
])
def test_a_facility_folder_that_no_longer_matches_its_manifest_is_not_removed(kept_run, tmp_path, change, problem):
    import shutil

    root, state = kept_run
    state = copy.deepcopy(state)
    folder = tmp_path / "raw_rec/scan1_rec"
    shutil.copytree(root / "facility/raw_rec/scan1_rec", folder)
    for p in folder.rglob("*"):
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    state["TomocupyRecon"]["details"]["results"][0]["output"]["output"] = str(folder)
    state["input"]["publishv2"]["source_collection_basepath"] = str(tmp_path)
    change(folder)
    decided = after_publish_targets(**task_kwargs(state))
    assert decided["delete"] is False and decided["targets"] == []
    assert decided["unverified"].startswith(f"{folder} no longer holds the files of its manifest: ")
    assert problem in decided["unverified"]
    assert [k["reason"] for k in decided["kept"]] == [decided["unverified"]] * 2


def globus_task(files: int, **fields: Any) -> dict:
    """A succeeded TRANSFER task document as Globus gives it (globus-sdk's test data), moving ``files``."""
    doc = copy.deepcopy(get_response_set(globus_sdk.TransferClient.task_list).lookup("default").json["DATA"][0])
    doc.update({"files": files, "files_transferred": files, "files_skipped": 0, **fields})
    return doc


@pytest.mark.parametrize("fields, problem", [
    ({}, None),
    ({"files_transferred": 1, "files_skipped": 14, "sync_level": 3}, None),
    ({"files_transferred": 1, "files_skipped": 14}, "14 files were skipped at sync level None"),
    ({"subtasks_failed": 1}, "1 subtasks failed"),
    ({"subtasks_skipped_errors": 2}, "2 subtasks skipped errors"),
    ({"verify_checksum": False}, "checksums were not verified"),
    ({"status": "FAILED", "fatal_error": {"code": "PERMISSION_DENIED"}}, "the task's status is FAILED"),
    ({"files_transferred": 14}, "15 files, of which 14 transferred and 0 skipped"),
])
def test_globus_transfer_task_documents_are_held_to_the_rule(kept_run, fields, problem):
    _, state = kept_run
    state = copy.deepcopy(state)
    files = state["Publishv2Transfer"]["details"]["files"]
    assert files == 15  # the manifest's 14 files and itself
    state["Publishv2Transfer"]["details"] = globus_task(files, **fields)
    decided = after_publish_targets(**task_kwargs(state))
    if problem is None:
        assert decided["unverified"] is None and decided["delete"] is True
    else:
        assert decided["delete"] is False
        assert decided["unverified"].startswith("the publication's transfer is not verified: ")
        assert problem in decided["unverified"]


def test_the_raw_copy_stays_when_it_is_the_beamline_scan_or_another_run_reads_it(kept_run):
    root, state = kept_run
    same = copy.deepcopy(state)
    same["input"]["source"] = {"id": FACILITY, "path": "/raw/scan1.h5"}
    decided = after_publish_targets(**task_kwargs(same))
    assert [t["what"] for t in decided["targets"]] == ["reconstruction"]
    assert decided["kept"] == [{"what": "raw", "rule": "after-publish",
                                "reason": "the scan's copy at the facility is the beamline's scan itself, never removed"}]

    staging = root / "facility/raw_rec/.scan1_rec_set2.other-run.staging"  # a campaign's parameter set
    staging.mkdir()
    try:
        decided = after_publish_targets(**task_kwargs(state))
    finally:
        staging.rmdir()
    [kept] = decided["kept"]
    assert kept["what"] == "raw" and kept["reason"] == f"another reconstruction of this scan is in progress ({staging})"
    assert state["input"]["source"]["id"] == SOURCE


def test_a_folder_another_run_replaced_is_not_removed(kept_run):
    _, state = kept_run
    state = copy.deepcopy(state)
    state["_context"]["run_id"] = "another-run"
    decided = after_publish_targets(**task_kwargs(state))
    assert decided["delete"] is False
    assert "now holds run" in decided["unverified"] and "not this run's" in decided["unverified"]


# --- the request Globus gets ------------------------------------------------------------------

def test_the_delete_request_is_one_transfers_delete_action_provider_takes(kept_run):
    _, state = kept_run
    state = copy.deepcopy(state)
    state[TARGETS_STATE] = {"details": {"results": [{"output": after_publish_targets(**task_kwargs(state))}]}}
    definition = offline_client("tomocupy").get_flow_definition()
    delete_state = definition["States"][DELETE_STATE]
    assert delete_state["ActionUrl"] == "https://transfer.actions.globus.org/delete"
    request = render_parameters(delete_state["Parameters"], state)
    docs = json.loads(DOCS_DELETE.read_text())
    # the docs' example request's fields, each of the same shape
    assert set(docs) <= set(request)
    assert all(set(item) == {"path"} for item in request["DATA"]) and isinstance(request["recursive"], bool)
    # and nothing globus-sdk's DeleteData would not send
    sdk = globus_sdk.DeleteData(endpoint=FACILITY, recursive=True, ignore_missing=False,
                                label="tomocupy-gladier: removed after publication")
    sdk.add_item("/raw/scan1.h5")
    assert set(request) <= set(sdk) and request["label"] == sdk["label"]


def test_the_delete_has_the_transfers_consents_even_where_no_transfer_uses_the_facility(tmp_path):
    """A run that copies nothing to or from the facility (the recon flow, publication not copied)
    still gets the facility collection's data_access consent in its run scope when it may delete."""
    from tomocupy_gladier.flows import FLOWS, data_access_collections

    def config(rules: str):
        path = experiment(tmp_path / rules[:3], rules, at_facility=True)
        path.write_text(path.read_text().replace('path = "/published"\n', 'path = "/published"\ntransfer = false\n'))
        return load_config(path)

    assert data_access_collections(FLOWS["recon"], config('raw = "keep"\n')) == []
    assert data_access_collections(FLOWS["recon"], config(BOTH)) == [FACILITY]


# --- where runs are started ---------------------------------------------------------------------

def test_start_forms_campaigns_and_timers_follow_the_experiments_rules(tmp_path):
    """A run from the Globus web app's start form removes what the experiment says (the box
    ticked, the rules filled in); a campaign's job and a timer keep the step on, while the email,
    a per-run message, is off in both."""
    from tomocupy_gladier.campaign.timers import timer_body
    from tomocupy_gladier.flows import TomocupyFlow
    from tomocupy_gladier.flows.start_form import deployed_schema
    from tomocupy_gladier.planning.plan import Origin, RunRequest, plan

    path = experiment(tmp_path, 'raw = "after-publish"\nreconstruction = "30d"\n')
    path.write_text(path.read_text() + '\n[notify]\nemail = ["you@lab.example"]\n')
    config = load_config(path)
    form = deployed_schema(TomocupyFlow.flow_schema, config)["properties"]["input"]["properties"]
    fields = form["retention"]["properties"]
    assert (fields["enable"]["default"], fields["raw"]["default"], fields["reconstruction"]["default"]) == (
        True, "after-publish", "keep")  # an age is prune's: the flow keeps it

    job = plan(config, RunRequest("scan1.h5", flow=TomocupyFlow, origin=Origin.CAMPAIGN))
    rules = {"enable": True, "raw": "after-publish", "reconstruction": "keep"}
    assert job.body["input"]["retention"] == rules
    assert job.body["input"]["notify"] == {"enable": False}
    assert timer_body(job.body, ["cells"])["body"]["input"]["retention"] == rules
