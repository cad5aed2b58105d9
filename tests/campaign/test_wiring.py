"""How campaign jobs become flow input."""

from __future__ import annotations

from pathlib import Path

from tomocupy_gladier.campaign.ledger import PENDING, JobRow
from tomocupy_gladier.campaign.wiring import body_builder
from tomocupy_gladier.tools.registry import load_config
from tomocupy_gladier.tools.notify.config import notify_config

from tests.conftest import tiny_scan


def job(dataset: str, param_set: str, params: dict) -> JobRow:
    return JobRow(key="k", dataset=dataset, param_set=param_set, params=params, state=PENDING,
                  run_id=None, attempts=0, error=None, submitted_at=None, finished_at=None)


def test_other_parameter_sets_never_overwrite_the_default_reconstruction(experiment: Path):
    tiny_scan(experiment.parent / "facility/raw/scan1.h5")
    config = load_config(experiment)
    body_for = body_builder(config, "recon")
    default = body_for(job("scan1.h5", "default", {"reconstruction-type": "full"}))["input"]
    better = body_for(job("scan1.h5", "vo-all", {"reconstruction-type": "full",
                                                 "remove-stripe-method": "vo-all"}))["input"]
    rec = experiment.parent / "facility/raw_rec"
    assert "out-path-name" not in default["recon"]
    assert default["publishv2"]["dataset"] == str(rec / "scan1_rec")
    assert default["tomocupy"]["output"] == str(rec / "scan1_rec")
    assert better["tomocupy"]["output"] == str(rec / "scan1_rec_vo-all")
    assert "out-path-name" not in better["recon"], "the folder travels as tomocupy.output"
    assert better["publishv2"]["dataset"] == str(rec / "scan1_rec_vo-all")


def test_a_parameter_set_naming_its_output_keeps_it(experiment: Path):
    tiny_scan(experiment.parent / "facility/raw/scan1.h5")
    body_for = body_builder(load_config(experiment), "recon")
    body = body_for(job("scan1.h5", "mine", {"reconstruction-type": "full", "out-path-name": "/x/vol"}))
    assert body["input"]["tomocupy"]["output"] == "/x/vol"


def test_watch_picks_the_flow_from_the_folder(experiment: Path):
    """`watch` on the beamline's folder moves scans first; on the facility's it does not."""
    from tomocupy_gladier.campaign.wiring import watched_flow

    config = load_config(experiment)
    assert watched_flow(config, experiment.parent / "beamline") == "tomocupy"
    assert watched_flow(config, experiment.parent / "facility" / "raw") == "recon"


def test_campaign_runs_send_no_email_each_even_with_notify(tmp_path: Path):
    from tests.conftest import experiment_toml

    path = tmp_path / "experiment.toml"
    path.write_text(experiment_toml('"77777777-7777-4777-8777-777777777777" = "x"\n')
                    + '\n[notify]\nemail = ["team@lab.example"]\n')
    tiny_scan(tmp_path / "facility/raw/scan1.h5")
    config = load_config(path)
    assert notify_config(config) is not None
    body = body_builder(config, "recon")(job("scan1.h5", "default", {"reconstruction-type": "full"}))
    assert body["input"]["notify"] == {"enable": False}


def test_interactive_campaign_runs_make_a_try_and_keep_their_waiting_email(tmp_path: Path):
    """A run that waits for a person must tell them: the interactive flow keeps [notify]."""
    from tests.conftest import experiment_toml

    path = tmp_path / "experiment.toml"
    path.write_text(experiment_toml('"77777777-7777-4777-8777-777777777777" = "x"\n')
                    + '\n[notify]\nemail = ["team@lab.example"]\n')
    tiny_scan(tmp_path / "beamline/scan1.h5")
    body = body_builder(load_config(path), "interactive")(job("scan1.h5", "default", {}))["input"]
    assert body["recon"]["reconstruction-type"] == "full"
    assert body["interactive"]["try_recon"]["reconstruction-type"] == "try"
    assert body["notify"]["enable"] is True and body["notify"]["destination"] == "team@lab.example"
