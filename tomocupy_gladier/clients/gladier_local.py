"""The Gladier adapter of the local backend: Gladier managers that run flows on a
:class:`~tomocupy_gladier.local.LocalBackend` instead of Globus services.

The local backend (:mod:`tomocupy_gladier.local`) knows nothing of Gladier; this module
depends on it, never the reverse. The managers plug into an unmodified ``GladierBaseClient``
subclass::

    backend = LocalBackend(state_dir, collections={SRC_UUID: "/data/src", ...})
    client = local_client(MyGladierClient, backend)
    run = client.run_flow(flow_input={"input": {...}}, label="scan 42")
    client.get_status(run["run_id"])

so the definition and input Gladier generates for production are what runs here. Clients
built this way keep their Gladier storage (flow id, function ids and checksums) in
``<state_dir>/gladier.cfg`` (:func:`gladier_config_path`) rather than
``~/.gladier/<client_id>.cfg``.
"""

from __future__ import annotations

import typing as t
import uuid
from pathlib import Path

import gladier.exc
from gladier.managers.flows_manager import FlowsManager
from gladier.managers.login_manager import BaseLoginManager
from gladier.utils.name_generation import (
    get_compute_function_checksum_name,
    get_compute_function_name,
)

from tomocupy_gladier.globus.compute_manager import SourceComputeManager
from tomocupy_gladier.globus.gladier_storage import client_with_storage
from tomocupy_gladier.local.backend import LocalBackend
from tomocupy_gladier.local.errors import DefinitionError, InputValidationError


class GladierDefinitionError(DefinitionError, gladier.exc.ConfigException):
    """:class:`DefinitionError`, as a Gladier client raises it."""


class GladierInputValidationError(InputValidationError, gladier.exc.ConfigException):
    """:class:`InputValidationError`, as a Gladier client raises it."""


class LocalLoginManager(BaseLoginManager):
    """A login manager that needs no tokens: every scope counts as granted."""

    def get_authorizers(self) -> dict:
        return {}

    def get_missing_authorizers(self, authorizers: t.Mapping) -> set:
        return set()

    def login(self, scopes: t.Iterable[str]) -> None:
        """Nothing to do locally."""

    def logout(self) -> bool:
        """Nothing to revoke locally."""
        return True


class LocalComputeManager(SourceComputeManager):
    """Registers functions in the backend's registry under ids derived from their checksum, the
    one production uses (:class:`SourceComputeManager`: same function, same id; changed function,
    new id)."""

    def __init__(self, backend: LocalBackend, **kwargs: t.Any) -> None:
        super().__init__(auto_registration=True, **kwargs)
        self.backend = backend

    def get_scopes(self) -> list:
        return []

    @property
    def compute_client(self):  # pragma: no cover - a guard, never used locally
        raise gladier.exc.ConfigException("the local backend has no Globus Compute client")

    def validate_function(self, tool, function) -> tuple[str, str]:
        # Registering locally is cheap and idempotent, so always (re)register: this also heals
        # a Gladier storage file that outlived its state folder.
        checksum = self.get_compute_function_checksum(function)
        function_id = self.backend.functions.register(function, checksum)
        name = get_compute_function_name(function)
        if self.storage.get_value(name) != function_id:
            self.storage.set_value(name, function_id)
            self.storage.set_value(get_compute_function_checksum_name(function), checksum)
        return name, function_id

    def register_function(self, tool, function) -> str:
        """Register ``function`` locally; return its deterministic id."""
        return self.backend.functions.register(
            function, self.get_compute_function_checksum(function)
        )


class LocalFlowsManager(FlowsManager):
    """Deploys flows into the backend's store and runs them there.

    :param backend: the local backend
    :param background: run flows in a background worker process (``run_flow`` then returns
        the ACTIVE record at once); default: run to the end before returning
    """

    def __init__(self, backend: LocalBackend, *, background: bool = False,
                 **kwargs: t.Any) -> None:
        super().__init__(**kwargs)
        self.backend = backend
        self.background = background

    def get_scopes(self) -> list:
        return []

    @property
    def flow_scope(self):
        return None

    def check_flow(self) -> None:
        super().check_flow()
        if not self.backend.store.has_flow(self.get_flow_id()):
            raise gladier.exc.NoFlowRegistered(
                f"flow {self.get_flow_id()} is not in the local store {self.backend.store.path}"
            )

    def register_flow(self) -> str:
        """Store the current definition and schema; the flow id is kept across updates."""
        flow_id = self.get_flow_id() or str(uuid.uuid4())
        checksum = self.get_flow_checksum(self.flow_definition, self.flow_schema,
                                          self.flow_kwargs)
        try:
            self.backend.register_flow(self.flow_definition, self.flow_schema,
                                       title=self.flow_title or "Local flow", flow_id=flow_id,
                                       checksum=checksum)
        except DefinitionError as exc:
            raise GladierDefinitionError(str(exc)) from None
        if self.flow_id is None:
            self.storage.set_value("flow_id", flow_id)
        self.storage.set_value("flow_checksum", checksum)
        return flow_id

    def run_flow(self, **kwargs: t.Any) -> dict:
        """Start a run: ``body`` (required), ``label``, ``tags``, ``background``; other
        Flows options (run_managers, ...) are accepted and ignored.

        :raises gladier.exc.ConfigException: the body violates the input schema
        """
        body = kwargs.pop("body")
        label = kwargs.pop("label", None)
        if label is not None and len(label) > 64:
            label = label[:62] + ".."  # as Gladier does for the Flows service
        tags = kwargs.pop("tags", None)
        background = kwargs.pop("background", self.background)
        flow_id = self.sync_flow()
        try:
            return self.backend.start_run(flow_id, body, label=label, tags=tags,
                                          background=background)
        except InputValidationError as exc:
            raise GladierInputValidationError(str(exc)) from None

    def get_status(self, run_id: str) -> dict:
        """The run record (same shape as the Flows service's)."""
        return self.backend.get_run(run_id)

    def resume_run(self, run_id: str, *, grant: bool = True) -> dict:
        """Resume an INACTIVE run; with ``grant``, the consents it waits for are given first
        (see :meth:`LocalBackend.resume_run`)."""
        return self.backend.resume_run(run_id, grant=grant)

    def has_consents(self, collections: t.Iterable[str]) -> bool:
        """Whether every collection's data_access consent has been given."""
        return {c.lower() for c in collections} <= self.backend.store.granted_consents()

    def list_runs(self, *, tag: str | None = None, limit: int | None = None) -> list[dict]:
        """Run records of this backend, newest first, with ``tag`` among their tags when given."""
        return self.backend.store.list_runs(tag=tag, limit=limit)

    def user_endpoints(self, run_id: str) -> list[dict]:
        """The Compute user endpoints that ran the run's tasks (see :mod:`tomocupy_gladier.local.user_endpoints`)."""
        return self.backend.run_user_endpoints(run_id)

    def get_run_logs(self, run_id: str) -> list[dict]:
        """The run's log entries in order (as the Flows service's run log)."""
        return self.backend.store.get_log(run_id)


def gladier_config_path(backend: LocalBackend) -> Path:
    """The Gladier storage file of clients built on ``backend`` (in its state folder)."""
    return backend.state_dir / "gladier.cfg"


def local_managers(backend: LocalBackend, *, background: bool = False,
                   **flows_kwargs: t.Any) -> tuple[LocalLoginManager, LocalComputeManager,
                                                   LocalFlowsManager]:
    """``(login_manager, compute_manager, flows_manager)`` for a Gladier client on ``backend``."""
    return (LocalLoginManager(), LocalComputeManager(backend),
            LocalFlowsManager(backend, background=background, **flows_kwargs))


def local_client(client_cls: t.Any, backend: LocalBackend, *, background: bool = False,
                 flows_kwargs: dict | None = None, **client_kwargs: t.Any):
    """Instantiate the Gladier client ``client_cls`` (decorated with
    ``@generate_flow_definition`` or not) on ``backend``, its storage in
    :func:`gladier_config_path`.

    :param background: ``run_flow`` starts a background worker and returns the ACTIVE run
    :param flows_kwargs: extra arguments of :class:`LocalFlowsManager` (e.g. ``flow_title``)
    :param client_kwargs: passed to the client's constructor
    """
    login, compute, flows = local_managers(backend, background=background, **(flows_kwargs or {}))
    return client_with_storage(client_cls, gladier_config_path(backend), login_manager=login,
                               compute_manager=compute, flows_manager=flows, **client_kwargs)
