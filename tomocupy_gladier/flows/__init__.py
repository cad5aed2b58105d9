"""Gladier clients (flows) of tomocupy-gladier."""

from tomocupy_gladier.flows.tomocupy_flow import FLOWS, TomocupyFlow, TomocupyReconFlow, moves_scan

__all__ = ["FLOWS", "TomocupyFlow", "TomocupyReconFlow", "moves_scan"]
