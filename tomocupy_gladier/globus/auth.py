"""Logging in to Globus for the flows.

Gladier 0.11's default ``UserAppLoginManager`` fails with globus-sdk 4 on the first login.
:class:`AppLoginManager` replaces it: a Gladier ``CallbackLoginManager`` whose callback logs
in through our own ``globus_sdk`` app, with tokens kept in a file only the user can read.

Two modes:

* user (default): a native ``UserApp``; the first use prints a Globus login link;
* confidential client: when ``GLADIER_CLIENT_ID`` and ``GLADIER_CLIENT_SECRET`` are both set
  (the variables Gladier itself reads), a ``ClientApp`` logs in with client credentials.
  Gladier then keeps its flow and function ids in ``~/.gladier/<client_id>.cfg``.

Tokens and the client secret never appear in log messages, errors or reprs.
"""

from __future__ import annotations

import configparser
import logging
import os
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import globus_sdk
from gladier.managers.login_manager import CallbackLoginManager
from globus_sdk.authorizers import GlobusAuthorizer
from globus_sdk.scopes import GCSCollectionScopes, Scope, ScopeParser, TransferScopes
from globus_sdk.token_storage import JSONTokenStorage, TokenStorage, TokenStorageData
from globus_sdk.token_storage.validating_token_storage import TokenValidationError

from tomocupy_gladier.errors import UserError

log = logging.getLogger(__name__)

DEFAULT_CLIENT_ID = "f1631610-d9e4-4db2-81ba-7f93ad4414e3"
"""Gladier's public native client, used unless another client id is configured."""
APP_NAME = "tomocupy-gladier"
CLIENT_ID_ENV = "GLADIER_CLIENT_ID"
CLIENT_SECRET_ENV = "GLADIER_CLIENT_SECRET"
CONFIG_DIR_ENV = "TOMOCUPY_GLADIER_CONFIG_DIR"

_SERVICE_CLIENTS = (
    globus_sdk.FlowsClient,
    globus_sdk.TransferClient,
    globus_sdk.SearchClient,
    globus_sdk.ComputeClientV3,
    globus_sdk.AuthClient,
    globus_sdk.GroupsClient,
    globus_sdk.TimersClient,
)
_FLOW_SCOPE = re.compile(
    r"^https://auth\.globus\.org/scopes/(?P<flow_id>[0-9a-fA-F-]{36})/flow_(?P<name>[0-9a-fA-F_]{36})_user$"
)


class NotLoggedIn(UserError):
    """No usable tokens are stored: ``tomocupy-gladier login`` first."""


class UnknownScopeError(ValueError):
    """A scope whose resource server we cannot tell."""


# ---------------------------------------------------------------------------------------
# Where tokens live


def config_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The user's configuration directory for tomocupy-gladier.

    ``$TOMOCUPY_GLADIER_CONFIG_DIR`` if set, else ``$XDG_CONFIG_HOME/tomocupy-gladier``,
    else ``~/.config/tomocupy-gladier``.
    """
    env = os.environ if environ is None else environ
    if env.get(CONFIG_DIR_ENV):
        return Path(env[CONFIG_DIR_ENV]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path("~/.config").expanduser())
    return Path(base).expanduser() / "tomocupy-gladier"


def token_path(client_id: str, environ: Mapping[str, str] | None = None) -> Path:
    """The token file for one Globus client (native or confidential)."""
    return config_dir(environ) / f"tokens-{client_id}.json"


class PrivateJSONTokenStorage(JSONTokenStorage):
    """globus-sdk's JSON token file, kept private: directory mode 0700, file mode 0600.

    The file mode is enforced on every write, so a file loosened by hand is tightened again.
    The directory is created 0700; an existing one is tightened only when it is ours (named
    ``tomocupy-gladier``), so pointing ``$TOMOCUPY_GLADIER_CONFIG_DIR`` at a shared folder
    never changes that folder's mode (the file itself stays 0600).
    """

    def __init__(self, filepath: str | os.PathLike[str], *, namespace: str = "DEFAULT") -> None:
        path = Path(filepath)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if path.parent.name == "tomocupy-gladier":
            os.chmod(path.parent, 0o700)
        elif path.parent.stat().st_mode & 0o077:
            log.warning("token directory %s is readable by others (the token file is not)", path.parent)
        super().__init__(path, namespace=namespace)
        self._tighten()

    @property
    def path(self) -> Path:
        return Path(self.filepath)

    def _tighten(self) -> None:
        if self.path.exists():
            os.chmod(self.path, 0o600)

    def store_token_data_by_resource_server(self, token_data_by_resource_server: Mapping[str, TokenStorageData]) -> None:
        super().store_token_data_by_resource_server(token_data_by_resource_server)
        self._tighten()

    def remove_token_data(self, resource_server: str) -> bool:
        removed = super().remove_token_data(resource_server)
        self._tighten()
        return removed

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"


# ---------------------------------------------------------------------------------------
# Scopes and resource servers


def _known_scopes() -> dict[str, str]:
    known = {}
    for client in _SERVICE_CLIENTS:
        for scope in client.scopes:
            known[str(scope)] = client.scopes.resource_server
    return known


_KNOWN_SCOPES = _known_scopes()
# Globus' hosted "Wait For User Selection" provider: `choose` visits an option's URL with a token
# for this scope; its resource server is the client named in the scope
_KNOWN_SCOPES["https://auth.globus.org/scopes/5fac2e64-c734-4e6b-90ea-ff12ddbf9653/"
              "weboption_wait_for_option"] = "5fac2e64-c734-4e6b-90ea-ff12ddbf9653"


def resource_server_for(scope: str | Scope) -> str:
    """The resource server that issues tokens for ``scope``.

    Service scopes (Flows, Transfer, Search, Compute, Auth, Groups, Timers) map to their
    service; a specific flow's scope ``https://auth.globus.org/scopes/<flow_id>/flow_<..>_user``
    maps to the flow id; ``urn:globus:auth:scope:<server>:<name>`` maps to ``<server>``.
    Dependent scopes (``scope[dep ...]``) are ignored.

    :raises UnknownScopeError: for any other scope.
    """
    roots = ScopeParser.parse(str(scope))
    if len(roots) != 1:
        raise UnknownScopeError(f"expected one scope, got {str(scope)!r}")
    root = roots[0].scope_string
    if root in _KNOWN_SCOPES:
        return _KNOWN_SCOPES[root]
    match = _FLOW_SCOPE.match(root)
    if match and match["name"].lower() == match["flow_id"].replace("-", "_").lower():
        return match["flow_id"]
    if root.startswith("urn:globus:auth:scope:") and root.count(":") >= 5:
        return root.split(":")[4]
    raise UnknownScopeError(f"cannot tell the resource server of scope {root!r}")


def scopes_by_resource_server(scopes: Iterable[str | Scope]) -> dict[str, list[str]]:
    """Group scope strings by resource server (order kept, duplicates dropped)."""
    grouped: dict[str, list[str]] = defaultdict(list)
    for scope in scopes:
        text = str(scope)
        server = resource_server_for(text)
        if text not in grouped[server]:
            grouped[server].append(text)
    return dict(grouped)


def scope_key(scope: str | Scope) -> str | Scope:
    """How an authorizer is keyed for Gladier: a scope with dependencies as a ``Scope`` (Gladier
    turns string keys into ``Scope(key)``, which refuses brackets), any other as its string."""
    text = str(scope)
    if "[" not in text:
        return text
    return scope if isinstance(scope, Scope) else Scope.parse(text)


def flow_scope(flow_id: str) -> str:
    """The bare scope of one deployed flow (no dependencies); runs use :func:`flow_run_scope`."""
    return str(globus_sdk.SpecificFlowClient(flow_id).scopes.user)


def flow_run_scope(flow_id: str, data_access_collections: Iterable[str] = ()) -> Scope:
    """The scope that starts (and resumes) runs of a flow: the flow's user scope with, when
    collections are given, Transfer's ``all`` scope as a dependency carrying each collection's
    ``data_access`` scope, both optional: what globus-sdk's
    ``SpecificFlowClient.add_app_transfer_data_access_scope`` asks for, so that a run on GCS v5
    mapped collections does not stop for ``ConsentRequired``.
    """
    scope = globus_sdk.SpecificFlowClient(flow_id).scopes.user
    collections = list(dict.fromkeys(str(c).lower() for c in data_access_collections))
    if not collections:
        return scope
    transfer = TransferScopes.all.with_optional(True)
    for collection in collections:
        transfer = transfer.with_dependency(GCSCollectionScopes(collection).data_access.with_optional(True))
    return scope.with_dependency(transfer)


def base_scopes() -> list[str]:
    """The scopes every tomocupy flow needs: Flows, Compute and the user's identity."""
    from gladier.managers import FlowsManager

    scopes = [str(s) for s in FlowsManager.AVAILABLE_SCOPES]
    scopes.append(str(globus_sdk.ComputeClientV3.scopes.all))
    auth = globus_sdk.AuthClient.scopes
    scopes += [str(auth.openid), str(auth.profile), str(auth.email)]
    return scopes


FlowCollections = Callable[[str], list[str]]
"""The ``data_access`` collections of the flow whose Gladier storage section is the argument
(``flows``' ``storage_section_collections`` makes one from an experiment)."""


def deployed_flow_scopes(client_id: str, gladier_dir: str | os.PathLike[str] | None = None,
                         collections: FlowCollections | None = None) -> list[str]:
    """Run scopes of the flows already deployed and recorded in ``~/.gladier/<client_id>.cfg``.

    With ``collections`` each flow's scope carries the ``data_access`` consents of the
    collections it uses (:func:`flow_run_scope`); without, none.
    """
    path = Path(gladier_dir or Path("~/.gladier").expanduser()) / f"{client_id}.cfg"
    parser = configparser.ConfigParser()
    try:
        parser.read(path)
    except configparser.Error as exc:
        log.warning("cannot read %s: %s", path, type(exc).__name__)
        return []
    flows = {parser[s]["flow_id"]: s for s in parser.sections() if parser[s].get("flow_id")}
    return [str(flow_run_scope(flow_id, collections(section) if collections else []))
            for flow_id, section in sorted(flows.items())]




# ---------------------------------------------------------------------------------------
# The login manager


@dataclass
class Credentials:
    """Which Globus client logs in. ``secret`` is None for a native (user) client."""

    client_id: str
    secret: str | None = field(default=None, repr=False)

    @property
    def confidential(self) -> bool:
        return self.secret is not None


def credentials_from_env(client_id: str | None = None,
                         environ: Mapping[str, str] | None = None) -> Credentials:
    """Confidential credentials when both ``GLADIER_CLIENT_ID`` and ``GLADIER_CLIENT_SECRET``
    are set; otherwise the native client ``client_id`` (default: Gladier's public client).

    :raises UserError: when only one of the two variables is set.
    """
    env = os.environ if environ is None else environ
    cid, secret = env.get(CLIENT_ID_ENV), env.get(CLIENT_SECRET_ENV)
    if cid and secret:
        return Credentials(cid, secret)
    if cid or secret:
        have, lack = (CLIENT_ID_ENV, CLIENT_SECRET_ENV) if cid else (CLIENT_SECRET_ENV, CLIENT_ID_ENV)
        raise UserError(f"{have} is set but {lack} is not: set both for a confidential client, "
                        "or neither to log in as a user")
    return Credentials(client_id or DEFAULT_CLIENT_ID)


@dataclass
class LogoutResult:
    """What ``logout`` did: resource servers whose tokens were removed, and those whose
    tokens could not be revoked on the server (removed locally all the same)."""

    removed: list[str]
    not_revoked: list[str]
    token_file: Path


class AppLoginManager(CallbackLoginManager):
    """A Gladier login manager that logs in through a ``globus_sdk`` app.

    ``get_authorizers()`` returns the authorizers for the tokens already stored (no login);
    when Gladier needs more scopes its callback adds them to the app's requirements and runs
    the app's login (interactive for a user, client credentials for a confidential client),
    then hands back authorizers keyed by scope string.
    """

    def __init__(self, app: globus_sdk.GlobusApp, storage: TokenStorage, login_client: Any,
                 credentials: Credentials, token_file: Path | None = None) -> None:
        super().__init__(authorizers={}, callback=self.login_for_scopes)
        self.app = app
        self.globus_app = app
        self.storage = storage
        self.login_client = login_client
        self.client_id = credentials.client_id
        self.confidential = credentials.confidential
        self.token_file = token_file
        self.authorizers.update(self.stored_authorizers())

    def __repr__(self) -> str:
        mode = "confidential" if self.confidential else "user"
        return f"{type(self).__name__}(client_id={self.client_id!r}, mode={mode!r}, token_file={str(self.token_file)!r})"

    __str__ = __repr__

    # -- tokens on disk -----------------------------------------------------------------

    def stored_tokens(self) -> dict[str, TokenStorageData]:
        return dict(self.storage.get_token_data_by_resource_server())

    def stored_authorizers(self) -> dict[Any, Any]:
        """Authorizers for every scope of the stored tokens that are still usable, and for
        every scope with dependencies the app requires of those servers (the app checks those
        dependencies against the user's consents before it hands out an authorizer)."""
        authorizers: dict[Any, Any] = {}
        for server, data in self.stored_tokens().items():
            scopes = data.scope.split()
            authorizer = self._authorizer_for(server, scopes, "stored tokens for %s are not usable (%s)")
            if authorizer is None:
                continue
            for scope in scopes:
                authorizers[scope] = authorizer
            for required in self.app.scope_requirements.get(server, []):
                if required.dependencies:
                    authorizers[required] = authorizer
        return authorizers

    def get_authorizers(self) -> dict[Any, Any]:
        """Gladier's question before each service call. A required scope with dependencies (a
        flow's run scope with its ``data_access`` consents) whose root scope a stored token
        holds is looked up again, so a consent given earlier is found without a login."""
        stored = self.stored_tokens()
        wanted: dict[str, list[Scope]] = defaultdict(list)
        for scope in self.required_scopes:
            if isinstance(scope, Scope) and scope.dependencies and scope not in self.authorizers:
                try:
                    server = resource_server_for(scope)
                except UnknownScopeError:
                    continue
                if server in stored and scope.scope_string in stored[server].scope.split():
                    wanted[server].append(scope)
        for server, scopes in wanted.items():
            authorizer = self._authorizer_for(server, [str(s) for s in scopes],
                                              "the stored login for %s lacks a consent (%s)")
            if authorizer is None:
                continue
            for scope in scopes:
                self.authorizers[scope] = authorizer
        return self.authorizers

    def _authorizer_for(self, server: str, scopes: list[str], unusable: str = "") -> GlobusAuthorizer | None:
        """``server``'s authorizer from the stored tokens once ``scopes`` are required of it (the
        app checks their consents); None when the tokens do not serve them, logged with the
        ``unusable`` format (server, error type) when given."""
        self._require(server, scopes)
        try:
            return self.app.get_authorizer(server)
        except TokenValidationError as exc:
            if unusable:
                log.info(unusable, server, type(exc).__name__)
            return None

    def _require(self, server: str, scopes: list[str]) -> None:
        held = {str(s) for s in self.app.scope_requirements.get(server, [])}
        new = [s for s in scopes if s not in held]
        if new:
            self.app.add_scope_requirements({server: new})

    def holds(self, scope: str | Scope) -> bool:
        """Whether the stored login serves ``scope``, dependencies included (Globus Auth's
        consents are asked); never logs in."""
        server = resource_server_for(scope)
        if server not in self.stored_tokens():
            return False
        return self._authorizer_for(server, [str(scope)]) is not None

    # -- logging in ---------------------------------------------------------------------

    def login_for_scopes(self, scopes: Iterable[str | Scope]) -> dict[str, Any]:
        """Log in for ``scopes`` and return authorizers by scope (Gladier's callback)."""
        by_server = scopes_by_resource_server(scopes)
        log.info("login for resource servers: %s", ", ".join(sorted(by_server)))
        for server, server_scopes in by_server.items():
            self._require(server, server_scopes)
        self.app.login(force=True)
        authorizers = self.stored_authorizers()
        for scope in scopes:
            authorizers[scope_key(scope)] = self.app.get_authorizer(resource_server_for(scope))
        return authorizers

    def ensure_login(self, scopes: Iterable[str | Scope], force: bool = False) -> bool:
        """Log in when any of ``scopes`` has no authorizer yet (or always with ``force``).

        :returns: True when a login took place.
        """
        wanted = [str(s) for s in scopes]
        missing = [s for s in wanted if scope_key(s) not in self.get_authorizers()]
        if not (force or missing):
            return False
        self.authorizers.update(self.login_for_scopes(wanted))
        return True

    # -- logging out and identity -------------------------------------------------------

    def logout(self) -> LogoutResult:
        """Revoke every stored token with Globus Auth and delete it from this machine.

        A token the server refuses to revoke (or cannot be reached for) is deleted locally
        anyway and reported in ``not_revoked``.
        """
        removed, not_revoked = [], []
        for server, data in self.stored_tokens().items():
            for token in (data.access_token, data.refresh_token):
                if not token:
                    continue
                try:
                    self.login_client.oauth2_revoke_token(token)
                except (globus_sdk.GlobusAPIError, globus_sdk.NetworkError) as exc:
                    log.warning("could not revoke a token for %s (%s)", server, type(exc).__name__)
                    if server not in not_revoked:
                        not_revoked.append(server)
            self.storage.remove_token_data(server)
            removed.append(server)
        self.authorizers.clear()
        if self.token_file is not None and self.token_file.exists() and not self.stored_tokens():
            self.token_file.unlink()
        return LogoutResult(removed, not_revoked, self.token_file or Path())

    def whoami(self) -> dict[str, Any]:
        """The logged-in identity from Globus Auth's userinfo (``sub``, ``preferred_username``,
        ``name``, ``email``, ``identity_set``).

        :raises NotLoggedIn: when no usable Auth token is stored.
        """
        server = globus_sdk.AuthClient.resource_server
        if server not in self.stored_tokens():
            raise NotLoggedIn("not logged in: run `tomocupy-gladier login`")
        try:
            authorizer = self.app.get_authorizer(server)
        except TokenValidationError:
            raise NotLoggedIn("the stored login has expired: run `tomocupy-gladier login`") from None
        auth = globus_sdk.AuthClient(authorizer=authorizer)
        return dict(auth.userinfo().data)


def _app_config(storage: TokenStorage) -> globus_sdk.GlobusAppConfig:
    # no token_validation_error_handler: a missing or stale token must not start an
    # interactive login behind Gladier's back; the login manager decides when to log in
    return globus_sdk.GlobusAppConfig(request_refresh_tokens=True, token_storage=storage,
                                      token_validation_error_handler=None)


def login_manager_for(client_id: str | None = None, *, environ: Mapping[str, str] | None = None,
                      token_file: str | os.PathLike[str] | None = None) -> AppLoginManager:
    """The login manager for the flows.

    Confidential client when ``GLADIER_CLIENT_ID``/``GLADIER_CLIENT_SECRET`` are set in
    ``environ`` (default ``os.environ``); otherwise a user login through the native client
    ``client_id`` (default: Gladier's public client). Tokens are kept in ``token_file``
    (default :func:`token_path`).
    """
    creds = credentials_from_env(client_id, environ)
    path = Path(token_file) if token_file else token_path(creds.client_id, environ)
    storage = PrivateJSONTokenStorage(path)
    login_client: Any
    app: globus_sdk.GlobusApp
    if creds.secret is not None:  # creds.confidential
        login_client = globus_sdk.ConfidentialAppAuthClient(creds.client_id, creds.secret)
        app = globus_sdk.ClientApp(APP_NAME, login_client=login_client, config=_app_config(storage))
    else:
        login_client = globus_sdk.NativeAppAuthClient(creds.client_id, app_name=APP_NAME)
        app = globus_sdk.UserApp(APP_NAME, login_client=login_client, config=_app_config(storage))
    log.debug("login manager: client %s, %s, tokens in %s", creds.client_id,
              "confidential" if creds.confidential else "user", path)
    return AppLoginManager(app, storage, login_client, creds, token_file=path)


# ---------------------------------------------------------------------------------------
# What the command line calls


def login(client_id: str | None = None, *, force: bool = False, extra_scopes: Iterable[str] = (),
          environ: Mapping[str, str] | None = None,
          collections: FlowCollections | None = None) -> AppLoginManager:
    """Log in for every scope the flows need: Flows, Compute, identity, plus the run scope of
    each flow already deployed from this machine (with the ``data_access`` consents of the
    ``collections`` each uses, see :func:`deployed_flow_scopes`). Nothing happens when all are
    already held, unless ``force``."""
    manager = login_manager_for(client_id, environ=environ)
    # Gladier names its id file after the confidential client, else after its public client
    # (whatever native client id logs in: TomocupyClient keeps the class default)
    gladier_id = manager.client_id if manager.confidential else DEFAULT_CLIENT_ID
    scopes = base_scopes() + deployed_flow_scopes(gladier_id, collections=collections) + list(extra_scopes)
    manager.ensure_login(scopes, force=force)
    return manager


def logout(client_id: str | None = None, *, environ: Mapping[str, str] | None = None) -> LogoutResult:
    """Revoke and delete the stored tokens."""
    return login_manager_for(client_id, environ=environ).logout()


def stored_identity(client_id: str | None = None, *, environ: Mapping[str, str] | None = None) -> str | None:
    """The identity id runs are started as, read from this machine alone (no login, no request,
    nothing written): a confidential client's own (a Globus Auth client identity has the client's
    id), else the one globus-sdk kept with the stored user tokens; None when not logged in."""
    creds = credentials_from_env(client_id, environ)
    if creds.confidential:
        return creds.client_id
    path = token_path(creds.client_id, environ)
    if not path.is_file():
        return None
    for data in JSONTokenStorage(path).get_token_data_by_resource_server().values():
        if data.identity_id:
            return str(data.identity_id)
    return None


def whoami(client_id: str | None = None, *, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The identity the stored tokens belong to."""
    return login_manager_for(client_id, environ=environ).whoami()
