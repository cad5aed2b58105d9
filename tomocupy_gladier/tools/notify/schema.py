"""The email when a run ends (and, interactive runs, when it waits): its part of the flow input
schema. The sending account is not here: it travels beside ``input`` (``redaction.py``)."""

from __future__ import annotations

from typing import Any

from tomocupy_gladier.experiment.schema import optional_section

NOTIFY_PROPERTIES: dict[str, Any] = {
    "notify": optional_section(
        "Email when the run ends",
        "One message when the run succeeds (with the published record) or fails (with the step "
        "and the reason).",
        enable_title="Send an email",
        when_off="Unticked: nobody is emailed (shown as NotifySkipped in the run log) and the "
        "fields below are not needed.",
        fields={
            "destination": {"title": "To", "description": "Email addresses, separated by commas.",
                            "type": "string", "minLength": 3},
            "sender": {"title": "From", "type": "string", "minLength": 3},
            "subject": {"title": "Subject", "description": "\"succeeded\" or \"FAILED\" is added.",
                        "type": "string", "minLength": 1},
            "scan": {"title": "Scan named in the message", "type": "string"},
            "output": {"title": "Reconstruction named in the message", "type": "string"},
            "record": {"title": "Published record named in the message", "type": "string"},
            "run_page": {"title": "Run page address", "description": "The run id is appended.",
                         "type": "string"},
            "choose_page": {"title": "Choice page address", "description": "Interactive runs: "
                            "where the centre is chosen; the run id and the suffix below are "
                            "appended.", "type": "string"},
            "choose_suffix": {"title": "Choice page suffix", "type": "string"},
        },
        needed_when_on=("destination", "sender", "subject", "scan", "output", "record", "run_page"),
    ),
}
NOTIFY_REQUIRED = ("notify",)
