"""The ``notify`` block of the flow input (the message's parts, the run and choice pages) and the
sending account that travels beside ``input``."""

# No ``from __future__ import annotations``: TypedDict reads NotRequired from real annotations.
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, Mapping, NotRequired, TypedDict

from tomocupy_gladier.experiment.config import ExperimentConfig

if TYPE_CHECKING:
    from tomocupy_gladier.backends import Backend, BackendChoice
    from tomocupy_gladier.planning.flow_input import ScanLocation


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


def notify_input(config: ExperimentConfig, location: "ScanLocation", output: PurePosixPath,
                 publish: Mapping[str, Any], backend: "Backend") -> NotifyBlock:
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
        "run_page": notify.run_page or backend.run_page(config),
    }


def email_credentials(config: ExperimentConfig, backend: "BackendChoice" = None) -> dict[str, Any]:
    """``credential_value`` of the notification's SMTP credential, which the flow input carries
    at its top as ``_private_email_credentials`` (private run state, see :mod:`redaction`).

    On Globus the Send Notification Email provider sends through the experiment's SMTP server
    and needs its account (``hostname``, ``port``, ``username``, ``password``); the account
    comes from the environment, never from the experiment file. Locally only the server is
    given: the local provider reads the account from its own environment, so the run store
    never holds it; without ``smtp`` it is ``{}`` and the local provider fills a mailbox file.
    """
    from tomocupy_gladier.backends import choose

    assert config.notify is not None
    return choose(config, backend).email_credentials(config.notify.smtp)


class ChoicePage(TypedDict):
    """Where an interactive run's centre is chosen: ``choose_page`` + run id + ``choose_suffix``."""

    choose_page: str
    choose_suffix: str


def choice_page(config: ExperimentConfig, backend: "BackendChoice" = None) -> ChoicePage:
    """Where an interactive run's centre is chosen, as the waiting email links it: the Wait
    For User Selection provider's landing page on Globus, the run's page in ``serve`` locally
    (``choose_page`` + run id + ``choose_suffix``)."""
    from tomocupy_gladier.backends import choose

    page = choose(config, backend).choice_page(config)
    return {"choose_page": page["choose_page"], "choose_suffix": page["choose_suffix"]}
