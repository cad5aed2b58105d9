"""The local Compute action provider: registered source text, run in a fresh interpreter."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tomocupy_gladier.local.errors import ActionTimeout, InvalidRequest
from tomocupy_gladier.local.providers.compute import ComputeProvider
from tomocupy_gladier.local.registry import FunctionRegistry, function_id_for

MODULE_CONSTANT = 41


def add(a, b=0, **data):
    import os

    return {"sum": a + b, "pid": os.getpid(), "cwd": os.getcwd()}


def uses_module_global(**data):
    return MODULE_CONSTANT + 1  # works in-process, not where only the source is shipped


def raises(**data):
    raise ValueError("bad scan")


def sleeps(seconds, **data):
    import time

    time.sleep(seconds)


def returns_a_set(**data):
    return {1, 2}


def prints_and_reads_env(**data):
    import os

    print("progress 50%", flush=True)
    return os.environ.get("TOMO_TEST_VAR")


@pytest.fixture
def registry(tmp_path: Path) -> FunctionRegistry:
    return FunctionRegistry(tmp_path / "functions.db")


@pytest.fixture
def ids(registry):
    fns = [add, uses_module_global, raises, sleeps, returns_a_set, prints_and_reads_env]
    return {f.__name__: registry.register(f) for f in fns}


def _v3(provider, function_id, kwargs=None, wait=30, args=None):
    from tomocupy_gladier.local.actions import ActionRequest

    task = {"function_id": function_id, "kwargs": kwargs or {}}
    if args is not None:
        task["args"] = args
    body = {"endpoint_id": "ep-1", "tasks": [task]}
    return provider(ActionRequest("a", "u", "S", body, wait, time.monotonic() + wait))


def test_registration_is_deterministic_by_checksum(registry):
    import hashlib

    from tomocupy_gladier.globus.compute_manager import SourceComputeManager as ComputeManager

    fid = registry.register(add)
    assert fid == registry.register(add)
    stored = registry.get(fid)
    assert fid == function_id_for(hashlib.sha256(stored.source.encode()).hexdigest())
    gladier_checksum = ComputeManager.get_compute_function_checksum(add)  # what the adapter passes
    assert registry.register(add, gladier_checksum) == function_id_for(gladier_checksum)
    assert stored.name == "add" and stored.source.startswith("def add(a, b=0, **data):")


def test_v3_success_runs_in_a_subprocess_in_its_task_folder(tmp_path, registry, ids):
    import os

    provider = ComputeProvider(registry, tmp_path / "tasks")
    result = _v3(provider, ids["add"], {"a": 2, "b": 3})
    assert result.status == "SUCCEEDED"
    [entry] = result.details["results"]
    assert set(entry) == {"task_id", "output"}
    assert entry["output"]["sum"] == 5
    assert entry["output"]["pid"] != os.getpid()
    assert Path(entry["output"]["cwd"]) == tmp_path / "tasks" / "a-0"  # <action id>-<index>
    assert provider.task_dir("a", 0) == tmp_path / "tasks" / "a-0"
    assert set(result.details) == {"result", "results"}  # nothing the real AP lacks


def test_positional_args(tmp_path, registry, ids):
    result = _v3(ComputeProvider(registry, tmp_path), ids["add"], {"b": 1}, args=[10])
    assert result.details["results"][0]["output"]["sum"] == 11


def test_only_the_source_is_shipped(tmp_path, registry, ids):
    assert uses_module_global() == 42  # fine in this process...
    result = _v3(ComputeProvider(registry, tmp_path), ids["uses_module_global"])
    assert result.status == "FAILED"  # ...but not on an endpoint
    assert "NameError: name 'MODULE_CONSTANT' is not defined" in result.details["exception"]


def test_an_exception_fails_with_its_traceback(tmp_path, registry, ids):
    result = _v3(ComputeProvider(registry, tmp_path), ids["raises"])
    assert result.status == "FAILED"
    assert "Traceback" in result.details["exception"]
    assert "ValueError: bad scan" in result.details["results"][0]["exception"]


def test_a_result_must_be_json(tmp_path, registry, ids):
    result = _v3(ComputeProvider(registry, tmp_path), ids["returns_a_set"])
    assert result.status == "FAILED"
    assert "not JSON serialisable" in result.details["exception"]


def test_a_task_past_its_wait_time_goes_on_detached_then_is_killed(tmp_path, registry, ids):
    provider = ComputeProvider(registry, tmp_path, detached_limit=1)
    started = time.monotonic()
    with pytest.raises(ActionTimeout) as info:
        _v3(provider, ids["sleeps"], {"seconds": 30}, wait=0.5)
    assert time.monotonic() - started < 5
    assert "goes on for at most 1 s more" in info.value.cause
    task_id = info.value.details["results"][0]["task_id"]
    assert info.value.details == {"result": [], "results": [{"task_id": task_id}]}
    [pid] = provider.detached()
    deadline = time.monotonic() + 10
    while provider.detached() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert provider.detached() == []  # killed at its limit: no orphan
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_details_are_shaped_like_the_compute_action_provider(tmp_path, registry, ids):
    result = _v3(ComputeProvider(registry, tmp_path), ids["add"], {"a": 1, "b": 2})
    entry = result.details["results"][0]
    assert entry["output"]["sum"] == 3
    assert result.details == {"result": [entry["output"]],
                              "results": [{"task_id": entry["task_id"], "output": entry["output"]}]}


def test_output_is_logged_and_extra_env_is_passed(tmp_path, registry, ids):
    provider = ComputeProvider(registry, tmp_path, env={"TOMO_TEST_VAR": "from-config"})
    result = _v3(provider, ids["prints_and_reads_env"])
    entry = result.details["results"][0]
    assert entry["output"] == "from-config"
    log = provider.task_dir("a") / "output.log"
    assert "progress 50%" in log.read_text()


def test_v2_payload_is_passed_as_kwargs(tmp_path, registry, ids):
    from tomocupy_gladier.local.actions import ActionRequest

    provider = ComputeProvider(registry, tmp_path, version=2)
    body = {"tasks": [{"endpoint": "ep", "function": ids["add"], "payload": {"a": 1, "b": 1}}]}
    result = provider(ActionRequest("a", "u", "S", body, 30, time.monotonic() + 30))
    assert result.details["results"][0]["output"]["sum"] == 2


@pytest.mark.parametrize("body", [
    {"tasks": [{"function_id": "x"}]},  # no endpoint_id
    {"endpoint_id": "e", "tasks": []},
    {"endpoint_id": "e", "tasks": [{"function_id": "not-registered"}]},
    {"endpoint_id": "e", "tasks": [{"function_id": "x"}], "surprise": 1},
])
def test_malformed_v3_requests_are_rejected(tmp_path, registry, body):
    from tomocupy_gladier.local.actions import ActionRequest

    with pytest.raises(InvalidRequest):
        ComputeProvider(registry, tmp_path)(ActionRequest("a", "u", "S", body, 5,
                                                           time.monotonic() + 5))


def test_resource_specification_is_accepted(tmp_path, registry, ids):
    from tomocupy_gladier.local.actions import ActionRequest

    body = {"endpoint_id": "e", "tasks": [{"function_id": ids["add"], "kwargs": {"a": 1}}],
            "resource_specification": {"num_nodes": 1}, "user_endpoint_config": {"q": "debug"}}
    result = ComputeProvider(registry, tmp_path)(ActionRequest("a", "u", "S", body, 30,
                                                                time.monotonic() + 30))
    assert result.status == "SUCCEEDED"
    assert json.dumps(result.details)  # JSON all the way
