"""Runs that wait, INACTIVE, for a consent: telling them apart, explaining them, resuming them.

Globus Flows makes a run INACTIVE when an action needs a consent the user has not given (a
Transfer on a GCS v5 mapped collection without its ``data_access`` consent): the run's
``details`` carry ``code: ConsentRequired`` and the ``required_scope`` to consent to. A login
for that scope, then ``POST /runs/{id}/resume`` with a token for it, lets the run go on. The
local backend answers the same way (``[local] consent_required``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from globus_sdk.gare import to_gare
from globus_sdk.scopes import Scope, ScopeParser


@dataclass(frozen=True)
class MissingConsent:
    """Why an INACTIVE run waits: the scope to consent to, and the collections it names."""

    run_id: str
    required_scope: str
    collections: tuple[str, ...]
    state_name: str | None = None


def _data_access_collections(scope: Scope) -> list[str]:
    found: list[str] = []
    for dependency in scope.dependencies:
        if dependency.scope_string.endswith("/data_access"):
            found.append(dependency.scope_string.rsplit("/", 2)[-2])
        found += _data_access_collections(dependency)
    return found


def missing_consent(record: Mapping[str, Any]) -> MissingConsent | None:
    """The consent an INACTIVE run waits for, read from its ``details`` with globus-sdk's
    parser of Globus Auth requirement errors; None for any other run."""
    details = record.get("details")
    if record.get("status") != "INACTIVE" or not isinstance(details, Mapping):
        return None
    gare = to_gare(dict(details))
    if gare is None or gare.code != "ConsentRequired" or not gare.authorization_parameters.required_scopes:
        return None
    required = " ".join(gare.authorization_parameters.required_scopes)
    collections = [c for s in ScopeParser.parse(required) for c in _data_access_collections(s)]
    return MissingConsent(str(record.get("run_id", "")), required, tuple(dict.fromkeys(collections)),
                          details.get("state_name"))


def describe(missing: MissingConsent, config_path: Any = None) -> list[str]:
    """What ``status`` prints for a run that waits for a consent."""
    where = f"state {missing.state_name}" if missing.state_name else "the run"
    what = (f"the data_access consent of collection(s) {', '.join(missing.collections)}"
            if missing.collections else f"consent to {missing.required_scope}")
    config = f" --config {config_path}" if config_path else ""
    return [
        f"run {missing.run_id} is INACTIVE: {where} needs {what}.",
        f"resume it (logs in for that consent first): tomocupy-gladier resume {missing.run_id}{config}",
        "to ask for it at login before the next runs: set data_access = true in the experiment "
        "file's section of that collection (GCS v5 mapped collections only), then "
        "`tomocupy-gladier login --force`",
    ]


def resume(client: Any, run_id: str) -> dict[str, Any]:
    """Resume a run: on the local backend its manager gives the consent and resumes; on Globus,
    a login for the run's ``required_scope`` where the stored one lacks it, then Flows'
    ``POST /runs/{id}/resume`` with a token for that scope. Returns the run record."""
    manager = client.flows_manager
    if hasattr(manager, "resume_run"):
        return dict(manager.resume_run(run_id))
    import globus_sdk

    from tomocupy_gladier.globus.auth import scope_key

    record = dict(client.get_status(run_id))
    missing = missing_consent(record)
    login = client.login_manager
    scope: Any = missing.required_scope if missing else globus_sdk.SpecificFlowClient(record["flow_id"]).scopes.user
    key = scope_key(str(scope))
    login.add_requirements([key if isinstance(key, Scope) else str(key)])
    authorizers = login.get_manager_authorizers()  # logs in only when the consent is missing
    flow_client = globus_sdk.SpecificFlowClient(record["flow_id"], authorizer=authorizers[key])
    return dict(flow_client.resume_run(run_id).data)
