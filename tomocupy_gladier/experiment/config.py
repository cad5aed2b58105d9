"""Per-experiment configuration (``experiment.toml``), validated on load.

One file describes an experiment once: where scans are written, where they are
reconstructed, how to run tomocupy there, the default reconstruction parameters, and which
backend runs the flow; these sections are the experiment's own (:data:`CONFIG_SCHEMA`). A step
with settings of its own (the publication's ``[publish]``, say) declares its
section in its folder (``tools/<step>/config.py``, a :class:`Section`); the registry of steps
(``tools/registry.py``) reads a file with every registered step's section
(``load_config``), and each step reads its part back from :attr:`ExperimentConfig.sections`.
"""

from __future__ import annotations

import copy
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable, Mapping, Sequence

import jsonschema

from tomocupy_gladier.backends import BACKEND_NAMES, Backend, backend_named, configured_name
from tomocupy_gladier.errors import ConfigError
from tomocupy_gladier.experiment.options import recon_schema
from tomocupy_gladier.experiment.collection_paths import Collection
from tomocupy_gladier.compute.multiscale import zarr_options
from tomocupy_gladier.experiment.schema import UUID_BODY, ZARR_SCHEMA, uuid_field
from tomocupy_gladier.experiment.limits import RECON_TIMEOUT, RECON_WAIT_TIME, TRANSFER_WAIT_TIME, time_budget
from tomocupy_gladier.experiment.validation import describe_error, leaf_errors

DATA_ACCESS_DEFAULTS = {"source": True, "facility": True}
"""``data_access`` of the experiment's own collection sections when the file leaves it out (a
step's section with a collection gives its own default: :attr:`Section.data_access`).

A Globus Connect Server v5 *mapped* collection needs its ``data_access`` consent under the flow's
run scope; on a guest collection (or a GCP mapped one) asking for that scope fails the login with
"Unknown Scope" (globus-sdk ``SpecificFlowClient.add_app_transfer_data_access_scope``). Beamline
storage and ALCF Eagle, the usual ``[source]`` and ``[facility]``, are GCS v5 mapped collections;
publication and return collections are often guest collections, and a mapped one there left at
false only costs a run that waits, INACTIVE, for ``tomocupy-gladier resume``.
"""

DATA_ACCESS_FIELD = {"type": "boolean", "title": "Ask for this collection's data_access consent (GCS v5 "
                "mapped collection: true; guest collection: false)"}


def _collection_section(title: str) -> dict[str, Any]:
    return {
        "type": "object",
        "title": title,
        "properties": {
            "collection": uuid_field("Collection", "Globus collection UUID"),
            "path": {"type": "string", "minLength": 1},
            "posix_root": {"type": "string", "pattern": "^/"},
            "data_access": DATA_ACCESS_FIELD,
        },
        "required": ["collection", "path"],
        "additionalProperties": False,
    }


_recon = recon_schema()
CONFIG_SCHEMA: dict[str, Any] = {  # the experiment's own sections; the steps' are added on load
    "type": "object",
    "properties": {
        "experiment": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 48},
                "backend": {"type": "string", "enum": list(BACKEND_NAMES)},
                "tags": {"type": "array", "items": {"type": "string"}},
            },
            "additionalProperties": False,
        },
        "source": _collection_section("Beamline collection"),
        "facility": _collection_section("Facility collection"),
        "compute": {
            "type": "object",
            "properties": {
                "endpoint": uuid_field("Compute endpoint", ""),
                "executable": {"anyOf": [{"type": "string", "minLength": 1},
                                         {"type": "array", "items": {"type": "string"}, "minItems": 1}]},
                "timeout": {"type": "number", "exclusiveMinimum": 0},
                "wait_time": {"type": "integer", "minimum": 60, "maximum": 7 * 86400},
                "env": {"type": "object", "additionalProperties": {"type": "string"}},
                # the environment the workers run in: tomocupy, tomocupy-gladier and the endpoint's
                # globus-compute-endpoint (compute_endpoints.worker_init)
                "environment": {"type": "string", "minLength": 1, "pattern": "^[^\n\r;&|`]+$"},
                "init": {"type": "array", "items": {"type": "string", "minLength": 1,
                                                    "pattern": "^[^\n\r]+$"}},
                # who may use the endpoint: its owner (a single-user endpoint), or anyone it maps
                "owner": {"type": "string", "pattern": "^(urn:globus:auth:identity:)?" + UUID_BODY + "$"},
                "multi_user": {"type": "boolean"},
                "pbs": {
                    "type": "object",
                    "properties": {
                        "queue": {"type": "string", "minLength": 1},
                        "account": {"type": "string", "minLength": 1},
                        "walltime": {"type": "string", "pattern": "^[0-9]{1,3}:[0-5][0-9]:[0-5][0-9]$"},
                        "nodes": {"type": "integer", "minimum": 1, "maximum": 64},
                        # a warm block: jobs kept while nothing runs (min_blocks), and for how long
                        "min_blocks": {"type": "integer", "minimum": 0, "maximum": 64},
                        "max_blocks": {"type": "integer", "minimum": 1, "maximum": 64},
                        "max_idletime": {"type": "integer", "minimum": 0, "maximum": 7 * 86400},
                        "filesystems": {"type": "string", "pattern": "^[A-Za-z0-9_]+(:[A-Za-z0-9_]+)*$"},
                    },
                    "additionalProperties": False,
                },
            },
            "required": ["endpoint"],
            "additionalProperties": False,
        },
        "transfers": {
            "type": "object",
            "title": "Transfers",
            "properties": {"wait_time": {"type": "integer", "minimum": 60, "maximum": 7 * 86400}},
            "additionalProperties": False,
        },
        "recon": {**_recon, "title": "Default reconstruction parameters"},
        "zarr": ZARR_SCHEMA,
        "local": {
            "type": "object",
            "properties": {
                "state_dir": {"type": "string", "minLength": 1},
                "serve_url": {"type": "string", "pattern": "^https?://"},
                "consent_required": {"type": "array", "uniqueItems": True,
                                     "items": uuid_field("Collection", "a collection whose data_access "
                                                         "consent the local Transfer provider asks for")},
                "collections": {"type": "object", "additionalProperties": {"type": "string", "minLength": 1},
                                "propertyNames": {"pattern": uuid_field("", "")["pattern"]}},
            },
            "additionalProperties": False,
        },
        "globus": {
            "type": "object",
            "properties": {
                "client_id": uuid_field("Native app client id", ""),
                "group": uuid_field("Globus group", ""),
                "subscription_id": uuid_field("Subscription", ""),
            },
            "additionalProperties": False,
        },
    },
    "required": ["facility", "compute"],
    "additionalProperties": False,
}


@dataclass(frozen=True)
class Section:
    """A step's own section of ``experiment.toml`` (declared in ``tools/<step>/config.py``).

    ``parse``: the section as the file gives it (validated against ``schema``) and the whole
    file -> the step's settings (its own dataclass), or None when the section turns the step
    off; a :class:`ValueError` refuses the file, naming the section. ``collection``: the
    collection the section sends results to (None when off), whose ``data_access`` consent
    (default ``data_access``) the run scope asks for and whose folder the local backend needs.
    ``template``: its commented lines in the demo's ``experiment.toml``.
    """

    name: str
    schema: Mapping[str, Any]
    parse: Callable[[Mapping[str, Any], Mapping[str, Any]], Any]
    collection: Callable[[Mapping[str, Any]], str | None] | None = None
    data_access: bool = False
    template: str = ""


def config_schema(sections: Sequence[Section] = ()) -> dict[str, Any]:
    """The experiment file's schema: its own sections and the steps' ``sections``."""
    schema = copy.deepcopy(CONFIG_SCHEMA)
    for section in sections:
        if section.name in schema["properties"]:
            raise ValueError(f"section [{section.name}] is declared twice")
        schema["properties"][section.name] = copy.deepcopy(dict(section.schema))
    return schema


@dataclass(frozen=True)
class ExperimentConfig:
    """A validated ``experiment.toml``; relative local paths are resolved against its folder."""

    path: Path
    name: str
    backend: str  # the backend's name; tomocupy_gladier.backends.choose gives the backend itself
    facility: Collection
    facility_path: PurePosixPath
    compute_endpoint: str
    source: Collection | None = None
    source_path: PurePosixPath | None = None
    executable: str | tuple[str, ...] = "tomocupy"
    timeout: float = RECON_TIMEOUT
    wait_time: int = RECON_WAIT_TIME
    transfer_wait_time: int = TRANSFER_WAIT_TIME
    env: Mapping[str, str] = field(default_factory=dict)
    pbs: Mapping[str, Any] = field(default_factory=dict)
    # the workers' environment and extra worker_init lines; the endpoint's owner (an identity id)
    # and whether it is a multi-user one (experiment/compute_endpoints.py)
    compute_environment: str | None = None
    compute_init: tuple[str, ...] = ()
    compute_owner: str | None = None
    compute_multi_user: bool | None = None
    recon: Mapping[str, Any] = field(default_factory=dict)
    # the [zarr] section: the full reconstructions' OME-Zarr (compute/multiscale.py), as given
    zarr: Mapping[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    local_state_dir: Path = field(kw_only=True)  # load_config always sets it (default: beside the file)
    local_collections: Mapping[str, Path] = field(default_factory=dict)
    local_serve_url: str = "http://127.0.0.1:8765"
    globus: Mapping[str, str] = field(default_factory=dict)
    data_access: Mapping[str, bool] = field(default_factory=dict)
    local_consent_required: tuple[str, ...] = ()
    # the steps' own sections, parsed (Section.parse), by section name; None: the step is off
    sections: Mapping[str, Any] = field(default_factory=dict)
    # the steps' sections that name a collection, and that collection where the section is on
    section_collections: Mapping[str, str | None] = field(default_factory=dict)

    @property
    def collection_sections(self) -> tuple[str, ...]:
        """Every collection section: ``source``, ``facility`` and the steps' that name one."""
        return (*DATA_ACCESS_DEFAULTS, *self.section_collections)

    def collection_id(self, section: str) -> str | None:
        """The collection of a collection section (:attr:`collection_sections`), or None when
        the file has no such section (or it turns its step off)."""
        if section == "source":
            return self.source.id if self.source else None
        if section == "facility":
            return self.facility.id
        if section in self.section_collections:
            return self.section_collections[section]
        raise ValueError(f"{section!r} is not a collection section")

    def collection_folder(self, collection: str, backend: Backend) -> Path | None:
        """The folder on this machine that is ``collection`` on ``backend``, when there is one
        (a local backend's ``[local.collections]``; none on Globus)."""
        folder = self.local_collections.get(collection) if backend.is_local else None
        return Path(folder) if folder is not None else None

    def data_access_collections(self, sections: Iterable[str]) -> list[str]:
        """The collections of ``sections`` whose ``data_access`` is on (in order, each once)."""
        found: list[str] = []
        for section in sections:
            cid = self.collection_id(section)
            if cid and self.data_access.get(section, False) and cid not in found:
                found.append(cid)
        return found


def time_limits(compute: Mapping[str, Any], path: Path) -> tuple[float, int]:
    """(tomocupy timeout, reconstruction step WaitTime) in seconds, held to the PBS walltime.

    What the file leaves out is derived from the walltime (``[compute.pbs] walltime``, else the
    endpoint's default job); the rule and the defaults are :mod:`~tomocupy_gladier.experiment.limits`'.
    A file whose limits do not hold together is refused, naming the three values.
    """
    try:
        budget = time_budget(compute.get("pbs", {}).get("walltime"), compute.get("timeout"),
                             compute.get("wait_time"))
    except ValueError as exc:
        raise ConfigError(f"{path}: [compute] {exc}") from None
    return budget.timeout, budget.wait_time


def read_config(path: str | os.PathLike[str], sections: Sequence[Section]) -> ExperimentConfig:
    """Read and validate an experiment file with the steps' ``sections``; :class:`ConfigError`
    names file, key and problem (``tools/registry.py``'s ``load_config`` gives the registered
    steps' sections)."""
    path = Path(path).expanduser()
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return config_from_dict(raw, path, sections)


def config_from_dict(raw: Mapping[str, Any], path: Path, sections: Sequence[Section]) -> ExperimentConfig:
    """Validate an already-parsed configuration (``path`` is used for messages and relative
    paths) with the steps' ``sections``."""
    validator = jsonschema.Draft202012Validator(config_schema(sections), format_checker=jsonschema.FormatChecker())
    problems = sorted({describe_error(e) for e in leaf_errors(validator.iter_errors(raw))})
    if problems:
        raise ConfigError(f"{path}: " + ("\n  ".join([""] + problems) if len(problems) > 1 else problems[0]))
    try:  # the endpoint's own rule for the OME-Zarr settings, so a bad one stops here, not on Polaris
        zarr_options(raw.get("zarr"))
    except ValueError as exc:
        raise ConfigError(f"{path}: [zarr] {exc}") from None
    parsed: dict[str, Any] = {}
    sent_to: dict[str, str | None] = {}
    for section in sections:
        try:
            parsed[section.name] = section.parse(raw[section.name], raw) if section.name in raw else None
        except ValueError as exc:
            raise ConfigError(f"{path}: [{section.name}] {exc}") from None
        if section.collection is not None:
            sent_to[section.name] = section.collection(raw[section.name]) if section.name in raw else None
    data_access = {name: bool(raw[name].get("data_access", default))
                   for name, default in DATA_ACCESS_DEFAULTS.items() if name in raw}
    data_access.update({s.name: bool(raw[s.name].get("data_access", s.data_access))
                        for s in sections if s.collection is not None and s.name in raw})

    base = path.parent
    backend = configured_name(raw)
    local = raw.get("local", {})
    collections = {cid: (base / folder).resolve() for cid, folder in local.get("collections", {}).items()}
    if backend_named(backend).is_local:
        needed = [raw["facility"]["collection"]] + ([raw["source"]["collection"]] if "source" in raw else [])
        needed += [cid for cid in sent_to.values() if cid]
        missing = [cid for cid in needed if cid not in collections]
        if missing:
            raise ConfigError(f"{path}: [local.collections] has no folder for collection(s) "
                              f"{', '.join(missing)} used by the local backend")

    def collection(section: str) -> Collection:
        cid = raw[section]["collection"]
        root = raw[section].get("posix_root")
        if root is None and cid in collections:
            root = str(collections[cid])
        return Collection(cid, PurePosixPath(root or "/"))

    compute = raw["compute"]
    executable = compute.get("executable", "tomocupy")
    state_dir = local.get("state_dir")
    local_state_dir = (base / state_dir).resolve() if state_dir else (base / ".tomocupy-gladier").resolve()
    timeout, wait_time = time_limits(compute, path)
    return ExperimentConfig(
        path=path,
        name=raw.get("experiment", {}).get("name", path.stem),
        backend=backend,
        facility=collection("facility"),
        facility_path=PurePosixPath(raw["facility"]["path"]),
        compute_endpoint=compute["endpoint"],
        source=collection("source") if "source" in raw else None,
        source_path=PurePosixPath(raw["source"]["path"]) if "source" in raw else None,
        executable=executable if isinstance(executable, str) else tuple(executable),
        timeout=timeout,
        wait_time=wait_time,
        transfer_wait_time=int(raw.get("transfers", {}).get("wait_time", TRANSFER_WAIT_TIME)),
        env=dict(compute.get("env", {})),
        pbs=dict(compute.get("pbs", {})),
        compute_environment=compute.get("environment"),
        compute_init=tuple(compute.get("init", ())),
        compute_owner=compute["owner"].rsplit(":", 1)[-1].lower() if "owner" in compute else None,
        compute_multi_user=compute.get("multi_user"),
        recon=dict(raw.get("recon", {})),
        zarr=dict(raw.get("zarr", {})),
        tags=tuple(raw.get("experiment", {}).get("tags", [])),
        local_state_dir=local_state_dir,
        local_collections=collections,
        local_serve_url=local.get("serve_url", "http://127.0.0.1:8765"),
        globus=dict(raw.get("globus", {})),
        data_access=data_access,
        local_consent_required=tuple(str(c).lower() for c in local.get("consent_required", [])),
        sections=parsed,
        section_collections=sent_to,
    )
