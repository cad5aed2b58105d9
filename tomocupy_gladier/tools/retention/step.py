"""The retention step's contract (``STEP``), as the registry (``tools/registry.py``) lists it."""

from tomocupy_gladier.tools.retention.config import SECTION
from tomocupy_gladier.tools.step import Step

STEP = Step("retention", section=SECTION)
