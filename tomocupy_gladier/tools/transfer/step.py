"""The transfer step's contract (``STEP``), as the registry (``tools/registry.py``) lists it."""

from tomocupy_gladier.tools.step import Step
from tomocupy_gladier.tools.transfer.flow_input import TransferInput, transfer_block
from tomocupy_gladier.tools.transfer.schema import TRANSFER_PROPERTIES, TRANSFER_REQUIRED
from tomocupy_gladier.tools.transfer.start_form import transfer_defaults
from tomocupy_gladier.tools.transfer.tool import ScanTransfer

STEP = Step("transfer", (ScanTransfer,), TRANSFER_PROPERTIES, TRANSFER_REQUIRED,
            form_first=("source",), flow_input=transfer_block, input_type=TransferInput,
            start_form=transfer_defaults, collections=lambda config: ("source",))
