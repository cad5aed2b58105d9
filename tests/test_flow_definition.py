"""The flows Gladier generates: states, action providers, timeouts and Publishv2's switches."""

from __future__ import annotations

import pytest

from tomocupy_gladier.clients.client_factory import offline_client
from tomocupy_gladier.experiment.limits import RECON_WAIT_TIME


@pytest.fixture(scope="module")
def definition():
    return offline_client("tomocupy").get_flow_definition()


def test_tomocupy_flow_is_transfer_then_reconstruction_then_publication(definition):
    states = definition["States"]
    assert definition["StartAt"] == "LocateScan"
    assert states["LocateScan"]["Next"] == "ScanAtFacility"
    assert states["ScanAtFacility"]["Next"] == "ScanFile"
    assert states["ScanFile"]["Next"] == "Transfer"
    assert states["Transfer"]["Next"] == "TomocupyRecon"
    assert states["TomocupyRecon"]["Next"] == "MakePreviews"
    assert states["MakePreviews"]["Next"] == "ScanMetadata"
    assert states["ScanMetadata"]["Next"] == "Publishv2GatherMetadata"
    assert states["Publishv2Done"]["Next"] == "ReturnDataChoice"
    assert states["ReturnData"]["Next"] == states["ReturnDataSkipped"]["Next"] == "RetentionChoice"
    # every end of the removal after publication goes on to the email
    assert all(states[name]["Next"] == "NotifyChoice" for name in (
        "RetentionSkipped", "RetentionKept", "RetentionDone", "RetentionNotRemoved", "RetentionUndecided"))
    assert states["NotifySucceeded"].get("End") is True and states["NotifySkipped"].get("End") is True


def test_transfer_reads_collection_objects_and_honours_sync_level(definition):
    transfer = definition["States"]["Transfer"]
    assert transfer["ActionUrl"] == "https://transfer.actions.globus.org/transfer/"
    params = transfer["Parameters"]
    assert params["source_endpoint.$"] == "$.input.source.id"
    assert params["DATA"][0]["destination_path.$"] == "$.input.destination.path"
    assert params["sync_level.$"] == "$.input.transfer_sync_level"
    assert params["verify_checksum"] is True


def test_reconstruction_runs_on_compute_v3_and_fails_the_flow_when_it_fails(definition):
    state = definition["States"]["TomocupyRecon"]
    assert state["ActionUrl"] == "https://compute.actions.globus.org/v3"
    assert state["ExceptionOnActionFailure"] is True
    # the walltime's usable time (55 min of the debug queue's hour) and an hour in the queue
    assert state["WaitTime"] == RECON_WAIT_TIME == 3300 + 3600
    params = state["Parameters"]
    assert params["endpoint_id.$"] == "$.input.compute_endpoint"
    assert params["user_endpoint_config.$"] == "$.input.tomocupy_endpoint_config"
    assert params["tasks"] == [{"function_id.$": "$.input.tomocupy_recon_function_id",
                                "kwargs": {"recon.$": "$.input.recon", "tomocupy.$": "$.input.tomocupy",
                                           "run_id.$": "$._context.run_id",
                                           "tomocupy_gladier_version.$": "$.input.tomocupy_gladier_version"}}]


def test_wait_time_is_configurable():
    client = offline_client("tomocupy", recon_wait_time=4 * 3600)
    assert client.get_flow_definition()["States"]["TomocupyRecon"]["WaitTime"] == 4 * 3600


def test_publication_steps_depend_on_explicit_flags(definition):
    states = definition["States"]
    choices = states["Publishv2ChoiceTransfer"]["Choices"][0]["And"]
    assert {"Variable": "$.input.publishv2.enable_transfer", "BooleanEquals": True} in choices
    assert states["Publishv2ChoiceIngest"]["Choices"][0]["And"][1]["Variable"] == "$.input.publishv2.enable_publish"


def test_recon_flow_has_no_transfer():
    definition = offline_client("recon").get_flow_definition()
    assert definition["StartAt"] == "TomocupyRecon"
    assert "Transfer" not in definition["States"]


def test_schema_is_sent_with_the_flow():
    client = offline_client("tomocupy")
    schema = client.get_flow_schema()
    inner = schema["properties"]["input"]
    assert inner["additionalProperties"] is False
    assert {"source", "destination", "recon", "tomocupy", "publishv2"} <= set(inner["required"])


def test_previews_and_metadata_get_the_reconstruction_result_and_feed_publication(definition):
    states = definition["States"]
    previews = states["MakePreviews"]["Parameters"]["tasks"][0]["kwargs"]
    assert previews["recon_result.$"] == "$.TomocupyRecon.details.results[0].output"
    metadata = states["ScanMetadata"]["Parameters"]["tasks"][0]["kwargs"]
    assert metadata["previews_result.$"] == "$.MakePreviews.details.results[0].output"
    gather = states["Publishv2GatherMetadata"]["Parameters"]["tasks"][0]
    # Compute AP v3 takes kwargs where v2 took payload (globus-compute docs/actionprovider.rst:
    # "The V3 Action Provider no longer supports the payload argument aliasing kwargs")
    assert gather == {"function_id.$": "$.input.publishv2_gather_metadata_function_id",
                      "kwargs.$": "$.ScanMetadata.details.results[0].output.publishv2"}
    for name in ("MakePreviews", "ScanMetadata", "Publishv2GatherMetadata"):
        assert states[name]["ExceptionOnActionFailure"] is True
        # the same batch job settings as the reconstruction
        assert states[name]["Parameters"]["user_endpoint_config.$"] == "$.input.tomocupy_endpoint_config"


COMPUTE_URLS = ("https://compute.actions.globus.org", "https://compute.actions.globus.org/v3")


@pytest.mark.parametrize("flow", ["tomocupy", "recon", "interactive"])
def test_every_compute_step_sends_one_endpoint_and_one_user_endpoint_config(flow):
    """Globus Compute starts a user endpoint (on PBS: a batch job) per distinct endpoint, identity
    and user_endpoint_config (globus-compute docs/endpoints/endpoints.rst: "changing any of these
    values will result in a new user endpoint process"); v2 takes no user_endpoint_config (NOTES,
    fourth review). So every compute state is v3 and sends the same two paths."""
    states = offline_client(flow).get_flow_definition()["States"]
    compute = {name: state for name, state in states.items()
               if state.get("Type") == "Action" and state["ActionUrl"].rstrip("/") in COMPUTE_URLS}
    assert len(compute) >= 4
    sent = {(state["ActionUrl"], state["Parameters"].get("endpoint_id.$"),
             state["Parameters"].get("user_endpoint_config.$")) for state in compute.values()}
    assert sent == {("https://compute.actions.globus.org/v3", "$.input.compute_endpoint",
                     "$.input.tomocupy_endpoint_config")}


@pytest.mark.parametrize("flow", ["tomocupy", "recon"])
def test_return_step_is_a_choice_on_an_explicit_flag_then_a_transfer(flow):
    states = offline_client(flow).get_flow_definition()["States"]
    assert states["Publishv2Done"]["Next"] == "ReturnDataChoice"
    choice = states["ReturnDataChoice"]
    # no IsPresent guard: a missing flag fails the run instead of skipping the step unseen
    assert choice["Choices"] == [{"Variable": "$.input.return_data.enable", "BooleanEquals": True,
                                  "Next": "ReturnData"}]
    assert choice["Default"] == "ReturnDataSkipped"
    assert states["ReturnDataSkipped"]["Type"] == "Pass"
    transfer = states["ReturnData"]
    assert transfer["ActionUrl"] == "https://transfer.actions.globus.org/transfer/"
    params = transfer["Parameters"]
    # the request the metadata step made from this run's own folders, not paths in the input
    request = "$.ScanMetadata.details.results[0].output.return_data"
    assert params["source_endpoint.$"] == f"{request}.source.id"
    assert params["destination_endpoint.$"] == f"{request}.destination.id"
    assert params["DATA"] == [{"source_path.$": f"{request}.source.path",
                               "destination_path.$": f"{request}.destination.path",
                               "recursive.$": f"{request}.recursive"}]
    assert params["delete_destination_extra"] is True
    names = list(states)
    assert names.index("ScanMetadata") < names.index("ReturnData")
    assert transfer.get("ExceptionOnActionFailure", True) is True
    assert transfer["WaitTime"] >= 3600
    schema = offline_client(flow).get_flow_schema()["properties"]["input"]
    assert "return_data" in schema["required"]


def test_the_scan_is_named_once_and_its_facility_paths_are_derived_in_the_flow(definition):
    """The start form asks for the scan's beamline path only: the flow adds its name to the
    facility folders (ending in /); a full path, as `run` sends, keeps its meaning."""
    from tomocupy_gladier.local.jsonpath import render_parameters, write_path

    states = definition["States"]
    locate = states["LocateScan"]
    assert locate["Type"] == "ExpressionEval" and locate["ResultPath"] == "$.LocateScan"
    assert states["ScanAtFacility"] == {**states["ScanAtFacility"], "Type": "Pass",
                                        "InputPath": "$.LocateScan.destination_path",
                                        "ResultPath": "$.input.destination.path"}
    assert states["ScanFile"]["InputPath"] == "$.LocateScan.file_name"
    assert states["ScanFile"]["ResultPath"] == "$.input.tomocupy.file_name"

    def derived(source: str, destination: str, file_name: str) -> tuple[str, str]:
        state = {"input": {"source": {"path": source}, "destination": {"path": destination},
                           "tomocupy": {"file_name": file_name}}}
        found = render_parameters(locate["Parameters"], state)
        write_path(state, "$.input.destination.path", found["destination_path"])
        return state["input"]["destination"]["path"], found["file_name"]

    # the form: folders
    assert derived("/beam/2026-1/scan_7.h5", "/raw/", "/eagle/TOMO/raw/") == \
        ("/raw/scan_7.h5", "/eagle/TOMO/raw/scan_7.h5")
    # the command line: full paths, unchanged
    assert derived("/beam/scan_7.h5", "/raw/scan_7.h5", "/eagle/TOMO/raw/scan_7.h5") == \
        ("/raw/scan_7.h5", "/eagle/TOMO/raw/scan_7.h5")
    # the collection's root, and a scan that is a folder
    assert derived("/beam/scan_7.h5", "/", "/eagle/") == ("/scan_7.h5", "/eagle/scan_7.h5")
    assert derived("/beam/tiles/", "/raw/", "/e/raw/") == ("/raw/tiles", "/e/raw/tiles")
