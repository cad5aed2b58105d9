"""Finding published reconstructions: the local index or Globus Search, the same records out."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from tomocupy_gladier.compute.axis import describe
from tomocupy_gladier.errors import UserError

PREVIEW_SUFFIXES = (".png",)
#: the key of a record's ``tomography`` block listing what pruning removed since publication
RETENTION_FIELD = "retention"


@dataclass(frozen=True)
class SearchFilters:
    """Filters on sample name, acquisition (or creation) date and X-ray energy."""

    sample: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    energy_kev: float | None = None
    energy_tolerance: float = 0.5

    def globus_filters(self) -> list[dict[str, Any]]:
        """The same filters in Globus Search's query language."""
        filters: list[dict[str, Any]] = []
        if self.sample:
            filters.append({"type": "match_any", "field_name": "tomography.acquisition.sample",
                            "values": [self.sample]})
        if self.energy_kev is not None:
            filters.append({"type": "range", "field_name": "tomography.acquisition.energy_kev",
                            "values": [{"from": self.energy_kev - self.energy_tolerance,
                                        "to": self.energy_kev + self.energy_tolerance}]})
        return filters

    def accepts(self, record: "Record") -> bool:
        if self.sample and (record.sample or "").lower() != self.sample.lower():
            return False
        if self.energy_kev is not None and (
                record.energy_kev is None or abs(record.energy_kev - self.energy_kev) > self.energy_tolerance):
            return False
        if self.since is None and self.until is None:
            return True
        day = record.day
        if day is None:
            return False
        return (self.since is None or day >= self.since) and (self.until is None or day <= self.until)


@dataclass(frozen=True)
class Record:
    """The key metadata of one published reconstruction."""

    subject: str
    title: str | None
    scan: str | None
    sample: str | None
    energy_kev: float | None
    date: str | None
    kind: str | None
    rotation_axis: float | None
    suggested_center: float | None
    files: int
    bytes: int
    previews: tuple[str, ...] = field(default_factory=tuple)
    axis_decided: str = ""             # how the axis was decided, in words (compute.axis.describe)
    replaced: tuple[str, ...] = ()     # the runs whose reconstructions this one superseded, newest first
    formats: tuple[str, ...] = field(default_factory=tuple)  # the volume's published forms: tiff, zarr, h5
    # what pruning removed since it was published, in words: "tries /raw_rec/... (tries = \"7d\", 2026-...)"
    removed: tuple[str, ...] = ()

    @property
    def day(self) -> dt.date | None:
        if not self.date:
            return None
        try:
            return dt.date.fromisoformat(self.date[:10])
        except ValueError:
            return None

    def as_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def record_from_content(subject: str, content: Mapping[str, Any]) -> Record:
    """A :class:`Record` from a search entry's content (``dc`` + our ``tomography``, whose
    ``files`` block gives the counts, the manifest and the previews' addresses)."""
    dc = content.get("dc") or {}
    tomo = content.get("tomography") or {}
    acquisition = tomo.get("acquisition") or {}
    reconstruction = tomo.get("reconstruction") or {}
    files = [f for f in content.get("files") or [] if isinstance(f, Mapping)]
    dates = {d.get("dateType"): d.get("date") for d in dc.get("dates", []) if isinstance(d, Mapping)}
    titles = [t.get("title") for t in dc.get("titles", []) if isinstance(t, Mapping)]
    listed_files = tomo.get("files")
    listed = listed_files if isinstance(listed_files, Mapping) else {}
    previews = tuple(str(f.get("url")) for f in files
                     if str(f.get("filename", "")).lower().endswith(PREVIEW_SUFFIXES))
    previews = previews or tuple(str(url) for url in listed.get("previews") or [])
    return Record(
        subject=subject,
        title=titles[0] if titles else None,
        scan=tomo.get("scan"),
        sample=acquisition.get("sample"),
        energy_kev=acquisition.get("energy_kev"),
        date=acquisition.get("start_time") or dates.get("Collected") or dates.get("Created"),
        kind=reconstruction.get("type"),
        rotation_axis=reconstruction.get("rotation_axis"),
        suggested_center=(tomo.get("previews") or {}).get("suggested_center"),
        # the published manifest's counts; records of Publishv2's per-file lists still read
        files=int(listed.get("count") or len(files)),
        bytes=int(listed.get("bytes") or sum(int(f.get("length") or 0) for f in files)),
        previews=previews,
        axis_decided=describe(reconstruction.get("axis_decided")),
        replaced=tuple(str(h.get("run_id")) for h in tomo.get("history") or []
                       if isinstance(h, Mapping) and h.get("run_id")),
        formats=tuple(str(f) for f in listed.get("formats") or []),
        removed=tuple(f"{r.get('what')} {r.get('path')} ({r.get('rule')}, {str(r.get('when') or '')[:10]})"
                      for r in tomo.get(RETENTION_FIELD) or [] if isinstance(r, Mapping)),
    )


def _matching(entries: Iterable[tuple[str, Mapping[str, Any]]], filters: SearchFilters) -> list[Record]:
    records = (record_from_content(subject, content) for subject, content in entries)
    return [r for r in records if filters.accepts(r)]


def search_local(state_dir: str | Path, query: str, filters: SearchFilters = SearchFilters(), *,
                 index: str | None = None, limit: int = 50) -> list[Record]:
    """Search the local backend's index (``<state_dir>/search.db``)."""
    from tomocupy_gladier.local.providers.search import SearchIndex

    path = Path(state_dir) / "search.db"
    if not path.exists():
        raise UserError(f"no local index at {path}: nothing has been published with this experiment yet")
    search_index = SearchIndex(path)
    try:
        entries = search_index.search(query or "*", index=index, limit=10_000)
    finally:
        search_index.close()
    return _matching(((e["subject"], e["content"]) for e in entries), filters)[:limit]


def globus_search_client(config: Any) -> Any:
    """A Globus Search client for the experiment's login (logging in for the Search scope)."""
    import globus_sdk

    from tomocupy_gladier.globus.auth import login_manager_for

    scope = str(globus_sdk.SearchClient.scopes.search)
    manager = login_manager_for(config.globus.get("client_id"))
    manager.ensure_login([scope])
    return globus_sdk.SearchClient(authorizer=manager.authorizers[scope])


def search_globus(search_client: Any, index: str, query: str, filters: SearchFilters = SearchFilters(),
                  *, limit: int = 50) -> list[Record]:
    """Search a Globus Search index with ``search_client`` (a ``globus_sdk.SearchClient``)."""
    body: dict[str, Any] = {"q": query or "*", "limit": limit, "advanced": False}
    if filters.globus_filters():
        body["filters"] = filters.globus_filters()
    response = search_client.post_search(index, body)
    entries = []
    for hit in response.get("gmeta", []):
        for entry in hit.get("entries", []):
            entries.append((hit.get("subject", ""), entry.get("content") or {}))
    return _matching(entries, filters)[:limit]
