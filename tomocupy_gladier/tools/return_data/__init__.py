"""Sending results back: tool.py (Gladier tool, state names), schema.py (its input),
flow_input.py (its block)."""

from tomocupy_gladier.tools.return_data.schema import RETURN_PROPERTIES, RETURN_REQUIRED
from tomocupy_gladier.tools.return_data.tool import ReturnData
from tomocupy_gladier.tools.step import Step

STEP = Step("return_data", (ReturnData,), RETURN_PROPERTIES, RETURN_REQUIRED)
