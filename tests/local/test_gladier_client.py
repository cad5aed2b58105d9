"""A real Gladier client (Transfer -> a Compute v3 tool -> Publishv2) runs end to end on the
local backend, with the definition and input Gladier generates for production."""

from __future__ import annotations

import os
from pathlib import Path

import gladier.exc
import pytest
from gladier import GladierBaseClient, GladierBaseTool, generate_flow_definition
from tomocupy_gladier.globus.compute_manager import SourceComputeManager

from tomocupy_gladier.clients.gladier_local import gladier_config_path, local_client
from tomocupy_gladier.local import InputValidationError, LocalBackend
from tomocupy_gladier.local.registry import function_id_for

RAW = "11111111-1111-1111-1111-111111111111"       # beamline collection
FACILITY = "22222222-2222-2222-2222-222222222222"  # where reconstruction happens
PUBLIC = "33333333-3333-3333-3333-333333333333"    # publication collection
ENDPOINT = "4b116d3c-1703-4f8f-9f6f-39921e5864df"


def toy_reconstruct(scan_dir, **data):
    """Write a fake reconstruction next to the scan."""
    import os
    import pathlib

    out = pathlib.Path(scan_dir) / "rec"
    out.mkdir(exist_ok=True)
    size = sum(p.stat().st_size for p in pathlib.Path(scan_dir).glob("*.h5"))
    (out / "recon_00000.tiff").write_bytes(b"\0" * 64)
    return {"rec_dir": str(out), "input_bytes": size, "pid": os.getpid(),
            "module": globals()["__name__"]}


@generate_flow_definition
class ToyReconstruct(GladierBaseTool):
    action_url = "https://compute.actions.globus.org/v3"
    compute_functions = [toy_reconstruct]
    required_input = ["scan_dir", "compute_endpoint"]


@generate_flow_definition
class ToyTomoClient(GladierBaseClient):
    """Transfer a scan, reconstruct it, publish it."""

    gladier_tools = [
        "gladier_tools.globus.Transfer",
        ToyReconstruct,
        "gladier_tools.publish.Publishv2",
    ]


class SchemaClient(ToyTomoClient.__wrapped__):
    flow_definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    gladier_tools = []
    flow_schema = {"type": "object", "properties": {"input": {
        "type": "object", "required": ["sample"]}}}


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.fixture
def world(tmp_path, home):
    roots = {name: tmp_path / name for name in ("raw", "facility", "public")}
    for root in roots.values():
        root.mkdir()
    scan = roots["raw"] / "2026-11" / "scan_001"
    scan.mkdir(parents=True)
    (scan / "scan_001.h5").write_bytes(os.urandom(5000))
    backend = LocalBackend(tmp_path / "state", {RAW: roots["raw"], FACILITY: roots["facility"],
                                                PUBLIC: roots["public"]})
    yield backend, roots
    backend.close()


def _input(roots: dict, publish: dict | None = None) -> dict:
    scan_dir = roots["facility"] / "scan_001"
    publishv2 = {
        "dataset": str(scan_dir), "destination": "/published",
        "source_collection": FACILITY, "source_collection_basepath": str(roots["facility"]),
        "destination_collection": PUBLIC, "index": "tomo-index", "visible_to": ["public"],
        "metadata": {"sample": "shale-17"},
        "enable_transfer": True, "enable_publish": True, "enable_meta_dc": True,
    }
    publishv2.update(publish or {})
    return {"input": {
        "transfer_source_endpoint_id": RAW, "transfer_destination_endpoint_id": FACILITY,
        "transfer_source_path": "/2026-11/scan_001", "transfer_destination_path": "/scan_001",
        "transfer_recursive": True,
        "scan_dir": str(scan_dir), "compute_endpoint": ENDPOINT, "publishv2": publishv2,
    }}


def test_transfer_reconstruct_publish_end_to_end(world, home):
    backend, roots = world
    client = local_client(ToyTomoClient, backend)
    run = client.run_flow(flow_input=_input(roots), label="scan_001", tags=["demo"])

    assert run["status"] == "SUCCEEDED", run["details"]
    out = run["details"]["output"]
    # 1. the scan was copied into the facility collection
    copied = roots["facility"] / "scan_001" / "scan_001.h5"
    assert copied.read_bytes() == (roots["raw"] / "2026-11/scan_001/scan_001.h5").read_bytes()
    assert out["Transfer"]["details"]["files_transferred"] == 1
    # 2. the function ran from its source text in another interpreter
    result = out["ToyReconstruct"]["details"]["results"][0]["output"]
    assert result["input_bytes"] == 5000
    assert result["pid"] != os.getpid()
    assert result["module"] == "__compute_function__"
    assert (roots["facility"] / "scan_001/rec/recon_00000.tiff").exists()
    # 3. Publishv2 gathered metadata, copied the dataset and ingested the entry
    assert (roots["public"] / "published/scan_001/rec/recon_00000.tiff").exists()
    [entry] = backend.search_index.search("shale-17", index="tomo-index")
    assert entry["subject"] == f"globus://{PUBLIC}/published/scan_001"
    assert entry["visible_to"] == ["public"]
    assert {f["filename"] for f in entry["content"]["files"]} == {"scan_001.h5",
                                                                  "recon_00000.tiff"}
    assert entry["content"]["dc"]["titles"] == [{"title": "scan_001"}]

    assert client.get_status(run["run_id"])["status"] == "SUCCEEDED"
    states = [e["details"].get("state_name") for e in backend.store.get_log(run["run_id"])
              if e["code"] in ("ActionCompleted", "PassCompleted")]
    assert states == ["Transfer", "ToyReconstruct", "Publishv2GatherMetadata",
                      "Publishv2Transfer", "Publishv2Ingest", "Publishv2Done"]
    # Gladier's own storage lives in the state folder, never in ~/.gladier
    assert gladier_config_path(backend).exists()
    assert not (home / ".gladier").exists()


def test_the_stored_flow_is_exactly_what_gladier_generated(world):
    backend, roots = world
    client = local_client(ToyTomoClient, backend)
    run = client.run_flow(flow_input=_input(roots))
    stored = backend.store.get_flow(run["flow_id"])
    assert stored["definition"] == client.get_flow_definition()
    assert stored["title"] == "ToyTomoClient flow"
    assert stored["definition"]["States"]["ToyReconstruct"]["ActionUrl"] == \
        "https://compute.actions.globus.org/v3"


def test_ids_are_stable_across_runs_and_clients(world):
    backend, roots = world
    first = local_client(ToyTomoClient, backend).run_flow(flow_input=_input(roots))
    second = local_client(ToyTomoClient, backend).run_flow(flow_input=_input(roots))
    assert first["flow_id"] == second["flow_id"]
    assert first["run_id"] != second["run_id"]
    fid = local_client(ToyTomoClient, backend).get_input()["input"]["toy_reconstruct_function_id"]
    assert fid == function_id_for(SourceComputeManager.get_compute_function_checksum(toy_reconstruct))
    assert len(backend.store.list_flows()) == 1


def test_publish_steps_are_skipped_without_the_enable_flags(world):
    # The Gladier trap from NOTES: Publishv2's Choice states need the flags present AND true.
    backend, roots = world
    run = local_client(ToyTomoClient, backend).run_flow(flow_input=_input(
        roots, {"enable_transfer": False, "enable_publish": False}))
    assert run["status"] == "SUCCEEDED"
    assert "Publishv2Transfer" not in run["details"]["output"]
    assert backend.search_index.search("*") == []
    assert not (roots["public"] / "published").exists()


def test_missing_input_fails_in_gladier_before_the_backend(world):
    backend, roots = world
    flow_input = _input(roots)
    del flow_input["input"]["scan_dir"]
    with pytest.raises(gladier.exc.ConfigException, match="scan_dir"):
        local_client(ToyTomoClient, backend).run_flow(flow_input=flow_input)
    assert backend.store.list_runs() == []


def test_a_bad_source_path_fails_the_run_at_the_transfer(world):
    backend, roots = world
    flow_input = _input(roots)
    flow_input["input"]["transfer_source_path"] = "/../../etc"
    run = local_client(ToyTomoClient, backend).run_flow(flow_input=flow_input)
    assert (run["status"], run["details"]["code"], run["details"]["state_name"]) == (
        "FAILED", "ActionFailedException", "Transfer")
    assert "escapes the root" in run["details"]["description"]


def test_the_client_flow_schema_is_enforced(world):
    # Flows answers a schema violation with HTTP 400 and creates no run; so does the backend.
    backend, _ = world
    client = local_client(SchemaClient, backend)
    with pytest.raises(gladier.exc.ConfigException, match="'sample' is a required property") \
            as info:
        client.run_flow(flow_input={"input": {"other": 1}})
    assert isinstance(info.value, InputValidationError)
    assert backend.store.list_runs() == []
    assert client.run_flow(flow_input={"input": {"sample": "x"}})["status"] == "SUCCEEDED"


def test_background_runs_through_the_client(world):
    backend, roots = world
    client = local_client(ToyTomoClient, backend, background=True)
    run = client.run_flow(flow_input=_input(roots))
    assert run["status"] == "ACTIVE"
    seen = []
    client.progress(run["run_id"], callback=seen.append, delay=0.05)  # Gladier's own loop
    assert seen[-1]["status"] == "SUCCEEDED"
    assert {s["details"].get("state_name") for s in seen if s["status"] == "ACTIVE"} <= {
        None, "Transfer", "ToyReconstruct", "Publishv2GatherMetadata", "Publishv2ChoiceTransfer",
        "Publishv2Transfer", "Publishv2ChoiceIngest", "Publishv2Ingest", "Publishv2Done"}
    assert client.get_status(run["run_id"])["details"]["code"] == "FlowSucceeded"


def test_an_invalid_definition_is_refused_at_deployment(world):
    backend, _ = world

    class Broken(SchemaClient):
        flow_definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Next": "Q"}}}
        flow_schema = None

    with pytest.raises(gladier.exc.ConfigException, match="state 'P', field 'Next': names 'Q', which is not a state"):
        local_client(Broken, backend).run_flow(flow_input={"input": {"x": 1}})


def flaky_step(**data):
    raise RuntimeError("detector offline")


@generate_flow_definition
class DefaultBuilderTool(GladierBaseTool):
    compute_functions = [flaky_step]  # no action_url: Gladier's Compute v2 builder


@generate_flow_definition
class V2Client(GladierBaseClient):
    gladier_tools = [DefaultBuilderTool]


def test_gladier_v2_compute_states_let_a_failed_function_pass(world):
    # The Gladier trap from NOTES: the default builder writes ExceptionOnActionFailure: false.
    backend, _ = world
    client = local_client(V2Client, backend)
    state = client.get_flow_definition()["States"]["FlakyStep"]
    assert state["ExceptionOnActionFailure"] is False
    run = client.run_flow(flow_input={"input": {"compute_endpoint": ENDPOINT}})
    assert run["status"] == "SUCCEEDED"
    failed = run["details"]["output"]["FlakyStep"]
    assert failed["status"] == "FAILED"
    assert "RuntimeError: detector offline" in failed["details"]["exception"]
