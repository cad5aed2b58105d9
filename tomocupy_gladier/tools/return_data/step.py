"""The return_data step's contract (``STEP``), as the registry (``tools/registry.py``) lists it."""

from tomocupy_gladier.tools.return_data.config import SECTION, return_config
from tomocupy_gladier.tools.return_data.flow_input import ReturnInput, return_block
from tomocupy_gladier.tools.return_data.schema import RETURN_PROPERTIES, RETURN_REQUIRED
from tomocupy_gladier.tools.return_data.start_form import return_defaults
from tomocupy_gladier.tools.return_data.tool import ReturnData
from tomocupy_gladier.tools.step import Step

STEP = Step("return_data", (ReturnData,), RETURN_PROPERTIES, RETURN_REQUIRED, form_first=("return_data",),
            section=SECTION, flow_input=return_block, input_type=ReturnInput, start_form=return_defaults,
            switch="return_data",
            collections=lambda config: ("return",) if return_config(config) is not None else ())
