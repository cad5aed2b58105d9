"""The reconstruction's part of the flow input schema: tomocupy's parameters, how the endpoint runs
it, and the compute endpoint and batch job every compute step shares."""

from __future__ import annotations

from typing import Any

from tomocupy_gladier import __version__
from tomocupy_gladier.compute import VERSION_FIELD
from tomocupy_gladier.compute.axis import AxisDecision
from tomocupy_gladier.compute.multiscale import FORMATS
from tomocupy_gladier.experiment.compute_endpoints import WALLTIME_PATTERN
from tomocupy_gladier.experiment.limits import DEFAULT_WALLTIME, RECON_TIMEOUT
from tomocupy_gladier.experiment.options import recon_schema
from tomocupy_gladier.experiment.schema import ZARR_SCHEMA, function_id_field, uuid_field

RECON_PROPERTIES: dict[str, Any] = {
    "recon": recon_schema(flow_input=True),
    "tomocupy": {
        "title": "How to run tomocupy",
        "description": "The scan and its reconstruction folder as the compute endpoint sees them. The "
        "program is the endpoint's choice, never the flow input's.",
        "type": "object",
        "properties": {
            "file_name": {"title": "Scan file", "description": "Path of the scan (HDF5 file) as the "
                          "compute nodes see it, e.g. /eagle/TOMO/raw/scan_0001.h5. When the flow "
                          "copies the scan first, the facility folder as the compute nodes see it, "
                          "ending in / (the scan's name is added; of a full path only the folder "
                          "is used).", "type": "string", "minLength": 1},
            "output": {"title": "Reconstruction folder", "description": "Leave empty for tomocupy's "
                       "own folder: <scan folder>_rec/<scan>_rec (a try: <scan folder>_rec/try_center/"
                       "<scan>). The command line sets it; a path given here must be absolute.",
                       "type": "string", "pattern": "^/"},
            "logs": {"title": "Logs folder", "description": "Leave empty for <reconstruction "
                     "folder>.logs: the folder that keeps each run's reconstruction log "
                     "(<run id>.log).", "type": "string", "pattern": "^/"},
            "timeout": {"title": "Time limit (s)", "description": "The reconstruction is stopped after "
                        "this long (less than the step's wait time).", "type": "number",
                        "exclusiveMinimum": 0, "maximum": 7 * 86400, "default": RECON_TIMEOUT},
            "zarr": ZARR_SCHEMA,
            "axis": {
                "title": "How the rotation axis was decided",
                "description": "Set by tomocupy-gladier from how the run was started; leave it empty. "
                "It goes into the reconstruction's manifest and the published record. keep_decided: "
                "a full reconstruction that replaces one whose axis a person decided (chosen, given, "
                "suggested) uses that axis instead (reprocessing keeps a scan's centre).",
                "type": "object",
                "properties": {
                    # a pattern, not a choice: a form offers no value of it to pick
                    "decided": {"title": "Decided", "type": "string",
                                "pattern": "^(" + "|".join(d.value for d in AxisDecision) + ")$"},
                    "how": {"title": "How, in words", "type": "string"},
                    "keep_decided": {"title": "Keep a person's axis", "type": "boolean", "default": False},
                },
                "additionalProperties": False,
            },
            "formats": {"title": "Kept and published as", "description": "What a full reconstruction "
                        "is kept and published as: tiff (tomocupy's slices), zarr (the OME-Zarr made of "
                        "them) or both. Leave empty for both (tiff alone when the OME-Zarr is off).",
                        "type": "array", "items": {"title": "Format", "type": "string", "enum": list(FORMATS)},
                        "minItems": 1, "uniqueItems": True},
        },
        "required": ["file_name"],
        "additionalProperties": False,
    },
    "compute_endpoint": uuid_field("Deployment: compute endpoint", "Globus Compute endpoint that "
                                   "runs tomocupy (e.g. on Polaris); set for the experiment."),
    "tomocupy_recon_function_id": function_id_field("tomocupy_recon"),
    VERSION_FIELD: {"title": "Deployment: tomocupy-gladier version", "description": "The client's "
                    "version; the compute endpoint's tomocupy-gladier must be the same. Set by "
                    "tomocupy-gladier; leave it as it is.", "type": "string", "default": __version__},
    "tomocupy_endpoint_config": {
        "title": "Deployment: batch job",
        "description": "The user_endpoint_config every compute step of the run sends to the endpoint: "
        "one user endpoint, one PBS job for the whole run. ALCF's endpoint takes the options ALCF "
        "documents, a facility's own endpoint (endpoint-config) queue, account, walltime, nodes and "
        "the block settings; set for the experiment.",
        "type": "object",
        "properties": {
            "queue": {"title": "Queue", "type": "string", "minLength": 1, "default": "debug"},
            "account": {"title": "Project (allocation)", "description": "The allocation charged "
                        "for the job.", "type": "string", "minLength": 1},
            "walltime": {"title": "Walltime", "description": "HH:MM:SS", "type": "string",
                         "pattern": WALLTIME_PATTERN, "default": DEFAULT_WALLTIME},
            "nodes": {"title": "Nodes (the facility's endpoint)", "type": "integer", "minimum": 1,
                      "maximum": 64},
            "nodes_per_block": {"title": "Nodes (ALCF's endpoint)", "type": "integer", "minimum": 1,
                                "maximum": 64},
            "max_workers_per_node": {"title": "Tasks at once per node", "type": "integer", "minimum": 1},
            "init_blocks": {"title": "Jobs queued at once", "type": "integer", "minimum": 0},
            "min_blocks": {"title": "Jobs kept while idle", "type": "integer", "minimum": 0},
            "max_blocks": {"title": "Jobs at most", "type": "integer", "minimum": 1},
            "max_idletime": {"title": "Seconds an idle job is kept", "type": "integer", "minimum": 0},
            # no enum: a form would give it a default, which the facility's endpoint refuses
            "launcher_type": {"title": "Launcher", "description": "SimpleLauncher or MpiExecLauncher "
                              "(ALCF's endpoint).", "type": "string", "minLength": 1},
            "worker_init": {"title": "Worker environment", "description": "Shell commands run before "
                            "the workers start (ALCF's endpoint).", "type": "string"},
            "scheduler_options": {"title": "PBS options", "description": "e.g. #PBS -l "
                                  "filesystems=home:eagle (ALCF's endpoint).", "type": "string"},
            "select_options": {"title": "PBS select options", "type": "string"},
        },
        "additionalProperties": False,
    },
}
RECON_REQUIRED = ("recon", "tomocupy", "compute_endpoint", "tomocupy_recon_function_id",
                  "tomocupy_endpoint_config", VERSION_FIELD)
