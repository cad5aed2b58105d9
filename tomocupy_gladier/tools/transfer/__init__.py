"""The scan transfer, beamline to facility: tool.py (Gladier tool, state names), schema.py (its
input), flow_input.py (its input block)."""

from tomocupy_gladier.tools.step import Step
from tomocupy_gladier.tools.transfer.schema import TRANSFER_PROPERTIES, TRANSFER_REQUIRED
from tomocupy_gladier.tools.transfer.tool import ScanTransfer

STEP = Step("transfer", (ScanTransfer,), TRANSFER_PROPERTIES, TRANSFER_REQUIRED)
