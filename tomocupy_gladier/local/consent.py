"""Data-access consents, as Globus Flows handles a missing one, on the local backend.

On Globus, a Transfer on a GCS v5 mapped collection whose ``data_access`` consent the user has
not given answers ``ConsentRequired``; the run goes INACTIVE with that code and the scope to
consent to in its ``details``, and waits until someone consents and resumes it (``POST
/runs/{id}/resume``). The shape of those ``details`` follows a Globus-authored fixture (an
INACTIVE run of globus-cli's ``flows run resume`` tests, see tests/fixtures/globus/SOURCES.md):
``code``, ``description``, ``required_scope`` (the flow's scope with Transfer and each
collection's ``data_access`` under it), ``state_name`` and ``action_statuses`` (the action's own
INACTIVE status, whose details name the Transfer scope it lacks).

Here the collections of ``[local] consent_required`` need a consent; :meth:`RunStore.grant_consents`
records one (what a login for the required scope does on Globus), and
:meth:`RunStore.resume_run` resumes the run.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from .actions import ActionRequest
from .errors import ProviderError
from .timestamps import now_iso

TRANSFER_ALL = "urn:globus:auth:scope:transfer.api.globus.org:all"
CONSENT_REQUIRED = "ConsentRequired"


def data_access_scope(collection: str) -> str:
    """A GCS collection's ``data_access`` scope."""
    return f"https://auth.globus.org/scopes/{collection}/data_access"


def flow_user_scope(flow_id: str) -> str:
    """A flow's own scope (Flows: ``https://auth.globus.org/scopes/<id>/flow_<id_>_user``)."""
    return f"https://auth.globus.org/scopes/{flow_id}/flow_{flow_id.replace('-', '_')}_user"


def transfer_scope(collections: Iterable[str]) -> str:
    """Transfer's ``all`` scope with each collection's ``data_access`` (optional) under it."""
    return f"{TRANSFER_ALL}[{' '.join('*' + data_access_scope(c) for c in collections)}]"


def collections_of(required_scope: str) -> list[str]:
    """The collections whose ``data_access`` a required scope names."""
    found = []
    for part in required_scope.replace("[", " ").replace("]", " ").split():
        part = part.lstrip("*")
        if part.endswith("/data_access"):
            found.append(part.rsplit("/", 2)[-2].lower())
    return found


class ConsentGate:
    """Stops a Transfer action whose collections lack a consent, the way Flows does.

    :param store: the run store (consents granted, the run's status)
    :param required: collections that need a consent (``[local] consent_required``)
    :param poll: seconds between two looks at the store while the run is INACTIVE
    :param creator: who started the action (the run's user)
    """

    def __init__(self, store: Any, required: Iterable[str], poll: float = 0.2, creator: str = "") -> None:
        self.store = store
        self.creator = creator
        self.required = {str(c).lower() for c in required}
        self.poll = poll

    def missing(self, collections: Iterable[str]) -> list[str]:
        """Of ``collections``, those that need a consent not given yet (in order, each once)."""
        needed = [c.lower() for c in dict.fromkeys(collections) if c.lower() in self.required]
        if not needed:
            return []
        granted = self.store.granted_consents()
        return [c for c in needed if c not in granted]

    def wait(self, request: ActionRequest, collections: Iterable[str]) -> None:
        """Return once every collection has its consent. Until then the run is INACTIVE; each
        resume looks again (a resume without the consent leaves it INACTIVE, as on Flows). The
        time spent INACTIVE does not count against the state's WaitTime."""
        collections = list(collections)
        while True:
            missing = self.missing(collections)
            if not missing:
                return
            paused = time.monotonic()
            self.store.suspend_run(request.run_id, inactive_details(request, missing, self.creator))
            while True:
                status = self.store.get_run(request.run_id)["status"]
                if status != "INACTIVE":
                    break
                time.sleep(self.poll)
            request.deadline += time.monotonic() - paused
            if status != "ACTIVE":
                raise ProviderError(f"the run ended ({status}) while it waited for a consent")


def inactive_details(request: ActionRequest, missing: list[str], creator: str = "") -> dict:
    """The ``details`` of a run INACTIVE for the consents of ``missing`` collections."""
    needed = transfer_scope(missing)
    action: dict[str, Any] = {
        "action_id": request.action_id,
        "creator_id": creator,
        "label": None,
        "manage_by": [],
        "monitor_by": [],
        "state_name": request.state_name,
        "status": "INACTIVE",
        "display_status": "INACTIVE",
        "start_time": now_iso(),
        "completion_time": None,
        "release_after": "P30D",
        "details": {"code": CONSENT_REQUIRED, "description": "Missing required data_access consent",
                    "required_scope": needed, "resolution_url": None},
    }
    return {
        "code": CONSENT_REQUIRED,
        "description": f"State {request.state_name} needs consent to access collection(s) "
                       f"{', '.join(missing)}",
        "required_scope": f"{flow_user_scope(request.flow_id)}[{needed}]",
        "state_name": request.state_name,
        "action_statuses": [action],
    }
