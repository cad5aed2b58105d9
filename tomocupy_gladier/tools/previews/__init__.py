"""The previews: previews.py (compute function, Gladier tool), schema.py (its input),
flow_input.py (its block)."""

from tomocupy_gladier.tools.previews.previews import Previews
from tomocupy_gladier.tools.previews.schema import PREVIEW_PROPERTIES, PREVIEW_REQUIRED
from tomocupy_gladier.tools.step import Step

STEP = Step("previews", (Previews,), PREVIEW_PROPERTIES, PREVIEW_REQUIRED)
