"""How a reconstruction's rotation axis was decided: the one vocabulary of the flow input, the
reconstruction's ``manifest.json``, the step's result and the published record, used by the
endpoint (which keeps a person's axis when a reprocessing run replaces their reconstruction)
and by the client (which says how it decided, :mod:`tomocupy_gladier.planning.plan`).

A centre is a fact of the scan: once a person decided it, a campaign or a watched folder that
reprocesses the scan keeps it (``keep_decided``) unless it names an axis or a search itself.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Mapping, MutableMapping

#: tomocupy's ``rotation-axis-auto``: the axis given (``manual``) or searched for (``auto``)
MANUAL, AUTO = "manual", "auto"
#: how the reconstruction step reports an axis tomocupy searched for (``rotation_axis_source``)
SEARCH_REPORT = "tomocupy automatic search"


class AxisDecision(str, Enum):
    """How an axis was decided; its value is what the record holds, :meth:`words` what the run
    summary says."""

    CHOSEN = "chosen"          # a person picked it from a try: the interactive step, `choose`, --from-try --center
    GIVEN = "given"            # a person typed it for the run: the command line, the start form, a manifest
    SUGGESTED = "suggested"    # a try's suggested centre, taken by a person as it was (--from-try)
    AUTOMATIC = "automatic"    # tomocupy's automatic search
    EXPERIMENT = "experiment"  # the experiment file's rotation-axis, the same for every scan
    MIDDLE = "middle"          # the middle of the detector (tomocupy's default)

    @property
    def by_a_person(self) -> bool:
        """A person decided it for this scan: a reprocessing run keeps it."""
        return self in (AxisDecision.CHOSEN, AxisDecision.GIVEN, AxisDecision.SUGGESTED)

    def words(self, *, where: str = "on the command line", try_run: str | None = None) -> str:
        """In words, for the run summary: ``where`` a given axis was typed, ``try_run`` the try
        a centre was chosen from (without one, a chosen centre was chosen during the run)."""
        if self in (AxisDecision.CHOSEN, AxisDecision.SUGGESTED) and try_run:
            return f"chosen from try run {try_run}"
        return _WORDS[self].format(where=where)


_WORDS = {
    AxisDecision.CHOSEN: "chosen during the run (interactive)",
    AxisDecision.SUGGESTED: "the try's suggested centre",
    AxisDecision.GIVEN: "given {where} (automatic search off)",
    AxisDecision.AUTOMATIC: "tomocupy's automatic search (rotation-axis-auto = auto)",
    AxisDecision.EXPERIMENT: "the experiment file's rotation-axis",
    AxisDecision.MIDDLE: "the middle of the projections (tomocupy's default)",
}


def give_axis(params: MutableMapping[str, Any], axis: Any) -> MutableMapping[str, Any]:
    """Set ``params``' rotation axis to ``axis`` as a given one (in place, and returned): an
    axis given means tomocupy's automatic search is off (``rotation-axis-auto = manual``)."""
    params["rotation-axis"] = axis
    params["rotation-axis-auto"] = MANUAL
    return params


def searches(params: Mapping[str, Any]) -> bool:
    """Whether tomocupy searches for the axis with these parameters (``rotation-axis-auto = auto``)."""
    return str(params.get("rotation-axis-auto") or MANUAL) == AUTO


def reports_search(source: str | None) -> bool:
    """Whether the reconstruction step reported (``rotation_axis_source``) that tomocupy
    searched for the axis."""
    return bool(source) and str(source).startswith(SEARCH_REPORT)


def decision_of(block: Any) -> AxisDecision | None:
    """The decision an ``axis`` block (``{"decided": ..., "how": ...}``) names, or None."""
    if not isinstance(block, Mapping):
        return None
    try:
        return AxisDecision(block.get("decided"))
    except ValueError:
        return None


def axis_block(decided: AxisDecision, how: str, *, keep_decided: bool = False) -> dict[str, Any]:
    """The flow input's ``tomocupy.axis``: how this run's axis was decided (``how``: in words)
    and whether a person's axis of the reconstruction it replaces is kept instead."""
    block: dict[str, Any] = {"decided": decided.value, "how": how}
    if keep_decided:
        block["keep_decided"] = True
    return block


def describe(block: Any) -> str:
    """An axis block in words: ``chosen (chosen from try run X), reused from run Y``."""
    decided = decision_of(block)
    if decided is None:
        return ""
    words = decided.value + (f" ({block['how']})" if block.get("how") else "")
    if block.get("reused_from"):
        words += f", kept from run {block['reused_from']} (the reconstruction this run replaced)"
    return words
