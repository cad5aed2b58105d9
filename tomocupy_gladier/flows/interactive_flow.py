"""The interactive loop as one flow: a try, the scientist's choice of the centre, the full volume."""

from __future__ import annotations

from gladier import generate_flow_definition

from tomocupy_gladier.flows.steps import flow_schema_of
from tomocupy_gladier.flows.tomocupy_flow import AFTER_RECON_MODIFIERS, Modifiers, TomocupyClient
from tomocupy_gladier.tools.choice.tool import (
    TRY_RECON_STATE,
    ChoiceOptions,
    TryReconstruction,
    WaitForChoice,
    with_recon_from,
)
from tomocupy_gladier.tools.notify.tool import NotifyWaiting
from tomocupy_gladier.tools.previews.previews import Previews, make_previews
from tomocupy_gladier.tools.publish.tool import Publish
from tomocupy_gladier.tools.return_data.tool import ReturnData
from tomocupy_gladier.tools.metadata.scan_metadata import ScanMetadata, scan_metadata
from tomocupy_gladier.tools.recon.tomocupy_recon import TomocupyRecon, tomocupy_recon, tomocupy_recon_tasks
from tomocupy_gladier.tools.transfer.tool import LOCATE_STATE, SCAN_FILE_STATE, ScanTransfer

TRY_SCAN_FILE_STATE = "TryScanFile"

# After the choice, every step reads the chosen parameters ($.ChosenCentre.recon), not the input's.
CHOSEN_MODIFIERS: Modifiers = {
    **AFTER_RECON_MODIFIERS,
    tomocupy_recon: {"tasks": with_recon_from(tomocupy_recon_tasks())},
    make_previews: {**AFTER_RECON_MODIFIERS[make_previews],
                    "tasks": with_recon_from(AFTER_RECON_MODIFIERS[make_previews]["tasks"])},
    scan_metadata: {**AFTER_RECON_MODIFIERS[scan_metadata],
                    "tasks": with_recon_from(AFTER_RECON_MODIFIERS[scan_metadata]["tasks"])},
}


@generate_flow_definition(modifiers=CHOSEN_MODIFIERS)
class TomocupyInteractiveFlow(TomocupyClient):
    """Copy a scan to the facility, reconstruct a try, publish its montage and wait for the
    scientist to choose the rotation axis; then reconstruct the whole volume at that centre and
    publish it (and send results back) as TomocupyFlow does."""

    # TomocupyRecon comes after the choice: its function serves the try as well (TryRecon)
    gladier_tools = [
        ScanTransfer,
        TryReconstruction,
        ChoiceOptions,
        NotifyWaiting,
        WaitForChoice,
        TomocupyRecon,
        Previews,
        ScanMetadata,
        Publish,
        ReturnData,
    ]
    flow_schema = flow_schema_of(
        gladier_tools,
        title="tomocupy: transfer, try, choose the centre, reconstruct, publish",
        description="Copies a scan to the computing facility, reconstructs a try over a range of "
        "centres, publishes its montage and waits for the scientist to choose the rotation axis; "
        "then reconstructs the whole volume at that centre, publishes it with its metadata and, "
        "when asked, sends the previews or the reconstruction back; it emails when it waits and "
        "when it ends, if asked.",
    )

    def get_flow_definition(self) -> dict:
        definition = super().get_flow_definition()
        states = definition["States"]
        states[TRY_RECON_STATE]["WaitTime"] = self.recon_wait_time
        # the try reads the same scan file that LocateScan names (a start form types it once)
        scan_file = states[SCAN_FILE_STATE]
        states[TRY_SCAN_FILE_STATE] = {
            "Type": "Pass",
            "Comment": "The scan file the try reads: the same as the full reconstruction's",
            "InputPath": f"$.{LOCATE_STATE}.file_name",
            "ResultPath": "$.input.interactive.try_tomocupy.file_name",
            "Next": scan_file["Next"],
        }
        scan_file["Next"] = TRY_SCAN_FILE_STATE
        return definition
