"""The example flows users copy: they build on TomocupyFlow without copying it, and run end to end."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tomocupy_gladier.clients.client_factory import make_client, offline_client
from tomocupy_gladier.runs.catalog import search_local
from tomocupy_gladier.tools.registry import load_config
from tomocupy_gladier.planning.flow_input import build_flow_input, recon_parameters
from tomocupy_gladier.flows import TomocupyFlow

from tests.tiny_experiment import return_section, tiny_experiment

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_example(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` as a module (Gladier reads its functions' source from it)."""
    module_name = f"tomocupy_gladier_example_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def catalog() -> ModuleType:
    return load_example("catalog_flow")


@pytest.mark.parametrize("name, state", [("catalog_flow", "CatalogRecord"), ("notify_flow", "NotifyDone")])
def test_extended_flows_add_their_step_after_the_flows_own_steps(name, state):
    module = load_example(name)
    flow = next(v for k, v in vars(module).items() if k.startswith("TomocupyFlowWith"))
    states = offline_client(flow).get_flow_definition()["States"]
    base = offline_client("tomocupy").get_flow_definition()["States"]
    assert set(states) == set(base) | {state, f"{state}Failed"}
    # after the return step and the removal after publication, however they ended, the new step
    # follows, and the email comes last
    assert states["ReturnData"]["Next"] == states["ReturnDataSkipped"]["Next"] == "RetentionChoice"
    assert {states[name]["Next"] for name in ("RetentionSkipped", "RetentionKept", "RetentionDone",
                                              "RetentionNotRemoved", "RetentionUndecided")} == {state}
    assert states[state]["Next"] == "NotifyChoice"
    assert states[state]["Catch"][0]["Next"] == f"{state}Failed"
    # TomocupyFlow's inputs, all of them, plus the example's own
    inner = flow.flow_schema["properties"]["input"]
    base_inner = TomocupyFlow.flow_schema["properties"]["input"]
    assert set(base_inner["properties"]) < set(inner["properties"])
    assert set(base_inner["required"]) < set(inner["required"])


def test_catalog_step_gets_the_published_record_and_the_run_id(catalog):
    state = offline_client(catalog.TomocupyFlowWithCatalog).get_flow_definition()["States"]["CatalogRecord"]
    kwargs = state["Parameters"]["tasks"][0]["kwargs"]
    assert kwargs == {"catalog_file.$": "$.input.catalog_file",
                      "published.$": "$.Publishv2GatherMetadata.details.results[0].output",
                      "run_id.$": "$._context.run_id"}
    assert state["ActionUrl"] == "https://compute.actions.globus.org/v3"


def test_catalog_flow_end_to_end_on_the_local_backend(tmp_path: Path, catalog):
    config = load_config(tiny_experiment(tmp_path, return_section()))
    recon = recon_parameters(config, {}, "full")
    body = build_flow_input(config, "scan1.h5", recon)
    body["input"]["catalog_file"] = str(catalog.catalog_path(config))
    client = make_client(catalog.TomocupyFlowWithCatalog, config)
    run = client.run_flow(flow_input=body, label="catalogue test")
    assert run["status"] == "SUCCEEDED", run["details"]

    catalogue = tmp_path / "facility/catalog/cells.jsonl"
    [line] = [json.loads(text) for text in catalogue.read_text().splitlines()]
    [record] = search_local(config.local_state_dir, "scan1")
    # the catalogue line says what the published record says
    assert line["run_id"] == run["run_id"]
    assert line["subject"] == record.subject
    assert line["subject"].endswith("/published/cells/scan1_rec")
    assert (line["experiment"], line["scan"], line["type"]) == ("cells", "scan1.h5", "full")
    assert line["sample"] == record.sample == "ellipsoid phantom"
    assert line["energy_kev"] == record.energy_kev
    assert line["rotation_axis"] == record.rotation_axis == pytest.approx(35.25, abs=1)
    assert sorted(line["previews"]) == sorted(record.previews)
    assert [p.rsplit("/", 1)[1] for p in sorted(line["previews"])] == ["xy.png", "xz.png", "yz.png"]
    assert line["files"] == record.files
    # the result of the step is the line, in the run's output
    output = run["details"]["output"]["CatalogRecord"]["details"]["results"][0]["output"]
    assert output == line
    # and the return step ran before it
    assert (tmp_path / "analysis/incoming/scan1_rec/previews/xy.png").is_file()


def test_catalog_lines_are_appended(tmp_path: Path, catalog):
    published = {"search": {"subject": "globus://c/published/a", "content": {
        "tomography": {"scan": "a.h5", "acquisition": {"sample": "shale"},
                       "reconstruction": {"type": "try"}, "previews": {"suggested_center": 31.5},
                       "files": {"count": 2, "bytes": 1000, "manifest_url": "globus://c/published/a/manifest.json",
                                 "previews": ["globus://c/published/a/previews/try_montage.png"]}}}}}
    path = tmp_path / "deep/catalogue.jsonl"
    first = catalog.catalog_record(str(path), published, run_id="r1")
    catalog.catalog_record(str(path), {}, run_id="r2")
    lines = [json.loads(text) for text in path.read_text().splitlines()]
    assert [x["run_id"] for x in lines] == ["r1", "r2"]
    assert lines[0] == first
    assert (first["sample"], first["suggested_center"], first["files"]) == ("shale", 31.5, 2)
    assert first["previews"] == ["globus://c/published/a/previews/try_montage.png"]
    assert lines[1]["subject"] is None and lines[1]["previews"] == []
