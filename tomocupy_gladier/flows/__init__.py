"""Gladier clients (flows) of tomocupy-gladier: each a choice of the registered steps."""

from tomocupy_gladier.flows.tomocupy_flow import (
    FLOWS,
    TomocupyClient,
    TomocupyFlow,
    TomocupyInteractiveFlow,
    TomocupyReconFlow,
    data_access_collections,
    flow_client,
    flow_steps,
    moves_scan,
    storage_section_collections,
    transfer_sections,
    waits_for_choice,
)

__all__ = ["FLOWS", "TomocupyClient", "TomocupyFlow", "TomocupyInteractiveFlow", "TomocupyReconFlow",
           "data_access_collections", "flow_client", "flow_steps", "moves_scan", "storage_section_collections",
           "transfer_sections", "waits_for_choice"]
