"""Reconstruct one scan of an experiment from Python: copy this file and edit the top.

    python examples/reconstruct_scan.py experiment.toml scan_0001.h5

The experiment file says where scans are, where they are reconstructed and published, and
which backend runs the flow (``tomocupy-gladier demo`` writes a commented one).
"""

from __future__ import annotations

import sys

from tomocupy_gladier.backends import make_client
from tomocupy_gladier.cli.flow_commands import follow_run
from tomocupy_gladier.config import load_config
from tomocupy_gladier.flow_input import build_flow_input, recon_parameters, run_label

# Parameters for this experiment, by tomocupy's option names (they override [recon] in the file).
PARAMETERS = {
    "reconstruction-type": "full",
    "remove-stripe-method": "vo-all",
    "fbp-filter": "parzen",
}


def main(config_path: str, scan: str) -> int:
    config = load_config(config_path)
    recon = recon_parameters(config, PARAMETERS)
    flow_input = build_flow_input(config, scan, recon)
    client = make_client("tomocupy", config)
    run = client.run_flow(flow_input=flow_input, label=run_label(config, scan, recon),
                          tags=["example"])
    print("run id:", run["run_id"])
    final = follow_run(client, run["run_id"], delay=1.0)
    output = final.get("details", {}).get("output", {})
    recon_result = output.get("TomocupyRecon", {}).get("details", {}).get("results", [{}])[0]
    print("reconstruction:", recon_result.get("output", {}).get("output"))
    return 0 if final["status"] == "SUCCEEDED" else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
