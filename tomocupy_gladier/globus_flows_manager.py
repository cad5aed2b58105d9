"""Gladier's Flows manager with one bookkeeping bug fixed."""

from __future__ import annotations

from gladier.managers import FlowsManager


class GlobusFlowsManager(FlowsManager):
    """A ``FlowsManager`` whose stored checksum matches the one it checks.

    Gladier 0.11 checks ``checksum(definition, schema, flow_kwargs)`` before each run but,
    after creating a flow, stores ``checksum(definition, schema)``. With any ``flow_kwargs``
    (we pass ``subscription_id`` there, since Gladier does not send its own) every later run
    would update the flow again. Here the stored checksum always includes ``flow_kwargs``.
    """

    def register_flow(self) -> str | None:
        flow_id = super().register_flow()
        self.storage.set_value("flow_checksum", self.get_flow_checksum(
            self.flow_definition, self.flow_schema, self.flow_kwargs))
        return flow_id
