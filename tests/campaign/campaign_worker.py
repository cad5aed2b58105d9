"""A campaign process for the kill test: ``python campaign_worker.py LEDGER URL [--die-after-submit N]``.

It runs the campaign in LEDGER against the Flows service at URL. With
``--die-after-submit N`` it SIGKILLs itself right after the N-th run was started and
before its run id is recorded: the worst moment for a crash.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

import globus_sdk

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tomocupy_gladier.campaign.globus_service import GlobusRunService
from tomocupy_gladier.campaign.ledger import Ledger
from tomocupy_gladier.campaign.retry import RetryPolicy
from tomocupy_gladier.campaign.runner import CampaignRunner, RunnerSettings

FLOW_ID = "f1f1f1f1-0000-4000-8000-000000000001"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("ledger")
    parser.add_argument("url")
    parser.add_argument("--die-after-submit", type=int, default=0)
    args = parser.parse_args()
    service = GlobusRunService.connect(FLOW_ID, flows_authorizer=globus_sdk.NullAuthorizer(), base_url=args.url)
    if args.die_after_submit:
        submit, count = service.submit, [0]

        def submit_then_die(body, label, tags):
            run_id = submit(body, label, tags)
            count[0] += 1
            if count[0] == args.die_after_submit:
                os.kill(os.getpid(), signal.SIGKILL)
            return run_id

        service.submit = submit_then_die  # type: ignore[method-assign]
    with Ledger(args.ledger) as ledger:
        runner = CampaignRunner(
            ledger, service, lambda job: {"input": {"scan": job.dataset}}, name="kill",
            settings=RunnerSettings(max_active=6, poll_interval=0.03, max_poll_interval=0.1,
                                    cancel_check_interval=0.05),
            policy=RetryPolicy(base_delay=0.005, max_delay=0.05, max_attempts=20))
        print("ready", flush=True)
        runner.run()


if __name__ == "__main__":
    main()
