"""The email when a run ends or waits: its section of the experiment file, ``[notify]``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from tomocupy_gladier.experiment.config import ExperimentConfig, Section


@dataclass(frozen=True)
class NotifyConfig:
    """Who is emailed when a run ends or waits for a choice (the ``[notify]`` section).

    ``smtp``: ``(host, port)`` of the SMTP server; its account comes from the environment
    (``TOMOCUPY_GLADIER_SMTP_USERNAME``/``_PASSWORD``, see ``smtp_account``), never from the
    file. Without it the local backend appends messages to the mbox file ``mailbox`` in its
    state folder instead.
    ``run_page``: the address runs are linked from, followed by the run id.
    """

    email: tuple[str, ...]
    sender: str = "tomocupy-gladier@localhost"
    smtp: tuple[str, int] | None = None
    run_page: str | None = None


SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Email when a run ends or waits for a choice",
    "properties": {
        "email": {"type": "array", "minItems": 1, "uniqueItems": True,
                  "items": {"type": "string", "pattern": r"^[^@\s,]+@[^@\s,]+$"}},
        "sender": {"type": "string", "pattern": r"^[^@\s,]+@[^@\s,]+$"},
        "smtp": {"type": "string", "pattern": r"^[A-Za-z0-9.-]+:[0-9]{1,5}$"},
        "run_page": {"type": "string", "pattern": "^https?://"},
        "enable": {"type": "boolean"},
    },
    "required": ["email"],
    "additionalProperties": False,
}


def parse(section: Mapping[str, Any], raw: Mapping[str, Any]) -> NotifyConfig | None:
    """``[notify]`` as :class:`NotifyConfig`; None when ``enable = false``."""
    if not section.get("enable", True):
        return None
    host, _, port = section["smtp"].rpartition(":") if "smtp" in section else ("", "", "")
    return NotifyConfig(email=tuple(section["email"]), sender=section.get("sender", NotifyConfig.sender),
                        smtp=(host, int(port)) if host else None, run_page=section.get("run_page"))


TEMPLATE = """\
# [notify]                      # email when a run ends (succeeded: record and links; failed: step, reason)
# email = ["you@lab.example"]
# sender = "tomography@lab.example"
# smtp = "smtp.lab.example:587"  # account in TOMOCUPY_GLADIER_SMTP_USERNAME / _PASSWORD, never here;
#                               # without smtp the local backend appends messages to <state_dir>/mailbox
"""

SECTION = Section("notify", SCHEMA, parse, template=TEMPLATE)


def notify_config(config: ExperimentConfig) -> NotifyConfig | None:
    """The experiment's ``[notify]`` section, or None when nobody is emailed."""
    return config.sections.get(SECTION.name)
