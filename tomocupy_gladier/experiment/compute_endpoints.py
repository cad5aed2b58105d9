"""The Globus Compute endpoint an experiment names, and the ``user_endpoint_config`` its runs send.

Globus Compute (globus/globus-compute ``docs/endpoints/endpoints.rst``) starts one *user endpoint*
per Globus identity, endpoint and ``user_endpoint_config``: "changing any of these values will
result in a new user endpoint process", and on PBS each one submits its own batch jobs. So every
compute step of a run sends the same endpoint and the same configuration
(:func:`user_endpoint_config`), and every run of an experiment too: one user endpoint, and with a
warm block (``min_blocks``) one job, serves a whole beamtime.

Two kinds of endpoint:

* **ALCF's facility multi-user endpoint on Polaris** (:data:`ALCF_POLARIS`, transcribed from
  ALCF's pages into ``data/alcf_polaris_endpoint.json``): naming its id in ``[compute] endpoint``
  is enough. Every ALCF user may use it under their own account; the configuration carries
  exactly the options ALCF documents (queue, account, walltime, nodes, blocks, idle time, the
  workers' ``worker_init``, ``scheduler_options`` with the filesystems the facility's paths are on).
  The endpoint itself checks little (its schema requires ``queue`` and ``account`` and lets any
  other key through, which its template then ignores without a word), so the options are also
  held to the types and names ALCF documents before anything is sent.
* **A facility's own endpoint**, configured with ``endpoint-config`` (our template): for what
  ALCF's cannot do. Started by a non-privileged user it is single-user and "will only accept
  tasks submitted by the endpoint owner" (``endpoints.rst``, "Starting the Endpoint"):
  ``[compute] owner`` names that identity, ``[compute] multi_user = true`` says it is a root-run
  multi-user one (``multi_user.rst``).

:func:`check_endpoint` says up front what Compute would refuse later: a configuration its schema
does not allow (the endpoint validates it before it starts the user endpoint:
``endpoint/config/utils.py`` ``_validate_user_opts``), a single-user endpoint used by anyone but
its owner, and on Polaris a job its queue cannot take.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import PurePosixPath
from typing import Any, Mapping

import jsonschema

from tomocupy_gladier.errors import UserError
from tomocupy_gladier.experiment.config import ExperimentConfig
from tomocupy_gladier.experiment.limits import DEFAULT_WALLTIME, TIME_MARGIN, walltime_seconds

NAME_PATTERN = "^[A-Za-z0-9_.@+-]+$"
WALLTIME_PATTERN = "^[0-9]{1,3}:[0-5][0-9]:[0-5][0-9]$"
MAX_NODES = 64

#: the per-run keys of our endpoint template (``endpoint-config``'s ``user_config_schema.json``)
TEMPLATE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "tomocupy-gladier per-run PBS settings",
    "type": "object",
    "properties": {
        "queue": {"type": "string", "pattern": NAME_PATTERN, "description": "PBS queue"},
        "account": {"type": "string", "pattern": NAME_PATTERN,
                    "description": "ALCF project (allocation) charged"},
        "walltime": {"type": "string", "pattern": WALLTIME_PATTERN, "description": "HH:MM:SS"},
        "nodes": {"type": "integer", "minimum": 1, "maximum": MAX_NODES, "description": "nodes per PBS job"},
        "min_blocks": {"type": "integer", "minimum": 0, "maximum": MAX_NODES,
                       "description": "PBS jobs kept while nothing runs (a warm block)"},
        "max_blocks": {"type": "integer", "minimum": 1, "maximum": MAX_NODES,
                       "description": "PBS jobs at most"},
        "max_idletime": {"type": "integer", "minimum": 0, "maximum": 7 * 86400,
                         "description": "seconds an idle PBS job is kept (beyond min_blocks)"},
    },
    "additionalProperties": False,
}


@lru_cache(maxsize=1)
def alcf_polaris() -> dict[str, Any]:
    """ALCF's Polaris endpoint as ALCF documents it (``data/alcf_polaris_endpoint.json``)."""
    text = resources.files("tomocupy_gladier").joinpath("data/alcf_polaris_endpoint.json").read_text()
    return json.loads(text)


ALCF_POLARIS_ID = "9a947ba5-f537-4681-acf3-cc66485aadec"

# The types of ALCF's options. ALCF's table gives each option's default and meaning, not its
# type: these follow the defaults and the descriptions. The endpoint's own schema lets keys the
# table does not list through and its template ignores them silently: we refuse them instead.
_ALCF_TYPES: dict[str, dict[str, Any]] = {
    "queue": {"type": "string", "pattern": NAME_PATTERN},
    "account": {"type": "string", "pattern": NAME_PATTERN},
    "walltime": {"type": "string", "pattern": WALLTIME_PATTERN},
    "nodes_per_block": {"type": "integer", "minimum": 1},
    "max_workers_per_node": {"type": "integer", "minimum": 1},
    "max_idletime": {"type": "integer", "minimum": 0},
    "init_blocks": {"type": "integer", "minimum": 0},
    "min_blocks": {"type": "integer", "minimum": 0},
    "max_blocks": {"type": "integer", "minimum": 1},
    "launcher_type": {"type": "string", "enum": ["SimpleLauncher", "MpiExecLauncher"]},
    "worker_init": {"type": "string"},
    "scheduler_options": {"type": "string"},
    "select_options": {"type": "string"},
}


def alcf_endpoint_schema() -> dict[str, Any]:
    """The JSON schema ALCF's endpoint itself checks a ``user_endpoint_config`` against: ``queue``
    and ``account`` required, any other key let through (``additionalProperties: true``)."""
    return dict(alcf_polaris()["endpoint_schema"])


def alcf_option_schema() -> dict[str, Any]:
    """The JSON schema of ALCF's documented options (required: queue and account), stricter than
    the endpoint's own (:func:`alcf_endpoint_schema`): what its template would ignore or misread
    is refused here."""
    options = alcf_polaris()["options"]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": alcf_polaris()["name"] + ": per-user options",
        "type": "object",
        "properties": {key: {**_ALCF_TYPES[key], "description": spec["description"]}
                       for key, spec in options.items()},
        "required": [key for key, spec in options.items() if spec["required"]],
        "additionalProperties": False,
    }


@dataclass(frozen=True)
class ComputeEndpoint:
    """An endpoint as Compute treats it: who may use it and what configuration it accepts."""

    id: str
    name: str
    multi_user: bool
    owner: str | None        # the identity id of a single-user endpoint's owner, when known
    schema: Mapping[str, Any]  # what the endpoint checks a configuration against
    alcf: bool = False       # ALCF's facility endpoint: its queues and filesystems are known
    documented: Mapping[str, Any] | None = None  # the options its template uses, where stricter

    def config_problems(self, user_config: Mapping[str, Any]) -> list[str]:
        """What the endpoint would refuse of ``user_config`` (empty: nothing)."""
        return _schema_problems(self.schema, user_config)

    def ignored_problems(self, user_config: Mapping[str, Any]) -> list[str]:
        """What the endpoint would take but its template ignore or misread (empty: nothing)."""
        return _schema_problems(self.documented, user_config) if self.documented else []

    def refuses(self, identity: str | None) -> bool:
        """Whether Compute refuses tasks of ``identity`` (an identity id or URN) here."""
        if self.multi_user or self.owner is None or identity is None:
            return False
        return identity_id(identity) != self.owner

    def describe(self) -> str:
        kind = "multi-user" if self.multi_user else "single-user"
        owner = f", owned by {self.owner}" if self.owner and not self.multi_user else ""
        return f"{self.name} {self.id} ({kind}{owner})"

    def as_json(self) -> dict[str, Any]:
        """What the local backend keeps of it (``LocalBackend(endpoints=...)``)."""
        return {"name": self.name, "multi_user": self.multi_user, "owner": self.owner,
                "schema": dict(self.schema)}


def _schema_problems(schema: Mapping[str, Any], instance: Mapping[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(dict(schema))
    problems = []
    for error in sorted(validator.iter_errors(dict(instance)), key=lambda e: list(e.path)):
        where = "/".join(map(str, error.path))
        problems.append(f"{where}: {error.message}" if where else error.message)
    return problems


def identity_id(identity: str) -> str:
    """``urn:globus:auth:identity:<id>`` or ``<id>`` -> ``<id>`` (lower case)."""
    return identity.rsplit(":", 1)[-1].lower()


def endpoint_of(config: ExperimentConfig) -> ComputeEndpoint:
    """The endpoint ``[compute] endpoint`` names, as Compute will treat it."""
    if config.compute_endpoint.lower() == ALCF_POLARIS_ID:
        return ComputeEndpoint(ALCF_POLARIS_ID, alcf_polaris()["name"], True, None, alcf_endpoint_schema(),
                               alcf=True, documented=alcf_option_schema())
    multi = bool(config.compute_multi_user)
    return ComputeEndpoint(config.compute_endpoint.lower(), "the facility's endpoint (endpoint-config)",
                           multi, None if multi else config.compute_owner, TEMPLATE_SCHEMA)


def filesystems_of(config: ExperimentConfig) -> str:
    """The PBS ``filesystems`` a Polaris job needs: ``home`` (ALCF's default, which a
    ``scheduler_options`` of our own replaces) and each filesystem that holds the facility's
    folder or the workers' environment (``[compute.pbs] filesystems`` overrides)."""
    if config.pbs.get("filesystems"):
        return str(config.pbs["filesystems"])
    paths = [PurePosixPath(str(config.facility.to_posix(config.facility_path)))]
    if config.compute_environment and config.compute_environment.startswith("/"):
        paths.append(PurePosixPath(config.compute_environment))
    found = ["home"]
    for name, roots in alcf_polaris()["filesystems"].items():
        if name not in found and any(path.is_relative_to(root) for path in paths for root in roots):
            found.append(name)
    return ":".join(found)


def worker_init(config: ExperimentConfig) -> str | None:
    """The shell lines each ALCF job runs before its workers start: the module path and conda as
    ALCF's Parsl page has them, the environment holding tomocupy, tomocupy-gladier and a
    globus-compute-endpoint with ALCF's parsl, ``TMPDIR=/tmp`` (ALCF's Globus Compute and Parsl
    pages), the node's GPU count for the reconstruction step, which gives each of its
    concurrent reconstructions its own GPU, and the time by which tomocupy must have stopped in
    this job (``compute/recon.py``). None without an environment."""
    if not config.compute_environment:
        return None
    alcf = alcf_polaris()
    lines = [f"module {command}" for command in alcf["modules"]]
    lines.append(f"conda activate {shlex.quote(config.compute_environment)}")
    # this replaces the endpoint's default worker_init, which puts its agent's venv on PATH:
    # kept last on PATH, so the environment's own globus-compute-endpoint comes first
    lines.append(f'export PATH="$PATH":{alcf["worker_environment"]["agent_bin"]}')
    lines += ["export TMPDIR=/tmp", f"export TOMOCUPY_GLADIER_GPUS={alcf['gpus_per_node']}"]
    # when tomocupy must have stopped in this job (its walltime less the margin, from the job's
    # start): a job kept warm serves later runs too, whose reconstruction gets what is left
    usable = walltime_seconds(str(config.pbs.get("walltime", DEFAULT_WALLTIME))) - TIME_MARGIN
    lines.append(f"export TOMOCUPY_GLADIER_DEADLINE=$(( $(date +%s) + {usable} ))")
    lines += list(config.compute_init)
    return "; ".join(lines)


def user_endpoint_config(config: ExperimentConfig) -> dict[str, Any]:
    """The ``user_endpoint_config`` every compute step of the experiment's runs sends.

    ALCF's endpoint: its documented keys, from ``[compute.pbs]`` and ``[compute]``: ``queue``
    (default ``debug``), ``account``, ``walltime`` (default :data:`DEFAULT_WALLTIME`),
    ``nodes_per_block``, ``max_workers_per_node`` (one per GPU: each reconstruction on its own),
    ``min_blocks``/``max_blocks``/``max_idletime`` when given, ``worker_init`` and
    ``scheduler_options`` (the filesystems; ``place=scatter`` and ``MpiExecLauncher`` for a
    multi-node job, as ALCF's multi-node example has it). A facility's own endpoint: the
    ``[compute.pbs]`` keys as its template names them. Nothing is checked here
    (:func:`check_endpoint` does).
    """
    pbs = dict(config.pbs)
    if config.compute_endpoint.lower() != ALCF_POLARIS_ID:
        sent = {key: value for key, value in pbs.items() if key != "filesystems"}
        if "filesystems" in pbs:
            sent["scheduler_options"] = f"#PBS -l filesystems={pbs['filesystems']}"  # refused: not a template key
        if config.compute_environment or config.compute_init:
            sent["worker_init"] = "; ".join(  # refused too: the template's worker_init is the endpoint's
                ([f"conda activate {config.compute_environment}"] if config.compute_environment else [])
                + list(config.compute_init))
        return sent
    nodes = int(pbs.get("nodes", 1))
    sent = {"queue": pbs.get("queue", "debug")}
    if "account" in pbs:
        sent["account"] = pbs["account"]
    sent.update(walltime=pbs.get("walltime", DEFAULT_WALLTIME), nodes_per_block=nodes,
                max_workers_per_node=alcf_polaris()["gpus_per_node"])
    for key in ("min_blocks", "max_blocks", "max_idletime"):
        if key in pbs:
            sent[key] = pbs[key]
    init = worker_init(config)
    if init is not None:
        sent["worker_init"] = init
    scheduler = [f"#PBS -l filesystems={filesystems_of(config)}"]
    if nodes > 1:
        sent["launcher_type"] = "MpiExecLauncher"
        scheduler.append("#PBS -l place=scatter")
    sent["scheduler_options"] = "\n".join(scheduler)
    return sent


def check_endpoint(config: ExperimentConfig, identity: str | None = None, *,
                   others_may_start: bool = False) -> ComputeEndpoint:
    """Refuse, before anything is sent, what Compute (or PBS behind it) would refuse later.

    ``identity``: who starts the runs (an identity id or URN), when known; ``others_may_start``:
    the flow is deployed for other people too (a ``[globus] group``).

    :raises UserError: naming the endpoint, the key or identity, and what to do.
    """
    endpoint = endpoint_of(config)
    sent = user_endpoint_config(config)
    where = f"{config.path}: [compute]"
    problems = endpoint.config_problems(sent)
    ignored = endpoint.ignored_problems(sent)
    if ignored and not problems:
        raise UserError(f"{where} {endpoint.describe()} would take this configuration but its template "
                        "would ignore or misread, without a word: " + "; ".join(ignored)
                        + " (ALCF's endpoint takes the options its page documents: docs/polaris.md)")
    if problems:
        advice = ("ALCF's endpoint takes the options its page documents (docs/polaris.md)" if endpoint.alcf
                  else "the facility's endpoint takes the keys of its user_config_schema.json; the "
                  "environment, init lines and filesystems are set with `endpoint-config`")
        raise UserError(f"{where} the configuration sent to {endpoint.describe()} would be refused: "
                        + "; ".join(problems) + f" ({advice})")
    if endpoint.alcf:
        if "worker_init" not in sent:
            raise UserError(f"{where} environment is missing: ALCF's endpoint runs functions in its own "
                            "environment, which has no tomocupy. Name the conda environment that holds "
                            "tomocupy, tomocupy-gladier and globus-compute-endpoint with parsl=="
                            f"{alcf_polaris()['worker_environment']['parsl']} (docs/polaris.md)")
        _check_queue(config, sent)
    if endpoint.refuses(identity):
        raise UserError(f"{where} {endpoint.describe()} accepts tasks from its owner only (Globus Compute: "
                        f"a single-user endpoint), and runs would be started as {identity_id(str(identity))}: "
                        "use ALCF's multi-user endpoint, start the runs as the owner, or set "
                        "[compute] multi_user = true if the endpoint is a multi-user one")
    if others_may_start and not endpoint.multi_user:
        raise UserError(f"{where} the flow is deployed for the group in [globus] group, whose members start "
                        f"their own runs, but {endpoint.describe()} is single-user and accepts tasks from its "
                        "owner only: their runs would fail at the first compute step. Use ALCF's multi-user "
                        "endpoint (or a multi-user one of the facility: [compute] multi_user = true)")
    return endpoint


def _check_queue(config: ExperimentConfig, sent: Mapping[str, Any]) -> None:
    """A Polaris queue's node and walltime limits (ALCF's "Running Jobs on Polaris")."""
    limits = alcf_polaris()["queues"].get(sent["queue"])
    if limits is None:
        return
    low, high = limits["nodes"]
    nodes = int(sent.get("nodes_per_block", 1))
    if not low <= nodes <= high:
        raise UserError(f"{config.path}: [compute.pbs] Polaris' {sent['queue']} queue takes jobs of {low} "
                        f"to {high} nodes, not {nodes}")
    if walltime_seconds(sent["walltime"]) > walltime_seconds(limits["walltime_max"]):
        raise UserError(f"{config.path}: [compute.pbs] walltime {sent['walltime']} is longer than Polaris' "
                        f"{sent['queue']} queue allows ({limits['walltime_max']})")
