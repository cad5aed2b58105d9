"""The choice step's contract (``STEP``), as the registry (``tools/registry.py``) lists it."""

from tomocupy_gladier.tools.choice.config import SECTION
from tomocupy_gladier.tools.choice.flow_input import InteractiveInput, interactive_block
from tomocupy_gladier.tools.choice.schema import INTERACTIVE_PROPERTIES, INTERACTIVE_REQUIRED
from tomocupy_gladier.tools.choice.start_form import choice_defaults
from tomocupy_gladier.tools.choice.tool import (
    ChoiceOptions,
    TryReconstruction,
    WaitForChoice,
    make_choice_options,
    read_the_chosen_parameters,
    try_reads_the_scan_file,
)
from tomocupy_gladier.tools.notify.tool import NotifyWaiting
from tomocupy_gladier.tools.step import Step

# the loop runs before the full reconstruction; it emails, when asked, that it waits
STEP = Step("choice", (TryReconstruction, ChoiceOptions, NotifyWaiting, WaitForChoice),
            INTERACTIVE_PROPERTIES, INTERACTIVE_REQUIRED, before="recon", shims=(make_choice_options,),
            section=SECTION, flow_input=interactive_block, input_type=InteractiveInput,
            start_form=choice_defaults, passes=(read_the_chosen_parameters, try_reads_the_scan_file))
