"""What the pages show: runs (local store or Globus Flows), one run, campaigns, search records.

Every run document is read through :class:`RunRecord`; nothing here knows about HTML.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Mapping, Sequence
from urllib.parse import quote

from tomocupy_gladier.backends import GLOBUS, GLOBUS_RUN_PAGE, LOCAL, choose
from tomocupy_gladier.tools.publish.config import publish_config
from tomocupy_gladier.runs.catalog import Record, SearchFilters, search_local
from tomocupy_gladier.errors import UserError
from tomocupy_gladier.runs.run_record import PREVIEWS_STATE, RECON_STATE, RunRecord, logged_result
from tomocupy_gladier.runs.step_results import worker_line
from tomocupy_gladier.compute.axis import describe as describe_axis
from tomocupy_gladier.tools.choice.tool import TRY_PREVIEWS_STATE, TRY_RECON_STATE

GLOBUS_FILES_URL = "https://app.globus.org/file-manager?origin_id={collection}&origin_path={path}"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
ZARR_SUFFIX = ".zarr"
LOG_TAIL_BYTES = 16_384
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


# ---------------------------------------------------------------------------------- runs

@dataclass(frozen=True)
class RunRow:
    """One line of the runs page."""

    run_id: str
    status: str
    label: str
    started: str
    completed: str
    seconds: float | None
    step: str            # the state an unfinished run is in, or its last log code
    failure: str | None
    external_url: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class RunsPage:
    rows: list[RunRow]
    page: int
    per_page: int
    total: int | None                  # None when the service does not say (Globus)
    next_marker: str | None = None     # Globus pagination

    @property
    def pages(self) -> int | None:
        return None if self.total is None else max(1, math.ceil(self.total / self.per_page))

    @property
    def has_next(self) -> bool:
        if self.total is None:
            return self.next_marker is not None
        return self.page < (self.pages or 1)


def _seconds(start: str | None, end: str | None) -> float | None:
    try:
        begin = dt.datetime.fromisoformat(str(start))
        finish = dt.datetime.fromisoformat(str(end)) if end else dt.datetime.now(begin.tzinfo)
    except ValueError:
        return None
    return max(0.0, (finish - begin).total_seconds())


def run_row(raw: Mapping[str, Any], external_url: str | None = None) -> RunRow:
    record = RunRecord(raw)
    details = raw.get("details") or {}
    step = record.failed_state or details.get("state_name") or details.get("code") or ""
    return RunRow(
        run_id=record.run_id, status=record.status, label=str(raw.get("label") or ""),
        started=str(raw.get("start_time") or "")[:19], completed=str(raw.get("completion_time") or "")[:19],
        seconds=_seconds(raw.get("start_time"), raw.get("completion_time")),
        step=str(step), failure=record.failure, external_url=external_url,
    )


@dataclass(frozen=True)
class Preview:
    name: str            # relative to the previews folder (the image route's argument)
    label: str
    montage: bool = False


@dataclass(frozen=True)
class ChoiceOption:
    """One centre offered to the scientist, and where its crop sits on the try's montage
    (percentages of the montage's width and height; None when the montage has no crop of it)."""

    name: str
    url_suffix: str
    center: float | None
    description: str = ""
    box: tuple[float, float, float, float] | None = None


@dataclass(frozen=True)
class ChoiceView:
    """An interactive run's choice of the centre: waiting for it, or made."""

    status: str                        # WAITING, SELECTED, EXPIRED or CLOSED
    options: list[ChoiceOption]
    montage: str | None = None         # the montage, relative to the try's previews folder
    chosen: str | None = None          # the chosen option's name
    chosen_by: str | None = None

    @property
    def waiting(self) -> bool:
        return self.status == "WAITING"

    @property
    def tiles(self) -> list[ChoiceOption]:
        return [o for o in self.options if o.box is not None]


@dataclass(frozen=True)
class RunView:
    """One run's page."""

    row: RunRow
    record: RunRecord
    states: list[dict[str, Any]]
    previews: list[Preview]
    log_file: str | None
    log_tail: str | None
    facts: list[tuple[str, str]] = field(default_factory=list)
    choice: ChoiceView | None = None
    quality: QualityView | None = None
    volumes: list[str] = field(default_factory=list)  # the OME-Zarr folders of the reconstruction
    superseded_by: str | None = None   # the later run whose reconstruction replaced this run's


@dataclass(frozen=True)
class QualityView:
    """The scan's quality gates as the reconstruction step measured them (its ``quality``)."""

    status: str                        # ok | warning
    warnings: list[str]
    figures: list[tuple[str, str]]     # (group, "name value, ...") of the measured figures


def step_facts(record: RunRecord) -> list[tuple[str, str]]:
    """What the steps left in the run's state, as the page's facts: each warning, and each
    outcome (``removed after publication: <what>`` as that name and its value)."""
    facts = [("warning", warning) for warning in record.warnings]
    for line in record.outcomes:
        name, _, value = line.partition(": ")
        facts.append((name, value))
    return facts


def quality_view(recon: Mapping[str, Any]) -> QualityView | None:
    """The run page's view of the reconstruction step's ``quality`` block; None without one."""
    quality = recon.get("quality")
    if not isinstance(quality, Mapping):
        return None
    figures = [(str(group), ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in values.items()))
               for group, values in (quality.get("figures") or {}).items() if isinstance(values, Mapping)]
    return QualityView(str(quality.get("status", "ok")), [str(w) for w in quality.get("warnings") or []],
                       figures)


class RunsSource:
    """Where runs come from: :class:`LocalRuns` or :class:`GlobusRuns`."""

    backend = ""

    def page(self, page: int = 1, per_page: int = 50, marker: str | None = None) -> RunsPage:
        raise NotImplementedError

    def run(self, run_id: str) -> RunView:
        raise NotImplementedError

    def previews_folder(self, run_id: str) -> Path | None:
        """The folder the run's preview images may be sent from (None: no images)."""
        return None

    def try_previews_folder(self, run_id: str) -> Path | None:
        """The folder of an interactive run's try previews (the montage to choose from)."""
        return None

    def volumes_folder(self, run_id: str) -> Path | None:
        """The folder whose ``*.zarr`` volumes of the run may be sent (None: no volumes)."""
        return None

    def choose(self, run_id: str, url_suffix: str, chosen_by: str) -> str:
        """Answer the choice the run waits for; returns the chosen option's name."""
        raise KeyError(run_id)

    def run_status(self, run_id: str) -> dict[str, Any]:
        """The small JSON the run page polls."""
        view = self.run(run_id)
        return {"run_id": run_id, "status": view.row.status, "step": view.row.step,
                "failure": view.row.failure, "final": view.record.is_final}


class LocalRuns(RunsSource):
    """Runs of the local backend's store (``runs.db``)."""

    backend = LOCAL.name

    def __init__(self, store: Any) -> None:
        self.store = store

    def page(self, page: int = 1, per_page: int = 50, marker: str | None = None) -> RunsPage:
        page = max(1, page)
        rows = self.store.list_runs(limit=per_page, offset=(page - 1) * per_page, brief=True)
        return RunsPage([run_row(r) for r in rows], page, per_page, self.store.count_runs())

    def _record(self, run_id: str) -> RunRecord:
        from tomocupy_gladier.local.errors import UnknownRunError

        try:
            return RunRecord(self.store.get_run(run_id))
        except UnknownRunError:
            raise KeyError(run_id) from None

    def _flow_input(self, record: RunRecord) -> Mapping[str, Any]:
        # a finished run carries its input in its state; an unfinished one only in the store
        return record.flow_input or (self.store.get_run_input(record.run_id).get("input") or {})

    def _folders(self, record: RunRecord) -> tuple[Path | None, Path | None]:
        """The run's reconstruction output and logs folders, as its input recorded them."""
        tomocupy = self._flow_input(record).get("tomocupy") or {}
        output, logs = tomocupy.get("output"), tomocupy.get("logs")
        if not output:
            # a run from a start form leaves the folder to the reconstruction step (tomocupy's
            # own for the scan, logs beside it): the step's result names it
            output = record.result(RECON_STATE).get("output")
            logs = logs or (f"{output}.logs" if output else None)
        return (Path(output) if output else None, Path(logs) if logs else None)

    def _superseded_by(self, record: RunRecord, state: str = RECON_STATE,
                       output: Path | None = None) -> str | None:
        """The run whose reconstruction now holds the folder this run's step ``state`` wrote
        (its ``manifest.json`` names it), when that is another run; None otherwise."""
        result = record.result(state)
        folder = output or (Path(result["output"]) if result.get("output") else None)
        if not result or folder is None:
            return None
        try:
            made_by = json.loads((folder / "manifest.json").read_text()).get("run_id")
        except (OSError, ValueError, AttributeError):
            return None
        return str(made_by) if made_by and made_by != record.run_id else None

    def _own_images(self, result: Mapping[str, Any], inside: Path | None, logs: Path | None,
                    superseded: bool) -> Path | None:
        """Where a previews step's images of this run are served from: its folder inside the
        reconstruction (``inside``), or, once a later run replaced that or the run removed it after
        publication, the copy it kept beside its log (inside ``logs``); None when neither is the
        run's own."""
        if superseded or (inside is not None and not inside.exists()):
            # replaced by a later run, or removed after publication ([retention])
            kept = result.get("kept")
            if not kept or logs is None:
                return None
            kept_path = Path(kept).resolve()
            return kept_path if kept_path.is_relative_to(logs.resolve()) and kept_path.is_dir() else None
        folder = result.get("folder")
        if not folder or inside is None:
            return None
        folder_path = Path(folder).resolve()
        # only a folder inside the reconstruction the run was given
        return folder_path if folder_path.is_relative_to(inside.resolve()) else None

    def _previews_folder(self, record: RunRecord) -> Path | None:
        output, logs = self._folders(record)
        return self._own_images(record.result(PREVIEWS_STATE), output, logs,
                                self._superseded_by(record, output=output) is not None)

    def previews_folder(self, run_id: str) -> Path | None:
        return self._previews_folder(self._record(run_id))

    def _volumes_folder(self, record: RunRecord) -> Path | None:
        """The reconstruction folder of a run whose reconstruction step finished and whose
        reconstruction is still there (a run that stopped before, or whose folder a later run
        replaced, shows no volume: it would be another run's)."""
        output, _ = self._folders(record)
        if not record.result(RECON_STATE) or not output or not output.is_dir():
            return None
        if self._superseded_by(record, output=output) is not None:
            return None
        return output.resolve()

    def volumes_folder(self, run_id: str) -> Path | None:
        return self._volumes_folder(self._record(run_id))

    def _try_previews(self, record: RunRecord) -> tuple[Path | None, dict[str, Any]]:
        """An interactive run's try previews folder (inside the try's folder its input names,
        or the copy kept beside its log once a later try replaced that folder) and the previews
        step's result, from the run state or, while it runs, from its log."""
        result = record.result(TRY_PREVIEWS_STATE) or logged_result(self.store.get_log(record.run_id),
                                                                    TRY_PREVIEWS_STATE)
        tried = (self._flow_input(record).get("interactive") or {}).get("try_tomocupy", {})
        try_output, try_logs = tried.get("output"), tried.get("logs")
        superseded = try_output is not None and self._superseded_by(
            record, TRY_RECON_STATE, Path(try_output)) is not None
        return self._own_images(result, Path(try_output) if try_output else None,
                                Path(try_logs) if try_logs else None, superseded), result

    def try_previews_folder(self, run_id: str) -> Path | None:
        return self._try_previews(self._record(run_id))[0]

    def _choice(self, record: RunRecord) -> ChoiceView | None:
        selection = self.store.run_selection(record.run_id)
        if selection is None:
            return None
        from tomocupy_gladier.runs.choice import option_centre
        from tomocupy_gladier.tools.choice.tool import CHOICE_OPTIONS_STATE

        made = record.result(CHOICE_OPTIONS_STATE) or logged_result(self.store.get_log(record.run_id),
                                                                     CHOICE_OPTIONS_STATE)
        centers = dict(made.get("centers") or {})
        folder, result = self._try_previews(record)
        montage = result.get("montage") or {}
        size = montage.get("size") or [0, 0]
        boxes = {}
        for tile in montage.get("tiles") or []:
            if tile.get("box") and size[0] and size[1]:
                x, y, w, h = tile["box"]
                boxes[round(float(tile["center"]), 2)] = (100 * x / size[0], 100 * y / size[1],
                                                          100 * w / size[0], 100 * h / size[1])
        options = []
        for option in selection["options"]:
            center = option_centre(option["name"], centers)
            box = boxes.get(round(center, 2)) if center is not None else None
            options.append(ChoiceOption(option["name"], option["url_suffix"], center,
                                        option.get("description", ""), box))
        name = None
        if folder is not None and montage.get("file") and result.get("folder"):
            path = Path(montage["file"]).resolve()
            base = Path(result["folder"]).resolve()  # the names are those in the step's folder
            if path.is_relative_to(base) and (folder / path.relative_to(base)).is_file():
                name = path.relative_to(base).as_posix()
        chosen = (selection.get("chosen") or {}).get("name")
        return ChoiceView(selection["status"], options, name, chosen, selection.get("chosen_by"))

    def choose(self, run_id: str, url_suffix: str, chosen_by: str) -> str:
        self._record(run_id)  # KeyError for an unknown run
        return self.store.select(run_id, url_suffix, chosen_by=chosen_by)["chosen"]["name"]

    def run_status(self, run_id: str) -> dict[str, Any]:
        row = run_row(self._record(run_id).raw)
        return {"run_id": run_id, "status": row.status, "step": row.step, "failure": row.failure,
                "final": RunRecord({"status": row.status}).is_final}

    def run(self, run_id: str) -> RunView:
        record = self._record(run_id)
        states = self.store.state_durations(run_id)
        previews = self._previews(record)
        log_file = self._log_file(record)
        recon = record.result(RECON_STATE)
        shown = record.result(PREVIEWS_STATE)
        facts = [(name, str(value)) for name, value in (
            ("reconstruction", recon.get("output")),
            ("rotation axis", recon.get("rotation_axis")),
            ("axis decided", describe_axis(recon.get("axis_decided"))),
            ("suggested centre", shown.get("suggested_center")),
            ("engine", " ".join(str(p) for p in (recon.get("tool"), recon.get("tool_version")) if p)),
            ("worker", worker_line(recon.get("worker"))),
            ("files", recon.get("file_count")),
            # a suggestion at the edge of the search (the try's own, or an interactive run's try)
            ("warning", shown.get("warning") or record.result(TRY_PREVIEWS_STATE).get("warning")),
        ) if value not in (None, "")] + step_facts(record)
        superseded = self._superseded_by(record, output=self._folders(record)[0])
        return RunView(run_row(record.raw), record, states, previews, str(log_file) if log_file else None,
                       log_tail(log_file) if log_file else None, facts, self._choice(record),
                       quality_view(recon), zarr_volumes(self._volumes_folder(record)), superseded)

    def _previews(self, record: RunRecord) -> list[Preview]:
        """The run's own preview images, by their names in the previews step's folder; only
        those that are there to be sent (never another run's, never a broken link)."""
        folder = self._previews_folder(record)
        result = record.result(PREVIEWS_STATE)
        if folder is None or not result.get("folder"):
            return []
        base = Path(result["folder"]).resolve()
        montage = (result.get("montage") or {}).get("file")
        found: list[Preview] = []
        for file in result.get("previews") or []:
            path = Path(file).resolve()
            if not path.is_relative_to(base) or path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            name = path.relative_to(base).as_posix()
            if (folder / name).is_file():
                found.append(Preview(name, path.stem.replace("_", " "), montage is not None and file == montage))
        return sorted(found, key=lambda p: not p.montage)

    def _log_file(self, record: RunRecord) -> Path | None:
        """The run's reconstruction log: ``<logs>/<run_id>.log`` of the folder its input names."""
        _, logs = self._folders(record)
        if logs is None:
            return None
        path = logs / f"{record.run_id}.log"
        return path if path.is_file() else None


def zarr_volumes(folder: Path | None) -> list[str]:
    """The names of the ``*.zarr`` folders directly in ``folder`` (a reconstruction), links out refused."""
    if folder is None or not folder.is_dir():
        return []
    base = folder.resolve()
    return sorted(p.name for p in base.glob(f"*{ZARR_SUFFIX}")
                  if p.is_dir() and p.resolve().parent == base)


def log_tail(path: Path, max_bytes: int = LOG_TAIL_BYTES) -> str:
    """The last ``max_bytes`` of a log, colour codes removed, from a line start."""
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - max_bytes))
        text = fh.read().decode(errors="replace")
    if size > max_bytes and "\n" in text:
        text = text.split("\n", 1)[1]
    return _ANSI.sub("", text)


class GlobusRuns(RunsSource):
    """Runs of the experiment's flows on Globus Flows (``FlowsClient.list_runs``, one list for
    every deployed flow: transfer-and-reconstruct, reconstruct, interactive), linked to the web
    app. ``flow_id``: one flow id or several."""

    backend = GLOBUS.name

    def __init__(self, flows_client: Any, flow_id: str | list[str]) -> None:
        self.client = flows_client
        self.flow_ids = [flow_id] if isinstance(flow_id, str) else list(flow_id)

    def page(self, page: int = 1, per_page: int = 50, marker: str | None = None) -> RunsPage:
        params = {"per_page": per_page, "orderby": "start_time DESC"}
        kwargs: dict[str, Any] = {"filter_flow_id": self.flow_ids, "query_params": params}
        if marker:
            kwargs["marker"] = marker
        response = self.client.list_runs(**kwargs)
        rows = [run_row(r, f"{GLOBUS_RUN_PAGE}{r.get('run_id')}") for r in response.get("runs", [])]
        next_marker = response.get("marker") if response.get("has_next_page") else None
        return RunsPage(rows, max(1, page), per_page, None, next_marker)

    def run(self, run_id: str) -> RunView:
        import globus_sdk

        try:
            raw = self.client.get_run(run_id).data
        except globus_sdk.GlobusAPIError as exc:
            if exc.http_status == 404:
                raise KeyError(run_id) from None
            raise
        row = run_row(raw, GLOBUS_RUN_PAGE + run_id)
        record = RunRecord(raw)
        return RunView(row, record, [], [], None, None, step_facts(record), quality=quality_view(record.recon_result))


# ---------------------------------------------------------------------------------- campaigns

@dataclass(frozen=True)
class CampaignSummary:
    name: str
    counts: dict[str, int]
    total: int
    done: int                 # finished one way or another
    flow: str | None
    failures: list[dict[str, Any]] = field(default_factory=list)
    jobs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def percent(self) -> float:
        return 100.0 * self.done / self.total if self.total else 0.0


def campaign_names(folder: Path | None) -> list[str]:
    if folder is None or not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.sqlite"))


def campaign_summary(folder: Path, name: str, *, with_jobs: bool = False,
                     run_url: Callable[[str], str] | None = None) -> CampaignSummary:
    """Progress, failures (and jobs) of the campaign ``name`` whose ledger is in ``folder``."""
    from tomocupy_gladier.campaign.ledger import CANCELLED, FAILED, SUCCEEDED, Ledger
    from tomocupy_gladier.campaign.wiring import check_name, ledger_path

    try:
        path = ledger_path(folder, check_name(name))
    except UserError:
        raise KeyError(name) from None
    if not path.is_file():
        raise KeyError(name)
    with Ledger(path, synchronous="NORMAL") as ledger:
        counts = ledger.counts()
        meta = ledger.meta()
        failed = ledger.jobs([FAILED])
        jobs = ledger.jobs() if with_jobs else []

    def job(j: Any) -> dict[str, Any]:
        return {"key": j.key, "dataset": j.dataset, "param_set": j.param_set, "state": j.state,
                "run_id": j.run_id, "attempts": j.attempts, "error": j.error}

    return CampaignSummary(
        name=str(meta.get("name") or name), counts=counts, total=sum(counts.values()),
        done=counts[SUCCEEDED] + counts[FAILED] + counts[CANCELLED], flow=meta.get("flow"),
        failures=[job(j) for j in failed], jobs=[job(j) for j in jobs],
    )


# ---------------------------------------------------------------------------------- search

@dataclass(frozen=True)
class RecordView:
    record: Record
    images: list[str]     # addresses the page can show (this server's, or none)
    links: list[str]      # where the previews are (Globus web app), when they cannot be shown


class Catalogue:
    """Search over published records; preview images are served only from the publication
    collection's local folder (local backend) and linked to the Globus web app otherwise."""

    def __init__(self, search: Callable[[str, SearchFilters], list[Record]],
                 published: Mapping[str, tuple[str, Path]] | None = None) -> None:
        self._search = search
        # collection -> (the publication path on it, that path's local folder)
        self.published = {k: (PurePosixPath("/", v[0]), Path(v[1])) for k, v in (published or {}).items()}

    def image_folder(self, collection: str) -> Path | None:
        """The local folder published images of ``collection`` are sent from (None: none)."""
        found = self.published.get(collection)
        return found[1] if found else None

    @classmethod
    def local(cls, state_dir: Path, index: str | None,
              published: Mapping[str, tuple[str, Path]]) -> "Catalogue":
        def search(query: str, filters: SearchFilters) -> list[Record]:
            if not (Path(state_dir) / "search.db").exists():
                return []
            return search_local(state_dir, query, filters, index=index, limit=50)

        return cls(search, published)

    def search(self, query: str, filters: SearchFilters,
               image_url: Callable[[str, str], str]) -> list[RecordView]:
        views = []
        for record in self._search(query or "*", filters):
            images, links = [], []
            for address in record.previews:
                collection, path = split_globus_url(address)
                if collection is None:
                    if address.startswith("https://"):
                        images.append(address)
                    continue
                known = self.published.get(collection)
                inside = known is not None and PurePosixPath(path).is_relative_to(known[0])
                if known is not None and inside:
                    images.append(image_url(collection, PurePosixPath(path).relative_to(known[0]).as_posix()))
                else:
                    links.append(GLOBUS_FILES_URL.format(collection=collection,
                                                         path=quote(str(PurePosixPath(path).parent) + "/")))
            images.sort(key=lambda address: "montage" not in address)  # a try's overview first
            views.append(RecordView(record, images, sorted(set(links))))
        return views


def split_globus_url(address: str) -> tuple[str | None, str]:
    """``globus://<collection>/<path>`` -> (collection, /path); (None, address) otherwise."""
    if not address.startswith("globus://"):
        return None, address
    rest = address[len("globus://"):]
    collection, _, path = rest.partition("/")
    return collection, "/" + path


def parse_filters(args: Mapping[str, str]) -> SearchFilters:
    """Search filters from the search form (bad values are ignored, not errors)."""
    def date(name: str) -> dt.date | None:
        try:
            return dt.date.fromisoformat(args.get(name) or "")
        except ValueError:
            return None

    try:
        energy = float(args["energy"]) if args.get("energy") else None
    except ValueError:
        energy = None
    return SearchFilters(sample=args.get("sample") or None, since=date("since"), until=date("until"),
                         energy_kev=energy)


def published_folders(config: Any) -> dict[str, tuple[str, Path]]:
    """Publication collection -> (publication path, its local folder); local backend only."""
    publish = publish_config(config)
    if publish is None:
        return {}
    root = config.collection_folder(publish.collection, choose(config))
    if root is None:
        return {}
    return {publish.collection: (publish.path, root / publish.path.lstrip("/"))}


def status_colour(status: str) -> str:
    return {"SUCCEEDED": "ok", "FAILED": "bad", "ACTIVE": "live", "INACTIVE": "wait",
            "ENDED": "bad", "CANCELLED": "off"}.get(status, "off")


__all__: Sequence[str] = ("LocalRuns", "GlobusRuns", "RunsPage", "RunRow", "RunView", "Catalogue",
                          "campaign_summary", "campaign_names", "status_colour")
