"""Globus Compute's endpoints and their user endpoints, as Compute documents them, on this machine.

Globus Compute (globus/globus-compute ``docs/endpoints/endpoints.rst``):

* the web service names a user endpoint from "the endpoint_id, the Globus Auth identity ID of
  the user making the request, the endpoint configuration in the request" (and runtime
  information): "changing any of these values will result in a new user endpoint process", and
  on PBS each one submits its own batch jobs;
* an endpoint started as a non-privileged user is single-user and "will only accept tasks
  submitted by the endpoint owner"; a multi-user one maps every identity to a local account
  (``multi_user.rst``);
* before it starts a user endpoint, the endpoint checks the configuration against its
  ``user_config_schema.json`` and refuses Compute's reserved template variables
  (``endpoint/config/utils.py``, ``_validate_user_opts``).

:class:`UserEndpoints` keeps, in ``endpoints.db``, every user endpoint this machine started (one
per identity, endpoint and configuration) and the tasks each ran, so that a run's user endpoints
can be listed (``status --json``: ``compute.user_endpoints``) and a flow that would start two
batch jobs fails a test. The endpoints themselves are described by the caller
(``LocalBackend(endpoints=...)``: ALCF's facility endpoint with its documented options, a
facility's own with our template's schema); an endpoint it does not describe is a single-user one
of the backend's own user that takes Compute's default schema.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any, Mapping

import jsonschema

from .sqlite import SQLiteFile
from .timestamps import now_iso

USER_ENDPOINT_NAMESPACE = uuid.UUID("0b7d6c1e-4f7a-4c35-9d0e-3a1f2b6c8e90")

#: keys a configuration may not carry: Compute's own template variables
#: (globus-compute ``endpoint/config/utils.py``, ``RESERVED_USER_CONFIG_TEMPLATE_VARIABLES``)
RESERVED_KEYS = ("parent_config", "user_runtime", "mapped_identity", "_GC")

#: what an endpoint configured without a schema of its own accepts: Compute's default
#: ``user_config_schema.json`` (``docs/endpoints/endpoints.rst``, "user_config_schema.json")
COMPUTE_DEFAULT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {"endpoint_setup": {"type": "string"}, "worker_init": {"type": "string"}},
    "additionalProperties": True,
}


def identity_id(identity: str) -> str:
    """``urn:globus:auth:identity:<id>`` or ``<id>`` -> ``<id>`` (lower case)."""
    return identity.rsplit(":", 1)[-1].lower()

_SCHEMA = """
CREATE TABLE IF NOT EXISTS user_endpoints (
    user_endpoint_id TEXT PRIMARY KEY, endpoint_id TEXT, identity TEXT, config TEXT, started TEXT);
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY, user_endpoint_id TEXT, run_id TEXT, action_id TEXT, state_name TEXT,
    function_id TEXT, function_name TEXT, submitted TEXT, status TEXT);
CREATE INDEX IF NOT EXISTS tasks_by_run ON tasks (run_id);
"""


class EndpointRefused(Exception):
    """Compute refuses the task: an identity a single-user endpoint does not accept."""


class ConfigRefused(Exception):
    """The endpoint refuses the configuration before it starts a user endpoint."""


def canonical(config: Mapping[str, Any] | None) -> str:
    """The configuration as one JSON text (keys sorted): equal configurations, one user endpoint."""
    return json.dumps(dict(config or {}), sort_keys=True, separators=(",", ":"))


def user_endpoint_id(endpoint_id: str, identity: str, config: Mapping[str, Any] | None) -> str:
    """The user endpoint's id: stable for the same endpoint, identity and configuration."""
    key = f"{endpoint_id.lower()}|{identity_id(identity)}|{canonical(config)}"
    return f"uep.{endpoint_id.lower()}.{uuid.uuid5(USER_ENDPOINT_NAMESPACE, key)}"


class UserEndpoints(SQLiteFile):
    """The endpoints this machine stands for and the user endpoints they started.

    :param path: ``endpoints.db``
    :param endpoints: endpoint id -> ``{"name", "multi_user", "owner", "schema"}`` (``owner``: an
        identity id; None: the backend's user)
    :param default_owner: the identity (URN or id) that owns an endpoint not described
    """

    def __init__(self, path: str | os.PathLike, endpoints: Mapping[str, Mapping[str, Any]] | None = None,
                 *, default_owner: str) -> None:
        super().__init__(path, _SCHEMA)
        self.endpoints = {k.lower(): dict(v) for k, v in (endpoints or {}).items()}
        self.default_owner = identity_id(default_owner)

    def describe(self, endpoint_id: str) -> dict[str, Any]:
        """How the endpoint is modelled (a described one, else a single-user one of the backend's user)."""
        found = self.endpoints.get(endpoint_id.lower())
        if found is None:
            return {"name": "a single-user endpoint", "multi_user": False, "owner": self.default_owner,
                    "schema": COMPUTE_DEFAULT_SCHEMA}
        return {**found, "owner": found.get("owner") or self.default_owner}

    def admit(self, endpoint_id: str, identity: str, config: Mapping[str, Any] | None) -> str:
        """The user endpoint that runs ``identity``'s tasks with ``config``: the one already
        started, or a new one. Raises :class:`EndpointRefused` or :class:`ConfigRefused`."""
        endpoint = self.describe(endpoint_id)
        if not endpoint["multi_user"] and identity_id(identity) != identity_id(endpoint["owner"]):
            raise EndpointRefused(
                f"endpoint {endpoint_id} is {endpoint['name']} owned by {endpoint['owner']}: a single-user "
                f"endpoint only accepts tasks submitted by its owner (Globus Compute), not by "
                f"{identity_id(identity)}")
        problems = [f"{key!r} is a reserved word and cannot be passed in via user config"
                    for key in RESERVED_KEYS if key in (config or {})]
        validator = jsonschema.Draft202012Validator(endpoint["schema"])
        problems += [f"{'/'.join(map(str, e.path)) or '(config)'}: {e.message}"
                     for e in validator.iter_errors(dict(config or {}))]
        if problems:
            raise ConfigRefused(f"endpoint {endpoint_id} ({endpoint['name']}) refused the user endpoint "
                                "configuration: " + "; ".join(problems))
        uep = user_endpoint_id(endpoint_id, identity, config)
        self._write("INSERT OR IGNORE INTO user_endpoints VALUES (?,?,?,?,?)",
                    (uep, endpoint_id.lower(), identity_id(identity), canonical(config), now_iso()))
        return uep

    def task_submitted(self, uep: str, task_id: str, *, run_id: str, action_id: str, state_name: str,
                       function_id: str, function_name: str) -> None:
        self._write("INSERT INTO tasks VALUES (?,?,?,?,?,?,?,?,?)",
                    (task_id, uep, run_id, action_id, state_name, function_id, function_name, now_iso(),
                     "ACTIVE"))

    def task_ended(self, task_id: str, status: str) -> None:
        self._write("UPDATE tasks SET status=? WHERE task_id=?", (status, task_id))

    def of_run(self, run_id: str) -> list[dict[str, Any]]:
        """The user endpoints that ran ``run_id``'s tasks, in the order they were first used,
        each with its configuration and those tasks."""
        rows = self._read(
            "SELECT t.user_endpoint_id, u.endpoint_id, u.identity, u.config, t.task_id, t.state_name, "
            "t.function_name, t.action_id, t.submitted, t.status FROM tasks t JOIN user_endpoints u "
            "ON t.user_endpoint_id = u.user_endpoint_id WHERE t.run_id=? ORDER BY t.submitted, t.rowid",
            (run_id,))
        found: dict[str, dict[str, Any]] = {}
        for uep, endpoint, identity, config, task, state, function, action, submitted, status in rows:
            entry = found.setdefault(uep, {"user_endpoint_id": uep, "endpoint_id": endpoint,
                                           "identity": identity, "user_endpoint_config": json.loads(config),
                                           "tasks": []})
            entry["tasks"].append({"task_id": task, "state_name": state, "function": function,
                                   "action_id": action, "submitted": submitted, "status": status})
        return list(found.values())
