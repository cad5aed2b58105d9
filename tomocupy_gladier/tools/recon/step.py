"""The recon step's contract (``STEP``), as the registry (``tools/registry.py``) lists it."""

from tomocupy_gladier.tools.recon.flow_input import ReconInput, recon_block
from tomocupy_gladier.tools.recon.schema import RECON_PROPERTIES, RECON_REQUIRED
from tomocupy_gladier.tools.recon.start_form import recon_defaults
from tomocupy_gladier.tools.recon.tomocupy_recon import TomocupyRecon, tomocupy_recon
from tomocupy_gladier.tools.step import Step

STEP = Step("recon", (TomocupyRecon,), RECON_PROPERTIES, RECON_REQUIRED,
            form_first=("tomocupy", "recon"), shims=(tomocupy_recon,), flow_input=recon_block,
            input_type=ReconInput, start_form=recon_defaults)
