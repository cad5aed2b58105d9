"""Scheduled campaign runs: Globus Timers for the Globus backend, a cron line for the local one.

Globus Timers start a flow with a fixed input, at most once a minute, so a timer is made
per job (its flow input). The local backend has no scheduler of its own: it prints the
cron line that runs ``campaign run NAME --refresh`` (new datasets of the manifest's globs
included), and no daemon is started.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import globus_sdk
from globus_sdk import (
    FlowTimer,
    OnceTimerSchedule,
    RecurringTimerSchedule,
    TimersClient,
)

from tomocupy_gladier.errors import UserError

MIN_INTERVAL_SECONDS = 60  # Globus Timers run at most once a minute
TIMER_PREFIX = "tomocupy-gladier"
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


def recurring(every: str, start: str | None = None, end: str | None = None) -> RecurringTimerSchedule:
    """Every ``every`` from ``start`` (default: now) until ``end`` (default: never)."""
    start_at = parse_time(start) if start else None
    end_at = parse_time(end) if end else None
    if start_at and end_at and end_at <= start_at:
        raise UserError("--end must be after --start")
    end_condition = {"condition": "time", "datetime": end_at.isoformat()} if end_at else globus_sdk.MISSING
    return RecurringTimerSchedule(interval_seconds=parse_interval(every),
                                  start=start_at.isoformat() if start_at else globus_sdk.MISSING,
                                  end=end_condition)


def once(at: str) -> OnceTimerSchedule:
    return OnceTimerSchedule(datetime=parse_time(at).isoformat())


def timer_name(campaign: str, key: str) -> str:
    return f"{TIMER_PREFIX} {campaign} {key}"


def timers_client(app: globus_sdk.GlobusApp, flow_id: str) -> TimersClient:
    """A Timers client whose login also consents to the timer running ``flow_id`` for the user."""
    return TimersClient(app=app).add_app_flow_user_scope(flow_id)


def create_flow_timer(client: TimersClient, flow_id: str, name: str, body: Mapping[str, Any],
                      schedule: RecurringTimerSchedule | OnceTimerSchedule) -> str:
    """Create one flow timer; returns its id."""
    response = client.create_timer(FlowTimer(flow_id=flow_id, name=name, schedule=schedule, body=dict(body)))
    return str(response["timer"]["job_id"])


def list_timers(client: TimersClient, campaign: str | None = None) -> list[dict[str, Any]]:
    """The timers this tool made (of one campaign, if given)."""
    prefix = TIMER_PREFIX + (f" {campaign} " if campaign else " ")
    return [dict(job) for job in client.list_jobs().get("jobs", []) if str(job.get("name", "")).startswith(prefix)]


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
