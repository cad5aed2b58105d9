"""``tomocupy-gladier login``, ``logout`` and ``whoami``."""

from __future__ import annotations

import time
from pathlib import Path

import globus_sdk
from click.testing import CliRunner
from globus_sdk.testing import RegisteredResponse, load_response
from globus_sdk.token_storage import TokenStorageData

from tomocupy_gladier.globus import auth
from tomocupy_gladier.cli import main

IDENTITY = "8ac9e2b1-0c2d-4f4e-9a1b-2c3d4e5f6a7b"
NATIVE_ID = "1234abcd-0000-4000-8000-000000000000"



def store_auth_token(client_id: str = auth.DEFAULT_CLIENT_ID) -> Path:
    path = auth.token_path(client_id)
    data = TokenStorageData(resource_server="auth.globus.org", identity_id=IDENTITY,
                            scope="openid profile email", access_token="auth-access",
                            refresh_token="auth-refresh", expires_at_seconds=int(time.time()) + 3600,
                            token_type="Bearer")
    auth.PrivateJSONTokenStorage(path).store_token_data_by_resource_server({"auth.globus.org": data})
    return path


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_commands_are_registered():
    code, out = cli("--help")
    assert code == 0
    for command in ("login", "logout", "whoami"):
        assert command in out


def test_login_reports_mode_client_and_token_file(mocker):
    app = mocker.patch.object(auth.globus_sdk, "UserApp").return_value
    app.scope_requirements = {}
    app.get_authorizer.side_effect = lambda server: object()

    code, out = cli("login")

    assert code == 0, out
    app.login.assert_called_once_with(force=True)
    assert f"logged in (user, client {auth.DEFAULT_CLIENT_ID})" in out
    assert str(auth.token_path(auth.DEFAULT_CLIENT_ID)) in out


def test_login_uses_the_client_id_of_the_experiment_file(mocker, tmp_path):
    user_app = mocker.patch.object(auth.globus_sdk, "UserApp")
    user_app.return_value.scope_requirements = {}
    experiment = tmp_path / "experiment.toml"
    experiment.write_text(f"""
[facility]
collection = "22222222-2222-4222-8222-222222222222"
path = "/raw"
[compute]
endpoint = "33333333-3333-4333-8333-333333333333"
[globus]
client_id = "{NATIVE_ID}"
""")
    code, out = cli("login", "--config", str(experiment))
    assert code == 0, out
    assert user_app.call_args.kwargs["login_client"].client_id == NATIVE_ID
    assert f"client {NATIVE_ID}" in out


def test_whoami_prints_the_identity(http):
    store_auth_token()
    RegisteredResponse(service="auth", path="/v2/oauth2/userinfo", method="GET",
                       json={"sub": IDENTITY, "preferred_username": "ada@anl.gov",
                             "name": "Ada Lovelace", "email": "ada@anl.gov"}).add()
    code, out = cli("whoami")
    assert code == 0, out
    assert out.splitlines() == ["ada@anl.gov Ada Lovelace <ada@anl.gov>", f"identity id: {IDENTITY}"]


def test_whoami_when_logged_out_is_one_clear_error():
    code, out = cli("whoami")
    assert code == 2
    assert "not logged in" in out and "Traceback" not in out


def test_logout_revokes_and_removes(http):
    path = store_auth_token()
    load_response(globus_sdk.NativeAppAuthClient.oauth2_revoke_token)
    code, out = cli("logout")
    assert code == 0, out
    assert "removed tokens for auth.globus.org" in out
    assert len(http.calls) == 2 and not path.exists()

    code, out = cli("logout")
    assert code == 0 and "not logged in" in out


def test_half_configured_confidential_client_never_echoes_the_secret(monkeypatch):
    monkeypatch.setenv("GLADIER_CLIENT_SECRET", "do-not-print-me")
    for command in ("login", "logout", "whoami"):
        code, out = cli(command)
        assert code == 2
        assert "GLADIER_CLIENT_ID" in out and "do-not-print-me" not in out
