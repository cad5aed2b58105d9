"""Reconstruct one scan of an experiment from Python: copy this file and edit the top.

    python examples/reconstruct_scan.py experiment.toml scan_0001.h5

The experiment file says where scans are, where they are reconstructed and published, and
which backend runs the flow (``tomocupy-gladier demo`` writes a commented one).
"""

from __future__ import annotations

import sys

from tomocupy_gladier.tools.registry import load_config
from tomocupy_gladier.flows import TomocupyFlow
from tomocupy_gladier.planning.plan import RunRequest, plan
from tomocupy_gladier.runs.run_following import follow_run
from tomocupy_gladier.runs.run_record import RECON_STATE

# Parameters for this experiment, by tomocupy's option names (they override [recon] in the file).
PARAMETERS = {
    "reconstruction-type": "full",
    "remove-stripe-method": "vo-all",
    "fbp-filter": "parzen",
}


def main(config_path: str, scan: str) -> int:
    config = load_config(config_path)
    planned = plan(config, RunRequest(scan, flow=TomocupyFlow, overrides=PARAMETERS, tags=("example",)))
    print("rotation axis:", planned.axis_source)
    client = planned.client()
    run = client.run_flow(flow_input=planned.body, label=planned.label, tags=planned.tags)
    print("run id:", run["run_id"])
    final = follow_run(client, run["run_id"], delay=1.0)
    print("reconstruction:", final.result(RECON_STATE).get("output"))
    return 0 if final.succeeded else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
