"""Secrets kept out of what we print: the sending account of the notification step.

On Globus the Send Notification Email provider needs its SMTP (or SES) account in the request,
so a flow input may carry it (``notify.send_credentials``); the flow keeps it out of Globus's
logs with ``__Private_Parameters``, and everything this package prints goes through
:func:`redact`.
"""

from __future__ import annotations

from typing import Any

PRIVATE = "<private>"
# the secret fields of the provider's credential values (SMTP and AWS SES)
SECRET_KEYS = frozenset({"password", "aws_secret_access_key", "aws_access_key_id"})


def redact(data: Any) -> Any:
    """A copy of ``data`` (JSON-like) with every secret field's value replaced by ``<private>``."""
    if isinstance(data, dict):
        return {k: PRIVATE if k in SECRET_KEYS and v else redact(v) for k, v in data.items()}
    if isinstance(data, list):
        return [redact(v) for v in data]
    return data
