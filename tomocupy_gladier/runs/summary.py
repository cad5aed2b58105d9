"""What a finished run made, in a few facts: the axis and how it was decided, the reconstruction
folder, the scan's quality, the reconstruction it replaced, where the result was published, what
its steps did beside it (removed after publication). One reading of a run record for ``status``,
a campaign's report and its ledger."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

from tomocupy_gladier.compute.axis import describe, decision_of
from tomocupy_gladier.runs.run_record import GATHER_STATE, RunRecord

INGEST_STATE = "Publishv2Ingest"  # Publishv2's last step (gladier-tools): the record is in the index


@dataclass(frozen=True)
class RunSummary:
    """A run's result in facts a report shows (every one may be missing: a failed run)."""

    rotation_axis: float | None = None
    axis_decided: str | None = None     # compute.axis.AxisDecision's value
    axis_how: str = ""                  # how, in words (with the run it was kept from)
    output: str | None = None
    kind: str | None = None             # try | full
    quality: str | None = None          # ok | warning
    warnings: list[str] = field(default_factory=list)
    suggested_center: float | None = None
    replaced: str | None = None         # the run whose reconstruction this one replaced
    published_to: str | None = None     # globus://<publication collection>/<path>
    index_entry: str | None = None      # the search subject, when the record was ingested
    kept_from: str | None = None        # the run whose person-decided axis this run kept
    outcomes: list[str] = field(default_factory=list)  # what the steps did beside the result (RunRecord.outcomes)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "RunSummary":
        known = {k: v for k, v in (data or {}).items() if k in cls.__dataclass_fields__}
        return cls(**known)

    @property
    def decided(self) -> str:
        """``chosen``, ``chosen, kept from run X``, ``automatic``..., for a table."""
        words = self.axis_decided or ""
        return words + (f", kept from run {self.kept_from}" if self.kept_from else "")

    def lines(self) -> list[str]:
        """The summary's lines, as ``status`` ends with them."""
        lines = []
        if self.rotation_axis is not None:
            lines.append(f"rotation axis: {self.rotation_axis:.2f} px" + (f", {self.axis_how}" if self.axis_how else ""))
        if self.output:
            lines.append(f"reconstruction: {self.output} ({self.kind or 'reconstruction'})")
        if self.suggested_center is not None:
            lines.append(f"suggested centre: {self.suggested_center:.2f}")
        if self.quality:
            lines.append(f"scan quality: {self.quality}")
        lines += [f"warning: {w}" for w in self.warnings]
        if self.replaced:
            lines.append(f"replaced: the reconstruction of run {self.replaced} (kept as history in the record)")
        if self.published_to:
            lines.append(f"published to: {self.published_to}"
                         + (" (in the search index)" if self.index_entry else " (not in the search index)"))
        return lines + list(self.outcomes)


def summarize(record: RunRecord) -> RunSummary:
    """The summary of ``record`` (either backend's run document)."""
    recon = record.recon_result
    previews = record.previews_result
    quality = recon.get("quality") or {}
    decided = recon.get("axis_decided")
    history = recon.get("history") or []
    warnings = [str(w) for w in quality.get("warnings") or []]
    if previews.get("warning"):
        warnings.append(str(previews["warning"]))
    gather = record.result(GATHER_STATE)
    published = None
    data = ((gather.get("transfer") or {}).get("DATA") or [{}])[0]
    collection = (gather.get("transfer") or {}).get("destination_endpoint")
    if collection and data.get("destination_path"):
        published = f"globus://{collection}{data['destination_path']}"
    ingest = record.state.get(INGEST_STATE)
    ingested = isinstance(ingest, Mapping) and ingest.get("status") == "SUCCEEDED"
    axis_decision = decision_of(decided)
    return RunSummary(
        rotation_axis=recon.get("rotation_axis"),
        axis_decided=axis_decision.value if axis_decision else None,
        axis_how=describe(decided) or str(recon.get("rotation_axis_source") or ""),
        kept_from=(decided or {}).get("reused_from"),
        output=recon.get("output"), kind=recon.get("kind"),
        quality=quality.get("status"), warnings=warnings,
        suggested_center=previews.get("suggested_center"),
        replaced=(history[0].get("run_id") if history and isinstance(history[0], Mapping) else None),
        published_to=published if record.succeeded else None,
        index_entry=(gather.get("search") or {}).get("subject") if ingested else None,
        outcomes=record.outcomes,
    )
