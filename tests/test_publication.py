"""The local publication of a finished result: its files are linked, not copied, on one
filesystem, and stay exactly the run's own; ``[publish] formats`` keeps one copy of the voxels.
Whole flows on the local backend with the CPU engine (the experiments of
test_published_results.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.test_published_results import ENGINE, experiment, published, run
from tomocupy_gladier.compute.checksums import verify_manifest
from tomocupy_gladier.tools.registry import load_config
from tomocupy_gladier.runs.catalog import search_local
from tomocupy_gladier.runs.run_record import RECON_STATE
from tomocupy_gladier.tools.recon.tomocupy_recon import tomocupy_recon


def files(folder: Path) -> dict[str, Path]:
    return {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_published_result_is_linked_and_a_rerun_of_the_scan_never_changes_it(tmp_path, monkeypatch):
    config, _ = experiment(tmp_path, nrows=24, ncols=64)
    first = run(config)
    assert first.succeeded, first.failure
    facility = Path(first.result(RECON_STATE)["output"])
    folder = published(tmp_path)
    shown, made = files(folder), files(facility)
    assert set(shown) == set(made) and len(shown) > 24
    for name, path in shown.items():  # one inode: nothing copied, and read-only
        assert path.stat().st_ino == made[name].stat().st_ino, name
        assert not path.stat().st_mode & 0o222, name
    assert verify_manifest(folder) == []
    slice_before = (folder / "recon_00005.tiff").read_bytes()
    kept = tmp_path / "kept.tiff"
    os.link(folder / "recon_00005.tiff", kept)  # the first publication's inode, to look at later

    # a later reconstruction of the scan (the compute function alone, as a reprocessing would)
    monkeypatch.setenv("TOMOCUPY_GLADIER_PROGRAM", ENGINE)
    again = tomocupy_recon(recon={**first.flow_input["recon"], "fbp-filter": "ramp"},
                           tomocupy=first.flow_input["tomocupy"], run_id="reprocessed")
    assert Path(again["output"]) == facility
    assert (facility / "recon_00005.tiff").read_bytes() != slice_before, "the facility's result is the rerun's"
    assert (folder / "recon_00005.tiff").read_bytes() == slice_before
    assert verify_manifest(folder) == [], "the published copy is still exactly the first run's"
    assert json.loads((folder / "manifest.json").read_text())["run_id"] == first.run_id

    # republished: the names now point at the new files; the old bytes were never written over
    second = run(config, overrides={"fbp-filter": "ramp"})
    assert second.succeeded, second.failure
    assert json.loads((folder / "manifest.json").read_text())["run_id"] == second.run_id
    assert (folder / "recon_00005.tiff").stat().st_ino == (facility / "recon_00005.tiff").stat().st_ino
    assert kept.read_bytes() == slice_before
    assert verify_manifest(folder) == [] and verify_manifest(facility) == []


def test_formats_zarr_keeps_and_publishes_the_ome_zarr_alone_and_the_record_says_so(tmp_path):
    config, _ = experiment(tmp_path, nrows=24, ncols=64)
    config.write_text(config.read_text().replace('path = "/published"\n',
                                                 'path = "/published"\nformats = ["zarr"]\n'))
    record = run(config)
    assert record.succeeded, record.failure
    folder = published(tmp_path)
    names = set(files(folder))
    assert not [n for n in names if n.startswith("recon_")], "no slices: one copy of the voxels"
    assert "volume.ome.zarr/0/.zarray" in names and "previews/xy.png" in names
    assert verify_manifest(folder) == []
    assert record.result(RECON_STATE)["formats"] == ["zarr"]
    [entry] = search_local(load_config(config).local_state_dir, "scan1")
    assert entry.formats == ("zarr",)
