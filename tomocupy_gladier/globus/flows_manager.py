"""Gladier's Flows manager with one bookkeeping bug fixed and the run scope's consents added."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gladier.managers import FlowsManager


class GlobusFlowsManager(FlowsManager):
    """A ``FlowsManager`` whose stored checksum matches the one it checks, and whose flow scope
    carries the ``data_access`` consents of the collections the flow uses.

    Gladier 0.11 checks ``checksum(definition, schema, flow_kwargs)`` before each run but,
    after creating a flow, stores ``checksum(definition, schema)``. With any ``flow_kwargs``
    (we pass ``subscription_id`` there, since Gladier does not send its own) every later run
    would update the flow again. Here the stored checksum always includes ``flow_kwargs``.

    Gladier asks the login manager for :attr:`flow_scope` before it starts a run (and again
    after a ``MISSING_SCOPE`` answer), and authorizes the run with the token it gets: the bare
    flow scope would start runs that stop, INACTIVE, at their first Transfer on a GCS v5
    mapped collection. ``data_access_collections`` names those collections
    (:func:`tomocupy_gladier.flows.data_access_collections`).
    """

    def __init__(self, *args: Any, data_access_collections: Iterable[str] = (), **kwargs: Any) -> None:
        # set before Gladier's constructor, which already asks for the scopes
        self.data_access_collections = tuple(data_access_collections)
        super().__init__(*args, **kwargs)

    @property
    def flow_scope(self) -> Any:
        """The flow's run scope (:func:`tomocupy_gladier.globus.auth.flow_run_scope`); None before the
        flow is deployed."""
        from tomocupy_gladier.globus.auth import flow_run_scope

        try:
            flow_id = self.get_flow_id()
        except AttributeError:  # no storage yet, as in Gladier's own property
            flow_id = None
        return flow_run_scope(flow_id, self.data_access_collections) if flow_id else None

    @property
    def specific_flow_client(self) -> Any:
        """Gladier's client for starting runs, authorized for :attr:`flow_scope`: that scope is
        made a requirement first (Gladier only requires the bare scope of a flow it has just
        created, and looks up the run scope's authorizer)."""
        scope = self.flow_scope
        if getattr(self, "_specific_flow_client", None) is None and scope is not None:
            self.login_manager.add_requirements([scope])
        return FlowsManager.specific_flow_client.fget(self)

    def register_flow(self) -> str | None:
        flow_id = super().register_flow()
        self.storage.set_value("flow_checksum", self.get_flow_checksum(
            self.flow_definition, self.flow_schema, self.flow_kwargs))
        return flow_id
