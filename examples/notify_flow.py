"""Extending TomocupyFlow: the same three steps, then a notification, without copying the flow.

Copy this file next to your experiment and adapt ``notify_done`` (e-mail, Slack, a
beamline logbook...). The new flow reuses TomocupyFlow's tools and input schema; Gladier
generates the definition and registers the extra function like the others.

    python examples/notify_flow.py SCAN --config experiment.toml
"""

from __future__ import annotations

import sys

from gladier import GladierBaseTool, generate_flow_definition

from tomocupy_gladier.flows import TomocupyFlow
from tomocupy_gladier.tools.registry import modifiers_of
from tomocupy_gladier.flows.tomocupy_flow import TomocupyClient
from tomocupy_gladier.experiment.schema import extend_flow_schema, function_id_field
from tomocupy_gladier.action_urls import COMPUTE_V3_URL


def notify_done(notify_outbox: str, TomocupyRecon: dict | None = None, **data):
    """Append a line about the finished reconstruction to a notification outbox (JSON lines)."""
    import datetime
    import json
    import pathlib

    result = (TomocupyRecon or {}).get("details", {}).get("results", [{}])[0].get("output", {})
    message = {
        "time": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "scan": data.get("tomocupy", {}).get("file_name"),
        "output": result.get("output"),
        "rotation_axis": result.get("rotation_axis"),
    }
    outbox = pathlib.Path(notify_outbox)
    outbox.parent.mkdir(parents=True, exist_ok=True)
    with outbox.open("a") as f:
        f.write(json.dumps(message) + "\n")
    return message


@generate_flow_definition(modifiers={
    # hand the function the input and the reconstruction's result
    notify_done: {"tasks": [{"function_id.$": "$.input.notify_done_function_id",
                             "kwargs": {"notify_outbox.$": "$.input.notify_outbox",
                                        "tomocupy.$": "$.input.tomocupy",
                                        "TomocupyRecon.$": "$.TomocupyRecon"}}]},
})
class NotifyDone(GladierBaseTool):
    """Tell someone the reconstruction is done."""

    action_url = COMPUTE_V3_URL
    compute_functions = [notify_done]
    required_input = ["notify_outbox", "compute_endpoint"]


NOTIFY_INPUTS = {
    "notify_outbox": {"title": "Notification outbox", "description": "File that collects the notices.",
                      "type": "string", "minLength": 1},
    "notify_done_function_id": function_id_field("notify_done"),
}


@generate_flow_definition(modifiers=modifiers_of(TomocupyFlow.steps))  # TomocupyFlow's wiring, reused
class TomocupyFlowWithNotice(TomocupyClient):
    """TomocupyFlow, then a notice that the reconstruction is done."""

    gladier_tools = TomocupyFlow.gladier_tools + [NotifyDone]
    flow_schema = extend_flow_schema(TomocupyFlow.flow_schema, NOTIFY_INPUTS,
                                     required=("notify_outbox", "notify_done_function_id"))


if __name__ == "__main__":
    from tomocupy_gladier.tools.registry import load_config
    from tomocupy_gladier.planning.plan import Ask, RunRequest, plan
    from tomocupy_gladier.runs.run_following import follow_run

    scan, config_path = sys.argv[1], sys.argv[sys.argv.index("--config") + 1]
    config = load_config(config_path)
    planned = plan(config, RunRequest(scan, flow=TomocupyFlowWithNotice, ask=Ask.FULL,
                                      extra_input={"notify_outbox": str(config.path.parent / "notices.jsonl")}))
    client = planned.client()
    run = client.run_flow(flow_input=planned.body, label=planned.label, tags=planned.tags)
    final = follow_run(client, run["run_id"])
    sys.exit(0 if final.succeeded else 1)
