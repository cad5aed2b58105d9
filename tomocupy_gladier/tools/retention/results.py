"""What the retention step leaves in a run's state (``$.Retention``), in words for the run record,
``status``, the run page and a campaign's report: what was removed after publication and by
which rule, what a rule kept and why, and what went wrong without failing the run."""

from __future__ import annotations

from typing import Any, Mapping

from tomocupy_gladier.compute.disk_space import human
from tomocupy_gladier.tools.retention.tool import RESULT_KEY

#: each rule's data in the singular, as one run has it
THE = {"raw": "the scan's copy at the facility", "reconstruction": "the full reconstruction at the facility"}


def _step(state: Mapping[str, Any]) -> Mapping[str, Any]:
    step = state.get(RESULT_KEY)
    return step if isinstance(step, Mapping) and not step.get("skipped") else {}


def _entries(step: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    return [e for e in step.get(key) or [] if isinstance(e, Mapping)]


def _size(count: Any) -> str:
    try:
        return human(int(count))
    except (TypeError, ValueError):
        return "size unknown"


def _rule(entry: Mapping[str, Any]) -> str:
    return f'{entry.get("what")} = "{entry.get("rule")}"'


def removed(state: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The targets a run removed after its publication (``what``, ``path``, ``rule``, ``bytes``,
    ``files``); [] when it removed nothing."""
    return _entries(_step(state), "removed")


def retention_outcomes(state: Mapping[str, Any]) -> list[str]:
    """``removed after publication: <what> (<path>, <size>; <rule>)`` for each target removed,
    and ``kept after publication: <what> (<rule>): <why>`` for each rule that kept what it names
    for a reason of its own (a try, the beamline's original)."""
    step = _step(state)
    lines = [f"removed after publication: {THE.get(str(e.get('what')), '?')} "
             f"({e.get('path')}, {_size(e.get('bytes'))}; {_rule(e)})" for e in _entries(step, "removed")]
    lines += [f"kept after publication: {THE.get(str(e.get('what')), '?')} ({_rule(e)}): {e.get('reason')}"
              for e in _entries(step, "kept") if e.get("reason") != step.get("unverified")]
    return lines


def retention_warnings(state: Mapping[str, Any]) -> list[str]:
    """What an ``after-publish`` rule could not do: the publication was not verified (nothing
    removed, and why), the delete failed, or the decision could not be made."""
    step = _step(state)
    warnings = []
    if step.get("unverified"):
        kept = ", ".join(_rule(e) for e in _entries(step, "kept") if e.get("reason") == step["unverified"])
        warnings.append(f"nothing removed after publication ({kept}): {step['unverified']}")
    if step.get("warning"):
        reason = ": ".join(str(p) for p in (step.get("error"), step.get("cause")) if p)
        left = ", ".join(f"{e.get('path')} ({_rule(e)})" for e in _entries(step, "not_removed"))
        warnings.append(str(step["warning"]) + (f"; its targets: {left}" if left else "")
                        + (f" ({reason})" if reason else ""))
    return warnings
