"""Scheduled campaign runs: Globus Timers for the Globus backend, a cron line for the local one.

A flow timer starts a flow with a fixed input, so a timer is made per job (its flow input).
Its ``body`` is the run request the Timers service posts to Flows' ``/flows/{id}/run`` each
time it fires (globus-sdk's ``FlowTimer`` docstring and ``globus_sdk.testing`` data): the
flow input under ``body`` and the run's ``tags``, the tags the campaign finds its runs by.

The Timers docs limit a user's timers, all together, to one run a minute: the timers of one
campaign start a minute apart (:class:`TimerPlan`) and what cannot keep to that is refused.

The local backend has no scheduler of its own: it prints the cron line that runs
``campaign run NAME --refresh`` (new datasets of the manifest's globs included), and no
daemon is started.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import globus_sdk
from globus_sdk import (
    FlowTimer,
    OnceTimerSchedule,
    RecurringTimerSchedule,
    TimersClient,
)

from tomocupy_gladier.errors import UserError
from tomocupy_gladier.globus.recording import RecordingTransport
from tomocupy_gladier.tools.registry import STEPS
from tomocupy_gladier.tools.step import Step
from tomocupy_gladier.redaction import omit_private

MIN_INTERVAL_SECONDS = 60  # Globus Timers: a user's timers together run at most once a minute
TIMER_PREFIX = "tomocupy-gladier"
TIMER_TAG = "via:timer"  # on every run a timer starts, beside the campaign's own tags
RATE_LIMIT = "Globus Timers runs a user's timers, all together, at most once a minute"
# timers in these states start no runs (Timers API: a paused timer is 'inactive')
_IDLE_STATUSES = frozenset({"inactive", "delete_pending", "deleted"})
_UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_interval(text: str) -> int:
    """``1d``, ``12h``, ``1h30m``, ``90s``, ``2w`` or plain seconds -> seconds (at least 60)."""
    value = text.strip().lower()
    if value.isdigit():
        seconds = int(value)
    elif re.fullmatch(r"(\d+[wdhms])+", value):
        seconds = sum(int(n) * _UNITS[u] for n, u in re.findall(r"(\d+)([wdhms])", value))
    else:
        raise UserError(f"interval {text!r}: use e.g. 1d, 12h, 30m, 1h30m or a number of seconds")
    if seconds < MIN_INTERVAL_SECONDS:
        raise UserError(f"interval {text!r} is {seconds} s: timers run at most once a minute")
    return seconds


def parse_time(text: str) -> datetime:
    """An ISO 8601 date-time; without a time zone it is this machine's local time."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UserError(f"time {text!r}: use ISO 8601, e.g. 2026-12-01T02:00 or 2026-12-01T02:00+01:00") from None
    return moment if moment.tzinfo else moment.astimezone()


@dataclass(frozen=True)
class TimerPlan:
    """When the timers of one campaign run: timer ``i`` first runs ``i`` minutes after
    ``first``, then every ``interval_seconds`` (None: once) until ``end``."""

    first: datetime
    interval_seconds: int | None = None
    end: datetime | None = None

    def start(self, index: int) -> datetime:
        return self.first + timedelta(seconds=index * MIN_INTERVAL_SECONDS)

    def schedule(self, index: int) -> RecurringTimerSchedule | OnceTimerSchedule:
        """The schedule of timer ``index`` (globus-sdk's helpers, as ``create_timer`` takes them)."""
        start = self.start(index).isoformat()
        if self.interval_seconds is None:
            return OnceTimerSchedule(datetime=start)
        end = {"condition": "time", "datetime": self.end.isoformat()} if self.end else globus_sdk.MISSING
        return RecurringTimerSchedule(interval_seconds=self.interval_seconds, start=start, end=end)

    def runs_per_minute(self, count: int) -> float:
        """How often ``count`` timers of this plan run, on average (once: none for good)."""
        return 0.0 if self.interval_seconds is None else count * MIN_INTERVAL_SECONDS / self.interval_seconds

    def check(self, count: int, others: Sequence[Mapping[str, Any]] = ()) -> None:
        """Refuse ``count`` timers that cannot keep to the once-a-minute limit, with the
        user's other timers ``others`` (``list_jobs`` entries) counted in.

        :raises UserError: naming the limit and what to change.
        """
        if self.interval_seconds is not None and count * MIN_INTERVAL_SECONDS > self.interval_seconds:
            raise UserError(f"{count} timers every {self.interval_seconds} s would run more often than "
                            f"once a minute ({RATE_LIMIT}): use --every {count}m or longer, or a "
                            "campaign of fewer jobs")
        if self.end is not None and self.start(count - 1) >= self.end:
            raise UserError(f"the {count} timers start a minute apart ({RATE_LIMIT}), the last at "
                            f"{self.start(count - 1).isoformat()}, not before --end "
                            f"{self.end.isoformat()}: move --end later or --start earlier")
        busy = sum(other_runs_per_minute(job) for job in others)
        if busy and busy + self.runs_per_minute(count) > 1:
            raise UserError(f"your {len(others)} other timer(s) already run {busy:.2f} times a minute "
                            f"and these {count} would add {self.runs_per_minute(count):.2f} ({RATE_LIMIT}): "
                            "use a longer --every, or delete timers (`campaign timers --delete`)")


def other_runs_per_minute(job: Mapping[str, Any]) -> float:
    """How often an existing timer (a ``list_jobs`` entry) runs, on average, per minute."""
    if str(job.get("status", "")).lower() in _IDLE_STATUSES:
        return 0.0
    schedule = job.get("schedule") or {}
    seconds = schedule.get("interval_seconds") or job.get("interval")
    try:
        return MIN_INTERVAL_SECONDS / float(seconds) if seconds else 0.0
    except (TypeError, ValueError, ZeroDivisionError):
        return 0.0


def _next_minute(now: datetime | None = None) -> datetime:
    moment = (now or datetime.now().astimezone()).replace(second=0, microsecond=0)
    return moment + timedelta(minutes=1)


def recurring(every: str, start: str | None = None, end: str | None = None,
              now: datetime | None = None) -> TimerPlan:
    """Every ``every`` from ``start`` (default: the next whole minute) until ``end`` (default: never)."""
    start_at = parse_time(start) if start else _next_minute(now)
    end_at = parse_time(end) if end else None
    if end_at and end_at <= start_at:
        raise UserError("--end must be after --start")
    return TimerPlan(start_at, parse_interval(every), end_at)


def once(at: str) -> TimerPlan:
    """Once, at ``at`` (each further timer a minute later)."""
    return TimerPlan(parse_time(at))


def timer_body(flow_input: Mapping[str, Any], tags: Sequence[str]) -> dict[str, Any]:
    """The run request a flow timer posts to Flows for each run: the flow input and the tags.

    The keys are those of the Timers API's ``FlowStartDocument`` (``body``, ``tags``,
    ``run_managers``, ``run_monitors``), each also a key of Flows' run request; a ``label``
    is not among them, so runs are found by tag.

    Timers keeps the body for the timer's whole life and shows it to its owner, and Flows'
    private run state (``_private...`` fields: the email account) protects nothing there, so
    those fields are left out, and with them each step that needs them (``Step.needs_private``:
    the email) is turned off, so that none of its states looks for what the run does not carry
    (:func:`dropped_steps` says which; the flow would skip them anyway). Campaign runs send no
    email each anyway; an interactive one then waits for its choice without the "waits" message.
    """
    body = omit_private(dict(flow_input))
    dropped = dropped_steps(flow_input)
    if dropped:
        body["input"] = {**body["input"], **{step.switch: {"enable": False} for step in dropped if step.switch}}
    return {"body": body, "tags": list(tags)}


def dropped_steps(flow_input: Mapping[str, Any]) -> list[Step]:
    """The steps a timer made of ``flow_input`` turns off: those on in it that need private run
    state (the email), which a timer's body cannot carry."""
    data = flow_input.get("input") or {}
    return [step for step in STEPS if step.needs_private and step.switch
            and bool((data.get(step.switch) or {}).get("enable"))]


def timer_name(campaign: str, key: str) -> str:
    return f"{TIMER_PREFIX} {campaign} {key}"


def timers_client(app: globus_sdk.GlobusApp, flow_id: str,
                  data_access_collections: Iterable[str] = ()) -> TimersClient:
    """A Timers client whose login also consents to the timer running ``flow_id`` for the user.

    The dependency under the Timers scope is the flow's run scope with the ``data_access``
    consents of the collections its transfers use (``auth.flow_run_scope``), not only the flow's
    bare scope (``add_app_flow_user_scope``): a timer runs the flow with the consents given
    here, and a run on a GCS mapped collection without its consent stops INACTIVE.
    """
    client = TimersClient(app=app)
    client.add_app_scope(timer_scope(flow_id, data_access_collections))
    return client


def timer_scope(flow_id: str, data_access_collections: Iterable[str] = ()) -> Any:
    """Timers' scope with the flow's run scope (and its ``data_access`` consents) under it: what a
    login consents to so that a timer may run ``flow_id`` for the user."""
    from globus_sdk.scopes import TimersScopes

    from tomocupy_gladier.globus.auth import flow_run_scope

    return TimersScopes.timer.with_dependency(flow_run_scope(flow_id, data_access_collections))


def create_flow_timer(client: TimersClient, flow_id: str, name: str, body: Mapping[str, Any],
                      schedule: RecurringTimerSchedule | OnceTimerSchedule) -> str:
    """Create one flow timer whose ``body`` is a run request (:func:`timer_body`); returns its id."""
    response = client.create_timer(FlowTimer(flow_id=flow_id, name=name, schedule=schedule, body=dict(body)))
    return str(response["timer"]["job_id"])


def offline_timers_client(timer_id: str) -> tuple[TimersClient, RecordingTransport]:
    """A Timers client that sends nothing: each request is kept by the transport returned, as
    globus-sdk encoded it, and answered with a timer of id ``timer_id``."""
    transport = RecordingTransport(lambda method, path, body: {"timer": {"job_id": timer_id}})
    return TimersClient(authorizer=globus_sdk.NullAuthorizer(), transport=transport), transport


def ours(jobs: Iterable[Mapping[str, Any]], campaign: str | None = None) -> list[dict[str, Any]]:
    """Of the user's timers (``list_jobs`` entries), those this tool made (of one campaign, if given)."""
    prefix = TIMER_PREFIX + (f" {campaign} " if campaign else " ")
    return [dict(job) for job in jobs if str(job.get("name", "")).startswith(prefix)]


def list_timers(client: TimersClient, campaign: str | None = None) -> list[dict[str, Any]]:
    """The timers this tool made (of one campaign, if given)."""
    return ours(client.list_jobs().get("jobs", []), campaign)


def delete_timers(client: TimersClient, timer_ids: Iterable[str]) -> list[str]:
    deleted = []
    for timer_id in timer_ids:
        client.delete_job(timer_id)
        deleted.append(timer_id)
    return deleted


def cron_line(every_seconds: int, command: list[str], start: datetime | None = None) -> str:
    """The crontab line that runs ``command`` every ``every_seconds`` (anchored at ``start``)."""
    anchor = (start or datetime.now().astimezone()).astimezone()  # cron reads local time
    minute, hour = anchor.minute, anchor.hour
    if every_seconds % 60:
        raise UserError("cron counts in whole minutes")
    minutes = every_seconds // 60
    if minutes < 60 and 60 % minutes == 0:
        fields = "* * * * *" if minutes == 1 else f"*/{minutes} * * * *"
    elif minutes % 60 == 0 and (hours := minutes // 60) < 24 and 24 % hours == 0:
        fields = f"{minute} * * * *" if hours == 1 else f"{minute} */{hours} * * *"
    elif minutes == 24 * 60:
        fields = f"{minute} {hour} * * *"
    elif minutes == 7 * 24 * 60:
        fields = f"{minute} {hour} * * {(anchor.weekday() + 1) % 7}"
    else:
        raise UserError(f"cron cannot run something every {every_seconds} s; use a divisor of an hour "
                        "or of a day, 1d or 1w")
    return f"{fields} {shlex.join(command)}"
