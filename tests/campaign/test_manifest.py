"""Manifests: datasets x parameter sets -> jobs with stable keys."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tomocupy_gladier.campaign.manifest import (
    Job,
    ManifestError,
    job_key,
    load_manifest,
    normalise_params,
)


@pytest.fixture
def facility(tmp_path: Path) -> Path:
    raw = tmp_path / "facility" / "raw"
    raw.mkdir(parents=True)
    for name in ("scan_001.h5", "scan_002.h5", "scan_003.h5", "notes.txt"):
        (raw / name).write_bytes(b"x")
    return tmp_path / "facility" / "raw"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_toml_manifest_makes_one_job_per_dataset_and_parameter_set(tmp_path, facility):
    manifest = write(tmp_path, "m.toml", """\
        datasets = ["*.h5", "/elsewhere/extra.h5"]
        [params.default]
        [params.vo]
        remove-stripe-method = "vo-all"
        """)
    jobs = load_manifest(manifest, facility).jobs
    assert len(jobs) == (3 + 1) * 2
    assert {j.dataset for j in jobs} == {"scan_001.h5", "scan_002.h5", "scan_003.h5", "/elsewhere/extra.h5"}
    assert {j.param_set for j in jobs} == {"default", "vo"}
    assert len({j.key for j in jobs}) == 8
    vo = next(j for j in jobs if j.param_set == "vo")
    assert vo.params == {"remove-stripe-method": "vo-all"}


def test_key_ignores_spelling_order_and_integral_floats():
    a = job_key("raw/a.h5", {"rotation_axis": 1024.0, "Binning": 1})
    b = job_key("raw/./a.h5", {"binning": 1, "rotation-axis": 1024})
    assert a == b
    assert a != job_key("raw/a.h5", {"binning": 2, "rotation-axis": 1024})
    assert a != job_key("raw/b.h5", {"binning": 1, "rotation-axis": 1024})
    assert len(a) == 16 and Job("raw/a.h5", "x", {"binning": 1, "rotation-axis": 1024}).key == a


def test_normalise_drops_unset_values():
    assert normalise_params({"fw-level": None, "dtype": "", "fw_sigma": 1.5}) == {"fw-sigma": 1.5}


def test_csv_manifest_one_job_per_row_with_typed_cells(tmp_path, facility):
    manifest = write(tmp_path, "m.csv", """\
        dataset,params,rotation-axis,remove-stripe-method,minus-log
        scan_001.h5,centre,1024.5,,
        scan_002.h5,vo,,vo-all,False
        """)
    jobs = load_manifest(manifest, facility).jobs
    assert [(j.dataset, j.param_set, dict(j.params)) for j in jobs] == [
        ("scan_001.h5", "centre", {"rotation-axis": 1024.5}),
        ("scan_002.h5", "vo", {"minus-log": False, "remove-stripe-method": "vo-all"}),
    ]


def test_same_job_listed_twice_is_one_job(tmp_path, facility):
    manifest = write(tmp_path, "m.toml", 'datasets = ["scan_001.h5", "scan_00[1].h5"]\n')
    jobs = load_manifest(manifest, facility).jobs
    assert [j.dataset for j in jobs] == ["scan_001.h5"]


def test_glob_matching_nothing_is_an_error(tmp_path, facility):
    manifest = write(tmp_path, "m.toml", 'datasets = ["nothing_*.h5"]\n')
    with pytest.raises(ManifestError, match="matches no dataset"):
        load_manifest(manifest, facility)


def test_unknown_tomocupy_option_is_refused(tmp_path, facility):
    manifest = write(tmp_path, "m.toml", """\
        datasets = ["scan_001.h5"]
        [params.bad]
        rotation-axes = 12
        """)
    with pytest.raises(ManifestError, match="parameter set 'bad'"):
        load_manifest(manifest, facility)


def test_flow_may_be_named_in_the_manifest(tmp_path, facility):
    manifest = write(tmp_path, "m.toml", '[campaign]\nflow = "tomocupy"\ndatasets = ["scan_001.h5"]\n')
    assert load_manifest(manifest, facility).flow == "tomocupy"


@pytest.mark.parametrize("text, message", [
    ("datasets = []\n", "non-empty list"),
    ("datasets = [\"a.h5\"]\nparams = 3\n", "params.NAME"),
    ("datasets = [\n", "not valid TOML"),
])
def test_malformed_toml_manifests(tmp_path, text, message):
    with pytest.raises(ManifestError, match=message):
        load_manifest(write(tmp_path, "m.toml", text))


def test_csv_without_dataset_column(tmp_path):
    with pytest.raises(ManifestError, match="'dataset' column"):
        load_manifest(write(tmp_path, "m.csv", "scan,params\na.h5,x\n"))
