"""GladierClientRunService: a Gladier client (the local backend's) seen as a RunService."""

from __future__ import annotations

import sqlite3

import gladier.exc
import pytest

from tomocupy_gladier.campaign.gladier_service import GladierClientRunService
from tomocupy_gladier.campaign.ledger import SUCCEEDED
from tomocupy_gladier.campaign.runner import CampaignRunner, job_tag
from tomocupy_gladier.campaign.service import PermanentError, RunService, TransientError

from .helpers import fast_policy, fast_settings, make_jobs, simple_body


class FakeManager:
    """Stands for the local backend's flows manager: runs end on the second look."""

    def __init__(self) -> None:
        self.runs: dict[str, dict] = {}
        self.looks: dict[str, int] = {}
        self.cancelled: list[str] = []

    def list_runs(self):
        return list(self.runs.values())

    def cancel_run(self, run_id):
        self.cancelled.append(run_id)


class FakeClient:
    """Stands for a Gladier client: ``run_flow(flow_input=, label=, tags=)`` and ``get_status``."""

    def __init__(self, fail_first_submit_with: Exception | None = None) -> None:
        self.flows_manager = FakeManager()
        self.started: list[dict] = []
        self._fail = fail_first_submit_with

    def run_flow(self, flow_input=None, label=None, tags=None):
        if self._fail is not None:
            exc, self._fail = self._fail, None
            raise exc
        run_id = f"run-{len(self.started)}"
        self.started.append({"input": flow_input, "label": label, "tags": tags})
        self.flows_manager.runs[run_id] = {"run_id": run_id, "status": "ACTIVE", "tags": tags,
                                           "start_time": f"2026-01-01T00:00:{len(self.started):02d}"}
        return {"run_id": run_id}

    def get_status(self, run_id):
        run = self.flows_manager.runs[run_id]
        self.flows_manager.looks[run_id] = self.flows_manager.looks.get(run_id, 0) + 1
        if self.flows_manager.looks[run_id] >= 2:
            run["status"] = "SUCCEEDED"
        return dict(run)


def test_adapter_satisfies_the_protocol_and_runs_a_campaign(ledger):
    client = FakeClient()
    service = GladierClientRunService(client)
    assert isinstance(service, RunService)
    ledger.add_jobs(make_jobs(5))
    counts = CampaignRunner(ledger, service, simple_body, name="c", settings=fast_settings(max_active=2),
                            policy=fast_policy()).run()
    assert counts[SUCCEEDED] == 5
    assert [s["input"]["input"]["scan"] for s in client.started] == [j.dataset for j in ledger.jobs()]
    assert all(job_tag(j.key) in s["tags"] for j, s in zip(ledger.jobs(), client.started))


def test_find_runs_filters_the_managers_listing_by_tag():
    client = FakeClient()
    service = GladierClientRunService(client)
    first = service.submit({"input": {}}, "a", ["job:1", "x"])
    service.submit({"input": {}}, "b", ["job:2"])
    assert [r["run_id"] for r in service.find_runs("job:1")] == [first]


def test_errors_are_translated():
    locked = GladierClientRunService(FakeClient(sqlite3.OperationalError("database is locked")))
    with pytest.raises(TransientError):
        locked.submit({"input": {}}, "l", [])
    invalid = GladierClientRunService(FakeClient(gladier.exc.ConfigException("input misses recon")))
    with pytest.raises(PermanentError, match="input misses recon"):
        invalid.submit({"input": {}}, "l", [])
    with pytest.raises(PermanentError, match="unknown run"):
        GladierClientRunService(FakeClient()).status("nope")


def test_a_manager_without_a_listing_cannot_reconcile_and_says_so():
    client = FakeClient()
    client.flows_manager = object()
    with pytest.raises(PermanentError, match="cannot list runs"):
        GladierClientRunService(client).find_runs("job:1")
    listed = GladierClientRunService(client, list_runs=lambda: [{"run_id": "r", "tags": ["job:1"]}])
    assert listed.find_runs("job:1") == [{"run_id": "r", "tags": ["job:1"]}]


def test_the_listing_may_come_from_the_managers_backend():
    class Backend:
        def list_runs(self):
            return [{"run_id": "r", "tags": ["job:1"], "start_time": "t"}]

    client = FakeClient()
    client.flows_manager = type("Manager", (), {"backend": Backend()})()
    assert [r["run_id"] for r in GladierClientRunService(client).find_runs("job:1")] == ["r"]


def test_a_paging_or_filtering_listing_is_asked_for_everything_with_the_tag():
    asked = {}

    class Manager:
        def list_runs(self, *, tag=None, status=None, limit=100):
            asked.update(tag=tag, limit=limit)
            return [{"run_id": "r", "tags": [tag]}]

    client = FakeClient()
    client.flows_manager = Manager()
    assert [r["run_id"] for r in GladierClientRunService(client).find_runs("job:9")] == ["r"]
    assert asked == {"tag": "job:9", "limit": 10**9}


def test_cancel_uses_the_managers_cancel():
    client = FakeClient()
    GladierClientRunService(client).cancel("run-0")
    assert client.flows_manager.cancelled == ["run-0"]
