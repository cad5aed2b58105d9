"""The SMTP account for notification emails: read from the environment, never from a file.

``tomocupy-gladier run`` on the globus backend puts it in the flow input (Globus's Send
Notification Email needs it there; the input lists it as private). The local Send Notification
Email provider reads it when it sends, so the local run store never holds it.
"""

from __future__ import annotations

import os

USERNAME_ENV = "TOMOCUPY_GLADIER_SMTP_USERNAME"
PASSWORD_ENV = "TOMOCUPY_GLADIER_SMTP_PASSWORD"


def missing_account_variables() -> list[str]:
    """The account's environment variables that are unset or empty."""
    return [name for name in (USERNAME_ENV, PASSWORD_ENV) if not os.environ.get(name)]


def account_from_environment() -> dict[str, str]:
    """``{"username", "password"}`` from the environment; only the ones that are set."""
    found = {"username": os.environ.get(USERNAME_ENV), "password": os.environ.get(PASSWORD_ENV)}
    return {key: value for key, value in found.items() if value}
