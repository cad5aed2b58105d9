"""Time limits of a run, in seconds: the one place their defaults and their rule live, and
every state's ``WaitTime`` (the flows' definition pass ``set_wait_times`` and the tools' states
take theirs from here).

The reconstruction runs inside a PBS job whose walltime PBS enforces by killing it. Three limits
must hold together, each checked here (:func:`time_budget`)::

    tomocupy's timeout  <  walltime - TIME_MARGIN  <=  the step's WaitTime

* tomocupy's own limit fires first, with a clear error, and leaves ``TIME_MARGIN`` of the job for
  what the step does after tomocupy (verification, manifest, OME-Zarr) and for the worker's start;
* the flow waits at least as long as that (queue time counts against the WaitTime too), so Flows
  never gives up on a step that is still within its job.

A job killed by PBS, or a step given up by Flows, before tomocupy's limit fires fails without a
word about why. The defaults fit ALCF's ``debug`` queue on Polaris (at most 1 h, ALCF's "Running
Jobs on Polaris" page): walltime 01:00:00, tomocupy stopped at 50 min, the step waited for up to
1 h 55 min (55 min of job and up to an hour in the queue). Transfers are sized for 50 GB
reconstructions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict

DEFAULT_WALLTIME = "01:00:00"    # the endpoint's default job (ALCF's endpoint: "1:00:00"; debug queue maximum)
TIME_MARGIN = 300                # the job's time kept after tomocupy's limit
QUEUE_WAIT = 3600                # how long a step may wait for its batch job to start
TRANSFER_WAIT_TIME = 6 * 3600    # a transfer (scan, publication, return): 50 GB at 2.5 MB/s
STEP_WAIT_TIME = QUEUE_WAIT      # other compute steps (previews, metadata, choice options): the job is
                                 # usually running already; a new one may have to queue
NOTIFY_WAIT_TIME = 300           # an email (Send Notification Email answers at once)
CHOICE_WAIT_TIME = 3 * 86400     # how long a run waits for the scientist's choice of the centre


def walltime_seconds(text: str) -> int:
    """``HH:MM:SS`` (hours may have 1 to 3 digits, as PBS and ALCF write them) -> seconds."""
    hours, minutes, seconds = (int(part) for part in text.split(":"))
    return hours * 3600 + minutes * 60 + seconds


@dataclass(frozen=True)
class TimeBudget:
    """The three limits of a reconstruction, in seconds (see the module's rule)."""

    timeout: float   # tomocupy's own limit
    walltime: int    # the PBS job's
    wait_time: int   # the step's WaitTime

    @property
    def usable(self) -> int:
        """The job's time that tomocupy may use: walltime - TIME_MARGIN."""
        return self.walltime - TIME_MARGIN


def default_budget(walltime: str = DEFAULT_WALLTIME) -> TimeBudget:
    """The limits derived from a walltime alone: tomocupy stopped ``TIME_MARGIN`` before the
    usable time ends, the step waiting the usable time plus ``QUEUE_WAIT``."""
    seconds = walltime_seconds(walltime)
    return TimeBudget(timeout=float(seconds - 2 * TIME_MARGIN), walltime=seconds,
                      wait_time=seconds - TIME_MARGIN + QUEUE_WAIT)


def time_budget(walltime: str | None = None, timeout: float | None = None,
                wait_time: int | None = None) -> TimeBudget:
    """The limits of an experiment: what it gives, the rest derived from the walltime (default
    :data:`DEFAULT_WALLTIME`).

    :raises ValueError: naming the three values, when they do not nest as the module says.
    """
    walltime = walltime or DEFAULT_WALLTIME
    derived = default_budget(walltime)
    budget = TimeBudget(timeout=derived.timeout if timeout is None else float(timeout),
                        walltime=derived.walltime,
                        wait_time=derived.wait_time if wait_time is None else int(wait_time))
    if budget.timeout <= 0 or not budget.timeout < budget.usable <= budget.wait_time:
        raise ValueError(
            f"the time limits do not nest: timeout {budget.timeout:g} s, walltime {walltime} "
            f"({budget.walltime} s), wait_time {budget.wait_time} s. tomocupy's timeout must be "
            f"shorter than the walltime less {TIME_MARGIN} s ({budget.usable} s), or PBS kills the job "
            f"before tomocupy stops with a reason, and the step's wait_time at least that long "
            f"({budget.usable} s; queue time counts too), or Flows gives the step up first")
    return budget


_DEFAULT = default_budget()
RECON_WAIT_TIME = _DEFAULT.wait_time      # the reconstruction step's WaitTime by default (6900 s)
RECON_TIMEOUT = _DEFAULT.timeout          # tomocupy's limit by default (3000 s)


class WaitTimes(TypedDict):
    """The flow client's wait-time arguments (``TomocupyClient``): the reconstruction's and the
    transfers' ``WaitTime``."""

    recon_wait_time: int
    transfer_wait_time: int


def wait_times(config: Any) -> WaitTimes:
    """The flow client's wait times from an experiment (``[compute] wait_time``, derived from the
    walltime when left out, and ``[transfers] wait_time``)."""
    return {"recon_wait_time": config.wait_time, "transfer_wait_time": config.transfer_wait_time}
