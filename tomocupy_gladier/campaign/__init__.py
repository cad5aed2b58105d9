"""Reprocessing campaigns: a manifest of jobs, a durable ledger, a runner that survives kills."""

from tomocupy_gladier.campaign.ledger import Ledger
from tomocupy_gladier.campaign.manifest import Job, Manifest, job_key, load_manifest
from tomocupy_gladier.campaign.retry import RetryPolicy
from tomocupy_gladier.campaign.runner import CampaignRunner, RunnerSettings
from tomocupy_gladier.campaign.service import (
    AmbiguousError,
    PermanentError,
    RunService,
    TransientError,
)

__all__ = ["AmbiguousError", "CampaignRunner", "Job", "Ledger", "Manifest", "PermanentError", "RetryPolicy",
           "RunService", "RunnerSettings", "TransientError", "job_key", "load_manifest"]
