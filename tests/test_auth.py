"""The login manager: scopes to resource servers, token files, user and confidential logins,
logout, whoami, and secrets kept out of logs, errors and reprs."""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import globus_sdk
import pytest
from gladier.managers import FlowsManager
from globus_sdk.testing import RegisteredResponse, load_response
from globus_sdk.token_storage import TokenStorageData

from tomocupy_gladier.globus import auth
from tomocupy_gladier.errors import UserError

FLOW_ID = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
FLOW_SCOPE = f"https://auth.globus.org/scopes/{FLOW_ID}/flow_{FLOW_ID.replace('-', '_')}_user"
MANAGE_FLOWS = str(globus_sdk.FlowsClient.scopes.manage_flows)
RUN_STATUS = str(globus_sdk.FlowsClient.scopes.run_status)
COMPUTE = str(globus_sdk.ComputeClientV3.scopes.all)
TRANSFER = str(globus_sdk.TransferClient.scopes.all)
SEARCH = str(globus_sdk.SearchClient.scopes.all)
IDENTITY = "8ac9e2b1-0c2d-4f4e-9a1b-2c3d4e5f6a7b"
SECRET = "sup3r-s3cret-client-value"
CONFIDENTIAL_ID = "c0ffee00-1111-4222-8333-444455556666"



def token(server: str, scopes: list[str], access: str, refresh: str | None = "refresh-" + "x",
          expires_in: int = 3600) -> TokenStorageData:
    return TokenStorageData(resource_server=server, identity_id=IDENTITY, scope=" ".join(scopes),
                            access_token=access, refresh_token=refresh,
                            expires_at_seconds=int(time.time()) + expires_in, token_type="Bearer")


def store(*tokens: TokenStorageData, client_id: str = auth.DEFAULT_CLIENT_ID) -> Path:
    path = auth.token_path(client_id)
    auth.PrivateJSONTokenStorage(path).store_token_data_by_resource_server(
        {t.resource_server: t for t in tokens})
    return path


# --- scopes and resource servers ---------------------------------------------------------


@pytest.mark.parametrize("scope, server", [
    (MANAGE_FLOWS, "flows.globus.org"),
    (RUN_STATUS, "flows.globus.org"),
    (COMPUTE, "funcx_service"),
    (TRANSFER, "transfer.api.globus.org"),
    (SEARCH, "search.api.globus.org"),
    ("urn:globus:auth:scope:search.api.globus.org:ingest", "search.api.globus.org"),
    ("openid", "auth.globus.org"),
    (FLOW_SCOPE, FLOW_ID),
    (f"{FLOW_SCOPE}[{TRANSFER} {COMPUTE}]", FLOW_ID),  # dependent scopes do not matter
    (globus_sdk.Scope(FLOW_SCOPE), FLOW_ID),
])
def test_each_scope_maps_to_the_resource_server_that_issues_its_token(scope, server):
    assert auth.resource_server_for(scope) == server


@pytest.mark.parametrize("scope", [
    "https://auth.globus.org/scopes/abc/whatever",
    f"https://auth.globus.org/scopes/{FLOW_ID}/flow_11111111_2222_4333_8444_555555555555_user",
])
def test_scopes_of_unknown_resource_servers_are_refused(scope):
    with pytest.raises(auth.UnknownScopeError):
        auth.resource_server_for(scope)


def test_scopes_are_grouped_by_resource_server():
    grouped = auth.scopes_by_resource_server([MANAGE_FLOWS, FLOW_SCOPE, RUN_STATUS, COMPUTE, MANAGE_FLOWS])
    assert grouped == {"flows.globus.org": [MANAGE_FLOWS, RUN_STATUS], FLOW_ID: [FLOW_SCOPE],
                       "funcx_service": [COMPUTE]}


def test_base_scopes_cover_what_gladier_asks_for():
    required = {str(s) for s in FlowsManager.AVAILABLE_SCOPES} | {COMPUTE}
    assert required <= set(auth.base_scopes())
    assert {"openid", "profile", "email"} <= set(auth.base_scopes())


def test_deployed_flows_add_their_scopes_to_the_login(tmp_path):
    gladier_dir = Path.home() / ".gladier"
    gladier_dir.mkdir()
    (gladier_dir / f"{auth.DEFAULT_CLIENT_ID}.cfg").write_text(
        f"[tomocupy_flow]\nflow_id = {FLOW_ID}\nflow_checksum = abc\n\n[tomocupy_recon_flow]\n")
    assert auth.deployed_flow_scopes(auth.DEFAULT_CLIENT_ID) == [FLOW_SCOPE]
    assert auth.deployed_flow_scopes("no-such-client") == []


# --- where tokens live --------------------------------------------------------------------


def test_tokens_live_in_the_users_config_directory(monkeypatch, tmp_path):
    assert auth.token_path("abc") == Path(os.environ["XDG_CONFIG_HOME"]) / "tomocupy-gladier" / "tokens-abc.json"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert auth.config_dir() == Path.home() / ".config" / "tomocupy-gladier"
    monkeypatch.setenv(auth.CONFIG_DIR_ENV, str(tmp_path / "elsewhere"))
    assert auth.token_path("abc") == tmp_path / "elsewhere" / "tokens-abc.json"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_token_file_is_private_to_the_user():
    path = store(token("flows.globus.org", [MANAGE_FLOWS], "a1"))
    assert mode(path.parent) == 0o700
    assert mode(path) == 0o600

    # loosened by hand: tightened again on the next write
    os.chmod(path, 0o644)
    os.chmod(path.parent, 0o755)
    store(token("funcx_service", [COMPUTE], "a2"))
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700


# --- which client logs in -----------------------------------------------------------------


def test_without_env_vars_the_user_logs_in_with_gladiers_public_client(mocker):
    user_app = mocker.patch.object(auth.globus_sdk, "UserApp")
    client_app = mocker.patch.object(auth.globus_sdk, "ClientApp")

    manager = auth.login_manager_for()

    client_app.assert_not_called()
    login_client = user_app.call_args.kwargs["login_client"]
    assert isinstance(login_client, globus_sdk.NativeAppAuthClient)
    assert login_client.client_id == "f1631610-d9e4-4db2-81ba-7f93ad4414e3"
    assert manager.confidential is False
    assert manager.token_file == auth.token_path(auth.DEFAULT_CLIENT_ID)


def test_a_configured_native_client_id_is_used(mocker):
    user_app = mocker.patch.object(auth.globus_sdk, "UserApp")
    manager = auth.login_manager_for("1234abcd-0000-4000-8000-000000000000")
    assert user_app.call_args.kwargs["login_client"].client_id == "1234abcd-0000-4000-8000-000000000000"
    assert manager.token_file.name == "tokens-1234abcd-0000-4000-8000-000000000000.json"


def test_both_gladier_env_vars_select_the_confidential_client(mocker, monkeypatch):
    monkeypatch.setenv("GLADIER_CLIENT_ID", CONFIDENTIAL_ID)
    monkeypatch.setenv("GLADIER_CLIENT_SECRET", SECRET)
    user_app = mocker.patch.object(auth.globus_sdk, "UserApp")
    client_app = mocker.patch.object(auth.globus_sdk, "ClientApp")

    manager = auth.login_manager_for("1234abcd-0000-4000-8000-000000000000")  # native id ignored

    user_app.assert_not_called()
    login_client = client_app.call_args.kwargs["login_client"]
    assert isinstance(login_client, globus_sdk.ConfidentialAppAuthClient)
    assert login_client.client_id == CONFIDENTIAL_ID
    assert manager.confidential is True
    assert manager.token_file == auth.token_path(CONFIDENTIAL_ID)


@pytest.mark.parametrize("present", ["GLADIER_CLIENT_ID", "GLADIER_CLIENT_SECRET"])
def test_half_a_confidential_client_is_an_error_that_does_not_show_the_secret(monkeypatch, present):
    monkeypatch.setenv(present, SECRET)
    with pytest.raises(UserError) as info:
        auth.login_manager_for()
    message = str(info.value)
    assert "GLADIER_CLIENT_ID" in message and "GLADIER_CLIENT_SECRET" in message
    assert SECRET not in message


# --- the login callback ---------------------------------------------------------------------


@pytest.fixture
def fake_app(mocker) -> Any:
    """A mocked UserApp whose authorizers name their resource server."""
    app = mocker.patch.object(auth.globus_sdk, "UserApp").return_value
    app.scope_requirements = {}
    app.get_authorizer.side_effect = lambda server: f"authorizer<{server}>"
    return app


def test_callback_logs_in_for_the_missing_scopes_by_resource_server(fake_app):
    manager = auth.login_manager_for()
    assert manager.authorizers == {}  # nothing stored yet

    granted = manager.callback([globus_sdk.Scope(FLOW_SCOPE), MANAGE_FLOWS, COMPUTE])

    fake_app.add_scope_requirements.assert_any_call({FLOW_ID: [FLOW_SCOPE]})
    fake_app.add_scope_requirements.assert_any_call({"flows.globus.org": [MANAGE_FLOWS]})
    fake_app.add_scope_requirements.assert_any_call({"funcx_service": [COMPUTE]})
    fake_app.login.assert_called_once_with(force=True)
    assert granted == {FLOW_SCOPE: f"authorizer<{FLOW_ID}>",
                       MANAGE_FLOWS: "authorizer<flows.globus.org>",
                       COMPUTE: "authorizer<funcx_service>"}


def test_gladier_triggers_the_callback_only_when_scopes_are_missing(fake_app):
    store(token("flows.globus.org", [str(s) for s in FlowsManager.AVAILABLE_SCOPES], "flows-access"),
          token("funcx_service", [COMPUTE], "compute-access"))
    manager = auth.login_manager_for()
    manager.add_requirements([str(s) for s in FlowsManager.AVAILABLE_SCOPES] + [COMPUTE])

    authorizers = manager.get_manager_authorizers()

    fake_app.login.assert_not_called()
    assert authorizers[COMPUTE] == "authorizer<funcx_service>"
    assert authorizers[MANAGE_FLOWS] == "authorizer<flows.globus.org>"

    # a newly deployed flow adds its scope: now Gladier asks us to log in, for that scope only
    manager.add_requirements([FLOW_SCOPE])
    authorizers = manager.get_manager_authorizers()
    fake_app.login.assert_called_once_with(force=True)
    fake_app.add_scope_requirements.assert_any_call({FLOW_ID: [FLOW_SCOPE]})
    assert authorizers[FLOW_SCOPE] == f"authorizer<{FLOW_ID}>"


def test_stored_tokens_give_working_authorizers_without_any_login(mocker):
    """With a real UserApp: valid stored tokens are used as they are, no login, no HTTP."""
    store(token("flows.globus.org", [MANAGE_FLOWS, RUN_STATUS], "flows-access"),
          token("funcx_service", [COMPUTE], "compute-access"))
    manager = auth.login_manager_for()
    login = mocker.patch.object(manager.app, "login")

    manager.add_requirements([MANAGE_FLOWS, COMPUTE])
    authorizers = manager.get_manager_authorizers()

    login.assert_not_called()
    assert authorizers[COMPUTE].get_authorization_header() == "Bearer compute-access"
    assert authorizers[MANAGE_FLOWS].get_authorization_header() == "Bearer flows-access"


def test_login_asks_for_every_scope_the_flows_need_once(fake_app):
    manager = auth.login(force=False)
    asked = {k for call in fake_app.add_scope_requirements.call_args_list for k in call.args[0]}
    assert {"flows.globus.org", "funcx_service", "auth.globus.org"} <= asked
    fake_app.login.assert_called_once_with(force=True)
    assert COMPUTE in manager.authorizers


def test_login_does_nothing_when_every_scope_is_held(fake_app):
    store(token("flows.globus.org", [str(s) for s in FlowsManager.AVAILABLE_SCOPES], "f"),
          token("funcx_service", [COMPUTE], "c"),
          token("auth.globus.org", ["openid", "profile", "email"], "a"))
    auth.login()
    fake_app.login.assert_not_called()
    auth.login(force=True)
    fake_app.login.assert_called_once_with(force=True)


# --- confidential client, end to end at the HTTP level --------------------------------------


def client_credentials_response() -> dict:
    return {
        "access_token": "compute-access-from-cc", "expires_in": 172800, "token_type": "Bearer",
        "resource_server": "funcx_service", "scope": COMPUTE,
        "other_tokens": [{"access_token": "flows-access-from-cc", "expires_in": 172800,
                          "token_type": "Bearer", "resource_server": "flows.globus.org",
                          "scope": MANAGE_FLOWS}],
    }


def test_confidential_login_uses_client_credentials_and_keeps_secrets_out_of_logs(
        http, monkeypatch, caplog):
    monkeypatch.setenv("GLADIER_CLIENT_ID", CONFIDENTIAL_ID)
    monkeypatch.setenv("GLADIER_CLIENT_SECRET", SECRET)
    RegisteredResponse(service="auth", path="/v2/oauth2/token", method="POST",
                       json=client_credentials_response()).add()
    caplog.set_level(logging.DEBUG)

    manager = auth.login_manager_for()
    manager.add_requirements([COMPUTE, MANAGE_FLOWS])
    authorizers = manager.get_manager_authorizers()

    (call,) = http.calls
    sent = parse_qs(call.request.body)
    assert sent["grant_type"] == ["client_credentials"]
    assert set(sent["scope"][0].split()) == {COMPUTE, MANAGE_FLOWS, "openid"}  # openid: always asked
    basic = base64.b64encode(f"{CONFIDENTIAL_ID}:{SECRET}".encode()).decode()
    assert call.request.headers["Authorization"] == f"Basic {basic}"
    assert authorizers[COMPUTE].get_authorization_header() == "Bearer compute-access-from-cc"

    stored = json.loads(auth.token_path(CONFIDENTIAL_ID).read_text())
    assert "compute-access-from-cc" in json.dumps(stored)
    assert mode(auth.token_path(CONFIDENTIAL_ID)) == 0o600

    secrets = [SECRET, basic, "compute-access-from-cc", "flows-access-from-cc"]
    for text in (caplog.text, repr(manager), str(manager), repr(manager.storage)):
        for secret in secrets:
            assert secret not in text


def test_a_refused_client_credentials_login_does_not_show_the_secret(http, monkeypatch, caplog):
    monkeypatch.setenv("GLADIER_CLIENT_ID", CONFIDENTIAL_ID)
    monkeypatch.setenv("GLADIER_CLIENT_SECRET", SECRET)
    RegisteredResponse(service="auth", path="/v2/oauth2/token", method="POST", status=401,
                       json={"error": "invalid_client"}).add()
    caplog.set_level(logging.DEBUG)
    manager = auth.login_manager_for()
    manager.add_requirements([COMPUTE])

    with pytest.raises(globus_sdk.GlobusAPIError) as info:
        manager.get_manager_authorizers()

    basic = base64.b64encode(f"{CONFIDENTIAL_ID}:{SECRET}".encode()).decode()
    for text in (str(info.value), repr(info.value), caplog.text):
        assert SECRET not in text and basic not in text


# --- logout and whoami ------------------------------------------------------------------


def test_logout_revokes_every_token_and_deletes_the_file(http, caplog):
    path = store(token("flows.globus.org", [MANAGE_FLOWS], "flows-access", refresh="flows-refresh"),
                 token("auth.globus.org", ["openid"], "auth-access", refresh="auth-refresh"))
    load_response(globus_sdk.NativeAppAuthClient.oauth2_revoke_token)

    result = auth.logout()

    revoked = sorted(parse_qs(c.request.body)["token"][0] for c in http.calls)
    assert revoked == ["auth-access", "auth-refresh", "flows-access", "flows-refresh"]
    assert sorted(result.removed) == ["auth.globus.org", "flows.globus.org"]
    assert result.not_revoked == []
    assert not path.exists()


def test_logout_deletes_local_tokens_even_when_revocation_fails(http, caplog):
    path = store(token("flows.globus.org", [MANAGE_FLOWS], "flows-access", refresh="flows-refresh"))
    RegisteredResponse(service="auth", path="/v2/oauth2/token/revoke", method="POST", status=400,
                       json={"error": "invalid_request"}).add()
    caplog.set_level(logging.DEBUG)

    result = auth.logout()

    assert result.removed == ["flows.globus.org"] and result.not_revoked == ["flows.globus.org"]
    assert not path.exists()
    assert "flows-access" not in caplog.text and "flows-refresh" not in caplog.text


def test_logout_when_not_logged_in_removes_nothing(http):
    result = auth.logout()
    assert result.removed == [] and len(http.calls) == 0


USERINFO = {"sub": IDENTITY, "preferred_username": "ada@anl.gov", "name": "Ada Lovelace",
            "email": "ada@anl.gov", "identity_provider": "anl"}


def test_whoami_reads_the_identity_from_globus_auth(http):
    store(token("auth.globus.org", ["openid", "profile", "email"], "auth-access"))
    RegisteredResponse(service="auth", path="/v2/oauth2/userinfo", method="GET", json=USERINFO).add()

    info = auth.whoami()

    assert info["preferred_username"] == "ada@anl.gov" and info["sub"] == IDENTITY
    assert http.calls[0].request.headers["Authorization"] == "Bearer auth-access"


def test_whoami_without_a_login_says_so(http):
    with pytest.raises(auth.NotLoggedIn, match="tomocupy-gladier login"):
        auth.whoami()
    assert len(http.calls) == 0


def test_login_includes_the_scopes_of_flows_deployed_from_this_machine(fake_app):
    gladier_dir = Path.home() / ".gladier"
    gladier_dir.mkdir()
    (gladier_dir / f"{auth.DEFAULT_CLIENT_ID}.cfg").write_text(f"[tomocupy_flow]\nflow_id = {FLOW_ID}\n")
    manager = auth.login("1234abcd-0000-4000-8000-000000000000")  # ids stay in Gladier's file
    fake_app.add_scope_requirements.assert_any_call({FLOW_ID: [FLOW_SCOPE]})
    assert FLOW_SCOPE in manager.authorizers


def test_stored_tokens_that_cannot_be_refreshed_are_not_used():
    store(token("flows.globus.org", [MANAGE_FLOWS], "flows-access", refresh=None),
          token("funcx_service", [COMPUTE], "compute-access"))
    manager = auth.login_manager_for()
    assert MANAGE_FLOWS not in manager.authorizers  # Gladier will ask for a new login
    assert COMPUTE in manager.authorizers


def test_credentials_repr_hides_the_secret():
    creds = auth.credentials_from_env(environ={"GLADIER_CLIENT_ID": CONFIDENTIAL_ID,
                                               "GLADIER_CLIENT_SECRET": SECRET})
    assert creds.confidential and creds.client_id == CONFIDENTIAL_ID
    assert SECRET not in repr(creds)


def test_a_shared_config_dir_keeps_its_mode_but_the_token_file_is_private(monkeypatch, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    monkeypatch.setenv(auth.CONFIG_DIR_ENV, str(shared))
    path = store(token("flows.globus.org", [MANAGE_FLOWS], "a1"))
    assert path.parent == shared
    assert mode(shared) == 0o755
    assert mode(path) == 0o600
