"""Email when a run ends: the last step of every flow ([notify]), a visible skip when it is off,
failures routed through it without hiding them, on the local backend and for Globus."""

from __future__ import annotations

import json
import mailbox
import time
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from tomocupy_gladier.clients.client_factory import local_backend, make_client
from tomocupy_gladier.tools.registry import load_config
from tomocupy_gladier.errors import ConfigError, UserError
from tomocupy_gladier.planning.flow_input import build_flow_input, recon_parameters
from tomocupy_gladier.flows.tomocupy_flow import FLOWS
from tomocupy_gladier.runs.run_record import RunRecord
from tomocupy_gladier.tools.notify.tool import NOTIFY_URL

from tests.browser import free_port
from tests.tiny_experiment import state_names, tiny_experiment

NOTIFY = '\n[notify]\nemail = ["alice@lab.example", "bob@lab.example"]\nsender = "tomo@lab.example"\n'


def _definition(name: str) -> dict:
    """The exported definition (a test keeps flows/ equal to what Gladier generates)."""
    return json.loads((Path(__file__).parent.parent / "flows" / f"{name}.definition.json").read_text())


@pytest.mark.parametrize("name", sorted(FLOWS))
def test_every_flow_ends_with_the_notification_and_catches_every_action(name):
    states = _definition(name)["States"]
    ends = [n for n, s in states.items() if s.get("End")]
    assert sorted(ends) == ["NotifyNoAccount", "NotifySkipped", "NotifySucceeded", "NotifySucceededUnsent"]
    # the removal after publication catches its own errors: they leave the published run SUCCEEDED
    # with a warning (tools/retention/tool.py), and end in the email too
    own = {"RetentionTargets": "RetentionUndecided", "RetentionDelete": "RetentionNotRemoved"}
    for state_name, state in states.items():
        if state.get("Type") == "Action" and state_name in own:
            assert state["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.RetentionError",
                                       "Next": own[state_name]}]
            assert states[own[state_name]]["Next"] == "NotifyChoice"
        elif state.get("Type") == "Action" and not state_name.startswith("Notify"):
            assert state["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.RunFailure",
                                       "Next": f"{state_name}Failed"}]
            assert states[f"{state_name}Failed"]["Next"] == "NotifyFailureChoice"
    sent = states["NotifySucceeded"]
    assert sent["ActionUrl"] == NOTIFY_URL
    # the account is private run state (Flows docs, Protecting Secrets; as the MDF curation
    # flow keeps it) and the request that carries it is a private parameter
    assert sent["Parameters"]["send_credentials"] == [{
        "credential_method": "email", "credential_type": "smtp",
        "credential_value.$": "$._private_email_credentials"}]
    assert sent["Parameters"]["__Private_Parameters"] == ["send_credentials"]
    assert sent["Catch"][0]["Next"] == "NotifySucceededUnsent"
    assert states["RunFailed"]["Type"] == "Fail"
    assert states["NotifyFailed"]["Next"] == "RunFailed"


def test_without_notify_the_step_is_skipped_visibly(tmp_path):
    config = load_config(tiny_experiment(tmp_path))
    body = build_flow_input(config, "scan1.h5", recon_parameters(config, {}, "full"))
    assert body["input"]["notify"] == {"enable": False}
    run = make_client("tomocupy", config).run_flow(flow_input=body)
    assert run["status"] == "SUCCEEDED"
    assert run["details"]["output"]["Notify"] == {"skipped": True, "reason": "notify.enable is false"}
    backend = local_backend(config)
    assert state_names(backend, run["run_id"])[-1] == "NotifySkipped"
    assert not (config.local_state_dir / "mailbox").exists()


@pytest.mark.parametrize("fails", [False, True])
def test_a_run_without_the_email_account_says_so_and_reads_no_missing_path(tmp_path, fails):
    """A run started from a start form or a timer carries no private run state, so no email
    account: its email states are not entered (they would read $._private_email_credentials,
    which the run lacks); the run says why nothing was sent, and a failure still fails the run."""
    config = load_config(tiny_experiment(tmp_path, NOTIFY))
    body = build_flow_input(config, "scan1.h5", recon_parameters(config, {}, "full"))
    assert body["input"]["notify"]["enable"] and body.pop("_private_email_credentials") == {}
    if fails:  # the scan is gone before its transfer
        (tmp_path / "beamline" / "scan1.h5").unlink()
    run = make_client("tomocupy", config).run_flow(flow_input=body)
    names = state_names(local_backend(config), run["run_id"])
    assert not [n for n in names if n in ("NotifySucceeded", "NotifyFailed")]
    if fails:
        assert run["status"] == "FAILED" and "NotifyFailedNoAccount" in names
    else:
        assert run["status"] == "SUCCEEDED" and names[-1] == "NotifyNoAccount"
        assert any("carries no email account" in w for w in RunRecord(run).warnings)
    assert not (config.local_state_dir / "mailbox").exists()


def _messages(config) -> list:
    return list(mailbox.mbox(config.local_state_dir / "mailbox"))


def test_a_finished_run_emails_its_record_into_the_local_mailbox(tmp_path):
    config = load_config(tiny_experiment(tmp_path, NOTIFY))
    body = build_flow_input(config, "scan1.h5", recon_parameters(config, {}, "full"))
    run = make_client("tomocupy", config).run_flow(flow_input=body)
    assert run["status"] == "SUCCEEDED", RunRecord(run).failure

    [message] = _messages(config)
    assert message["To"] == "alice@lab.example, bob@lab.example"
    assert message["From"] == "tomo@lab.example"
    assert message["Subject"] == "[tomocupy-gladier] cells: scan1.h5 succeeded"
    text = message.get_payload(decode=True).decode()
    assert f"Run {run['run_id']} succeeded." in text
    assert f"Run: http://127.0.0.1:8765/runs/{run['run_id']}" in text
    assert "Published: globus://55555555-5555-4555-8555-555555555555/published/cells/scan1_rec" in text
    assert run["details"]["output"]["Notify"]["details"]["sent_to"] == ["alice@lab.example",
                                                                        "bob@lab.example"]


def test_a_failed_run_emails_the_step_and_reason_and_stays_failed(tmp_path):
    config = load_config(tiny_experiment(tmp_path, NOTIFY))
    body = build_flow_input(config, "scan1.h5",
                            recon_parameters(config, {"remove-stripe-method": "ti"}, "full"))
    run = make_client("tomocupy", config).run_flow(flow_input=body)

    record = RunRecord(run)
    assert record.status == "FAILED"
    assert record.failed_state == "TomocupyRecon"
    assert record.failure.startswith("ActionFailedException: ")
    [message] = _messages(config)
    assert message["Subject"] == "[tomocupy-gladier] cells: scan1.h5 FAILED"
    text = message.get_payload(decode=True).decode()
    assert "failed at step TomocupyRecon." in text
    assert "Reason: ActionFailedException: " in text and "remove-stripe-method" in text


class Inbox:
    """Messages an aiosmtpd server on loopback received."""

    def __init__(self) -> None:
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def test_the_message_reaches_the_smtp_server_named_in_the_experiment(tmp_path, smtp_server):
    inbox, port = smtp_server
    config = load_config(tiny_experiment(tmp_path, NOTIFY + f'smtp = "127.0.0.1:{port}"\n'))
    body = build_flow_input(config, "scan1.h5", recon_parameters(config, {}, "full"))
    # locally the account never travels in the flow input (the provider reads its environment)
    assert body["_private_email_credentials"] == {"hostname": "127.0.0.1", "port": port}
    assert "send_credentials" not in body["input"]["notify"]
    run = make_client("tomocupy", config).run_flow(flow_input=body)
    assert run["status"] == "SUCCEEDED", RunRecord(run).failure

    deadline = time.monotonic() + 5
    while not inbox.envelopes and time.monotonic() < deadline:
        time.sleep(0.05)
    [envelope] = inbox.envelopes
    assert envelope.mail_from == "tomo@lab.example"
    assert envelope.rcpt_tos == ["alice@lab.example", "bob@lab.example"]
    assert b"Subject: [tomocupy-gladier] cells: scan1.h5 succeeded" in envelope.content
    assert not (config.local_state_dir / "mailbox").exists()


def test_an_smtp_server_that_is_down_leaves_the_run_succeeded_with_a_warning(tmp_path):
    from click.testing import CliRunner

    from tomocupy_gladier.cli import main

    path = tiny_experiment(tmp_path, NOTIFY + 'smtp = "127.0.0.1:9"\n')
    config = load_config(path)
    body = build_flow_input(config, "scan1.h5", recon_parameters(config, {}, "full"))
    run = make_client("tomocupy", config).run_flow(flow_input=body)
    record = RunRecord(run)
    # the reconstruction is done and published: the email's failure does not undo it
    assert record.status == "SUCCEEDED", record.failure
    assert state_names(local_backend(config), run["run_id"])[-1] == "NotifySucceededUnsent"
    [warning] = record.warnings
    assert warning.startswith("the success email was not sent (")
    assert "the SMTP server 127.0.0.1:9 did not take the message" in warning
    shown = CliRunner().invoke(main, ["status", run["run_id"], "--config", str(path)],
                               catch_exceptions=False)
    assert "warning: the success email was not sent" in shown.output


def test_on_globus_the_account_comes_from_the_environment_and_is_private(tmp_path, monkeypatch):
    config = load_config(tiny_experiment(tmp_path, NOTIFY + 'smtp = "smtp.lab.example:587"\n'))
    recon = recon_parameters(config, {}, "full")
    with pytest.raises(UserError, match="TOMOCUPY_GLADIER_SMTP_USERNAME and TOMOCUPY_GLADIER_SMTP_PASSWORD"):
        build_flow_input(config, "scan1.h5", recon, backend="globus")
    monkeypatch.setenv("TOMOCUPY_GLADIER_SMTP_USERNAME", "tomo")
    monkeypatch.setenv("TOMOCUPY_GLADIER_SMTP_PASSWORD", "s3cret")
    body = build_flow_input(config, "scan1.h5", recon, backend="globus")
    # top-level private run state, never under input (which Flows shows)
    assert body["_private_email_credentials"] == {
        "hostname": "smtp.lab.example", "port": 587, "username": "tomo", "password": "s3cret"}
    assert "s3cret" not in json.dumps(body["input"])
    assert body["input"]["notify"]["run_page"] == "https://app.globus.org/runs/"


def test_on_globus_an_smtp_server_is_required(tmp_path):
    config = load_config(tiny_experiment(tmp_path, NOTIFY))
    with pytest.raises(UserError, match=r"needs smtp = \"host:port\""):
        build_flow_input(config, "scan1.h5", recon_parameters(config, {}, "full"), backend="globus")


@pytest.mark.parametrize("section, problem", [
    ('[notify]\nemail = ["not-an-address"]\n', "notify.email"),
    ('[notify]\nemail = []\n', "notify.email"),
    ('[notify]\nemail = ["a@b.example"]\nsmtp = "mail.example"\n', "notify.smtp"),
    ('[notify]\nemail = ["a@b.example"]\npassword = "x"\n', "password"),
])
def test_a_bad_notify_section_is_refused_by_name(tmp_path, section, problem):
    with pytest.raises(ConfigError, match=problem):
        load_config(tiny_experiment(tmp_path, "\n" + section))


def test_an_interactive_run_emails_when_it_waits_for_the_choice_then_when_it_ends(tmp_path, request):
    from click.testing import CliRunner

    from tomocupy_gladier.cli import main

    from tests.conftest import end_runs
    from tests.test_serve_choice import start_interactive

    # a run the test leaves waiting for its choice is ended at teardown
    request.addfinalizer(lambda: end_runs(tmp_path / ".tomocupy-gladier"))
    waiting = start_interactive(tmp_path, NOTIFY)
    config, run_id, path = waiting.config, waiting.run_id, waiting.config.path

    [message] = _messages(config)
    assert message["Subject"] == "[tomocupy-gladier] cells: scan1.h5 waits for your choice"
    text = message.get_payload(decode=True).decode()
    assert f"Choose here: http://127.0.0.1:8765/runs/{run_id}\n" in text
    assert "Suggested centre: " in text

    chosen = CliRunner().invoke(main, ["choose", run_id, "--config", str(path), "--suggested"],
                                catch_exceptions=False)
    assert chosen.exit_code == 0, chosen.output
    final = local_backend(config).wait(run_id, timeout=300)
    assert final["status"] == "SUCCEEDED", RunRecord(final).failure
    assert [m["Subject"].rsplit(" ", 1)[-1] for m in _messages(config)] == ["choice", "succeeded"]


def test_on_globus_the_waiting_email_links_the_providers_landing_page(tmp_path, monkeypatch):
    from tomocupy_gladier.tools.notify.flow_input import choice_page

    config = load_config(tiny_experiment(tmp_path, NOTIFY))
    assert choice_page(config, "globus") == {
        "choose_page": "https://actions.globus.org/weboption/landing_page/", "choose_suffix": "-choose"}
    assert choice_page(config, "local") == {"choose_page": "http://127.0.0.1:8765/runs/",
                                            "choose_suffix": ""}
    # the suffix is the one the options step gives the landing page
    from tomocupy_gladier.tools.choice.tool import make_choice_options

    options = make_choice_options({"suggested_center": 31.5}, {"reconstruction-type": "full"}, {},
                                  run_id="RUN")
    assert options["landing_page"]["url_suffix"] == "RUN" + choice_page(config, "globus")["choose_suffix"]


def test_the_smtp_password_is_never_printed_by_a_dry_run(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from tomocupy_gladier.cli import main

    path = tiny_experiment(tmp_path, NOTIFY + 'smtp = "smtp.lab.example:587"\n')
    monkeypatch.setenv("TOMOCUPY_GLADIER_SMTP_USERNAME", "tomo")
    monkeypatch.setenv("TOMOCUPY_GLADIER_SMTP_PASSWORD", "s3cret-pw")
    shown = CliRunner().invoke(main, ["run", "scan1.h5", "--config", str(path), "--full",
                                      "--backend", "globus", "--dry-run"], catch_exceptions=False)
    assert shown.exit_code == 0, shown.output
    assert "s3cret-pw" not in shown.output
    assert json.loads(shown.stdout)["_private_email_credentials"] == "<private>"


def test_the_local_run_shows_no_private_field_as_flows_does(tmp_path, smtp_server, monkeypatch):
    """Flows leaves every run-state field whose name starts with _private out of a run's
    status, log and output; the local backend's run documents do too."""
    from click.testing import CliRunner

    from tomocupy_gladier.cli import main

    inbox, port = smtp_server
    path = tiny_experiment(tmp_path, NOTIFY + f'smtp = "127.0.0.1:{port}"\n')
    config = load_config(path)
    body = build_flow_input(config, "scan1.h5", recon_parameters(config, {}, "full"))
    body["_private_email_credentials"]["password"] = "pw-in-state"  # as on Globus
    run = make_client("tomocupy", config).run_flow(flow_input=body)
    assert run["status"] == "SUCCEEDED", RunRecord(run).failure
    assert "_private_email_credentials" not in run["details"]["output"]
    runner = CliRunner()
    for command in (["status", run["run_id"], "--json"], ["logs", run["run_id"], "--json"]):
        shown = runner.invoke(main, [*command, "--config", str(path)], catch_exceptions=False)
        assert shown.exit_code == 0, shown.output
        assert "pw-in-state" not in shown.output and "_private_email" not in shown.output
