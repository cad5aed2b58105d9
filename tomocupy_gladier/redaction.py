"""Secrets kept out of what is shown: the sending account of the notification step.

On Globus the Send Notification Email provider needs its SMTP (or SES) account in the request.
The flow input carries it at its top, in ``_private_email_credentials``, as the Flows docs'
"Protecting Secrets" describes (and the MDF curation flow, published by Globus, does): Flows
leaves every run-state field whose name starts with ``_private`` out of what it shows of a run
(status, event log, output), and the notification states list ``send_credentials`` in
``__Private_Parameters`` so the request is not shown either. The local backend shows runs the
same way (:func:`omit_private`), and everything this package prints goes through
:func:`redact`.
"""

from __future__ import annotations

from typing import Any

PRIVATE = "<private>"
# Flows omits run-state fields whose names begin with this (docs: Protecting Secrets)
PRIVATE_PREFIX = "_private"
EMAIL_CREDENTIALS_KEY = "_private_email_credentials"
# the secret fields of the provider's credential values (SMTP and AWS SES)
SECRET_KEYS = frozenset({"password", "aws_secret_access_key", "aws_access_key_id"})


def is_private(name: Any) -> bool:
    """Whether Flows keeps a run-state field of this name out of sight."""
    return isinstance(name, str) and name.startswith(PRIVATE_PREFIX)


def redact(data: Any) -> Any:
    """A copy of ``data`` (JSON-like) with every secret field's value and every private
    field's value replaced by ``<private>`` (for what we print, e.g. ``run --dry-run``)."""
    if isinstance(data, dict):
        return {k: PRIVATE if (is_private(k) or k in SECRET_KEYS) and v else redact(v)
                for k, v in data.items()}
    if isinstance(data, list):
        return [redact(v) for v in data]
    return data


def omit_private(data: Any) -> Any:
    """A copy of a run state (JSON-like) without its private fields, at any depth: what Flows
    shows of a run's state."""
    if isinstance(data, dict):
        return {k: omit_private(v) for k, v in data.items() if not is_private(k)}
    if isinstance(data, list):
        return [omit_private(v) for v in data]
    return data
