"""Pruning: what the experiment's age rules (``[retention]``) allow to be removed, and removing it.

What may go is chosen from the run records, never by file pattern: each run of the
experiment says which folders it made or used (the scan's copy at the facility, its try or
full reconstruction there, what it published and under which search subject), and when it
ended (:func:`holdings`). A folder that several runs made or used counts from the newest of
them. Never chosen:

- anything a run that has not ended makes or uses (a run waiting for its centre, say);
- the scan's copy at the facility of a scan a campaign still has open jobs for;
- the beamline's original scan: only copies a flow made are ``raw``;
- a full reconstruction that its newest run did not publish (the rule is for published ones);
- published data but by the ``published`` rule;
- what an earlier prune or a run's own retention step already removed.

Every removal is recorded before it starts (:mod:`.deletions`); the published record of the
run it belongs to gets the removal too. On the local backend folders are removed here (one
file at a time, as Transfer's delete does); on Globus each collection's targets go to one
Transfer delete task, and ``--dry-run`` shows the requests it would send.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from tomocupy_gladier.campaign.deletions import DELETED, DELETING, SUBMITTED, Deletion, Deletions, deletions_path
from tomocupy_gladier.campaign.ledger import OPEN_STATES, open_ledger
from tomocupy_gladier.campaign.wiring import default_campaigns_dir
from tomocupy_gladier.compute.rules import is_try
from tomocupy_gladier.errors import UserError
from tomocupy_gladier.experiment.config import ExperimentConfig
from tomocupy_gladier.runs.catalog import RETENTION_FIELD
from tomocupy_gladier.local.timestamps import parse_timestamp
from tomocupy_gladier.runs.run_record import GATHER_STATE, RunRecord
from tomocupy_gladier.tools.publish.tool import PUBLISH_TRANSFER_STATE
from tomocupy_gladier.tools.retention.config import KINDS, RetentionRules
from tomocupy_gladier.tools.retention.results import removed as removed_after_publication



@dataclass(frozen=True)
class Holding:
    """One folder (or the scan's copy) a rule names: ``kind`` (raw, reconstruction, tries,
    published), where it is (``collection``, Globus ``path``), the runs that made or used it
    (newest first), when the newest of them ended, those that have not ended, whether the
    newest full reconstruction there was published, and what is known of its size."""

    kind: str
    collection: str
    path: str
    runs: tuple[str, ...]
    last_used: dt.datetime
    running: tuple[str, ...] = ()
    published: bool = False
    bytes: int | None = None
    subject: str | None = None
    index: str | None = None
    scan: str | None = None
    visible_to: tuple[str, ...] = ()  # who may see its published record (the run's [publish] visible_to)


@dataclass(frozen=True)
class Choice:
    """A holding and what the rules say of it: ``remove`` (and by which ``rule``) or kept
    with a ``reason``."""

    holding: Holding
    rule: str
    remove: bool
    reason: str
    age: dt.timedelta
    folder: Path | None = None   # the local folder, on the local backend

    @property
    def size(self) -> int | None:
        return self.holding.bytes


@dataclass
class PrunePlan:
    """What a prune would do: ``resume`` (removals a killed prune began), ``choices`` (every
    holding with the rules' verdict), at ``now``."""

    rules: RetentionRules
    now: dt.datetime
    resume: list[Deletion] = field(default_factory=list)
    choices: list[Choice] = field(default_factory=list)

    @property
    def removals(self) -> list[Choice]:
        return [c for c in self.choices if c.remove]

    def freed(self) -> dict[str, int]:
        """Bytes the removals would free, by kind (what is known of them)."""
        totals: dict[str, int] = defaultdict(int)
        for choice in self.removals:
            totals[choice.holding.kind] += choice.size or 0
        return dict(totals)


def _time(text: Any) -> dt.datetime | None:
    try:
        return parse_timestamp(text)
    except (TypeError, ValueError):
        return None


def folder_bytes(folder: Path) -> int:
    """The bytes of a file, or of every file under a folder (links counted, never followed)."""
    if folder.is_file():
        return folder.stat().st_size
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += (Path(root) / name).lstat().st_size
            except OSError:
                pass
    return total


def _globus_path(config: ExperimentConfig, posix: str) -> str | None:
    try:
        return str(config.facility.to_globus(posix))
    except UserError:
        return None


def _published_transfer(record: RunRecord) -> tuple[str, list[str], str | None, str | None]:
    """(destination collection, destination paths, search subject, index) of what the run
    published, when its publication transfer succeeded; ("", [], None, None) otherwise."""
    state = record.state.get(PUBLISH_TRANSFER_STATE) or {}
    if (state.get("details") or {}).get("status") != "SUCCEEDED" and state.get("status") != "SUCCEEDED":
        return "", [], None, None
    gathered = record.result(GATHER_STATE)
    transfer = gathered.get("transfer") or {}
    destination = str(transfer.get("destination_endpoint") or "")
    paths = [str(item.get("destination_path")) for item in transfer.get("DATA") or []
             if isinstance(item, Mapping) and item.get("destination_path")]
    subject = None
    for identifier in ((gathered.get("search") or {}).get("content") or {}).get("dc", {}).get("identifiers") or []:
        if isinstance(identifier, Mapping) and identifier.get("identifierType") == "GlobusSearchSubject":
            subject = str(identifier.get("identifier"))
    index = (record.flow_input.get("publishv2") or {}).get("index")
    return destination, paths, subject, (str(index) if index else None)


def holdings(config: ExperimentConfig, records: Iterable[RunRecord]) -> list[Holding]:
    """What the runs ``records`` made or used that a rule names, one per place, from their
    flow input and results (never from the files on disk)."""
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    facility = config.facility.id

    def note(kind: str, collection: str, path: str | None, record: RunRecord, when: dt.datetime, **facts: Any) -> None:
        if not path or PurePosixPath(path) == PurePosixPath("/"):
            return
        entry = found.setdefault((kind, collection, path), {"runs": [], "running": [], "last": None,
                                                            "newest": None})
        entry["runs"].append((when, record.run_id))
        if not record.is_final:
            entry["running"].append(record.run_id)
        if entry["newest"] is None or when >= entry["newest"][0]:
            entry["newest"] = (when, record, facts)

    originals = set()
    for record in records:
        when = _time(record.raw.get("completion_time")) or _time(record.raw.get("start_time"))
        if when is None:
            continue
        data = record.flow_input
        tomocupy = data.get("tomocupy") or {}
        source = data.get("source") or {}
        if source.get("id") and source.get("path"):
            originals.add((str(source["id"]), str(PurePosixPath("/", source["path"]))))
        destination, paths, subject, index = _published_transfer(record)
        visible_to = tuple(str(v) for v in (data.get("publishv2") or {}).get("visible_to") or ())
        copy = data.get("destination") or {}
        scan_posix = tomocupy.get("file_name")
        if copy.get("id") and copy.get("path") and source:
            note("raw", str(copy["id"]), str(PurePosixPath("/", copy["path"])), record, when,
                 scan=PurePosixPath(str(copy["path"])).name, subject=subject, index=index,
                 visible_to=visible_to)
        elif scan_posix:
            # a flow that reads the scan at the facility uses a copy an earlier run may have made
            note("raw-use", facility, _globus_path(config, str(scan_posix)), record, when)
        output = tomocupy.get("output")
        kind = "tries" if is_try(data.get("recon") or {}) else "reconstruction"
        recon = record.recon_result
        if output:
            note(kind, facility, _globus_path(config, str(output)), record, when,
                 published=bool(paths), bytes=recon.get("bytes"), subject=subject, index=index,
                 scan=PurePosixPath(str(scan_posix or "")).name or None, visible_to=visible_to)
        try_block = (data.get("interactive") or {}).get("try_tomocupy") or {}
        if try_block.get("output"):
            note("tries", facility, _globus_path(config, str(try_block["output"])), record, when)
        for path in paths:
            note("published", destination, str(PurePosixPath("/", path)), record, when,
                 subject=subject, index=index, visible_to=visible_to)

    # a run that reads the scan's copy at the facility keeps it in use as much as the run that made it
    uses = {(c, p): e for (k, c, p), e in found.items() if k == "raw-use"}
    result = []
    for (kind, collection, path), entry in found.items():
        if kind == "raw-use":
            continue
        if kind == "raw":
            if (collection, path) in originals:
                continue  # never the beamline's original, whatever a flow called it
            used = uses.get((collection, path))
            if used:
                entry["runs"].extend(used["runs"])
                entry["running"].extend(used["running"])
        runs = sorted(entry["runs"], reverse=True)
        when, _record, facts = entry["newest"]
        last = max(t for t, _ in runs)
        result.append(Holding(kind=kind, collection=collection, path=path,
                              runs=tuple(dict.fromkeys(r for _, r in runs)), last_used=last,
                              running=tuple(dict.fromkeys(entry["running"])),
                              published=bool(facts.get("published")), bytes=facts.get("bytes"),
                              subject=facts.get("subject"), index=facts.get("index"), scan=facts.get("scan"),
                              visible_to=tuple(facts.get("visible_to") or ())))
    return sorted(result, key=lambda h: (KINDS.index(h.kind), h.path))


def open_campaign_scans(config: ExperimentConfig) -> dict[str, str]:
    """Scan file names that campaigns of the experiment still have open jobs for -> the
    campaign's name."""
    folder = default_campaigns_dir(config)
    scans: dict[str, str] = {}
    for path in sorted(folder.glob("*.sqlite")) if folder.is_dir() else []:
        try:
            ledger = open_ledger(path)
        except UserError:
            continue
        with ledger:
            for job in ledger.jobs(OPEN_STATES):
                scans.setdefault(PurePosixPath(job.dataset).name, path.stem)
    return scans


def choose(rules: RetentionRules, found: Sequence[Holding], *, now: dt.datetime,
           removed: Iterable[tuple[str, str]] = (),
           campaign_scans: Mapping[str, str] | None = None,
           folder_of: Callable[[str, str], Path | None] = lambda collection, path: None) -> list[Choice]:
    """The rules' verdict on each holding (see the module for what is never removed)."""
    campaign_scans = campaign_scans or {}
    removed = set(removed)
    choices = []
    for holding in found:
        if (holding.collection, holding.path) in removed:
            continue
        folder = folder_of(holding.collection, holding.path)
        if folder is not None and not folder.exists():
            continue  # already gone (removed by a run's retention step, or by hand)
        rule = rules.rule(holding.kind)
        age = now - holding.last_used
        # measured where the folder is here (the local backend), else what the run reported
        sized = holding if folder is None else Holding(**{**holding.__dict__, "bytes": folder_bytes(folder)})

        def verdict(remove: bool, reason: str) -> Choice:
            return Choice(sized, str(rule), remove, reason, age, folder)

        if holding.running:
            choices.append(verdict(False, f"in use by run {holding.running[0]}, which has not ended"))
        elif holding.kind == "raw" and holding.scan is not None and holding.scan in campaign_scans:
            choices.append(verdict(False, f"campaign {campaign_scans[holding.scan]} has open jobs for {holding.scan}"))
        elif holding.kind == "reconstruction" and not holding.published:
            choices.append(verdict(False, "not published by its newest run"))
        elif rule.age is None:
            choices.append(verdict(False, f"{holding.kind} = \"{rule}\""))
        elif age < rule.age:
            choices.append(verdict(False, f"{_days(age)} old, {holding.kind} = \"{rule}\""))
        else:
            choices.append(verdict(True, f"{_days(age)} old, {holding.kind} = \"{rule}\""))
    return choices


def _days(age: dt.timedelta) -> str:
    hours = age.total_seconds() / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} hours"


# --- records of the runs ----------------------------------------------------------------------

def published_removal(deletion: Deletion) -> dict[str, Any]:
    """What a published record keeps of a removal: what, where, when, which rule."""
    return {"what": deletion.kind, "collection": deletion.collection, "path": deletion.path,
            "when": deletion.ended or deletion.began, "rule": f"{deletion.kind} = \"{deletion.rule}\"",
            "status": deletion.status}


def with_removal(content: Mapping[str, Any], deletion: Deletion) -> dict[str, Any]:
    """A published record's content with ``deletion`` added to ``tomography.retention``."""
    updated = dict(content)
    tomography = dict(updated.get("tomography") or {})
    removals = [r for r in tomography.get(RETENTION_FIELD) or [] if r.get("path") != deletion.path]
    tomography[RETENTION_FIELD] = [*removals, published_removal(deletion)]
    updated["tomography"] = tomography
    return updated


# --- removing -----------------------------------------------------------------------------------

def to_deletion(choice: Choice) -> Deletion:
    holding = choice.holding
    return Deletion(id="", kind=holding.kind, rule=choice.rule, collection=holding.collection,
                    path=holding.path, runs=holding.runs, subject=holding.subject, index=holding.index,
                    bytes=holding.bytes, extra={"visible_to": list(holding.visible_to)})


@dataclass
class PruneOutcome:
    """What a prune did: each target's final record, and the problems met (a target that
    could not be removed stays recorded as begun; the next prune finishes it)."""

    done: list[Deletion] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def remove_local(deletions: Deletions, targets: Sequence[tuple[Deletion, Path]],
                 update_record: Callable[[Deletion], None]) -> PruneOutcome:
    """Remove local folders, each recorded before its first file goes and after its last."""
    from tomocupy_gladier.local.providers.delete import Removal, remove_paths

    outcome = PruneOutcome()
    for deletion, folder in targets:
        begun = deletion if deletion.id and deletion.status == DELETING else deletions.begin(deletion)
        removal = Removal()
        try:
            if folder.exists() or folder.is_symlink():
                remove_paths([folder], recursive=True, removal=removal)
        except OSError as exc:
            outcome.problems.append(f"{folder}: {exc}")
            continue
        # the size measured when it was chosen: a prune resumed after a kill removes only the rest
        ended = deletions.finish(begun, status=DELETED, files=len(removal.files),
                                 bytes_removed=begun.bytes if begun.bytes is not None else removal.bytes)
        update_record(ended)
        outcome.done.append(ended)
    return outcome


def submit_globus(deletions: Deletions, targets: Sequence[Deletion], transfer_client: Any,
                  update_record: Callable[[Deletion], None], *, label: str) -> PruneOutcome:
    """One Transfer delete task per collection (globus-sdk's ``DeleteData``: recursive, a
    missing path no error), each target recorded before the task is submitted."""
    import globus_sdk

    outcome = PruneOutcome()
    by_collection: dict[str, list[Deletion]] = defaultdict(list)
    for deletion in targets:
        by_collection[deletion.collection].append(deletion)
    for collection, group in by_collection.items():
        begun = [d if d.id and d.status == DELETING else deletions.begin(d) for d in group]
        document = delete_document(collection, [d.path for d in group], label=label)
        try:
            submission = transfer_client.get_submission_id()["value"]
            document["submission_id"] = submission
            task = transfer_client.submit_delete(document)
        except globus_sdk.GlobusAPIError as exc:
            outcome.problems.append(f"collection {collection}: Transfer refused the delete: "
                                    f"{exc.http_status} {exc.code}: {exc.message}")
            continue
        for deletion in begun:
            ended = deletions.finish(deletion, status=SUBMITTED, task_id=str(task["task_id"]))
            update_record(ended)
            outcome.done.append(ended)
    return outcome


def delete_document(collection: str, paths: Sequence[str], *, label: str) -> dict[str, Any]:
    """The Transfer API's delete document for ``paths`` on ``collection`` (globus-sdk's
    ``DeleteData``)."""
    import globus_sdk

    data = globus_sdk.DeleteData(endpoint=collection, recursive=True, ignore_missing=True, label=label)
    for path in paths:
        data.add_item(path)
    return dict(data)


# --- a prune of one experiment ------------------------------------------------------------------

@dataclass
class Prune:
    """One prune of an experiment on its backend: its plan, and (unless a dry run) what it did.
    ``requests``: on Globus, the Transfer and Search requests it sends (or would send)."""

    plan: PrunePlan
    outcome: PruneOutcome | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)


def local_records(config: ExperimentConfig) -> list[RunRecord]:
    """Every run in the experiment's local run store, whole."""
    from tomocupy_gladier.local.store import RunStore

    path = config.local_state_dir / "runs.db"
    if not path.exists():
        return []
    store = RunStore(path)
    return [RunRecord(run) for run in store.list_runs(limit=None)]


def globus_records(config: ExperimentConfig, flows_client: Any = None) -> list[RunRecord]:
    """The runs of every flow this login deployed for the experiment, each read whole
    (``FlowsClient.list_runs`` by flow, then ``get_run``: the list has no run state)."""
    import globus_sdk

    from tomocupy_gladier.clients.client_factory import globus_client
    from tomocupy_gladier.flows import FLOWS

    flow_ids = []
    client = None
    for name in FLOWS:
        client = globus_client(name, config)
        flow_id = client.get_flow_id()
        if flow_id:
            flow_ids.append(str(flow_id))
    if flows_client is None and client is not None:
        flows_client = client.flows_manager.flows_client
    records = []
    for flow_id in flow_ids:
        marker: Any = globus_sdk.MISSING
        while True:
            page = flows_client.list_runs(filter_flow_id=flow_id, marker=marker)
            for run in page.get("runs", []):
                records.append(RunRecord(dict(flows_client.get_run(run["run_id"]).data)))
            if not page.get("has_next_page") or not page.get("marker"):
                break
            marker = page["marker"]
    return records


def plan_prune(config: ExperimentConfig, rules: RetentionRules, records: Sequence[RunRecord],
               deletions: Deletions, *, now: dt.datetime, local: bool) -> PrunePlan:
    """The plan of a prune: removals a killed prune began first, then the rules' verdicts."""

    def folder_of(collection: str, path: str) -> Path | None:
        return _local_folder(config, collection, path) if local else None

    found = holdings(config, records)
    resume = deletions.unfinished()
    # what runs removed themselves once their publication was verified (tools/retention/)
    in_flow = {(config.facility.id, str(entry.get("path"))) for record in records
               for entry in removed_after_publication(record.state)}
    choices = choose(rules, found, now=now, removed=deletions.removed() | in_flow,
                     campaign_scans=open_campaign_scans(config), folder_of=folder_of)
    return PrunePlan(rules, now, resume, choices)


def run_prune(config: ExperimentConfig, rules: RetentionRules, *, local: bool, dry_run: bool,
              now: dt.datetime | None = None, records: Sequence[RunRecord] | None = None,
              transfer_client: Any = None, search_client: Any = None) -> Prune:
    """Prune ``config``'s experiment by ``rules``: on the local backend remove the folders
    here; on Globus submit Transfer delete tasks (``transfer_client``) and update the
    published records (``search_client``). ``dry_run``: plan only (and, on Globus, the
    requests that would be sent). Holds the experiment's prune lock throughout."""
    deletions = Deletions(deletions_path(config.local_state_dir))
    now = now or dt.datetime.now(dt.timezone.utc)
    with deletions.exclusive():
        if records is None:
            records = local_records(config) if local else globus_records(config)
        plan = plan_prune(config, rules, records, deletions, now=now, local=local)
        prune = Prune(plan)
        if not local:
            prune.requests = [{"method": "POST", "url": "https://transfer.api.globus.org/v0.10/delete",
                               "body": delete_document(collection, paths, label=_label(config))}
                              for collection, paths in _by_collection(plan).items()]
        if dry_run:
            return prune
        if local:
            update = _local_record_updater(config)
            targets = [(d, _local_folder(config, d.collection, d.path)) for d in plan.resume]
            targets += [(to_deletion(c), c.folder) for c in plan.removals if c.folder is not None]
            prune.outcome = remove_local(deletions, [(d, f) for d, f in targets if f is not None], update)
        else:
            update = _globus_record_updater(search_client, prune.requests)
            submitted = [*plan.resume, *(to_deletion(c) for c in plan.removals)]
            prune.outcome = submit_globus(deletions, submitted, transfer_client, update, label=_label(config))
        return prune


def _label(config: ExperimentConfig) -> str:
    return f"tomocupy-gladier prune: {config.name}"[:128]


def _by_collection(plan: PrunePlan) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = defaultdict(list)
    for deletion in plan.resume:
        grouped[deletion.collection].append(deletion.path)
    for choice in plan.removals:
        grouped[choice.holding.collection].append(choice.holding.path)
    return dict(grouped)


def _local_folder(config: ExperimentConfig, collection: str, path: str) -> Path | None:
    """Where a path of a collection is on this machine (the local backend's folders), if anywhere."""
    root = config.local_collections.get(collection)
    return Path(root).joinpath(*PurePosixPath(path).parts[1:]) if root is not None else None


def _local_record_updater(config: ExperimentConfig) -> Callable[[Deletion], None]:
    """Adds a removal to the published record it belongs to, in the local index."""
    from tomocupy_gladier.local.providers.search import SearchIndex

    path = config.local_state_dir / "search.db"

    def update(deletion: Deletion) -> None:
        if not deletion.subject or not deletion.index or not path.exists():
            return
        index = SearchIndex(path)
        try:
            entry = index.get(deletion.index, deletion.subject, "metadata") or index.get(deletion.index, deletion.subject)
            if entry is not None:
                index.ingest(deletion.index, deletion.subject, with_removal(entry["content"], deletion),
                             entry["visible_to"], entry["entry_id"])
        finally:
            index.close()

    return update


def _globus_record_updater(search_client: Any, requests: list[dict[str, Any]]) -> Callable[[Deletion], None]:
    """Adds a removal to the published record it belongs to, in Globus Search: the entry read
    with ``get_subject`` (a GMetaResult: content and entry id, not who may see it) and ingested
    again as a GMetaEntry visible to whom the run published it for (its ``visible_to``)."""

    def update(deletion: Deletion) -> None:
        visible_to = list(deletion.extra.get("visible_to") or [])
        if not deletion.subject or not deletion.index or search_client is None or not visible_to:
            return
        subject = search_client.get_subject(deletion.index, deletion.subject)
        for entry in subject.get("entries") or []:
            data: dict[str, Any] = {"subject": deletion.subject, "visible_to": visible_to,
                                    "content": with_removal(entry.get("content") or {}, deletion)}
            if entry.get("entry_id") is not None:
                data["id"] = entry["entry_id"]
            document = {"ingest_type": "GMetaEntry", "ingest_data": data}
            requests.append({"method": "POST", "url": f"https://search.api.globus.org/v1/index/{deletion.index}/ingest",
                             "body": document})
            search_client.ingest(deletion.index, document)

    return update
