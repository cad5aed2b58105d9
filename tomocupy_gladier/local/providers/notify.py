"""The Send Notification Email action provider, through an SMTP server or into a mailbox file.

Like https://actions.globus.org/notification/notify it is synchronous, substitutes ``$name`` in
``body_template`` from ``body_variables`` and sends through the server its request names in
``send_credentials`` (``credential_type: smtp``; ``credential_value`` with ``hostname`` and
``port``). The account (``username``/``password``) may be in the request, as Globus needs it, or
in this process's environment (``TOMOCUPY_GLADIER_SMTP_USERNAME``/``_PASSWORD``), so that the
local run store never holds it. ``destination`` is one string (addresses separated by commas),
the form of every published request to the hosted provider (docs/notifications.md). With an
empty ``credential_value`` (the local backend without ``smtp``) the message is appended to an
mbox file instead: the local stand-in for a mail server, readable with any mail client or
Python's ``mailbox`` module; Globus would refuse such a request, and the globus backend never
sends one.
"""

from __future__ import annotations

import mailbox
import os
import smtplib
import ssl
import string
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from tomocupy_gladier.experiment.smtp_account import account_from_environment

from ..actions import ActionRequest, ActionResult
from ..errors import InvalidRequest, ProviderError, request_object

_KEYS = {"destination", "sender", "subject", "body_template", "body_variables", "body_mimetype",
         "notification_method", "notification_priority", "send_credentials"}
_MIMETYPES = {"text/plain": "plain", "text/html": "html"}


def _addresses(destination: Any) -> list[str]:
    if not isinstance(destination, str):
        raise InvalidRequest("'destination' must be a string: an address, or addresses separated "
                             "by commas")
    found = [d.strip() for d in destination.split(",") if d.strip()]
    bad = [d for d in found if "@" not in d]
    if not found or bad:
        raise InvalidRequest(f"'destination' needs email addresses, got {destination!r}")
    return found


def _smtp_credentials(credentials: Any) -> dict[str, Any] | None:
    """The SMTP server to send through; None for the local mailbox (an empty value)."""
    if not isinstance(credentials, list) or not credentials:
        raise InvalidRequest("'send_credentials' must be a non-empty list")
    first = credentials[0]
    if not isinstance(first, dict) or first.get("credential_type") != "smtp":
        raise InvalidRequest("only credential_type 'smtp' is served locally (not 'ses')")
    value = first.get("credential_value")
    if value == {}:
        return None
    if not isinstance(value, dict) or not value.get("hostname"):
        raise InvalidRequest("smtp credentials need credential_value.hostname")
    return value


class NotifyProvider:
    """Serves the Send Notification Email URL; ``mailbox``: the mbox file used without SMTP."""

    def __init__(self, mailbox_path: str | os.PathLike, timeout: float = 30.0) -> None:
        self.mailbox_path = Path(mailbox_path)
        self.timeout = timeout

    def __call__(self, request: ActionRequest) -> ActionResult:
        body = request_object(request.body, _KEYS, "a notification request")
        if not isinstance(body.get("body_template"), str):
            raise InvalidRequest("'body_template' is required")
        variables = body.get("body_variables") or {}
        if not isinstance(variables, dict):
            raise InvalidRequest("'body_variables' must be an object")
        mimetype = body.get("body_mimetype", "text/plain")
        if mimetype not in _MIMETYPES:
            raise InvalidRequest(f"'body_mimetype' must be one of {sorted(_MIMETYPES)}")
        to = _addresses(body.get("destination"))
        smtp = _smtp_credentials(body.get("send_credentials"))

        message = EmailMessage()
        message["From"] = str(body.get("sender") or "tomocupy-gladier@localhost")
        message["To"] = ", ".join(to)
        message["Subject"] = str(body.get("subject") or "")
        message["Date"] = formatdate(localtime=True)
        message["Message-ID"] = make_msgid()
        text = string.Template(body["body_template"]).safe_substitute(
            {k: "" if v is None else str(v) for k, v in variables.items()})
        message.set_content(text, subtype=_MIMETYPES[mimetype])

        if smtp is None:
            self.mailbox_path.parent.mkdir(parents=True, exist_ok=True)
            box = mailbox.mbox(self.mailbox_path)
            box.lock()
            try:
                box.add(message)
                box.flush()
            finally:
                box.unlock()
                box.close()
            return ActionResult("SUCCEEDED", {"sent_to": to, "via": f"mailbox {self.mailbox_path}"})
        self._send(smtp, message, to)
        return ActionResult("SUCCEEDED", {"sent_to": to,
                                          "via": f"smtp {smtp['hostname']}:{smtp.get('port', 25)}"})

    def _send(self, smtp: dict[str, Any], message: EmailMessage, to: list[str]) -> None:
        host, port = str(smtp["hostname"]), int(smtp.get("port") or 25)
        environment = account_from_environment()
        username = smtp.get("username") or environment.get("username")
        password = smtp.get("password") or environment.get("password")
        try:
            with smtplib.SMTP(host, port, timeout=self.timeout) as server:
                server.ehlo()
                if server.has_extn("starttls"):
                    server.starttls(context=ssl.create_default_context())
                    server.ehlo()
                if username and password:
                    server.login(username, password)
                server.send_message(message, to_addrs=to)
        except (OSError, smtplib.SMTPException) as exc:
            # the reason without the account: nothing secret reaches the run log
            raise ProviderError(f"the SMTP server {host}:{port} did not take the message: "
                                f"{type(exc).__name__}: {exc}") from None
