"""Timestamps as Globus Flows writes and reads them (ISO 8601, UTC)."""

from __future__ import annotations

import datetime as dt
from typing import Any


def now_iso() -> str:
    """Current UTC time as an ISO 8601 string with an offset, as Flows writes it."""
    return dt.datetime.now(dt.timezone.utc).isoformat()


def parse_timestamp(value: Any) -> dt.datetime:
    """An ISO 8601 timestamp (``Z`` accepted; no offset means UTC).

    :raises TypeError: ``value`` is not a string
    :raises ValueError: it is not a timestamp
    """
    if not isinstance(value, str):
        raise TypeError(f"{value!r} is not a timestamp")
    stamp = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.timezone.utc)
