"""Campaign manifests: which datasets, with which parameter sets.

Every (dataset, parameter set) pair is one :class:`Job` whose key is a hash of the
dataset path and the *normalised* parameters, so the same work always has the same key
whatever the order or spelling of the options in the manifest.

TOML::

    datasets = ["raw/*.h5", "raw/extra/scan_007.h5"]   # globs or paths
    [params.default]                                   # {} = the experiment's defaults
    [params.vo-all]
    remove-stripe-method = "vo-all"
    [scans."raw/scan_003.h5"]                          # one scan's own parameters, over every set
    rotation-axis = 1021.5                             # (a centre is a fact of the scan)

CSV (one job per row; ``params`` names the set, other columns are tomocupy options,
an empty cell leaves the option unset)::

    dataset,params,remove-stripe-method,rotation-axis
    raw/scan_001.h5,vo,vo-all,1024.5
"""

from __future__ import annotations

import csv
import fnmatch
import glob
import hashlib
import json
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from tomocupy_gladier.errors import UserError
from tomocupy_gladier.experiment.options import recon_schema
from tomocupy_gladier.experiment.validation import describe_error, leaf_errors

GLOB_CHARS = frozenset("*?[")
DEFAULT_PARAM_SET = "default"  # the set a manifest without [params] gets


class ManifestError(UserError):
    """The manifest cannot be read, or it lists nothing to do."""


def normalise_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Options as tomocupy spells them (``rotation_axis`` -> ``rotation-axis``), unset
    values dropped, integral floats as ints, keys sorted."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if value is None or value == "":
            continue
        name = str(key).strip().lower().replace("_", "-")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        out[name] = value
    return dict(sorted(out.items()))


def job_key(dataset: str, params: Mapping[str, Any]) -> str:
    """Stable 16-hex-digit key of one job (dataset path + normalised parameters)."""
    text = json.dumps([os.path.normpath(dataset), normalise_params(params)], sort_keys=True,
                      separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Job:
    """One reconstruction: a dataset with one named parameter set."""

    dataset: str
    param_set: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return job_key(self.dataset, self.params)


@dataclass(frozen=True)
class Manifest:
    """The expanded manifest: the jobs in a stable order, without duplicates."""

    path: Path
    jobs: tuple[Job, ...]
    flow: str | None = None


def _validate_params(name: str, params: Mapping[str, Any], where: Path) -> dict[str, Any]:
    params = normalise_params(params)
    validator = jsonschema.Draft202012Validator(recon_schema())
    problems = sorted({describe_error(e) for e in leaf_errors(validator.iter_errors(params))})
    if problems:
        raise ManifestError(f"{where}: parameter set {name!r}: " + "; ".join(problems))
    return params


def expand_dataset(pattern: str, search_root: Path | None) -> list[str]:
    """A path stays as given; a glob is expanded in ``search_root`` (relative patterns) or on
    the file system (absolute ones). Matches keep the pattern's form (relative stays relative)."""
    if not GLOB_CHARS & set(pattern):
        return [pattern]
    if os.path.isabs(pattern):
        return sorted(glob.glob(pattern))
    if search_root is None:
        raise ManifestError(f"cannot expand {pattern!r}: the facility folder is not on this machine")
    return sorted(os.path.relpath(p, search_root) for p in glob.glob(str(search_root / pattern)))


def _cell(value: str) -> Any:
    text = value.strip()
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _scan_params(raw: Mapping[str, Any], path: Path) -> dict[str, dict[str, Any]]:
    """``[scans."PATH"]`` tables: per-scan parameters (PATH as in ``datasets``, or a glob)."""
    scans = raw.get("scans", {})
    if not isinstance(scans, dict) or not all(isinstance(v, dict) for v in scans.values()):
        raise ManifestError(f'{path}: [scans."PATH"] tables expected (one per scan)')
    return {str(key): _validate_params(f"scans.{key}", params, path) for key, params in scans.items()}


def _from_toml(path: Path) -> tuple[list[tuple[str, str, dict]], str | None, dict[str, dict[str, Any]]]:
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{path}: not valid TOML: {exc}") from None
    section = raw.get("campaign", {})
    datasets = raw.get("datasets", section.get("datasets"))
    if not isinstance(datasets, list) or not all(isinstance(d, str) and d for d in datasets) or not datasets:
        raise ManifestError(f"{path}: 'datasets' must be a non-empty list of paths or globs")
    param_sets = raw.get("params", {DEFAULT_PARAM_SET: {}})
    if not isinstance(param_sets, dict) or not param_sets or not all(isinstance(v, dict) for v in param_sets.values()):
        raise ManifestError(f"{path}: [params.NAME] tables expected (one per parameter set)")
    rows = [(d, name, params) for d in datasets for name, params in param_sets.items()]
    flow = section.get("flow", raw.get("flow"))
    return rows, flow, _scan_params(raw, path)


def _from_csv(path: Path) -> list[tuple[str, str, dict]]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or "dataset" not in reader.fieldnames:
            raise ManifestError(f"{path}: the CSV header needs a 'dataset' column")
        rows = []
        for number, row in enumerate(reader, start=2):
            dataset = (row.pop("dataset") or "").strip()
            if not dataset:
                raise ManifestError(f"{path}:{number}: empty dataset")
            name = (row.pop("params", None) or DEFAULT_PARAM_SET).strip()
            params = {k: _cell(v) for k, v in row.items() if k and v is not None and v.strip()}
            rows.append((dataset, name, params))
    if not rows:
        raise ManifestError(f"{path}: no rows")
    return rows


def load_manifest(path: str | os.PathLike[str], search_root: Path | None = None) -> Manifest:
    """Read a TOML or CSV manifest and expand it into jobs.

    ``search_root``: the folder relative globs are expanded in (the facility folder).
    A glob that matches nothing is an error (a typo must not silently shrink a campaign).
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: no such manifest")
    flow = None
    scans: dict[str, dict[str, Any]] = {}  # a CSV row is one scan's already
    if path.suffix.lower() == ".csv":
        rows = _from_csv(path)
    else:
        rows, flow, scans = _from_toml(path)
    used: set[str] = set()
    seen: dict[str, Job] = {}
    checked: dict[str, dict[str, Any]] = {}
    for pattern, name, params in rows:
        marker = json.dumps([name, params], sort_keys=True, default=str)
        if marker not in checked:
            checked[marker] = _validate_params(name, params, path)
        matches = expand_dataset(pattern, search_root)
        if not matches:
            raise ManifestError(f"{path}: {pattern!r} matches no dataset")
        for dataset in matches:
            own = [key for key in scans if _names(key, dataset)]
            used.update(own)
            merged = {**checked[marker], **{k: v for key in own for k, v in scans[key].items()}}
            job = Job(dataset, name, dict(sorted(merged.items())))
            seen.setdefault(job.key, job)
    unused = sorted(set(scans) - used)
    if unused:  # a typo must not leave a scan at another centre
        raise ManifestError(f"{path}: [scans.{unused[0]!r}] names no dataset of the manifest")
    return Manifest(path, tuple(seen.values()), flow)


def _names(key: str, dataset: str) -> bool:
    """Whether a ``[scans]`` key (a path or a glob) names ``dataset``."""
    return os.path.normpath(key) == os.path.normpath(dataset) or (
        bool(GLOB_CHARS & set(key)) and fnmatch.fnmatch(os.path.normpath(dataset), os.path.normpath(key)))


def jobs_table(jobs: Iterable[Job]) -> list[tuple[str, str, str]]:
    """(key, dataset, parameter set) rows, for printing."""
    return [(j.key, j.dataset, j.param_set) for j in jobs]
