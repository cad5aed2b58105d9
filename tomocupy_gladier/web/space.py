"""What ``serve`` shows of the space an experiment takes: bytes per collection, what the
retention rules would free now, and what pruning removed (for the space page and each run's)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from tomocupy_gladier.campaign.deletions import Deletion, Deletions, deletions_path
from tomocupy_gladier.campaign.prune import PrunePlan, folder_bytes, local_records, plan_prune
from tomocupy_gladier.compute.disk_space import human
from tomocupy_gladier.experiment.config import ExperimentConfig
from tomocupy_gladier.tools.retention.config import KINDS, describe, retention_rules


@dataclass(frozen=True)
class CollectionSpace:
    """One collection of the experiment: its section, id, the folder here, its bytes."""

    section: str
    collection: str
    folder: str | None
    bytes: int | None

    @property
    def size(self) -> str:
        return "unknown here" if self.bytes is None else human(self.bytes)


@dataclass
class SpaceView:
    """The space page."""

    collections: list[CollectionSpace]
    rules: dict[str, str]
    plan: PrunePlan | None
    removed: list[Deletion] = field(default_factory=list)
    note: str = ""

    def freed(self) -> list[tuple[str, str, int]]:
        """(what, size, folders) the rules would free now, by kind."""
        if self.plan is None:
            return []
        totals = self.plan.freed()
        counts = {kind: sum(1 for c in self.plan.removals if c.holding.kind == kind) for kind in KINDS}
        return [(describe(kind), human(totals.get(kind, 0)), counts[kind]) for kind in KINDS if counts[kind]]


class Retention:
    """The experiment's retention as the pages show it."""

    def __init__(self, config: ExperimentConfig, *, local: bool) -> None:
        self.config = config
        self.local = local
        self.deletions = Deletions(deletions_path(config.local_state_dir))

    def removed_of_run(self, run_id: str) -> list[str]:
        """What pruning removed of what the run made or used, in words (for its page)."""
        return [d.line() for d in self.deletions.of_run(run_id)]

    def space(self) -> SpaceView:
        """Bytes per collection (measured here on the local backend) and what the rules free."""
        rules = retention_rules(self.config).as_dict()
        collections = []
        for section in self.config.collection_sections:
            collection = self.config.collection_id(section)
            if collection is None:
                continue
            root = self.config.local_collections.get(collection) if self.local else None
            folder = Path(root) if root is not None else None
            size = folder_bytes(folder) if folder is not None and folder.is_dir() else None
            collections.append(CollectionSpace(section, collection, str(folder) if folder else None, size))
        if not self.local:
            return SpaceView(collections, rules, None, self.deletions.entries()[-20:],
                             note="on Globus the sizes are the collections' own: `tomocupy-gladier prune "
                                  "--dry-run --all` lists what the rules would free, from the run records")
        plan = plan_prune(self.config, retention_rules(self.config), local_records(self.config), self.deletions,
                          now=dt.datetime.now(dt.timezone.utc), local=True)
        return SpaceView(collections, rules, plan, self.deletions.entries()[-20:])


__all__ = ["CollectionSpace", "Retention", "SpaceView"]
