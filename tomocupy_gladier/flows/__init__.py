"""Gladier clients (flows) of tomocupy-gladier."""

from tomocupy_gladier.flows.tomocupy_flow import (
    FLOWS,
    TomocupyFlow,
    TomocupyReconFlow,
    data_access_collections,
    moves_scan,
    transfer_sections,
    waits_for_choice,
)
from tomocupy_gladier.flows.interactive_flow import TomocupyInteractiveFlow

FLOWS["interactive"] = TomocupyInteractiveFlow

__all__ = ["FLOWS", "TomocupyFlow", "TomocupyInteractiveFlow", "TomocupyReconFlow", "data_access_collections",
           "moves_scan", "transfer_sections", "waits_for_choice"]
