"""Per-experiment configuration (``experiment.toml``), validated on load.

One file describes an experiment once: where scans are written, where they are
reconstructed, how to run tomocupy there, where results are published, the default
reconstruction parameters, and which backend runs the flow.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Literal, Mapping, get_args

import jsonschema

from tomocupy_gladier.backends import BACKEND_NAMES, backend_named, configured_name
from tomocupy_gladier.errors import ConfigError
from tomocupy_gladier.experiment.options import recon_schema
from tomocupy_gladier.experiment.collection_paths import Collection
from tomocupy_gladier.compute.multiscale import FORMATS, volume_formats, zarr_options
from tomocupy_gladier.experiment.schema import UUID_BODY, ZARR_SCHEMA, uuid_field
from tomocupy_gladier.experiment.limits import RECON_TIMEOUT, RECON_WAIT_TIME, TRANSFER_WAIT_TIME, time_budget
from tomocupy_gladier.experiment.validation import describe_error, leaf_errors

ReturnWhat = Literal["previews", "reconstruction"]
RETURN_WHAT: tuple[ReturnWhat, ...] = get_args(ReturnWhat)

DATA_ACCESS_DEFAULTS = {"source": True, "facility": True, "publish": False, "return": False}
"""``data_access`` of each collection section when the file leaves it out.

A Globus Connect Server v5 *mapped* collection needs its ``data_access`` consent under the flow's
run scope; on a guest collection (or a GCP mapped one) asking for that scope fails the login with
"Unknown Scope" (globus-sdk ``SpecificFlowClient.add_app_transfer_data_access_scope``). Beamline
storage and ALCF Eagle, the usual ``[source]`` and ``[facility]``, are GCS v5 mapped collections;
publication and return collections are often guest collections, and a mapped one there left at
false only costs a run that waits, INACTIVE, for ``tomocupy-gladier resume``.
"""

_DATA_ACCESS = {"type": "boolean", "title": "Ask for this collection's data_access consent (GCS v5 "
                "mapped collection: true; guest collection: false)"}


def _collection_section(title: str) -> dict[str, Any]:
    return {
        "type": "object",
        "title": title,
        "properties": {
            "collection": uuid_field("Collection", "Globus collection UUID"),
            "path": {"type": "string", "minLength": 1},
            "posix_root": {"type": "string", "pattern": "^/"},
            "data_access": _DATA_ACCESS,
        },
        "required": ["collection", "path"],
        "additionalProperties": False,
    }


_recon = recon_schema()
CONFIG_SCHEMA: dict[str, Any] = {
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
        "publish": {
            "type": "object",
            "properties": {
                "index": uuid_field("Search index", ""),
                "collection": uuid_field("Publication collection", ""),
                "path": {"type": "string", "minLength": 1},
                "visible_to": {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
                "checksums": {"type": "array",
                              "items": {"type": "string", "enum": ["md5", "sha1", "sha256", "sha512"]}},
                "transfer": {"type": "boolean"},
                "ingest": {"type": "boolean"},
                "datacite": {"type": "boolean"},
                # the collection's HTTPS address (GCS: https://<id>.<domain>), for the Zarr's URL
                "https_url": {"type": "string", "pattern": "^https://[^/]+/?$"},
                # what a full reconstruction is kept and published as (compute/multiscale.py)
                "formats": {"type": "array", "items": {"type": "string", "enum": list(FORMATS)},
                            "minItems": 1, "uniqueItems": True},
                "data_access": _DATA_ACCESS,
            },
            "required": ["index", "collection", "path"],
            "additionalProperties": False,
        },
        "return": {
            "type": "object",
            "title": "Results sent back to the scientist",
            "properties": {
                "collection": uuid_field("Return collection", "Globus collection the results are sent to"),
                "path": {"type": "string", "minLength": 1},
                "what": {"type": "string", "enum": list(RETURN_WHAT)},
                "enable": {"type": "boolean"},
                "data_access": _DATA_ACCESS,
            },
            "required": ["collection", "path"],
            "additionalProperties": False,
        },
        "notify": {
            "type": "object",
            "title": "Email when a run ends or waits for a choice",
            "properties": {
                "email": {"type": "array", "minItems": 1, "uniqueItems": True,
                          "items": {"type": "string", "pattern": r"^[^@\s,]+@[^@\s,]+$"}},
                "sender": {"type": "string", "pattern": r"^[^@\s,]+@[^@\s,]+$"},
                "smtp": {"type": "string", "pattern": r"^[A-Za-z0-9.-]+:[0-9]{1,5}$"},
                "run_page": {"type": "string", "pattern": "^https?://"},
                "enable": {"type": "boolean"},
            },
            "required": ["email"],
            "additionalProperties": False,
        },
        "choice": {
            "type": "object",
            "title": "Who may choose the centre of an interactive run",
            "properties": {
                # Wait For User Selection's selectable_by takes Globus Auth identity URNs
                "selectable_by": {"type": "array", "uniqueItems": True,
                                  "items": {"type": "string",
                                            "pattern": "^urn:globus:auth:identity:[0-9a-fA-F-]{36}$"}},
            },
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
class PublishConfig:
    index: str
    collection: str
    path: str
    visible_to: tuple[str, ...] = ("public",)
    checksums: tuple[str, ...] = ("sha256",)
    transfer: bool = True
    ingest: bool = True
    datacite: bool = True
    https_url: str | None = None
    # what a full reconstruction is kept and published as: "tiff", "zarr" or both (None: both,
    # or tiff alone without the OME-Zarr; compute.multiscale.volume_formats)
    formats: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ReturnConfig:
    """Where results go back to after publication (the ``[return]`` section).

    ``what``: ``"previews"`` sends the previews folder only, ``"reconstruction"`` the whole
    reconstruction folder (previews included).
    """

    collection: str
    path: str
    what: ReturnWhat = "previews"


@dataclass(frozen=True)
class NotifyConfig:
    """Who is emailed when a run ends or waits for a choice (the ``[notify]`` section).

    ``smtp``: ``(host, port)`` of the SMTP server; its account comes from the environment
    (``TOMOCUPY_GLADIER_SMTP_USERNAME``/``_PASSWORD``, see ``smtp_account``), never from the
    file. Without it the local backend appends messages to the mbox file ``mailbox`` in its
    state folder instead.
    ``run_page``: the address runs are linked from, followed by the run id.
    """

    email: tuple[str, ...]
    sender: str = "tomocupy-gladier@localhost"
    smtp: tuple[str, int] | None = None
    run_page: str | None = None


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
    publish: PublishConfig | None = None
    return_data: ReturnConfig | None = None
    notify: NotifyConfig | None = None
    # besides the run's own user: the identities that may choose an interactive run's centre
    choice_selectable_by: tuple[str, ...] = ()
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

    def collection_id(self, section: str) -> str | None:
        """The collection of a collection section (``source``, ``facility``, ``publish``,
        ``return``), or None when the file has no such section (or ``[return]`` is disabled)."""
        if section == "source":
            return self.source.id if self.source else None
        if section == "facility":
            return self.facility.id
        if section == "publish":
            return self.publish.collection if self.publish else None
        if section == "return":
            return self.return_data.collection if self.return_data else None
        raise ValueError(f"{section!r} is not a collection section")

    def data_access_collections(self, sections: Iterable[str]) -> list[str]:
        """The collections of ``sections`` whose ``data_access`` is on (in order, each once)."""
        found: list[str] = []
        for section in sections:
            cid = self.collection_id(section)
            if cid and self.data_access.get(section, DATA_ACCESS_DEFAULTS[section]) and cid not in found:
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


def load_config(path: str | os.PathLike[str]) -> ExperimentConfig:
    """Read and validate an experiment file; :class:`ConfigError` names file, key and problem."""
    path = Path(path).expanduser()
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return config_from_dict(raw, path)


def config_from_dict(raw: Mapping[str, Any], path: Path) -> ExperimentConfig:
    """Validate an already-parsed configuration (``path`` is used for messages and relative paths)."""
    validator = jsonschema.Draft202012Validator(CONFIG_SCHEMA, format_checker=jsonschema.FormatChecker())
    problems = sorted({describe_error(e) for e in leaf_errors(validator.iter_errors(raw))})
    if problems:
        raise ConfigError(f"{path}: " + ("\n  ".join([""] + problems) if len(problems) > 1 else problems[0]))
    try:  # the endpoint's own rule for the OME-Zarr settings, so a bad one stops here, not on Polaris
        zarr = zarr_options(raw.get("zarr"))
    except ValueError as exc:
        raise ConfigError(f"{path}: [zarr] {exc}") from None
    try:  # and for what a reconstruction is kept as
        volume_formats(raw.get("publish", {}).get("formats"), zarr)
    except ValueError as exc:
        raise ConfigError(f"{path}: [publish] {exc}") from None

    base = path.parent
    backend = configured_name(raw)
    local = raw.get("local", {})
    collections = {cid: (base / folder).resolve() for cid, folder in local.get("collections", {}).items()}
    if backend_named(backend).is_local:
        needed = [raw["facility"]["collection"]] + ([raw["source"]["collection"]] if "source" in raw else [])
        for section in ("publish", "return"):
            if section in raw and raw[section].get("enable", True):
                needed.append(raw[section]["collection"])
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
    publish = None
    if "publish" in raw:
        p = raw["publish"]
        publish = PublishConfig(
            index=p["index"], collection=p["collection"], path=p["path"],
            visible_to=tuple(p.get("visible_to", ["public"])),
            checksums=tuple(p.get("checksums", ["sha256"])),
            transfer=p.get("transfer", True), ingest=p.get("ingest", True), datacite=p.get("datacite", True),
            https_url=p.get("https_url"),
            formats=tuple(p["formats"]) if "formats" in p else None,
        )
    return_data = None
    if "return" in raw and raw["return"].get("enable", True):
        r = raw["return"]
        return_data = ReturnConfig(collection=r["collection"], path=r["path"], what=r.get("what", "previews"))
    executable = compute.get("executable", "tomocupy")
    state_dir = local.get("state_dir")
    local_state_dir = (base / state_dir).resolve() if state_dir else (base / ".tomocupy-gladier").resolve()
    notify = None
    if "notify" in raw and raw["notify"].get("enable", True):
        n = raw["notify"]
        host, _, port = n["smtp"].rpartition(":") if "smtp" in n else ("", "", "")
        notify = NotifyConfig(
            email=tuple(n["email"]), sender=n.get("sender", NotifyConfig.sender),
            smtp=(host, int(port)) if host else None,
            run_page=n.get("run_page"),
        )
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
        publish=publish,
        return_data=return_data,
        notify=notify,
        choice_selectable_by=tuple(raw.get("choice", {}).get("selectable_by", ())),
        recon=dict(raw.get("recon", {})),
        zarr=dict(raw.get("zarr", {})),
        tags=tuple(raw.get("experiment", {}).get("tags", [])),
        local_state_dir=local_state_dir,
        local_collections=collections,
        local_serve_url=local.get("serve_url", "http://127.0.0.1:8765"),
        globus=dict(raw.get("globus", {})),
        data_access={section: bool(raw[section].get("data_access", default))
                     for section, default in DATA_ACCESS_DEFAULTS.items() if section in raw},
        local_consent_required=tuple(str(c).lower() for c in local.get("consent_required", [])),
    )
