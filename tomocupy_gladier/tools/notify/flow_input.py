"""The ``notify`` block of the flow input (the message's parts, the run and choice pages) and the
sending account that travels beside ``input``."""

# No ``from __future__ import annotations``: TypedDict reads NotRequired from real annotations.
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, Mapping, NotRequired, TypedDict

from tomocupy_gladier.config import ExperimentConfig
from tomocupy_gladier.errors import UserError
from tomocupy_gladier.smtp_account import account_from_environment, missing_account_variables
from tomocupy_gladier.tools.choice.tool import LANDING_SUFFIX, WEBOPTION_LANDING_URL

if TYPE_CHECKING:
    from tomocupy_gladier.flow_input import ScanLocation


class NotifyBlock(TypedDict):
    """``notify``: the email when a run ends (only ``enable`` when off). The sending account
    is not here: it travels at the top of the flow input, in ``_private_email_credentials``
    (:data:`~tomocupy_gladier.redaction.EMAIL_CREDENTIALS_KEY`)."""

    enable: bool
    destination: NotRequired[str]  # the addresses, comma-separated
    sender: NotRequired[str]
    subject: NotRequired[str]
    scan: NotRequired[str]
    output: NotRequired[str]
    record: NotRequired[str]  # where the record was published, or why it was not
    run_page: NotRequired[str]
    choose_page: NotRequired[str]  # interactive runs: where the centre is chosen (+ run id + suffix)
    choose_suffix: NotRequired[str]


GLOBUS_RUN_PAGE = "https://app.globus.org/runs/"  # + run id: a run's page in the Globus web app


def notify_input(config: ExperimentConfig, location: "ScanLocation", output: PurePosixPath,
                 publish: Mapping[str, Any], backend: str) -> NotifyBlock:
    """The ``notify`` block: an explicit ``enable`` flag and, when enabled, the message's parts
    (the sending account travels apart: :func:`email_credentials`)."""
    notify = config.notify
    if notify is None:
        return {"enable": False}
    if publish.get("enable_transfer") and publish.get("destination_collection"):
        published = PurePosixPath(publish["destination"], PurePosixPath(publish["dataset"]).name)
        record = f"globus://{publish['destination_collection']}{published}"
    else:
        record = "not published (no [publish] section)"
    return {
        "enable": True,
        # one string, as every published Send Notification Email request has it (docs/notifications.md)
        "destination": ", ".join(notify.email),
        "sender": notify.sender,
        "subject": f"[tomocupy-gladier] {config.name}: {location.name}",
        "scan": location.name,
        "output": str(output),
        "record": record,
        "run_page": notify.run_page or (GLOBUS_RUN_PAGE if backend == "globus"
                                        else serve_run_page(config)),
    }


def email_credentials(config: ExperimentConfig, backend: str) -> dict[str, Any]:
    """``credential_value`` of the notification's SMTP credential, which the flow input carries
    at its top as ``_private_email_credentials`` (private run state, see :mod:`redaction`).

    On Globus the Send Notification Email provider sends through the experiment's SMTP server
    and needs its account (``hostname``, ``port``, ``username``, ``password``); the account
    comes from the environment, never from the experiment file. Locally only the server is
    given: the local provider reads the account from its own environment, so the run store
    never holds it; without ``smtp`` it is ``{}`` and the local provider fills a mailbox file.
    """
    assert config.notify is not None
    if config.notify.smtp is None:
        if backend == "globus":
            raise UserError("[notify] on the globus backend needs smtp = \"host:port\": Globus's Send "
                            "Notification Email sends through your SMTP server")
        return {}
    host, port = config.notify.smtp
    value: dict[str, Any] = {"hostname": host, "port": port}
    if backend == "globus":
        missing = missing_account_variables()
        if missing:
            raise UserError(f"[notify] on the globus backend needs the SMTP account in {' and '.join(missing)}")
        value.update(account_from_environment())
    return value


def choice_page(config: ExperimentConfig, backend: str) -> dict[str, str]:
    """Where an interactive run's centre is chosen, as the waiting email links it: the Wait
    For User Selection provider's landing page on Globus, the run's page in ``serve`` locally
    (``choose_page`` + run id + ``choose_suffix``)."""
    if backend == "globus":
        return {"choose_page": WEBOPTION_LANDING_URL.format(url_suffix=""),
                "choose_suffix": LANDING_SUFFIX}
    return {"choose_page": serve_run_page(config), "choose_suffix": ""}


def serve_run_page(config: ExperimentConfig) -> str:
    """``serve``'s page of a run, without the run id (which the flow appends): where the local
    Wait For User Selection provider also puts its landing page."""
    from tomocupy_gladier.local.providers.weboption import landing_page_url

    return landing_page_url(config.local_serve_url, "")
