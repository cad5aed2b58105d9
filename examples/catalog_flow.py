"""Extending TomocupyFlow: after publication, add the record to the experiment's catalogue.

The catalogue is a JSON-lines file on the compute endpoint's file system (one line per
published reconstruction: subject, scan, sample, energy, rotation axis, previews...), easy to
load into a spreadsheet or pandas at the end of a beamtime. The new flow reuses TomocupyFlow's
tools, wiring and input schema; Gladier generates the definition and registers the function.

    python examples/catalog_flow.py SCAN --config experiment.toml

Copy this file next to your experiment and adapt ``catalog_record`` (a CSV file, a database,
an electronic logbook...). Like every compute function it ships as source text, so it imports
what it needs inside its body.
"""

from __future__ import annotations

import sys
from pathlib import PurePosixPath
from typing import Any

from gladier import GladierBaseTool, generate_flow_definition

from tomocupy_gladier.experiment.config import ExperimentConfig
from tomocupy_gladier.flows import TomocupyFlow
from tomocupy_gladier.flows.tomocupy_flow import TomocupyClient
from tomocupy_gladier.tools.registry import modifiers_of
from tomocupy_gladier.experiment.schema import extend_flow_schema, function_id_field
from tomocupy_gladier.action_urls import COMPUTE_V3_URL


def catalog_record(catalog_file: str, published: dict, run_id: str | None = None, **data: Any) -> dict:
    """Append the key facts of a published record to ``catalog_file`` (JSON lines); return them.

    ``published`` is Publishv2's gathered record (``{"search": {"subject", "content"}, ...}``).
    One line per run, written with a single append, so concurrent runs do not interleave.
    """
    import datetime
    import json
    import os
    import pathlib

    search = (published or {}).get("search") or {}
    content = search.get("content") or {}
    tomo = content.get("tomography") or {}
    acquisition = tomo.get("acquisition") or {}
    reconstruction = tomo.get("reconstruction") or {}
    files = tomo.get("files") or {}  # counts, manifest and preview addresses of the published data
    line = {
        "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "run_id": run_id,
        "subject": search.get("subject"),
        "experiment": tomo.get("experiment"),
        "scan": tomo.get("scan"),
        "sample": acquisition.get("sample"),
        "energy_kev": acquisition.get("energy_kev"),
        "type": reconstruction.get("type"),
        "rotation_axis": reconstruction.get("rotation_axis"),
        "suggested_center": (tomo.get("previews") or {}).get("suggested_center"),
        "files": files.get("count"),
        "manifest": files.get("manifest_url"),
        "previews": list(files.get("previews") or []),
    }
    path = pathlib.Path(catalog_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(line) + "\n").encode())
    finally:
        os.close(fd)
    return line


@generate_flow_definition(modifiers={
    # the function gets the catalogue path, the published record and the run id
    catalog_record: {"tasks": [{"function_id.$": "$.input.catalog_record_function_id",
                                "kwargs": {"catalog_file.$": "$.input.catalog_file",
                                           "published.$": "$.Publishv2GatherMetadata.details.results[0].output",
                                           "run_id.$": "$._context.run_id"}}]},
})
class CatalogRecord(GladierBaseTool):
    """Add the published record to the experiment's catalogue."""

    action_url = COMPUTE_V3_URL
    compute_functions = [catalog_record]
    required_input = ["catalog_file", "compute_endpoint"]


CATALOG_INPUTS = {
    "catalog_file": {"title": "Catalogue", "description": "POSIX path, on the compute endpoint, of the "
                     "experiment's catalogue (JSON lines; created if absent).", "type": "string", "minLength": 1},
    "catalog_record_function_id": function_id_field("catalog_record"),
}


@generate_flow_definition(modifiers=modifiers_of(TomocupyFlow.steps))  # TomocupyFlow's wiring, reused
class TomocupyFlowWithCatalog(TomocupyClient):
    """TomocupyFlow, then a line in the experiment's catalogue."""

    gladier_tools = TomocupyFlow.gladier_tools + [CatalogRecord]
    flow_schema = extend_flow_schema(TomocupyFlow.flow_schema, CATALOG_INPUTS,
                                     required=("catalog_file", "catalog_record_function_id"))


def catalog_path(config: ExperimentConfig) -> PurePosixPath:
    """The experiment's catalogue: ``/catalog/<experiment>.jsonl`` on the facility collection."""
    return config.facility.to_posix(PurePosixPath("/catalog", f"{config.name}.jsonl"))


if __name__ == "__main__":
    from tomocupy_gladier.tools.registry import load_config
    from tomocupy_gladier.planning.plan import Ask, RunRequest, plan
    from tomocupy_gladier.runs.run_following import follow_run

    scan, config_path = sys.argv[1], sys.argv[sys.argv.index("--config") + 1]
    config = load_config(config_path)
    planned = plan(config, RunRequest(scan, flow=TomocupyFlowWithCatalog, ask=Ask.FULL,
                                      extra_input={"catalog_file": str(catalog_path(config))}))
    client = planned.client()
    run = client.run_flow(flow_input=planned.body, label=planned.label, tags=planned.tags)
    final = follow_run(client, run["run_id"])
    print(f"catalogue: {planned.body['input']['catalog_file']}")
    sys.exit(0 if final.succeeded else 1)
