"""The scan's metadata and the record: scan_metadata.py (compute function, Gladier tool),
schema.py (its input)."""

from tomocupy_gladier.tools.metadata.scan_metadata import ScanMetadata
from tomocupy_gladier.tools.metadata.schema import METADATA_PROPERTIES, METADATA_REQUIRED
from tomocupy_gladier.tools.step import Step

STEP = Step("metadata", (ScanMetadata,), METADATA_PROPERTIES, METADATA_REQUIRED)
