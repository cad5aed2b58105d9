"""The registered compute functions are shims of the endpoint library (tomocupy_gladier.compute):
only their source is shipped, the library is installed where they run, and its version must be
the client's. The local backend's compute child runs exactly the registered source, so a shim
that leans on more than the installed library fails here as it would on Polaris."""

from __future__ import annotations

import inspect
import time
from pathlib import Path

import pytest

from tomocupy_gladier import __version__
from tomocupy_gladier.compute import VERSION_FIELD, VersionMismatch
from tomocupy_gladier.compute import metadata as metadata_library
from tomocupy_gladier.flows import FLOWS
from tomocupy_gladier.tools.registry import library_shims

LIBRARY_SHIMS = library_shims()
from tomocupy_gladier.action_urls import COMPUTE_V2_URL as COMPUTE_URL
from tomocupy_gladier.local.actions import ActionRequest
from tomocupy_gladier.local.providers.compute import ComputeProvider
from tomocupy_gladier.local.registry import FunctionRegistry
from tomocupy_gladier.demo.synthetic import write_scan
from tomocupy_gladier.tools.metadata.scan_metadata import scan_metadata


def leans_on_its_module(tomocupy=None, **data):
    """A shim written wrong: the library comes from its module's imports, not its own body."""
    return metadata_library.scan_metadata(tomocupy=tomocupy)


@pytest.fixture
def scan(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "scan1.h5"
    write_scan(path, nproj=12, nrows=2, ncols=16, seed=1)
    return path


def run_registered(tmp_path: Path, function, kwargs: dict):
    """Register ``function`` and run it as the local backend's Compute provider does."""
    registry = FunctionRegistry(tmp_path / "functions.db")
    function_id = registry.register(function)
    body = {"endpoint_id": "ep", "tasks": [{"function_id": function_id, "kwargs": kwargs}]}
    provider = ComputeProvider(registry, tmp_path / "tasks")
    return registry.get(function_id), provider(ActionRequest("a", "u", "S", body, 60, time.monotonic() + 60))


def test_a_shim_runs_from_its_source_alone_with_the_installed_library(tmp_path, scan):
    stored, result = run_registered(tmp_path, scan_metadata, {
        "tomocupy": {"file_name": str(scan)}, VERSION_FIELD: __version__})
    assert stored.source == inspect.getsource(scan_metadata)  # the def only: no module around it
    assert result.status == "SUCCEEDED", result.details
    assert result.details["results"][0]["output"]["metadata"]["tomography"]["scan"] == "scan1.h5"


def test_a_shim_that_leans_on_its_module_fails_as_on_the_endpoint(tmp_path, scan):
    assert leans_on_its_module(tomocupy={"file_name": str(scan)})["metadata"]  # fine in-process...
    _, result = run_registered(tmp_path, leans_on_its_module, {"tomocupy": {"file_name": str(scan)}})
    assert result.status == "FAILED"  # ...not where only the source arrives
    assert "NameError: name 'metadata_library' is not defined" in result.details["exception"]


def test_an_endpoint_of_another_version_refuses_naming_both(tmp_path, scan):
    _, result = run_registered(tmp_path, scan_metadata, {
        "tomocupy": {"file_name": str(scan)}, VERSION_FIELD: "0.0.1"})
    assert result.status == "FAILED"
    message = result.details["exception"]
    assert "VersionMismatch" in message
    assert "started by tomocupy-gladier 0.0.1" in message and f"has tomocupy-gladier {__version__}" in message
    assert "docs/polaris.md" in message


@pytest.mark.parametrize("shim", LIBRARY_SHIMS, ids=lambda f: f.__name__)
def test_each_shim_is_short_checks_the_version_and_keeps_the_library_description(shim, tmp_path):
    source = inspect.getsource(shim)
    assert len(source.splitlines()) <= 40
    assert "check_version(data.get(VERSION_FIELD))" in source
    assert shim.__doc__ and "shim" not in shim.__doc__  # the state's Comment: what the step does
    with pytest.raises(VersionMismatch, match="0.0.1"):
        shim(tomocupy={"file_name": str(tmp_path / "none.h5")}, **{VERSION_FIELD: "0.0.1"})


@pytest.mark.parametrize("name", sorted(FLOWS))
def test_every_task_of_a_shim_gets_the_client_version(name):
    from tomocupy_gladier.clients.client_factory import offline_client

    client = offline_client(name)
    definition, schema = client.get_flow_definition(), client.get_flow_schema()
    ids = {f"$.input.{shim.__name__}_function_id" for shim in LIBRARY_SHIMS}
    tasks = [task for state in definition["States"].values()
             if state.get("Type") == "Action" and state["ActionUrl"].startswith(COMPUTE_URL)
             for task in state["Parameters"].get("tasks", []) if task.get("function_id.$") in ids]
    assert tasks
    assert all(task["kwargs"][f"{VERSION_FIELD}.$"] == f"$.input.{VERSION_FIELD}" for task in tasks)
    inner = schema["properties"]["input"]
    assert VERSION_FIELD in inner["required"]
    assert inner["properties"][VERSION_FIELD]["default"] == __version__
