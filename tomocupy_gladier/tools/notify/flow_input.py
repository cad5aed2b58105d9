"""The ``notify`` block of the flow input (the message's parts, the run and choice pages) and the
sending account that travels beside ``input``."""

# No ``from __future__ import annotations``: TypedDict reads NotRequired from real annotations.
from pathlib import PurePosixPath
from typing import Any, Mapping, NotRequired, TypedDict

from tomocupy_gladier.action_urls import WEBOPTION_LANDING_URL
from tomocupy_gladier.backends import GLOBUS_RUN_PAGE, Backend, BackendChoice, choose
from tomocupy_gladier.compute.choice import LANDING_SUFFIX
from tomocupy_gladier.errors import UserError
from tomocupy_gladier.experiment.config import ExperimentConfig
from tomocupy_gladier.experiment.smtp_account import account_from_environment, missing_account_variables
from tomocupy_gladier.local.providers.weboption import landing_page_url
from tomocupy_gladier.redaction import EMAIL_CREDENTIALS_KEY
from tomocupy_gladier.tools.notify.config import notify_config
from tomocupy_gladier.tools.step import RunFacts, ScanLocation


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


class NotifyInput(TypedDict):
    """The notification's key of the flow input."""

    notify: NotifyBlock


def run_page(config: ExperimentConfig, backend: Backend) -> str:
    """A run's page without the run id (the notification links it, the flow appends the id):
    ``serve``'s page of the run on this machine, where the local Wait For User Selection
    provider also lands; the Globus web app's on Globus."""
    return landing_page_url(config.local_serve_url, "") if backend.is_local else GLOBUS_RUN_PAGE


def notify_input(config: ExperimentConfig, location: ScanLocation, output: PurePosixPath,
                 publish: Mapping[str, Any], backend: Backend) -> NotifyBlock:
    """The ``notify`` block: an explicit ``enable`` flag and, when enabled, the message's parts
    (the sending account travels apart: :func:`email_credentials`)."""
    notify = notify_config(config)
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
        "run_page": notify.run_page or run_page(config, backend),
    }


def email_credentials(config: ExperimentConfig, backend: BackendChoice = None) -> dict[str, Any]:
    """``credential_value`` of the notification's SMTP credential, which the flow input carries
    at its top as ``_private_email_credentials`` (private run state, see :mod:`redaction`).

    On Globus the Send Notification Email provider sends through the experiment's SMTP server
    and needs its account (``hostname``, ``port``, ``username``, ``password``); the account
    comes from the environment, never from the experiment file. Locally only the server is
    given: the local provider reads the account from its own environment, so the run store
    never holds it; without ``smtp`` it is ``{}`` and the local provider fills a mailbox file.
    """
    notify = notify_config(config)
    assert notify is not None
    smtp = notify.smtp
    chosen = choose(config, backend)
    if not chosen.sends_email_account:
        return {} if smtp is None else {"hostname": smtp[0], "port": smtp[1]}
    if smtp is None:
        raise UserError(f"[notify] on the {chosen.name} backend needs smtp = \"host:port\": Globus's Send "
                        "Notification Email sends through your SMTP server")
    missing = missing_account_variables()
    if missing:
        raise UserError(f"[notify] on the {chosen.name} backend needs the SMTP account in {' and '.join(missing)}")
    return {"hostname": smtp[0], "port": smtp[1], **account_from_environment()}


class ChoicePage(TypedDict):
    """Where an interactive run's centre is chosen: ``choose_page`` + run id + ``choose_suffix``."""

    choose_page: str
    choose_suffix: str


def choice_page(config: ExperimentConfig, backend: BackendChoice = None) -> ChoicePage:
    """Where an interactive run's centre is chosen, as the waiting email links it: the run's page
    in ``serve`` locally, the Wait For User Selection provider's landing page on Globus
    (``choose_page`` + run id + ``choose_suffix``)."""
    chosen = choose(config, backend)
    if chosen.is_local:
        return {"choose_page": run_page(config, chosen), "choose_suffix": ""}
    return {"choose_page": WEBOPTION_LANDING_URL.format(url_suffix=""), "choose_suffix": LANDING_SUFFIX}


def notify_block(facts: RunFacts) -> dict[str, Any]:
    """The notification's part of the flow input: ``notify`` (with the choice page when the run
    waits for the choice of the centre) and, when enabled, the sending account beside ``input``."""
    block = notify_input(facts.config, facts.location, facts.output, facts.blocks.get("publishv2") or {},
                         facts.backend)
    if not block["enable"]:
        return {"notify": block}
    if facts.try_recon is not None:
        block.update(choice_page(facts.config, facts.backend))
    return {"notify": block, EMAIL_CREDENTIALS_KEY: email_credentials(facts.config, facts.backend)}
