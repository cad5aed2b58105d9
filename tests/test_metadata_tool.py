"""scan_metadata on DXchange files written here, run from its source text alone (as on an endpoint)."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from gladier import GladierBaseClient, generate_flow_definition
from gladier_tools.publish.publishv2 import publishv2_gather_metadata

from tomocupy_gladier.tools.metadata import scan_metadata as metadata_module
from tomocupy_gladier.tools.metadata.scan_metadata import ScanMetadata, scan_metadata_tasks


def from_source(function):
    namespace: dict = {}
    exec(compile(inspect.getsource(function), "<endpoint>", "exec"), namespace)
    return namespace[function.__name__]


scan_metadata = from_source(metadata_module.scan_metadata)

ENERGY = "/measurement/instrument/monochromator/energy"
RESOLUTION = "/measurement/instrument/detection_system/objective/resolution"
DETECTOR_PIXEL = "/measurement/instrument/detector/pixel_size_x"
MAGNIFICATION = "/measurement/instrument/detection_system/objective/magnification"
EXPOSURE = "/measurement/instrument/detector/exposure_time"
SAMPLE = "/measurement/sample/name"
INSTRUMENT = "/measurement/instrument/name"
START = "/process/acquisition/start_date"
EXPERIMENTER = "/measurement/sample/experimenter/name"
INSTITUTION = "/measurement/sample/experimenter/institution"

# every optional field, stored the way APS files store them: 1-element arrays, bytes, units
FULL: dict[str, tuple[Any, str | None]] = {
    ENERGY: (np.array([25.0]), "keV"),
    RESOLUTION: (np.array([0.65]), "um"),
    EXPOSURE: (np.array([0.05]), "s"),
    SAMPLE: (np.array([b"mouse femur"]), None),
    INSTRUMENT: (np.array([b"2-BM"]), None),
    START: (np.array([b"2024-03-05T10:11:12-06:00"]), None),
    EXPERIMENTER: (np.array([b"Ada Lovelace"]), None),
    INSTITUTION: (b"Argonne National Laboratory", None),
}
FIELD_OF = {ENERGY: "energy_kev", RESOLUTION: "pixel_size_um", EXPOSURE: "exposure_s",
            SAMPLE: "sample", INSTRUMENT: "instrument", START: "start_time",
            EXPERIMENTER: "experimenter", INSTITUTION: "institution"}


def write_scan(path: Path, fields: dict[str, tuple[Any, str | None]] | None = None, *,
               shape: tuple[int, int, int] = (36, 8, 16), theta: Any = "degrees",
               data: bool = True) -> Path:
    """A small DXchange file: projections, flats, darks, optional angles and metadata."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as h5:
        if data:
            h5.create_dataset("/exchange/data", data=np.ones(shape, dtype=np.uint16))
            h5.create_dataset("/exchange/data_white", data=np.ones((4,) + shape[1:], dtype=np.uint16))
            h5.create_dataset("/exchange/data_dark", data=np.zeros((2,) + shape[1:], dtype=np.uint16))
        if theta is not None:
            angles = np.linspace(0, 360, shape[0], endpoint=False)
            node = h5.create_dataset("/exchange/theta", data=angles)
            node.attrs["units"] = theta
        for name, (value, units) in (fields or {}).items():
            node = h5.create_dataset(name, data=value)
            if units is not None:
                node.attrs["units"] = units
    return path


def metadata_of(scan: Path, **kwargs) -> dict:
    output = scan_metadata(tomocupy={"file_name": str(scan)}, **kwargs)
    json.dumps(output, allow_nan=False)  # strictly JSON-able
    return output["metadata"]


@pytest.fixture
def full_scan(tmp_path: Path) -> Path:
    return write_scan(tmp_path / "raw" / "femur_001.h5", FULL)


def test_reads_every_field_of_a_complete_scan(full_scan):
    meta = metadata_of(full_scan, recon={"reconstruction-type": "full"})
    acq = meta["tomography"]["acquisition"]
    assert acq["shape"] == [36, 8, 16] and acq["dtype"] == "uint16"
    counts = (acq["projections"], acq["rows"], acq["columns"], acq["flats"], acq["darks"])
    assert counts == (36, 8, 16, 4, 2)
    assert acq["angles"] == {"source": "/exchange/theta", "count": 36, "first": 0.0, "last": 350.0,
                             "range": 350.0, "step": 10.0, "units": "deg"}
    assert acq["energy_kev"] == 25.0 and acq["pixel_size_um"] == 0.65 and acq["exposure_s"] == 0.05
    assert acq["sample"] == "mouse femur" and acq["instrument"] == "2-BM"
    assert acq["start_time"] == "2024-03-05T10:11:12-06:00"
    assert acq["missing"] == ["sample_description", "facility", "end_time", "proposal"]
    assert meta["tomography"]["scan"] == "femur_001.h5"


def test_datacite_block_from_a_complete_scan(full_scan):
    dc = metadata_of(full_scan, recon={"reconstruction-type": "full"})["dc"]
    assert dc["titles"] == [{"title": "mouse femur: tomographic reconstruction of femur_001.h5"}]
    subjects = [s["subject"] for s in dc["subjects"]]
    assert subjects == ["X-ray computed tomography", "tomocupy", "2-BM", "mouse femur"]
    assert {"date": "2024-03-05T10:11:12-06:00", "dateType": "Collected"} in dc["dates"]
    assert [d["dateType"] for d in dc["dates"]] == ["Created", "Collected"]
    assert dc["creators"] == [{"name": "Ada Lovelace", "nameType": "Personal",
                               "affiliation": [{"name": "Argonne National Laboratory"}]}]
    abstract = dc["descriptions"][0]
    assert abstract["descriptionType"] == "Abstract"
    assert "36 projections of 8 x 16 pixels" in abstract["description"]
    assert "25 keV" in abstract["description"] and "0.65 um" in abstract["description"]


@pytest.mark.parametrize("absent", list(FULL))
def test_each_optional_field_may_be_missing(tmp_path, absent):
    fields = {k: v for k, v in FULL.items() if k != absent}
    meta = metadata_of(write_scan(tmp_path / "s.h5", fields))
    acq = meta["tomography"]["acquisition"]
    gone = FIELD_OF[absent]
    assert gone not in acq and gone in acq["missing"]
    for other in set(FIELD_OF.values()) - {gone}:
        assert other in acq, other
    if absent == EXPERIMENTER:
        assert "creators" not in meta["dc"], "Publishv2 keeps its own placeholder"
    if absent == START:
        assert [d["dateType"] for d in meta["dc"]["dates"]] == ["Created"]


def test_a_bare_scan_without_angles_uses_tomocupys_assumption(tmp_path):
    meta = metadata_of(write_scan(tmp_path / "bare.h5", theta=None, shape=(19, 4, 8)))
    acq = meta["tomography"]["acquisition"]
    angles = acq["angles"]
    assert angles["source"].startswith("assumed")
    assert (angles["count"], angles["first"], angles["last"], angles["step"]) == (19, 0.0, 180.0, 10.0)
    assert set(acq["missing"]) >= {"energy_kev", "pixel_size_um", "exposure_s", "sample", "start_time"}
    assert meta["dc"]["titles"] == [{"title": "Trial reconstructions (rotation-axis search) of bare.h5"}]
    assert "creators" not in meta["dc"]


def test_a_file_without_exchange_data_still_gives_a_record(tmp_path):
    meta = metadata_of(write_scan(tmp_path / "odd.h5", {SAMPLE: (b"x", None)}, data=False, theta=None))
    acq = meta["tomography"]["acquisition"]
    assert {"data", "flats", "darks", "angles"} <= set(acq["missing"])
    assert acq["sample"] == "x"
    assert "no acquisition metadata" in meta["dc"]["descriptions"][0]["description"]


@pytest.mark.parametrize("path, value, units, field, expected", [
    (ENERGY, np.array([25000.0]), "eV", "energy_kev", 25.0),
    (ENERGY, 30.0, None, "energy_kev", 30.0),
    (ENERGY, np.array([18000.0]), None, "energy_kev", 18.0),  # unlabelled eV
    (ENERGY, np.array([b"22.5"]), b"keV", "energy_kev", 22.5),
    (RESOLUTION, np.array([0.00065]), "mm", "pixel_size_um", 0.65),
    (RESOLUTION, np.array([650.0]), b"nm", "pixel_size_um", 0.65),
    (RESOLUTION, np.array([1.3]), "\u00b5m", "pixel_size_um", 1.3),
    (EXPOSURE, np.array([50.0]), "ms", "exposure_s", 0.05),
    (EXPOSURE, np.float32(0.2), b"s", "exposure_s", 0.2),
    (SAMPLE, "plain str", None, "sample", "plain str"),
    (SAMPLE, np.array([b"padded\x00\x00\x00"]), None, "sample", "padded"),
    (SAMPLE, np.frombuffer(b"chars", dtype="S1"), None, "sample", "chars"),
    (START, np.array([b"2024-03-05 10:11:12"]), None, "start_time", "2024-03-05T10:11:12"),
    (START, b"Tue Mar 5 10:11:12 2024", None, "start_time", "Tue Mar 5 10:11:12 2024"),
])
def test_bytes_array_and_units_variants(tmp_path, path, value, units, field, expected):
    meta = metadata_of(write_scan(tmp_path / "v.h5", {path: (value, units)}))
    got = meta["tomography"]["acquisition"][field]
    assert got == (pytest.approx(expected) if isinstance(expected, float) else expected)


def test_pixel_size_from_detector_pixel_and_magnification(tmp_path):
    fields = {DETECTOR_PIXEL: (np.array([6.5]), "um"), MAGNIFICATION: (np.array([10.0]), None)}
    acq = metadata_of(write_scan(tmp_path / "d.h5", fields))["tomography"]["acquisition"]
    assert acq["pixel_size_um"] == pytest.approx(0.65)


def test_unreadable_values_count_as_missing(tmp_path):
    fields = {ENERGY: (np.array([np.nan]), "keV"), EXPOSURE: (np.array([1.0]), "fortnights"),
              SAMPLE: (np.array([b""]), None)}
    acq = metadata_of(write_scan(tmp_path / "u.h5", fields))["tomography"]["acquisition"]
    assert {"energy_kev", "exposure_s", "sample"} <= set(acq["missing"])


def test_radian_labelled_angles_are_reported_as_tomocupy_reads_them(tmp_path):
    acq = metadata_of(write_scan(tmp_path / "r.h5", theta="radians"))["tomography"]["acquisition"]
    assert acq["angles"]["units_attribute"] == "radians" and acq["angles"]["last"] == 350.0


def test_reconstruction_facts_come_from_the_recon_result(full_scan):
    recon = {"command": "recon", "reconstruction-type": "full", "rotation-axis": 7.0,
             "reconstruction-algorithm": "fourierrec", "binning": 1}
    result = {"output": "/d/raw_rec/femur_001_rec", "rotation_axis": 8.25, "tool": "tomocupy",
              "tool_version": "1.1.0", "reconstruction_seconds": 7.7, "wall_seconds": 12.5,
              "file_count": 8, "bytes": 4096, "host": "x3004", "command": ["tomocupy"] * 500}
    meta = metadata_of(full_scan, recon=recon, recon_result=result)
    rec = meta["tomography"]["reconstruction"]
    assert rec == {"type": "full", "rotation_axis": 8.25, "rotation_axis_source": "tomocupy log",
                   "algorithm": "fourierrec", "binning": 1, "engine": "tomocupy",
                   "engine_version": "1.1.0", "seconds": 7.7, "wall_seconds": 12.5,
                   "output": "/d/raw_rec/femur_001_rec", "file_count": 8, "bytes": 4096,
                   "host": "x3004"}
    assert meta["tomography"]["parameters"] == recon
    assert "Reconstructed with tomocupy 1.1.0, rotation axis 8.25, algorithm fourierrec." in [
        d["description"] for d in meta["dc"]["descriptions"]]
    assert len(json.dumps(meta)) < 5000, "the long argv is not copied"


def test_rotation_axis_falls_back_to_the_parameters(full_scan):
    rec = metadata_of(full_scan, recon={"rotation-axis": 7.5}, recon_result={"rotation_axis": None})[
        "tomography"]["reconstruction"]
    assert (rec["rotation_axis"], rec["rotation_axis_source"]) == (7.5, "parameters")
    rec = metadata_of(full_scan, recon={"rotation-axis": -1, "rotation-axis-auto": "auto"})[
        "tomography"]["reconstruction"]
    assert "rotation_axis" not in rec and rec["rotation_axis_source"].startswith("auto")


def test_previews_result_is_summarised(full_scan):
    previews = {"kind": "try", "folder": "/d/try_center/s/previews", "previews": ["/d/m.png"],
                "suggested_center": 8.3, "focus_metric": "entropy", "ranking": [{"center": 8.5}] * 5}
    meta = metadata_of(full_scan, previews_result=previews)
    assert meta["tomography"]["previews"] == {k: previews[k] for k in
                                              ("kind", "folder", "previews", "suggested_center",
                                               "focus_metric")}


def test_default_kwargs_of_the_tool_state_are_accepted(full_scan):
    """Without a tasks modifier the task gets all of $.input: unknown keys are ignored."""
    output = scan_metadata(tomocupy={"file_name": str(full_scan)}, recon={}, compute_endpoint="e",
                           tomocupy_endpoint_config={}, scan_metadata_function_id="f")
    assert set(output) == {"metadata", "worker"}  # every shim's result says what the worker ran


def test_publishv2_payload_merges_the_users_metadata_and_feeds_publishv2(full_scan, tmp_path):
    dataset = tmp_path / "raw_rec" / "femur_001_rec"
    dataset.mkdir(parents=True)
    (dataset / "recon_00000.tiff").write_bytes(b"II*\x00")
    publish = {"dataset": str(dataset), "destination": "/published/exp", "source_collection": "src",
               "destination_collection": "dst", "index": "idx", "visible_to": ["public"],
               "checksum_algorithms": ["sha256"], "enable_transfer": False, "enable_publish": False,
               "enable_meta_dc": True,
               "metadata": {"tomography": {"experiment": "cells", "scan": "femur_001.h5"},
                            "dc": {"titles": [{"title": "My own title"}]}}}
    output = scan_metadata(tomocupy={"file_name": str(full_scan)}, recon={"rotation-axis": 8.0},
                           publishv2=publish)
    payload = output["publishv2"]
    assert {k: v for k, v in payload.items() if k != "metadata"} == {
        k: v for k, v in publish.items() if k != "metadata"}
    assert payload["metadata"] == output["metadata"]
    assert output["metadata"]["dc"]["titles"] == [{"title": "My own title"}], "the user's value wins"
    assert output["metadata"]["tomography"]["experiment"] == "cells"
    assert output["metadata"]["tomography"]["acquisition"]["energy_kev"] == 25.0
    assert publish["metadata"]["dc"]["titles"] == [{"title": "My own title"}], "input not mutated"
    # what Publishv2 makes of it: our DataCite fields on top of its own, the tomography block beside
    content = publishv2_gather_metadata(**json.loads(json.dumps(payload)))["search"]["content"]
    assert content["dc"]["identifiers"][0]["identifierType"] == "GlobusSearchSubject"
    assert content["dc"]["creators"][0]["name"] == "Ada Lovelace"
    assert content["tomography"]["reconstruction"]["rotation_axis"] == 8.0
    assert content["files"][0]["filename"] == "recon_00000.tiff"


def test_missing_scan_or_file_name_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="scan file not found"):
        scan_metadata(tomocupy={"file_name": str(tmp_path / "nope.h5")})
    with pytest.raises(ValueError, match="file_name"):
        scan_metadata(tomocupy={})


def test_tool_is_a_compute_v3_state_that_fails_the_flow_on_error():
    state = ScanMetadata().get_flow_definition()["States"]["ScanMetadata"]
    assert state["ActionUrl"] == "https://compute.actions.globus.org/v3"
    assert state["ExceptionOnActionFailure"] is True
    assert state["Parameters"]["tasks"] == [{"function_id.$": "$.input.scan_metadata_function_id",
                                             "kwargs.$": "$.input"}]


def test_tasks_modifier_wires_input_and_earlier_results():
    @generate_flow_definition(modifiers={
        metadata_module.scan_metadata: {"tasks": scan_metadata_tasks(previews_state="MakePreviews")}})
    class MetadataOnly(GladierBaseClient):
        gladier_tools = [ScanMetadata]

    state = MetadataOnly().get_flow_definition()["States"]["ScanMetadata"]
    kwargs = state["Parameters"]["tasks"][0]["kwargs"]
    assert kwargs == {"tomocupy.$": "$.input.tomocupy", "recon.$": "$.input.recon",
                      "publishv2.$": "$.input.publishv2",
                      "return_data.$": "$.input.return_data",
                      "recon_result.$": "$.TomocupyRecon.details.results[0].output",
                      "previews_result.$": "$.MakePreviews.details.results[0].output",
                      "run_id.$": "$._context.run_id"}
    assert state["Parameters"]["endpoint_id.$"] == "$.input.compute_endpoint"


def test_a_publication_without_a_dataset_publishes_the_reconstruction_this_run_made(full_scan, tmp_path):
    """A run started from the web form does not name the dataset: the payload for Publishv2 names
    the reconstruction folder the reconstruction step reported."""
    output_dir = tmp_path / "raw_rec" / "femur_001_rec"
    output_dir.mkdir(parents=True)
    (output_dir / "recon_00000.tiff").write_bytes(b"II*\x00")
    (output_dir / "manifest.json").write_text(json.dumps(
        {"run_id": "run-7", "files": [{"path": "recon_00000.tiff", "bytes": 4, "sha256": "0" * 64}]}))
    publish = {"destination": "/published/exp", "source_collection": "src", "destination_collection": "dst",
               "index": "idx", "visible_to": ["public"], "enable_transfer": True, "enable_publish": True,
               "enable_meta_dc": True}
    output = scan_metadata(tomocupy={"file_name": str(full_scan)}, recon={"rotation-axis": 8.0},
                           recon_result={"output": str(output_dir), "manifest": str(output_dir / "manifest.json")},
                           run_id="run-7", publishv2=publish)
    assert output["publishv2"]["dataset"] == str(output_dir)
    assert "dataset" not in publish, "input not mutated"


def _reconstruction(root: Path, run_id: str = "run-7") -> Path:
    """A finished reconstruction at ``root/raw_rec/femur_001_rec`` (one slice, its previews)."""
    output_dir = root / "raw_rec" / "femur_001_rec"
    (output_dir / "previews").mkdir(parents=True)
    (output_dir / "recon_00000.tiff").write_bytes(b"II*\x00")
    (output_dir / "previews" / "xy.png").write_bytes(b"\x89PNG")
    (output_dir / "manifest.json").write_text(json.dumps(
        {"run_id": run_id, "files": [{"path": "recon_00000.tiff", "bytes": 4, "sha256": "0" * 64},
                                     {"path": "previews/xy.png", "bytes": 4, "sha256": "1" * 64}]}))
    return output_dir


def _sent_back(scan: Path, output_dir: Path, back: dict, basepath: Path) -> dict:
    publish = {"source_collection": "facility", "source_collection_basepath": str(basepath),
               "destination": "/published", "destination_collection": "dst"}
    return scan_metadata(tomocupy={"file_name": str(scan)}, recon={"rotation-axis": 8.0},
                         recon_result={"output": str(output_dir), "manifest": str(output_dir / "manifest.json")},
                         previews_result={"folder": str(output_dir / "previews")},
                         run_id="run-7", publishv2=publish, return_data=back)["return_data"]


@pytest.mark.parametrize("what, source, destination", [
    ("previews", "/raw_rec/femur_001_rec/previews", "/incoming/femur_001_rec/previews"),
    ("reconstruction", "/raw_rec/femur_001_rec", "/incoming/femur_001_rec"),
])
def test_the_return_request_names_this_runs_folder_on_the_facility_collection(
        full_scan, tmp_path, what, source, destination):
    """The input says what and to which folder; the request says which of this run's folders
    (as a path on the facility collection) and the subfolder named after the reconstruction."""
    output_dir = _reconstruction(tmp_path)
    back = {"enable": True, "what": what, "destination": {"id": "analysis", "path": "/incoming"}}
    request = _sent_back(full_scan, output_dir, back, basepath=tmp_path)
    assert request == {"enable": True, "what": what, "source": {"id": "facility", "path": source},
                       "destination": {"id": "analysis", "path": destination}, "recursive": True}
    assert back["destination"]["path"] == "/incoming", "input not mutated"


def test_a_return_that_is_off_is_passed_on_as_it_is(full_scan, tmp_path):
    output_dir = _reconstruction(tmp_path)
    assert _sent_back(full_scan, output_dir, {"enable": False}, basepath=tmp_path) == {"enable": False}


def test_results_outside_the_facility_collection_are_not_sent_back(full_scan, tmp_path):
    output_dir = _reconstruction(tmp_path)
    back = {"enable": True, "what": "previews", "destination": {"id": "analysis", "path": "/incoming"}}
    with pytest.raises(ValueError, match=r"not on the facility collection \(its root is /elsewhere"):
        _sent_back(full_scan, output_dir, back, basepath=Path("/elsewhere"))
