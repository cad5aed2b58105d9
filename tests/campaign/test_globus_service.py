"""GlobusRunService: the real globus-sdk clients against the fake Flows service on loopback."""

from __future__ import annotations

import globus_sdk
import pytest
import responses
from globus_sdk.authorizers import GlobusAuthorizer

from tomocupy_gladier.campaign.fake_service import Faults
from tomocupy_gladier.campaign.globus_service import GlobusRunService
from tomocupy_gladier.campaign.service import (
    AmbiguousError,
    AuthError,
    NotFoundError,
    PermanentError,
    RunService,
    TransientError,
)

from .helpers import FLOW_ID


def test_it_is_a_run_service(service):
    assert isinstance(service, RunService)


def test_submit_status_and_find_by_tag(fake_flows, service):
    run_id = service.submit({"input": {"x": 1}}, "label", ["campaign:c", "job:abc"])
    service.submit({"input": {"x": 2}}, "other", ["job:def"])
    assert service.status(run_id)["status"] in ("ACTIVE", "SUCCEEDED")
    assert [r["run_id"] for r in service.find_runs("job:abc")] == [run_id]
    assert service.find_runs("job:nothing") == []
    assert fake_flows.requests["POST /flows/{id}/run"] == 2


# The run list's query parameters the Flows API documents: globus-sdk-javascript
# src/open-api/types/flows.ts (commit a30fbfb, 2026-08-20), GET /runs; globus-sdk 4.10
# FlowsClient.list_runs takes filter_flow_id, filter_roles and marker, the rest as query_params.
DOCUMENTED_RUN_FILTERS = {"marker", "per_page", "filter_roles", "filter_role", "filter_status", "filter_label",
                          "filter_flow_title", "filter_flow_id", "filter_completion_time",
                          "filter_start_time", "orderby"}


def test_runs_are_found_with_documented_filters_only(fake_flows, service):
    """No filter_tags: the API does not document it; the tag is checked on each run listed."""
    mine = service.submit({"input": {}}, "l", ["job:mine"])
    service.submit({"input": {}}, "l", ["job:other"])
    assert [r["run_id"] for r in service.find_runs("job:mine")] == [mine]
    assert fake_flows.list_queries and all(set(q) <= DOCUMENTED_RUN_FILTERS for q in fake_flows.list_queries)


def test_find_runs_follows_pages(fake_flows):
    service = GlobusRunService.connect(FLOW_ID, flows_authorizer=globus_sdk.NullAuthorizer(),
                                       base_url=fake_flows.url)
    service.page_size = 2
    ids = [service.submit({"input": {}}, "l", ["job:same"]) for _ in range(5)]
    assert [r["run_id"] for r in service.find_runs("job:same")] == ids
    assert fake_flows.requests["GET /runs"] == 3


def test_429_is_transient_and_carries_retry_after(fake_flows, service):
    fake_flows.faults = Faults(rate_429=1.0, retry_after="7")
    with pytest.raises(TransientError) as caught:
        service.submit({"input": {}}, "l", ["job:a"])
    assert not isinstance(caught.value, AmbiguousError), "a 429 was not applied: safe to resubmit"
    assert caught.value.retry_after == 7
    assert fake_flows.submissions["job:a"] == 0


def test_500_after_the_run_started_is_ambiguous_and_the_sdk_does_not_resubmit(fake_flows, service):
    fake_flows.faults = Faults(rate_500_after=1.0)
    with pytest.raises(AmbiguousError):
        service.submit({"input": {}}, "l", ["job:a"])
    assert fake_flows.requests["POST /flows/{id}/run"] == 1, "globus-sdk's own retries are off"
    assert fake_flows.submissions["job:a"] == 1
    fake_flows.faults = Faults()
    assert len(service.find_runs("job:a")) == 1


def test_dropped_connection_is_ambiguous(fake_flows, service):
    fake_flows.faults = Faults(rate_drop_after=1.0)
    with pytest.raises(AmbiguousError):
        service.submit({"input": {}}, "l", ["job:a"])
    assert fake_flows.submissions["job:a"] == 1


def test_unknown_run_is_not_found(service):
    with pytest.raises(NotFoundError, match="404"):
        service.status("00000000-0000-4000-8000-000000000000")


@responses.activate
def test_forbidden_is_an_auth_error_and_bad_input_a_plain_refusal():
    url = "https://flows.test/"
    responses.post(f"{url}flows/{FLOW_ID}/run", status=403, json={"code": "FORBIDDEN"})
    responses.post(f"{url}flows/{FLOW_ID}/run", status=400, json={"code": "BAD_REQUEST"})
    service = GlobusRunService.connect(FLOW_ID, flows_authorizer=globus_sdk.NullAuthorizer(), base_url=url)
    with pytest.raises(AuthError):
        service.submit({"input": {}}, "l", [])
    with pytest.raises(PermanentError) as refused:
        service.submit({"input": {}}, "l", [])
    assert not isinstance(refused.value, AuthError)


def test_cancel_ends_an_active_run(fake_flows, service):
    fake_flows.run_seconds = 60
    run_id = service.submit({"input": {}}, "l", ["job:a"])
    service.cancel(run_id)
    assert service.status(run_id)["status"] == "ENDED"


class RefreshingAuthorizer(GlobusAuthorizer):
    """Stands for a refresh-token authorizer: the first token is stale, refreshing fixes it."""

    def __init__(self) -> None:
        self.token, self.refreshes = "stale", 0

    def get_authorization_header(self) -> str:
        return f"Bearer {self.token}"

    def handle_missing_authorization(self) -> bool:
        self.refreshes += 1
        self.token = "fresh"
        return True


@responses.activate
def test_expired_token_is_refreshed_once_and_the_request_repeated():
    url = "https://flows.test/"
    responses.get(f"{url}runs/r1", status=401, json={"code": "AUTHENTICATION_ERROR"},
                  match=[responses.matchers.header_matcher({"Authorization": "Bearer stale"})])
    responses.get(f"{url}runs/r1", json={"run_id": "r1", "status": "SUCCEEDED"},
                  match=[responses.matchers.header_matcher({"Authorization": "Bearer fresh"})])
    authorizer = RefreshingAuthorizer()
    service = GlobusRunService.connect(FLOW_ID, flows_authorizer=authorizer, base_url=url)
    assert service.status("r1")["status"] == "SUCCEEDED"
    assert authorizer.refreshes == 1


def test_globus_sdk_environment_setting_points_both_clients_at_the_fake(fake_flows, monkeypatch):
    monkeypatch.setenv("GLOBUS_SDK_SERVICE_URL_FLOWS", fake_flows.url)
    service = GlobusRunService.connect(FLOW_ID, flows_authorizer=globus_sdk.NullAuthorizer())
    run_id = service.submit({"input": {}}, "l", ["job:env"])
    assert service.status(run_id)["run_id"] == run_id
    assert fake_flows.submissions["job:env"] == 1
