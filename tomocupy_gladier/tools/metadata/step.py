"""The metadata step's contract (``STEP``), as the registry (``tools/registry.py``) lists it."""

from tomocupy_gladier.tools.metadata.scan_metadata import ScanMetadata, scan_metadata, scan_metadata_tasks
from tomocupy_gladier.tools.metadata.schema import METADATA_PROPERTIES, METADATA_REQUIRED
from tomocupy_gladier.tools.previews.previews import PREVIEWS_STATE
from tomocupy_gladier.tools.step import Step

# in a flow: the reconstruction's and the previews' results, in the run's one user endpoint;
# the record it makes (scan metadata + reconstruction facts + previews) is Publishv2's input
STEP = Step("metadata", (ScanMetadata,), METADATA_PROPERTIES, METADATA_REQUIRED, shims=(scan_metadata,),
            modifiers={scan_metadata: {"tasks": scan_metadata_tasks(previews_state=PREVIEWS_STATE),
                                       "user_endpoint_config": "tomocupy_endpoint_config"}})
