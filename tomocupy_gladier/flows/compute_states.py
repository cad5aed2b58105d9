"""A flow's compute states and what each sends to Globus Compute: its endpoint and its
``user_endpoint_config``.

Compute starts one user endpoint (on PBS: its own batch jobs) per identity, endpoint and
configuration (globus/globus-compute ``docs/endpoints/endpoints.rst``), so what these states send
decides how many jobs a run starts. ``run --dry-run`` and ``deploy --dry-run`` show it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

from tomocupy_gladier.action_urls import COMPUTE_V2_URL


@dataclass(frozen=True)
class ComputeState:
    """One compute state: its name, action provider, and the endpoint and configuration it sends
    (resolved from the flow input where the path is ``$.input.<name>``, else the path itself)."""

    state: str
    action_url: str
    endpoint_id: Any
    user_endpoint_config: Any   # None: the state sends none (Compute AP v2 cannot)

    def as_json(self) -> dict[str, Any]:
        return {"state": self.state, "action_url": self.action_url, "endpoint_id": self.endpoint_id,
                "user_endpoint_config": self.user_endpoint_config}


def _resolve(value: Any, flow_input: Mapping[str, Any] | None) -> Any:
    if isinstance(value, str) and value.startswith("$.input.") and flow_input is not None:
        name = value[len("$.input."):]
        if "." not in name and name in flow_input:
            return flow_input[name]
    return value


def compute_states(definition: Mapping[str, Any], flow_input: Mapping[str, Any] | None = None
                   ) -> list[ComputeState]:
    """The compute states of ``definition`` in its order, with what each sends when the flow
    input is ``flow_input`` (the ``input`` block)."""
    found = []
    for name, state in definition["States"].items():
        if state.get("Type") != "Action" or not str(state.get("ActionUrl", "")).startswith(COMPUTE_V2_URL):
            continue
        params = state.get("Parameters", {})
        if "tasks" in params and any("endpoint.$" in t or "endpoint" in t for t in params["tasks"]):
            task = params["tasks"][0]  # v2: the endpoint is per task, no configuration
            endpoint = task.get("endpoint.$", task.get("endpoint"))
            config = None
        else:
            endpoint = params.get("endpoint_id.$", params.get("endpoint_id"))
            config = params.get("user_endpoint_config.$", params.get("user_endpoint_config"))
        found.append(ComputeState(name, state["ActionUrl"], _resolve(endpoint, flow_input),
                                  _resolve(config, flow_input)))
    return found


def user_endpoints(states: list[ComputeState]) -> list[dict[str, Any]]:
    """The distinct (endpoint, configuration) pairs the states send, each with its states: one
    user endpoint each for one identity (``[]`` when no state sends anything)."""
    groups: dict[str, dict[str, Any]] = {}
    for state in states:
        key = json.dumps([state.endpoint_id, state.user_endpoint_config], sort_keys=True)
        group = groups.setdefault(key, {"endpoint_id": state.endpoint_id,
                                        "user_endpoint_config": state.user_endpoint_config, "states": []})
        group["states"].append(state.state)
    return list(groups.values())
