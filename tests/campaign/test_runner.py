"""The runner: at most N active, every job accounted for, each job started once."""

from __future__ import annotations

import pytest

from tomocupy_gladier.campaign.fake_service import Faults
from tomocupy_gladier.campaign.ledger import (
    ACTIVE,
    CANCELLED,
    FAILED,
    PENDING,
    SUBMITTING,
    SUCCEEDED,
)
from tomocupy_gladier.campaign.manifest import Job
from tomocupy_gladier.campaign.runner import (
    CampaignRunner,
    ServiceUnavailable,
    job_label,
    job_tag,
)
from tomocupy_gladier.errors import UserError

from .helpers import fast_policy, fast_settings, globus_service, make_jobs, simple_body


def runner(ledger, service, **settings) -> CampaignRunner:
    return CampaignRunner(ledger, service, simple_body, name="c", settings=fast_settings(**settings),
                          policy=fast_policy())


def assert_each_job_started_once(fake, ledger):
    keys = [j.key for j in ledger.jobs()]
    assert {tag: n for tag, n in fake.submissions.items()} == {job_tag(k): 1 for k in keys}


def test_healthy_campaign_runs_every_job_once(fake_flows, service, ledger):
    ledger.add_jobs(make_jobs(12))
    counts = runner(ledger, service).run()
    assert counts[SUCCEEDED] == 12 and sum(counts.values()) == 12
    assert_each_job_started_once(fake_flows, ledger)
    assert all(j.run_id for j in ledger.jobs())
    requests_per_job = fake_flows.total_requests / 12
    assert requests_per_job <= 3


def test_flaky_service_campaign_finishes_with_every_job_accounted_for(fake_flows, ledger):
    fake_flows.faults = Faults(rate_429=0.08, retry_after="0", rate_500_before=0.05, rate_500_after=0.05,
                               rate_drop_before=0.05, rate_drop_after=0.05, rate_slow=0.1, slow_seconds=0.05)
    ledger.add_jobs(make_jobs(30))
    counts = runner(ledger, globus_service(fake_flows), max_active=6).run()
    assert counts == {PENDING: 0, SUBMITTING: 0, ACTIVE: 0, SUCCEEDED: 30, FAILED: 0, CANCELLED: 0}
    assert_each_job_started_once(fake_flows, ledger)
    assert sum(fake_flows.faults_injected.values()) > 10, "the service really misbehaved"


def test_failed_runs_are_recorded_with_their_reason_and_the_campaign_goes_on(fake_flows, service, ledger):
    ledger.add_jobs(make_jobs(3) + [Job("raw/FAILME.h5", "default", {})])
    counts = runner(ledger, service).run()
    assert counts[SUCCEEDED] == 3 and counts[FAILED] == 1
    failed = ledger.jobs([FAILED])[0]
    assert failed.dataset == "raw/FAILME.h5"
    assert failed.error == "ActionFailedException: tomocupy exited with 3"


def test_a_job_whose_input_cannot_be_built_fails_without_a_request(fake_flows, service, ledger):
    ledger.add_jobs(make_jobs(2))
    bad = ledger.jobs()[0].key

    def body_for(job):
        if job.key == bad:
            raise UserError("scan not found: raw/scan_0000.h5")
        return simple_body(job)

    counts = CampaignRunner(ledger, service, body_for, name="c", settings=fast_settings(),
                            policy=fast_policy()).run()
    assert counts[FAILED] == 1 and counts[SUCCEEDED] == 1
    assert ledger.job(bad).error == "invalid job: scan not found: raw/scan_0000.h5"
    assert fake_flows.submissions[job_tag(bad)] == 0


def test_never_more_than_max_active_runs(fake_flows, service, ledger):
    fake_flows.run_seconds = 0.1
    seen: list[int] = []

    class Watching:
        def submit(self, body, label, tags):
            seen.append(sum(1 for r in fake_flows.runs.values() if fake_flows._record(r["run_id"])["status"] == "ACTIVE"))
            return service.submit(body, label, tags)

        def status(self, run_id):
            return service.status(run_id)

        def find_runs(self, tag):
            return service.find_runs(tag)

    ledger.add_jobs(make_jobs(10))
    runner(ledger, Watching(), max_active=3).run()
    assert max(seen) <= 2, "at most 2 others active when the 3rd is submitted"
    assert len(seen) == 10


def test_resume_adopts_a_run_whose_id_was_never_recorded(fake_flows, service, ledger):
    ledger.add_jobs(make_jobs(2))
    lost, never_sent = ledger.jobs()
    # a previous runner was killed between sending and recording ...
    ledger.mark_submitting(lost.key)
    service.submit(simple_body(lost), job_label("c", lost), [job_tag(lost.key)])
    # ... and another before sending
    ledger.mark_submitting(never_sent.key)
    counts = runner(ledger, service).run()
    assert counts[SUCCEEDED] == 2
    assert_each_job_started_once(fake_flows, ledger)
    kinds = [kind for _, _, kind, _ in ledger.events(lost.key)]
    assert "reconciled" in kinds and kinds.count("submitting") == 1
    assert "unsubmitted" in [kind for _, _, kind, _ in ledger.events(never_sent.key)]


def test_succeeded_jobs_are_never_submitted_again(fake_flows, service, ledger):
    ledger.add_jobs(make_jobs(4))
    runner(ledger, service).run()
    before = fake_flows.requests["POST /flows/{id}/run"]
    assert runner(ledger, service).run()[SUCCEEDED] == 4
    assert fake_flows.requests["POST /flows/{id}/run"] == before


def test_refused_submission_is_a_recorded_failure(fake_flows, ledger):
    class Refusing:
        def submit(self, body, label, tags):
            from tomocupy_gladier.campaign.service import PermanentError
            raise PermanentError("HTTP 400 BAD_REQUEST: input does not match the schema")

        def status(self, run_id):  # pragma: no cover - never reached
            raise AssertionError

        def find_runs(self, tag):
            return []

    ledger.add_jobs(make_jobs(2))
    counts = runner(ledger, Refusing()).run()
    assert counts[FAILED] == 2
    assert ledger.jobs()[0].error == "submission refused: HTTP 400 BAD_REQUEST: input does not match the schema"


def test_a_service_that_stays_down_stops_the_campaign_resumably(fake_flows, service, ledger):
    fake_flows.faults = Faults(rate_500_before=1.0)
    ledger.add_jobs(make_jobs(2))
    with pytest.raises(ServiceUnavailable):
        CampaignRunner(ledger, service, simple_body, name="c", settings=fast_settings(),
                       policy=fast_policy(max_attempts=3)).run()
    assert ledger.counts()[SUBMITTING] >= 1, "left for the next run to reconcile"
    fake_flows.faults = Faults()
    assert runner(ledger, service).run()[SUCCEEDED] == 2
    assert_each_job_started_once(fake_flows, ledger)


def test_cancelled_campaign_submits_nothing_more(fake_flows, service, ledger):
    ledger.add_jobs(make_jobs(5))
    ledger.set_meta({"cancelled": True})
    counts = runner(ledger, service).run()
    assert counts[PENDING] == 5 and fake_flows.total_requests == 0


def test_run_cancelled_at_the_service_is_recorded_as_cancelled(fake_flows, service, ledger):
    fake_flows.run_seconds = 30
    ledger.add_jobs(make_jobs(1))
    progress = []

    def cancel_when_active(counts, message):
        progress.append(message)
        if counts[ACTIVE] == 1:
            service.cancel(ledger.jobs([ACTIVE])[0].run_id)

    CampaignRunner(ledger, service, simple_body, name="c", settings=fast_settings(), policy=fast_policy(),
                   progress=cancel_when_active).run()
    job = ledger.jobs()[0]
    assert job.state == CANCELLED and job.error == "run cancelled at the service"
    assert any("submitted as" in m for m in progress)


def test_label_is_short_and_names_the_job(ledger):
    ledger.add_jobs([Job("raw/" + "x" * 80 + ".h5", "a-long-parameter-set-name", {})])
    job = ledger.jobs()[0]
    label = job_label("campaign-with-a-long-name", job)
    assert len(label) <= 64 and job.key in label


def test_without_a_run_listing_an_unclear_submission_is_not_repeated(fake_flows, service, ledger):
    from tomocupy_gladier.campaign.service import PermanentError

    class NoListing:
        def submit(self, body, label, tags):
            return service.submit(body, label, tags)

        def status(self, run_id):
            return service.status(run_id)

        def find_runs(self, tag):
            raise PermanentError("HTTP 400: unknown filter")

    fake_flows.faults = Faults(rate_drop_after=1.0)
    ledger.add_jobs(make_jobs(1))
    with pytest.raises(ServiceUnavailable, match="unknown filter"):
        runner(ledger, NoListing()).run()
    assert fake_flows.requests["POST /flows/{id}/run"] == 1, "never submitted blindly a second time"
    assert ledger.counts()[SUBMITTING] == 1


def test_a_login_problem_stops_the_campaign_instead_of_failing_every_job(fake_flows, service, ledger):
    from tomocupy_gladier.campaign.service import AuthError

    class LoggedOut:
        def submit(self, body, label, tags):
            raise AuthError("HTTP 401 AUTHENTICATION_ERROR: token expired")

        def status(self, run_id):  # pragma: no cover - never reached
            raise AssertionError

        def find_runs(self, tag):
            return []

    ledger.add_jobs(make_jobs(3))
    with pytest.raises(ServiceUnavailable, match="token expired"):
        runner(ledger, LoggedOut()).run()
    assert ledger.counts()[FAILED] == 0
    assert runner(ledger, service).run()[SUCCEEDED] == 3, "after logging in again it resumes"
    assert_each_job_started_once(fake_flows, ledger)


def test_a_run_that_vanished_is_a_failure_of_that_job(fake_flows, service, ledger):
    ledger.add_jobs(make_jobs(1))
    key = ledger.jobs()[0].key
    ledger.mark_submitting(key)
    ledger.mark_active(key, "00000000-0000-4000-8000-000000000000")
    counts = runner(ledger, service).run()
    assert counts[FAILED] == 1
    assert ledger.job(key).error.startswith("RunNotFound: HTTP 404")


def test_one_runner_per_campaign_at_a_time(fake_flows, service, ledger, tmp_path):
    from tomocupy_gladier.campaign.ledger import Ledger

    ledger.add_jobs(make_jobs(2))
    with Ledger(ledger.path) as other, other.exclusive(), pytest.raises(UserError, match="in use by pid"):
        runner(ledger, service).run()
    assert fake_flows.total_requests == 0
    assert runner(ledger, service).run()[SUCCEEDED] == 2, "the lock goes with its holder"


def test_an_inactive_run_is_reported_and_still_followed(ledger):
    looks = {"n": 0}

    class Waiting:
        def submit(self, body, label, tags):
            return "r1"

        def status(self, run_id):
            looks["n"] += 1
            return {"run_id": run_id, "status": "INACTIVE" if looks["n"] < 3 else "SUCCEEDED"}

        def find_runs(self, tag):
            return []

    messages: list[str] = []
    ledger.add_jobs(make_jobs(1))
    counts = CampaignRunner(ledger, Waiting(), simple_body, name="c", settings=fast_settings(), policy=fast_policy(),
                            progress=lambda counts, message: messages.append(message)).run()
    assert counts[SUCCEEDED] == 1
    assert sum("INACTIVE" in m for m in messages) == 1, "reported once"
