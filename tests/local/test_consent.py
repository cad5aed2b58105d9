"""A run that needs a data_access consent, end to end on the local backend: INACTIVE with the
details Globus Flows gives (code ConsentRequired, the required scope), explained by `status`,
listed by `runs`, resumed by `resume`, SUCCEEDED with its outputs; and a campaign resuming it.

The INACTIVE run's shape is held against a Globus-authored artifact: the INACTIVE run of
globus-cli's `flows run resume` tests (tests/fixtures/globus/flows_run_inactive_consent_required.json,
source in tests/fixtures/globus/SOURCES.md), read with globus-sdk's own GARE parser.
"""

from __future__ import annotations

import json
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from globus_sdk.gare import to_gare

from tomocupy_gladier.cli import main
from tomocupy_gladier.clients.client_factory import make_client
from tomocupy_gladier.tools.registry import load_config
from tomocupy_gladier.runs.consents import missing_consent
from tomocupy_gladier.demo.synthetic import write_scan

from tests.conftest import FACILITY, SOURCE, experiment_toml

ENGINE = json.dumps([sys.executable, "-m", "tomocupy_gladier.engine"])
FIXTURE = Path(__file__).resolve().parent.parent / "fixtures/globus/flows_run_inactive_consent_required.json"


@pytest.fixture
def consent_experiment(tmp_path: Path) -> Iterator[Path]:
    """The CPU engine on a small scan; the beamline collection needs a data_access consent."""
    for folder in ("beamline", "facility/raw", "portal"):
        (tmp_path / folder).mkdir(parents=True)
    write_scan(tmp_path / "beamline" / "scan1.h5", nproj=90, nrows=4, ncols=64, rotation_axis=34.5, seed=3)
    text = experiment_toml(executable=ENGINE).replace("rotation-axis = 256.5", textwrap.dedent("""\
        rotation-axis = 34.5
        nsino-per-chunk = 4"""))
    text = text.replace("[local.collections]", f'[local]\nconsent_required = ["{SOURCE}"]\n\n[local.collections]')
    path = tmp_path / "experiment.toml"
    path.write_text(text)
    yield path
    # a failed test must not leave a worker waiting for a consent forever: end its runs
    from tomocupy_gladier.local.store import RunStore

    store = RunStore(tmp_path / ".tomocupy-gladier" / "runs.db", recover=False)
    for run in store.list_runs(status="INACTIVE", limit=None):
        store.fail_run(run["run_id"], "TestOver", "the test ended")
    store.close()


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def wait_for(client, run_id: str, statuses: set[str], timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        record = client.get_status(run_id)
        if record["status"] in statuses or time.monotonic() > deadline:
            return record
        time.sleep(0.1)


def test_the_inactive_run_reads_as_globus_flows_writes_one():
    """Our reader and globus-sdk's GARE parser agree on the Globus-authored fixture."""
    published = json.loads(FIXTURE.read_text())
    missing = missing_consent(published)
    assert missing is not None
    assert missing.required_scope == published["details"]["required_scope"]
    assert missing.collections == ("7c1f3b9e-0d2a-4e5b-8f6a-1b2c3d4e5f60",)
    assert missing.state_name == published["details"]["state_name"]


def test_a_run_waits_inactive_for_the_consent_and_resume_gives_it(consent_experiment):
    config = load_config(consent_experiment)
    result = invoke("run", "scan1.h5", "--config", str(consent_experiment), "--full", "--no-follow")
    assert result.exit_code == 0, result.output
    run_id = result.output.strip().splitlines()[-1]
    client = make_client("tomocupy", config)
    record = wait_for(client, run_id, {"INACTIVE", "FAILED", "SUCCEEDED"})

    # INACTIVE as Flows makes it: the same keys and codes as the Globus-authored fixture
    assert record["status"] == "INACTIVE", record["details"]
    published = json.loads(FIXTURE.read_text())
    details = record["details"]
    assert details["code"] == published["details"]["code"] == "ConsentRequired"
    assert set(published["details"]) <= set(details)
    (action,) = details["action_statuses"]
    assert set(published["details"]["action_statuses"][0]) <= set(action)
    assert action["status"] == "INACTIVE" and action["details"]["code"] == "ConsentRequired"
    gare = to_gare(details)  # globus-sdk reads it as it reads Flows' own
    assert gare is not None and gare.authorization_parameters.required_scopes == [details["required_scope"]]
    assert f"/scopes/{SOURCE}/data_access" in details["required_scope"]
    assert not (consent_experiment.parent / "facility/raw/scan1.h5").exists()  # nothing moved yet

    shown = invoke("status", run_id, "--config", str(consent_experiment))
    assert "INACTIVE" in shown.output and f"collection(s) {SOURCE}" in shown.output
    assert f"tomocupy-gladier resume {run_id}" in shown.output
    listed = CliRunner().invoke(main, ["runs", "--config", str(consent_experiment)], env={"COLUMNS": "250"})
    assert "INACTIVE" in listed.output and "ConsentRequired" in listed.output

    resumed = invoke("resume", run_id, "--config", str(consent_experiment), "--follow")
    assert resumed.exit_code == 0, resumed.output
    final = client.get_status(run_id)
    assert final["status"] == "SUCCEEDED", final["details"]
    root = consent_experiment.parent
    assert (root / "facility/raw/scan1.h5").read_bytes() == (root / "beamline/scan1.h5").read_bytes()
    assert sorted(p.name for p in (root / "facility/raw_rec/scan1_rec").glob("recon_*.tiff")) == [
        f"recon_{r:05d}.tiff" for r in range(4)]
    assert (root / "portal/published/cells/scan1_rec/recon_00000.tiff").exists()

    # the consent stays given: the next run does not stop
    again = invoke("run", "scan1.h5", "--config", str(consent_experiment), "--full", "--no-follow")
    second = wait_for(client, again.output.strip().splitlines()[-1], {"INACTIVE", "FAILED", "SUCCEEDED"})
    assert second["status"] == "SUCCEEDED", second["details"]


def test_resuming_without_the_consent_leaves_the_run_inactive(consent_experiment):
    config = load_config(consent_experiment)
    client = make_client("recon", config)  # the recon flow never touches the beamline ...
    tomocupy = make_client("tomocupy", config, background=True)
    from tomocupy_gladier.planning.flow_input import build_flow_input, recon_parameters

    body = build_flow_input(config, "scan1.h5", recon_parameters(config, {}, "full"))
    run_id = tomocupy.run_flow(flow_input=body, label="needs consent")["run_id"]
    assert wait_for(tomocupy, run_id, {"INACTIVE"})["status"] == "INACTIVE"
    backend = tomocupy.flows_manager.backend
    backend.resume_run(run_id, grant=False)  # Flows' resume alone: the action looks again
    time.sleep(0.5)
    assert wait_for(tomocupy, run_id, {"INACTIVE"})["status"] == "INACTIVE"
    assert client.flows_manager.backend.store.granted_consents() == set()
    backend.store.fail_run(run_id, "Cancelled", "test over")


def test_the_campaign_reports_the_run_then_resumes_it_once_the_consent_is_given(consent_experiment):
    from tomocupy_gladier.campaign.gladier_service import GladierClientRunService
    from tomocupy_gladier.campaign.ledger import Ledger
    from tomocupy_gladier.campaign.manifest import Job
    from tomocupy_gladier.campaign.runner import CampaignRunner, RunnerSettings
    from tomocupy_gladier.campaign.wiring import body_builder

    config = load_config(consent_experiment)
    client = make_client("tomocupy", config, background=True)
    ledger = Ledger(consent_experiment.parent / "c.sqlite")
    ledger.add_jobs([Job("scan1.h5", "default", {})])
    messages: list[str] = []
    runner = CampaignRunner(ledger, GladierClientRunService(client), body_builder(config, "tomocupy"),
                            name="c", settings=RunnerSettings(poll_interval=0.1, max_poll_interval=0.2),
                            progress=lambda counts, message: messages.append(message))
    runner.prepare()
    deadline = time.monotonic() + 60
    while not any("ConsentRequired" in m for m in messages) and time.monotonic() < deadline:
        runner.step()
        time.sleep(0.05)
    reported = [m for m in messages if "ConsentRequired" in m]
    assert len(reported) == 1 and "tomocupy-gladier resume" in reported[0]
    for _ in range(5):  # reported once, not resumed while the consent is missing
        runner.step()
        time.sleep(0.1)
    assert len([m for m in messages if "ConsentRequired" in m]) == 1

    client.flows_manager.backend.store.grant_consents([SOURCE])  # someone consents (a login)
    while runner.busy and time.monotonic() < deadline:
        runner.step()
        time.sleep(0.1)
    assert ledger.counts()["SUCCEEDED"] == 1, messages
    assert any("resumed" in m for m in messages)
