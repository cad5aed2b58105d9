"""`deploy` as a facility's first deployment meets it: the subscription rule of Globus Flows, and
a dry run that shows, offline, exactly the requests a real deploy sends.

The real deploy runs against globus_sdk.testing's registered Flows responses and a Compute
service answering like the real one (tests/test_globus_http.py's `globus` fixture); the dry run
runs with no registered response at all, so any request it tried to send would fail.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import responses
from click.testing import CliRunner

from tests.test_globus_http import (  # noqa: F401  (globus is a fixture)
    EXPERIMENT_TOML,
    FLOW_ID,
    SUBSCRIPTION,
    StaticLogin,
    body_of,
    calls_to,
    globus,
)
from tomocupy_gladier.globus import auth
from tomocupy_gladier.cli import main
from tomocupy_gladier.flows import FLOWS

# Flows' limits page (docs.globus.org/api/flows/limits): without a subscription a user may own
# one flow, and such a flow expires after 30 days
ONE_FLOW_PER_USER = "lets a user own one flow without a subscription"


def write_experiment(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "experiment.toml"
    path.write_text(EXPERIMENT_TOML + extra)
    return path


def deploy(*args: str) -> Any:
    return CliRunner().invoke(main, ["deploy", *args])


@pytest.fixture
def logged_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "login_manager_for", lambda client_id=None: StaticLogin())


def test_every_flow_without_a_subscription_is_refused_before_anything_is_sent(
        globus, logged_in, tmp_path):
    result = deploy("--config", str(write_experiment(tmp_path)))

    assert result.exit_code == 2
    assert ONE_FLOW_PER_USER in result.output and "expires after 30 days" in result.output
    assert "subscription_id" in result.output and "[globus]" in result.output
    assert "--flow" in result.output
    assert "Traceback" not in result.output
    assert list(globus.calls) == []


def test_one_flow_without_a_subscription_is_deployed(globus, logged_in, tmp_path):
    result = deploy("--config", str(write_experiment(tmp_path)), "--flow", "recon")

    assert result.exit_code == 0, result.output
    (create,) = calls_to(globus, "POST", "/flows")
    assert body_of(create)["title"] == "TomocupyReconFlow flow"
    assert "subscription_id" not in body_of(create)


def test_with_a_subscription_every_flow_is_deployed_under_it(globus, logged_in, tmp_path):
    config = write_experiment(tmp_path, f'[globus]\nsubscription_id = "{SUBSCRIPTION}"\n')

    result = deploy("--config", str(config))

    assert result.exit_code == 0, result.output
    created = [body_of(c) for c in calls_to(globus, "POST", "/flows")]
    assert sorted(c["title"] for c in created) == sorted(f"{cls.__name__} flow" for cls in _classes())
    assert all(c["subscription_id"] == SUBSCRIPTION for c in created)
    assert [line.split(":")[0] for line in result.output.splitlines() if not line.startswith("start")] == list(FLOWS)


def _classes() -> list[type]:
    from tomocupy_gladier.globus.gladier_storage import decorated_parts

    return [decorated_parts(cls)[0] for cls in FLOWS.values()]


def test_the_dry_run_sends_nothing_needs_no_login_and_writes_nothing(tmp_path, monkeypatch):
    def no_login(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the dry run must not log in")

    monkeypatch.setattr(auth, "login_manager_for", no_login)
    config = write_experiment(tmp_path, f'[globus]\nsubscription_id = "{SUBSCRIPTION}"\n')
    before = sorted(p for p in Path.home().rglob("*"))

    with responses.RequestsMock() as nothing_registered:
        result = CliRunner().invoke(main, ["deploy", "--config", str(config), "--dry-run"])
        assert list(nothing_registered.calls) == []

    assert result.exit_code == 0, result.output
    assert sorted(p for p in Path.home().rglob("*")) == before
    planned = json.loads(result.output)
    assert [p["flow"] for p in planned] == list(FLOWS)
    for flow in planned:
        assert flow["flow_id"] == f"<id of the {flow['flow']} flow: assigned when created>"
        methods = [(r["method"], r["url"]) for r in flow["requests"]]
        assert methods[-1] == ("POST", "https://flows.automate.globus.org/flows")
        assert set(methods[:-1]) == {("POST", "https://compute.api.globus.org/v3/functions")}


def test_the_dry_run_prints_the_requests_a_real_deploy_sends(globus, logged_in, tmp_path):
    """Byte for byte, but for what Globus assigns (ids) and the serialized function code, which
    the dry run shows as its size and sha256."""
    import hashlib

    config = write_experiment(tmp_path, f'[globus]\nsubscription_id = "{SUBSCRIPTION}"\n')
    planned = json.loads(deploy("--config", str(config), "--flow", "tomocupy", "--dry-run").output)
    (tomocupy,) = planned

    assert deploy("--config", str(config), "--flow", "tomocupy").exit_code == 0
    sent = [c.request for c in globus.calls if c.request.method in ("POST", "PUT")]
    assert [(r.method, r.path_url) for r in sent] == [
        (r["method"], r["path"]) for r in tomocupy["requests"]]
    for real, shown in zip(sent, tomocupy["requests"]):
        body = json.loads(real.body)
        if "function_code" in body:
            code = body.pop("function_code")
            assert shown["body"].pop("function_code") == (
                f"<serialized source: {len(code)} characters, sha256 {hashlib.sha256(code.encode()).hexdigest()}>")
        else:
            _same_but_ids(body["input_schema"], shown["body"]["input_schema"])
            body.pop("input_schema"), shown["body"].pop("input_schema")
        assert body == shown["body"]


def _same_but_ids(real: Any, shown: Any) -> None:
    """Equal, except where the real deploy has a function id Compute assigned and the dry run
    its placeholder."""
    if isinstance(real, dict):
        assert real.keys() == shown.keys()
        for key in real:
            if key == "default" and isinstance(shown[key], str) and shown[key].startswith("<id of function"):
                continue
            _same_but_ids(real[key], shown[key])
    elif isinstance(real, list):
        assert len(real) == len(shown)
        for a, b in zip(real, shown):
            _same_but_ids(a, b)
    else:
        assert real == shown


def test_a_flow_deployed_from_this_machine_is_seen_by_the_dry_run(globus, logged_in, tmp_path):
    """Gladier's id file is read (a copy of it): an unchanged flow would not be sent again, a
    changed experiment would update the deployed flow (PUT), as the real deploy does."""
    config = write_experiment(tmp_path)
    assert deploy("--config", str(config), "--flow", "recon").exit_code == 0

    (unchanged,) = json.loads(deploy("--config", str(config), "--flow", "recon", "--dry-run").output)
    assert unchanged["flow_id"] == FLOW_ID and unchanged["requests"] == []

    config.write_text(config.read_text().replace("rotation-axis = 1024.5", "rotation-axis = 1000.5"))
    (changed,) = json.loads(deploy("--config", str(config), "--flow", "recon", "--dry-run").output)
    ((method, path),) = [(r["method"], r["path"]) for r in changed["requests"]]
    assert (method, path) == ("PUT", f"/flows/{FLOW_ID}")
