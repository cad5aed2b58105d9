"""The reconstruction's part of the flow input schema: tomocupy's parameters, how the endpoint runs
it, and the compute endpoint and batch job every compute step shares."""

from __future__ import annotations

from typing import Any

from tomocupy_gladier import __version__
from tomocupy_gladier.compute import VERSION_FIELD
from tomocupy_gladier.compute.multiscale import FORMATS
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
                        "exclusiveMinimum": 0, "maximum": 7 * 86400, "default": 6900},
            "zarr": ZARR_SCHEMA,
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
        "description": "PBS settings for the job that runs the reconstruction; set for the experiment.",
        "type": "object",
        "properties": {
            "queue": {"title": "Queue", "type": "string", "minLength": 1, "default": "debug"},
            "account": {"title": "Project (allocation)", "description": "The allocation charged "
                        "for the job.", "type": "string", "minLength": 1},
            "walltime": {"title": "Walltime", "description": "HH:MM:SS", "type": "string",
                         "pattern": "^[0-9]{1,3}:[0-5][0-9]:[0-5][0-9]$", "default": "01:00:00"},
            "nodes": {"title": "Nodes", "type": "integer", "minimum": 1, "maximum": 64, "default": 1},
        },
        "additionalProperties": False,
    },
}
RECON_REQUIRED = ("recon", "tomocupy", "compute_endpoint", "tomocupy_recon_function_id",
                  "tomocupy_endpoint_config", VERSION_FIELD)
