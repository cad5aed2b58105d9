"""Resuming on Globus, at the HTTP level: the INACTIVE run of a Globus-authored fixture (see
tests/fixtures/globus/SOURCES.md) is resumed with a token for its required scope, through
Flows' ``POST /runs/{id}/resume`` (globus-sdk's testing data for ``resume_run``)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import globus_sdk
from gladier.managers.login_manager import CallbackLoginManager
from globus_sdk.scopes import Scope
from globus_sdk.testing import load_response

from tomocupy_gladier.campaign.globus_service import GlobusRunService
from tomocupy_gladier.runs.consents import describe, missing_consent, resume

FIXTURE = Path(__file__).resolve().parent / "fixtures/globus/flows_run_inactive_consent_required.json"


def inactive_run(run_id: str) -> dict:
    return {**json.loads(FIXTURE.read_text()), "run_id": run_id}


def test_resume_logs_in_for_the_required_scope_then_resumes(http):
    resumed = load_response(globus_sdk.SpecificFlowClient.resume_run)
    run_id = resumed.metadata["run_id"]
    record = inactive_run(run_id)
    asked: list = []

    def grant(scopes):
        asked.extend(scopes)
        return {s: globus_sdk.AccessTokenAuthorizer("consented-token") for s in scopes}

    client = SimpleNamespace(flows_manager=object(), login_manager=CallbackLoginManager({}, callback=grant),
                             get_status=lambda rid: record)
    answer = resume(client, run_id)

    assert asked == [Scope.parse(record["details"]["required_scope"])]
    (call,) = [c for c in http.calls if c.request.url.endswith(f"/runs/{run_id}/resume")]
    assert call.request.method == "POST"
    assert call.request.headers["Authorization"] == "Bearer consented-token"
    assert answer["run_id"] == run_id


def test_status_explains_which_collection_and_what_to_do():
    missing = missing_consent(inactive_run("r-1"))
    lines = describe(missing, "experiment.toml")
    assert "state GetPermissionFromUncleOwen" in lines[0]
    assert "7c1f3b9e-0d2a-4e5b-8f6a-1b2c3d4e5f60" in lines[0]
    assert lines[1].endswith("tomocupy-gladier resume r-1 --config experiment.toml")


def test_the_campaign_service_resumes_only_once_auth_holds_the_consent(http):
    resumed = load_response(globus_sdk.SpecificFlowClient.resume_run)
    run_id, flow_id = resumed.metadata["run_id"], resumed.metadata["flow_id"]
    held: list[str] = []
    service = GlobusRunService.connect(flow_id, flows_authorizer=globus_sdk.AccessTokenAuthorizer("t"))
    missing = missing_consent(inactive_run(run_id))

    assert not service.consent_given(missing)  # no way to know: never resumed blindly
    service.consent_check = lambda scope: bool(held.append(scope)) or True
    assert service.consent_given(missing) and held == [missing.required_scope]
    service.resume(run_id)
    assert [c.request.method for c in http.calls if c.request.url.endswith(f"/runs/{run_id}/resume")] == ["POST"]
