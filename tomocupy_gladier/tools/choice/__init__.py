"""The interactive loop (a try, its options, the wait for the scientist's choice): tool.py
(compute function, Gladier tools, state names), schema.py (its input), flow_input.py (its
block)."""

from tomocupy_gladier.tools.choice.schema import INTERACTIVE_PROPERTIES, INTERACTIVE_REQUIRED
from tomocupy_gladier.tools.choice.tool import ChoiceOptions, TryReconstruction, WaitForChoice
from tomocupy_gladier.tools.step import Step

STEP = Step("choice", (TryReconstruction, ChoiceOptions, WaitForChoice), INTERACTIVE_PROPERTIES,
            INTERACTIVE_REQUIRED)
