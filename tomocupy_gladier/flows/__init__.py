"""Gladier clients (flows) of tomocupy-gladier."""

from tomocupy_gladier.flows.tomocupy_flow import (
    FLOWS,
    TomocupyFlow,
    TomocupyReconFlow,
    moves_scan,
    waits_for_choice,
)
from tomocupy_gladier.flows.interactive_flow import TomocupyInteractiveFlow

FLOWS["interactive"] = TomocupyInteractiveFlow

__all__ = ["FLOWS", "TomocupyFlow", "TomocupyInteractiveFlow", "TomocupyReconFlow", "moves_scan",
           "waits_for_choice"]
