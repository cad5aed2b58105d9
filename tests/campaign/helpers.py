"""Helpers shared by the campaign tests."""

from __future__ import annotations

import globus_sdk

from tomocupy_gladier.campaign.fake_service import FakeFlowsService
from tomocupy_gladier.campaign.globus_service import GlobusRunService
from tomocupy_gladier.campaign.manifest import Job
from tomocupy_gladier.campaign.retry import RetryPolicy
from tomocupy_gladier.campaign.runner import RunnerSettings

FLOW_ID = "f1f1f1f1-0000-4000-8000-000000000001"


def globus_service(fake: FakeFlowsService, http_timeout: float = 5.0) -> GlobusRunService:
    """The real globus-sdk clients, pointed at the fake service."""
    return GlobusRunService.connect(FLOW_ID, flows_authorizer=globus_sdk.NullAuthorizer(),
                                    base_url=fake.url, http_timeout=http_timeout)


def fast_policy(**kwargs) -> RetryPolicy:
    return RetryPolicy(**{"base_delay": 0.005, "max_delay": 0.05, "max_attempts": 10, **kwargs})


def fast_settings(**kwargs) -> RunnerSettings:
    return RunnerSettings(**{"max_active": 4, "poll_interval": 0.03, "max_poll_interval": 0.2,
                             "cancel_check_interval": 0.05, **kwargs})


def make_jobs(n: int, param_set: str = "default", **params) -> list[Job]:
    return [Job(f"raw/scan_{i:04d}.h5", param_set, params) for i in range(n)]


def simple_body(job) -> dict:
    """A stand-in flow input: the fake service only looks for FAILME in it."""
    return {"input": {"scan": job.dataset, "recon": job.params}}
