"""Drive a campaign: submit with at most N runs active, poll them, record every step.

The runner is safe to kill at any instant. On start it first reconciles the jobs whose
submission was recorded as intended but whose run id was not (``SUBMITTING``): if the
service has a run tagged with the job's key, that run is adopted; otherwise the job is
pending again. Succeeded jobs are never submitted again.

Retries never stop the loop: a job whose request failed transiently waits in its own
slot (it counts towards ``max_active``) until its backoff has passed, while the runner
goes on submitting and polling the others. After an unclear failure (5xx, dropped
connection) the job's next try starts by looking for its run at the service.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tomocupy_gladier.campaign.ledger import (
    ACTIVE,
    CANCELLED,
    FAILED,
    PENDING,
    SUBMITTING,
    SUCCEEDED,
    JobRow,
    Ledger,
)
from tomocupy_gladier.campaign.retry import RetryPolicy
from tomocupy_gladier.local.store import WORKER_LOST
from tomocupy_gladier.campaign.service import (
    AmbiguousError,
    AuthError,
    NotFoundError,
    PermanentError,
    RunService,
    TransientError,
    failure_reason,
)
from tomocupy_gladier.runs.consents import describe as describe_consent, missing_consent
from tomocupy_gladier.runs.run_record import RunRecord
from tomocupy_gladier.runs.summary import RunSummary, summarize
from tomocupy_gladier.errors import UserError

log = logging.getLogger(__name__)

TAG_PREFIX = "tomocupy-gladier"


def job_summary(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """What an ended run made, for the ledger (``campaign report``); None when it made nothing."""
    summary = summarize(RunRecord(record))
    return summary.as_dict() if summary != RunSummary() else None


def job_tag(key: str) -> str:
    """The tag that identifies a job's runs at the service."""
    return f"job:{key}"


def campaign_tag(name: str) -> str:
    return f"campaign:{name}"


def run_tags(campaign: str, key: str, extra: tuple[str, ...] = ()) -> list[str]:
    """The tags of a job's runs, whoever starts them (the runner, or a timer with its own extra
    tag): the campaign finds its runs by these."""
    return [TAG_PREFIX, campaign_tag(campaign), job_tag(key), *extra]


def job_label(campaign: str, job: JobRow) -> str:
    """A label of at most 64 characters that always contains the job key."""
    name = job.dataset.rsplit("/", 1)[-1]
    label = f"{campaign} {job.key} {name} ({job.param_set})"
    return label if len(label) <= 64 else label[:61] + "..."


class ServiceUnavailable(UserError):
    """The service kept failing transiently; the campaign stopped and can be resumed."""


@dataclass
class RunnerSettings:
    """Knobs of the runner; the defaults suit real reconstructions (minutes per run)."""

    max_active: int = 8
    poll_interval: float = 15.0       # first look at a run, after submitting it
    poll_backoff: float = 1.5         # each unfinished look stretches the interval ...
    max_poll_interval: float = 300.0  # ... up to this
    cancel_check_interval: float = 2.0


ProgressCallback = Callable[[Mapping[str, int], str], None]


@dataclass
class _Retry:
    """A submission waiting for its next try."""

    job: JobRow
    body: Mapping[str, Any]
    attempt: int = 0
    not_before: float = 0.0
    reconcile_first: bool = False  # an earlier try may have started a run
    errors: list[str] = field(default_factory=list)


class CampaignRunner:
    """Run the open jobs of one ledger on one :class:`RunService`.

    ``body_for(job)`` builds the flow input of a job; raising :class:`UserError` there
    fails that job (recorded) and the campaign goes on.
    """

    def __init__(self, ledger: Ledger, service: RunService, body_for: Callable[[JobRow], Mapping[str, Any]],
                 *, name: str, settings: RunnerSettings | None = None, policy: RetryPolicy | None = None,
                 progress: ProgressCallback | None = None, clock: Callable[[], float] = time.monotonic,
                 extra_tags: tuple[str, ...] = ()) -> None:
        self.ledger = ledger
        self.service = service
        self.body_for = body_for
        self.name = name
        self.settings = settings or RunnerSettings()
        self.policy = policy or RetryPolicy()
        self.progress = progress
        self.clock = clock
        self.extra_tags = extra_tags
        self._counts = ledger.counts()
        self._next_poll: dict[str, float] = {}
        self._interval: dict[str, float] = {}
        self._active: dict[str, str] = {}  # key -> run id
        self._pending: deque[JobRow] = deque()
        self._queued: set[str] = set()
        self._cancelled_flag = False
        self._next_cancel_check = 0.0
        self._retrying: dict[str, _Retry] = {}
        self._poll_failures: dict[str, int] = {}
        self._inactive: set[str] = set()

    # -- bookkeeping ------------------------------------------------------------------------
    def _moved(self, old: str, new: str, message: str) -> None:
        self._counts[old] -= 1
        self._counts[new] += 1
        if self.progress is not None:
            self.progress(dict(self._counts), message)

    def _tags(self, key: str) -> list[str]:
        return run_tags(self.name, key, self.extra_tags)

    def _cancelled(self) -> bool:
        return bool(self.ledger.meta().get("cancelled"))

    # -- the steps -------------------------------------------------------------------------------
    def reconcile(self, job: JobRow) -> str | None:
        """Adopt the run the service holds for a SUBMITTING job, or make the job PENDING again.
        Returns the adopted run id, if any."""
        runs = self.policy.call(lambda: self.service.find_runs(job_tag(job.key)))
        if runs:
            run_id = str(runs[0]["run_id"])
            if len(runs) > 1:
                log.warning("job %s has %d runs at the service; following the first", job.key, len(runs))
            self.ledger.mark_active(job.key, run_id, how="reconciled")
            self._moved(SUBMITTING, ACTIVE, f"{job.key}: adopted run {run_id}")
            return run_id
        self.ledger.mark_pending(job.key, "no run at the service for an unrecorded submission")
        self._moved(SUBMITTING, PENDING, f"{job.key}: not submitted, pending again")
        return None

    def adopt_timer_runs(self) -> list[str]:
        """Follow the runs that the campaign's timers started (one listing, by the campaign's
        tag) instead of submitting those jobs again: a pending job with a run tagged with its
        key becomes ACTIVE on its newest run. Returns the keys adopted."""
        runs = self.policy.call(lambda: self.service.find_runs(campaign_tag(self.name)))
        newest = {str(tag): str(run["run_id"]) for run in runs  # oldest first: the newest wins
                  for tag in run.get("tags") or []}
        adopted = []
        for job in self.ledger.jobs([PENDING]):
            run_id = newest.get(job_tag(job.key))
            if run_id and self.ledger.mark_adopted(job.key, run_id, how="timer"):
                self._moved(PENDING, ACTIVE, f"{job.key}: following run {run_id}, started by its timer")
                adopted.append(job.key)
        return adopted

    def submit(self, job: JobRow) -> str | None:
        """Submit one pending job. Returns its run id; None when it failed for good or waits
        for a retry (see :attr:`waiting`)."""
        try:
            body = self.body_for(job)
        except UserError as exc:
            self.ledger.mark_finished(job.key, FAILED, f"invalid job: {exc}")
            self._moved(PENDING, FAILED, f"{job.key}: {exc}")
            return None
        if not self.ledger.mark_submitting(job.key):
            return None  # someone else moved it (cancel): leave it be
        self._moved(PENDING, SUBMITTING, f"{job.key}: submitting")
        return self._attempt(_Retry(job, body))

    @property
    def waiting(self) -> int:
        """Submissions waiting for a retry."""
        return len(self._retrying)

    def _attempt(self, retry: _Retry) -> str | None:
        job = retry.job
        if retry.reconcile_first:
            try:
                runs = self.service.find_runs(job_tag(job.key))
            except TransientError as exc:
                self._later(retry, exc)
                return None
            if runs:
                run_id = str(runs[0]["run_id"])
                self.ledger.mark_active(job.key, run_id, how="reconciled")
                self._track(job, run_id, "adopted after an unclear answer")
                return run_id
        try:
            run_id = self.service.submit(retry.body, job_label(self.name, job), self._tags(job.key))
        except AuthError:
            raise  # not this job's fault: stop, the job is reconciled on the next run
        except PermanentError as exc:
            self.ledger.mark_finished(job.key, FAILED, f"submission refused: {exc}")
            self._moved(SUBMITTING, FAILED, f"{job.key}: refused: {exc}")
            return None
        except TransientError as exc:
            retry.reconcile_first = retry.reconcile_first or isinstance(exc, AmbiguousError)
            self._later(retry, exc)
            return None
        self.ledger.mark_active(job.key, run_id)
        self._track(job, run_id, "submitted")
        return run_id

    def _later(self, retry: _Retry, exc: TransientError) -> None:
        retry.errors.append(str(exc))
        if retry.attempt + 1 >= self.policy.max_attempts:
            # the job stays SUBMITTING: the next `campaign run` reconciles it
            raise ServiceUnavailable(f"the run service keeps failing ({exc}); run the campaign again to resume")
        retry.not_before = self.clock() + self.policy.delay(retry.attempt, exc.retry_after)
        retry.attempt += 1
        self._retrying[retry.job.key] = retry

    def _track(self, job: JobRow, run_id: str, how: str) -> None:
        self._moved(SUBMITTING, ACTIVE, f"{job.key}: {how} as {run_id}")
        self._active[job.key] = run_id
        self._interval[job.key] = self.settings.poll_interval
        self._next_poll[job.key] = self.clock() + self.settings.poll_interval

    def poll(self, key: str) -> str:
        """Look at one active run once; record its result when it has ended. Returns its status."""
        run_id = self._active[key]
        try:
            record = self.service.status(run_id)
        except NotFoundError as exc:
            record = {"status": "FAILED", "details": {"code": "RunNotFound", "description": str(exc)}}
        except TransientError as exc:
            failures = self._poll_failures[key] = self._poll_failures.get(key, 0) + 1
            if failures >= self.policy.max_attempts:
                raise
            self._next_poll[key] = self.clock() + self.policy.delay(failures - 1, exc.retry_after)
            return "UNKNOWN"
        self._poll_failures.pop(key, None)
        status = str(record.get("status", ""))
        outcome = {"SUCCEEDED": SUCCEEDED, "FAILED": FAILED, "ENDED": CANCELLED}.get(status)
        if outcome is None:
            if status == "INACTIVE" and self._resume_if_consented(key, run_id, record):
                status = "ACTIVE"
            elif status == "INACTIVE" and self._resume_if_worker_lost(key, run_id, record):
                status = "ACTIVE"
            elif (status == "INACTIVE" and key not in self._inactive
                  and (consent := missing_consent(record)) is not None):
                self._inactive.add(key)
                log.warning("run %s of job %s is INACTIVE: ConsentRequired", run_id, key)
                if self.progress is not None:
                    self.progress(dict(self._counts), f"{key}: run {run_id} is INACTIVE (ConsentRequired): "
                                  f"{' '.join(describe_consent(consent)[:2])}; it is resumed once the "
                                  "consent is given")
            elif status == "INACTIVE" and key not in self._inactive:
                self._inactive.add(key)
                log.warning("run %s of job %s is INACTIVE (waiting for consent or input)", run_id, key)
                if self.progress is not None:
                    self.progress(dict(self._counts), f"{key}: run {run_id} is INACTIVE: it waits for "
                                  "consent or input (see the Globus web app); still followed")
            self._interval[key] = min(self._interval[key] * self.settings.poll_backoff,
                                      self.settings.max_poll_interval)
            self._next_poll[key] = self.clock() + self._interval[key]
            return status
        error = None
        if outcome == FAILED:
            error = failure_reason(record)
        elif outcome == CANCELLED:
            error = "run cancelled at the service"
        self.ledger.mark_finished(key, outcome, error, job_summary(record))
        self._moved(ACTIVE, outcome, f"{key}: {status}" + (f" ({error})" if error else ""))
        del self._active[key], self._next_poll[key], self._interval[key]
        return status

    def _resume_if_consented(self, key: str, run_id: str, record: Mapping[str, Any]) -> bool:
        """Resume a run that waits for a consent someone has given since (never logs in: a
        login needs a person). True when it was resumed."""
        consent = missing_consent(record)
        given = getattr(self.service, "consent_given", None)
        resume = getattr(self.service, "resume", None)
        if consent is None or given is None or resume is None or not given(consent):
            return False
        resume(run_id)
        self._inactive.discard(key)
        log.info("run %s of job %s resumed: the consent it waited for is given", run_id, key)
        if self.progress is not None:
            self.progress(dict(self._counts), f"{key}: run {run_id} resumed (consent given)")
        return True

    def _resume_if_worker_lost(self, key: str, run_id: str, record: Mapping[str, Any]) -> bool:
        """Resume a local run whose worker died (it goes on from its last completed state).
        True when it was resumed."""
        resume = getattr(self.service, "resume", None)
        if (record.get("details") or {}).get("code") != WORKER_LOST or resume is None:
            return False
        resume(run_id)
        log.info("run %s of job %s resumed: its worker had ended before it", run_id, key)
        if self.progress is not None:
            self.progress(dict(self._counts), f"{key}: run {run_id} resumed (its worker had ended)")
        return True

    # -- the loop --------------------------------------------------------------------------
    def run(self) -> dict[str, int]:
        """Run until no job is pending or active (or the campaign is cancelled and its active
        runs have ended). Returns the counts by state.

        :raises ServiceUnavailable: the service kept failing; every step so far is recorded
            and running again resumes.
        :raises UserError: another process is running this campaign.
        """
        with self.guarded(), self.ledger.exclusive():
            return self._run()

    @contextlib.contextmanager
    def guarded(self) -> Iterator[None]:
        """Turn the service errors that stop a campaign into :class:`ServiceUnavailable`."""
        try:
            yield
        except TransientError as exc:
            raise ServiceUnavailable(f"the run service keeps failing ({exc}); "
                                     f"run the campaign again to resume") from exc
        except PermanentError as exc:
            # what lets a PermanentError out concerns the whole campaign: login or permission,
            # or no run listing (submitting again without one could start a job twice)
            raise ServiceUnavailable(f"the run service refused a request ({exc}); the campaign stopped "
                                     "with every step recorded: fix this and run it again") from exc

    def prepare(self) -> None:
        """Reconcile interrupted submissions, pick up active runs, queue pending jobs."""
        for job in self.ledger.jobs([SUBMITTING]):
            self.reconcile(job)
        if self.ledger.meta().get("timers"):
            self.adopt_timer_runs()
        now = self.clock()
        for job in self.ledger.jobs([ACTIVE]):
            self._active[job.key] = str(job.run_id)
            self._interval[job.key] = self.settings.poll_interval
            self._next_poll[job.key] = now  # resumed: look at it straight away
        self._pending = deque(self.ledger.jobs([PENDING]))
        self._queued = {job.key for job in self._pending}
        self._cancelled_flag = self._cancelled()
        self._next_cancel_check = self.clock() + self.settings.cancel_check_interval

    def enqueue(self, keys: list[str]) -> None:
        """Queue jobs added to the ledger after :meth:`prepare` (the watcher's new scans)."""
        for key in keys:
            if key not in self._queued and key not in self._active:
                self._pending.append(self.ledger.job(key))
                self._queued.add(key)
                self._counts = self.ledger.counts()

    @property
    def busy(self) -> bool:
        """Whether there is anything left to submit or to follow."""
        return bool(self._active or self._retrying) or (bool(self._pending) and not self._cancelled_flag)

    def step(self) -> float | None:
        """Submit what the limit allows, look at the runs that are due. Returns the seconds
        until the next look is due (None when no run is active)."""
        if self.clock() >= self._next_cancel_check:
            self._cancelled_flag = self._cancelled()
            self._next_cancel_check = self.clock() + self.settings.cancel_check_interval
        now = self.clock()
        for key in [k for k, r in self._retrying.items() if r.not_before <= now]:
            self._attempt(self._retrying.pop(key))
        while (self._pending and not self._cancelled_flag
               and len(self._active) + len(self._retrying) < self.settings.max_active):
            job = self._pending.popleft()
            self._queued.discard(job.key)
            fresh = self.ledger.job(job.key)
            if fresh.state == PENDING:
                self.submit(fresh)
        now = self.clock()
        for key in [k for k, t in self._next_poll.items() if t <= now]:
            self.poll(key)
        upcoming = list(self._next_poll.values()) + [r.not_before for r in self._retrying.values()]
        if not upcoming:
            return None
        return max(0.0, min(upcoming) - self.clock())

    def _run(self) -> dict[str, int]:
        self.prepare()
        while self.busy:
            wait = self.step()
            if wait:
                self.policy.sleep(min(wait, self.settings.cancel_check_interval))
        return self.ledger.counts()
