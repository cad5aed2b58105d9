"""The run scope of each flow carries the data_access consents of the collections it uses,
checked against globus-sdk's own helper (``SpecificFlowClient.add_app_transfer_data_access_scope``)
and, where a token is asked for or looked up, at the HTTP level (``globus_sdk.testing``)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs

import globus_sdk
import pytest
from globus_sdk.scopes import ScopeParser
from globus_sdk.testing import get_response_set, load_response
from globus_sdk.token_storage import MemoryTokenStorage, TokenStorageData

from tomocupy_gladier.globus import auth
from tomocupy_gladier.tools.registry import config_from_dict
from tomocupy_gladier.errors import ConfigError
from tomocupy_gladier.flows import FLOWS, data_access_collections
from tomocupy_gladier.globus.flows_manager import GlobusFlowsManager
from tomocupy_gladier.flows import storage_section_collections

FLOW_ID = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
SOURCE = "11111111-1111-4111-8111-111111111111"
FACILITY = "22222222-2222-4222-8222-222222222222"
PUBLISH = "55555555-5555-4555-8555-555555555555"
RETURN = "77777777-7777-4777-8777-777777777777"


def sdk_run_scope(flow_id: str, collections: list[str]) -> globus_sdk.Scope:
    """What globus-sdk's helper adds to a GlobusApp for these collections."""
    app = globus_sdk.UserApp("reference", client_id=str(uuid.UUID(int=7)),
                             config=globus_sdk.GlobusAppConfig(token_storage=MemoryTokenStorage()))
    globus_sdk.SpecificFlowClient(flow_id, app=app).add_app_transfer_data_access_scope(collections)
    (scope,) = [s for s in app.scope_requirements[flow_id] if s.dependencies]
    return scope


def canonical(scope: str) -> tuple:
    """A scope string's tree, siblings unordered (globus-sdk's parser does not keep their order)."""
    def tree(node: globus_sdk.Scope) -> tuple:
        return node.scope_string, node.optional, frozenset(tree(d) for d in node.dependencies)
    (root,) = ScopeParser.parse(scope)
    return tree(root)


def experiment(**sections: dict) -> object:
    raw = {
        "experiment": {"name": "cells", "backend": "globus"},
        "source": {"collection": SOURCE, "path": "/data"},
        "facility": {"collection": FACILITY, "path": "/raw", "posix_root": "/eagle/tomo"},
        "compute": {"endpoint": "33333333-3333-4333-8333-333333333333"},
        "publish": {"index": "44444444-4444-4444-8444-444444444444", "collection": PUBLISH,
                    "path": "/published"},
        "return": {"collection": RETURN, "path": "/back"},
    }
    for name, values in sections.items():
        raw[name] = {**raw.get(name, {}), **values}
    return config_from_dict(raw, Path("/tmp/experiment.toml"))


# --- the scope itself ------------------------------------------------------------------------


@pytest.mark.parametrize("collections", [[FACILITY], [FACILITY, SOURCE], [SOURCE, FACILITY, PUBLISH]])
def test_the_run_scope_is_what_the_sdk_helper_builds(collections):
    ours = auth.flow_run_scope(FLOW_ID, collections)
    reference = sdk_run_scope(FLOW_ID, collections)
    assert str(ours) == str(reference)
    assert canonical(str(ours)) == canonical(str(reference))  # optional markers included


def test_without_collections_the_run_scope_is_the_bare_flow_scope():
    assert str(auth.flow_run_scope(FLOW_ID, [])) == auth.flow_scope(FLOW_ID)


def test_a_collection_named_twice_is_asked_for_once():
    assert str(auth.flow_run_scope(FLOW_ID, [FACILITY, FACILITY.upper()])) == str(sdk_run_scope(FLOW_ID, [FACILITY]))


# --- which collections, from the experiment file ---------------------------------------------


def test_mapped_collections_by_default_beamline_and_facility_guest_ones_publish_and_return():
    config = experiment()
    assert data_access_collections(FLOWS["tomocupy"], config) == [FACILITY, SOURCE]
    assert data_access_collections(FLOWS["interactive"], config) == [FACILITY, SOURCE]


def test_the_recon_flow_does_not_move_the_scan_from_the_beamline():
    config = experiment(publish={"data_access": True}, **{"return": {"data_access": True}})
    assert data_access_collections(FLOWS["recon"], config) == [FACILITY, PUBLISH, RETURN]
    assert data_access_collections(FLOWS["tomocupy"], config) == [FACILITY, SOURCE, PUBLISH, RETURN]


def test_data_access_false_leaves_a_collection_out():
    config = experiment(source={"data_access": False}, facility={"data_access": False})
    assert data_access_collections(FLOWS["tomocupy"], config) == []


def test_a_disabled_return_or_a_publication_without_transfer_asks_for_nothing():
    config = experiment(publish={"data_access": True, "transfer": False},
                        **{"return": {"data_access": True, "enable": False}})
    assert data_access_collections(FLOWS["recon"], config) == []


def test_a_run_that_may_delete_after_publication_asks_for_the_facilitys_consent():
    """The delete of the retention step is a Transfer action on the facility collection: with an
    "after-publish" rule its consent joins the run scope even where no transfer touches it."""
    config = experiment(publish={"data_access": True, "transfer": False}, retention={"raw": "after-publish"},
                        **{"return": {"data_access": True, "enable": False}})
    assert data_access_collections(FLOWS["recon"], config) == [FACILITY]
    scope = auth.flow_run_scope(FLOW_ID, data_access_collections(FLOWS["recon"], config))
    assert str(scope) == str(sdk_run_scope(FLOW_ID, [FACILITY]))


@pytest.mark.parametrize("value", ["yes", 1, "true"])
def test_a_non_boolean_data_access_is_a_config_error(value):
    with pytest.raises(ConfigError, match=r"facility\.data_access: expected boolean"):
        experiment(facility={"data_access": value})


# --- where the scope is requested --------------------------------------------------------------


def test_gladier_requests_the_run_scope_before_it_starts_a_run(tmp_path):
    """GlobusFlowsManager: Gladier's flow_scope (which it requires and authorizes runs with) is
    the run scope, so the login that precedes a run asks for the consents."""
    manager = GlobusFlowsManager(flow_id=FLOW_ID, data_access_collections=[FACILITY, SOURCE])
    assert str(manager.flow_scope) == str(sdk_run_scope(FLOW_ID, [FACILITY, SOURCE]))
    assert manager.flow_scope in manager.get_scopes()


def test_login_asks_for_each_deployed_flows_run_scope(tmp_path):
    gladier_dir = tmp_path / "gladier"
    gladier_dir.mkdir()
    recon_id = str(uuid.UUID(int=99))
    (gladier_dir / "client.cfg").write_text(
        f"[tomocupy_flow]\nflow_id = {FLOW_ID}\n\n[tomocupy_recon_flow]\nflow_id = {recon_id}\n"
        f"\n[my_extended_flow]\nflow_id = {FACILITY}\n")
    config = experiment(publish={"data_access": True})
    scopes = auth.deployed_flow_scopes("client", gladier_dir, collections=storage_section_collections(config))
    assert scopes == sorted([
        str(sdk_run_scope(FLOW_ID, [FACILITY, SOURCE, PUBLISH])),
        str(sdk_run_scope(recon_id, [FACILITY, PUBLISH])),
        # an extended flow this package does not know: every collection of the experiment
        str(sdk_run_scope(FACILITY, [SOURCE, FACILITY, PUBLISH])),
    ], key=lambda s: ScopeParser.parse(s)[0].scope_string)


IDENTITY = "8ca28797-3541-4a5d-a264-05b00f91e608"


def _token(server: str, scopes: str, access: str) -> TokenStorageData:
    return TokenStorageData(resource_server=server, identity_id=IDENTITY, scope=scopes,
                            access_token=access, refresh_token="refresh", token_type="Bearer",
                            expires_at_seconds=int(time.time()) + 3600)


def consents_of(flow_id: str, collection: str) -> dict:
    """Auth's consents of a user who consented to a flow's run scope with one collection's
    data_access: the records of globus-sdk's testing data (``AuthClient.get_consents``), in the
    flow -> Transfer -> data_access tree of globus-cli's resume tests (see tests/fixtures/globus)."""
    record = get_response_set(globus_sdk.AuthClient.get_consents).lookup("default").json["consents"][0]
    chain = [auth.flow_scope(flow_id), str(globus_sdk.TransferClient.scopes.all),
             f"https://auth.globus.org/scopes/{collection}/data_access"]
    return {"consents": [{**record, "id": 100 + k, "dependency_path": [100 + j for j in range(k + 1)],
                          "scope_name": name, "effective_identity": IDENTITY}
                         for k, name in enumerate(chain)]}


def test_a_consent_given_earlier_is_found_without_a_new_login(http, mocker):
    """Stored tokens hold the flow's root scope; the consent itself is Globus Auth's: the
    login manager asks Auth for the user's consents and logs in only when one is missing."""
    http.add(http.GET, f"https://auth.globus.org/v2/api/identities/{IDENTITY}/consents",
             json=consents_of(FLOW_ID, SOURCE))
    auth.PrivateJSONTokenStorage(auth.token_path(auth.DEFAULT_CLIENT_ID)).store_token_data_by_resource_server({
        FLOW_ID: _token(FLOW_ID, auth.flow_scope(FLOW_ID), "flow-access"),
        "auth.globus.org": _token("auth.globus.org", "openid profile email", "auth-access"),
    })
    manager = auth.login_manager_for()
    login = mocker.patch.object(manager.app, "login")

    # the consent Auth holds: no login, the stored token serves the run scope
    granted = auth.flow_run_scope(FLOW_ID, [SOURCE])
    manager.add_requirements([granted])
    authorizers = manager.get_manager_authorizers()
    login.assert_not_called()
    assert authorizers[granted].get_authorization_header() == "Bearer flow-access"

    # a collection Auth holds no consent for: Gladier's callback logs in
    missing = auth.flow_run_scope(FLOW_ID, [SOURCE, FACILITY])
    manager.add_requirements([missing])
    with pytest.raises(globus_sdk.token_storage.validating_token_storage.TokenValidationError):
        manager.get_manager_authorizers()  # the mocked login brings no new consent
    login.assert_called_once_with(force=True)


def test_the_service_account_asks_for_the_run_scope_in_its_token_request(http, monkeypatch):
    """A confidential client's client-credentials request names the run scope, dependencies
    and optional markers included, exactly as the SDK helper builds it."""
    monkeypatch.setenv("GLADIER_CLIENT_ID", "c0ffee00-1111-4222-8333-444455556666")
    monkeypatch.setenv("GLADIER_CLIENT_SECRET", "not-for-logs")
    load_response(globus_sdk.ConfidentialAppAuthClient.oauth2_client_credentials_tokens)
    manager = auth.login_manager_for()
    scope = auth.flow_run_scope(FLOW_ID, [FACILITY, SOURCE])
    try:
        manager.login_for_scopes([scope])
    except Exception:
        pass  # the recorded response is for other scopes; the request is what counts here
    requests = [c.request for c in http.calls if c.request.url.endswith("/v2/oauth2/token")]
    assert requests
    for request in requests:
        requested = ScopeParser.parse(parse_qs(request.body)["scope"][0])
        assert canonical(str(sdk_run_scope(FLOW_ID, [FACILITY, SOURCE]))) in {canonical(str(s)) for s in requested}
