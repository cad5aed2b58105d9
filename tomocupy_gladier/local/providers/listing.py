"""Transfer's List Directory Contents (``ls``) and Stat action providers, served from local
folders.

``ls`` (docs.globus.org/api/transfer/action-providers/ls): ``endpoint_id``, ``path``, and the
Transfer API's listing options ``show_hidden`` (default true), ``limit``, ``offset``,
``orderby`` (``"name"``, ``"size DESC"``, ...; default by name), ``filter`` (``type:`` and
``name:`` clauses, ``/``-separated: ``type:dir,file/name:~*.h5``). ``details`` is the Transfer
API's ``file_list`` document: ``DATA`` (one ``file`` document per entry), ``path`` (the folder,
absolute, ending in ``/``), ``endpoint``, ``length`` (entries here), ``total`` (entries before
``limit``/``offset``). The retired provider at ``https://actions.globus.org/transfer/ls`` (shut
down 2025-01-22; the Flows docs' "Move (copy and delete) files" example uses it) added two
things, as the Flows docs of the time describe them: ``path_only`` (the listing holds the path
itself, not a folder's contents: one entry, or none when the path is not there, and ``path`` is
its folder) and ``is_folder`` on every entry.

``stat`` (docs.globus.org/api/transfer/action-providers/stat): ``endpoint_id``, ``path``;
``details`` is the ``file`` document of the path.

A path that is not there, not a folder (``ls``), outside the collection or on an unknown
collection fails the action with the Transfer API's error (``code``, ``message``: e.g.
``ClientError.NotFound``, ``ExternalError.DirListingFailed.NotDirectory``).
"""

from __future__ import annotations

import datetime
import fnmatch
import grp
import os
import pwd
import stat as stat_module
from pathlib import Path
from typing import Any, Callable

from ..actions import ActionRequest, ActionResult
from ..errors import InvalidRequest, request_object
from .transfer import TransferFault

Resolver = Callable[[str, str], Path]
LS_KEYS = {"endpoint_id", "path", "show_hidden", "limit", "offset", "orderby", "filter", "local_user"}
RETIRED_LS_KEYS = LS_KEYS | {"path_only"}
STAT_KEYS = {"endpoint_id", "path", "local_user"}
MAX_LIMIT = 100_000  # the Transfer API's largest (and default) listing page
ORDER_FIELDS = {"name", "type", "size", "last_modified", "permissions", "user", "group"}
FILTER_FIELDS = {"name", "type"}
TYPES = {"file", "dir", "invalid_symlink"}


class ListingError(Exception):
    """A Transfer API error of a listing: ``code`` and ``message`` as Transfer returns them."""

    def __init__(self, code: str, message: str, http_status: int) -> None:
        super().__init__(message)
        self.code, self.message, self.http_status = code, message, http_status

    def result(self, endpoint: str, path: str) -> ActionResult:
        return ActionResult("FAILED", {"code": self.code, "message": self.message,
                                       "http_status": self.http_status, "endpoint": endpoint,
                                       "path": path}, display_status=self.code)


def entry_path(resolve: Resolver, endpoint: str, path: str) -> Path:
    """The local path of the entry ``path`` names on collection ``endpoint`` (``/~/`` is the
    collection's root, as for transfers): its folder resolved inside the collection, its last
    part not followed when it is a link (a listing shows the link, a delete removes it)."""
    rel = path.strip("/")
    if rel == "~" or rel.startswith("~/"):
        rel = rel[1:].strip("/")
    parent, name = os.path.split(rel)
    if not name or name in (".", ".."):
        return resolve(endpoint, "/" + rel)
    return resolve(endpoint, "/" + parent) / name


class _Paths:
    """Globus paths of one collection, and their local paths (never outside its folder)."""

    def __init__(self, resolve: Resolver, endpoint: str) -> None:
        self.resolve, self.endpoint = resolve, endpoint
        try:
            self.root = resolve(endpoint, "/")
        except TransferFault as fault:
            raise _error(fault, endpoint, "/") from None

    def local(self, path: str) -> tuple[Path, str]:
        """(local path, normalised Globus path ``/a/b``) of ``path`` (:func:`entry_path`)."""
        try:
            local = entry_path(self.resolve, self.endpoint, path)
        except TransferFault as fault:
            raise _error(fault, self.endpoint, path) from None
        return local, self.globus(local)

    def globus(self, local: Path) -> str:
        rel = local.relative_to(self.root).as_posix() if local != self.root else ""
        return "/" + rel if rel not in ("", ".") else "/"

    def entry(self, local: Path, folder: bool = False) -> dict[str, Any]:
        """The Transfer API's ``file`` document of ``local`` (``folder``: add ``is_folder``)."""
        info = local.lstat()
        doc: dict[str, Any] = {"DATA_TYPE": "file", "group": _group(info.st_gid),
                               "last_modified": _time(info.st_mtime), "link_group": None,
                               "link_last_modified": None, "link_size": None, "link_target": None,
                               "link_user": None, "name": local.name or "/",
                               "permissions": f"{stat_module.S_IMODE(info.st_mode):04o}",
                               "size": info.st_size, "type": _kind(info.st_mode), "user": _user(info.st_uid)}
        if stat_module.S_ISLNK(info.st_mode):
            doc.update(link_group=doc["group"], link_last_modified=doc["last_modified"],
                       link_size=info.st_size, link_user=doc["user"], type="invalid_symlink")
            target = local.resolve()
            if target.exists() and (target == self.root or self.root in target.parents):
                # a link inside the collection reads as what it points at
                shown = target.stat()
                doc.update(link_target=self.globus(target), type=_kind(shown.st_mode), size=shown.st_size,
                           last_modified=_time(shown.st_mtime),
                           permissions=f"{stat_module.S_IMODE(shown.st_mode):04o}")
        if folder:
            doc["is_folder"] = doc["type"] == "dir"
        return doc


class LsProvider:
    """``ls`` on local collection folders (``retired``: the older provider's ``path_only`` and
    ``is_folder``); ``consent``: the ConsentGate of the collections' data_access consents, which
    a listing needs as a transfer does."""

    def __init__(self, resolve: Resolver, retired: bool = False, consent: Any = None) -> None:
        self.resolve, self.retired, self.consent = resolve, retired, consent

    def __call__(self, request: ActionRequest) -> ActionResult:
        body = request_object(request.body, RETIRED_LS_KEYS if self.retired else LS_KEYS, "an ls request")
        endpoint = body.get("endpoint_id")
        if not isinstance(endpoint, str) or not endpoint:
            raise InvalidRequest("endpoint_id is a required string")
        path = body.get("path", "/~/")
        if not isinstance(path, str) or not path:
            raise InvalidRequest("path must be a non-empty string")
        options = _options(body)
        if self.consent is not None:
            self.consent.wait(request, [endpoint])
        try:
            return ActionResult("SUCCEEDED", self._list(endpoint, path, options, bool(body.get("path_only"))))
        except ListingError as error:
            return error.result(endpoint, path)

    def _list(self, endpoint: str, path: str, options: dict, path_only: bool) -> dict[str, Any]:
        paths = _Paths(self.resolve, endpoint)
        local, shown = paths.local(path)
        if path_only:
            # the path itself, in its folder's listing (none when it is not there)
            folder = local.parent if local != paths.root else local
            if not folder.is_dir():
                raise ListingError("ClientError.NotFound", f"Path not found: {path}", 404)
            entries = [paths.entry(local, self.retired)] if os.path.lexists(local) else []
            return _file_list(endpoint, paths.globus(folder), entries, len(entries))
        if not os.path.lexists(local):
            raise ListingError("ClientError.NotFound", f"Path not found: {path} on {endpoint}", 404)
        if not local.is_dir():
            raise ListingError("ExternalError.DirListingFailed.NotDirectory",
                               f"Directory listing failed: {path} is not a directory", 502)
        names = sorted(os.listdir(local))
        if not options["show_hidden"]:
            names = [n for n in names if not n.startswith(".")]
        entries = [paths.entry(local / n, self.retired) for n in names]
        entries = [e for e in entries if _passes(e, options["filters"])]
        for field, descending in reversed(options["order"]):
            entries.sort(key=lambda e: (e[field] is None, e[field]), reverse=descending)
        page = entries[options["offset"]:options["offset"] + options["limit"]]
        return _file_list(endpoint, shown, page, len(entries))


class StatProvider:
    """``stat`` on local collection folders (``consent``: as for ``ls``)."""

    def __init__(self, resolve: Resolver, consent: Any = None) -> None:
        self.resolve, self.consent = resolve, consent

    def __call__(self, request: ActionRequest) -> ActionResult:
        body = request_object(request.body, STAT_KEYS, "a stat request")
        endpoint, path = body.get("endpoint_id"), body.get("path")
        if not isinstance(endpoint, str) or not endpoint or not isinstance(path, str) or not path:
            raise InvalidRequest("endpoint_id and path are required strings")
        if self.consent is not None:
            self.consent.wait(request, [endpoint])
        try:
            paths = _Paths(self.resolve, endpoint)
            local, _ = paths.local(path)
            if not os.path.lexists(local):
                raise ListingError("NotFound", f"Path not found: {path} on {endpoint}", 404)
            return ActionResult("SUCCEEDED", paths.entry(local))
        except ListingError as error:
            return error.result(endpoint, path)


def _file_list(endpoint: str, path: str, entries: list[dict], total: int) -> dict[str, Any]:
    return {"DATA": entries, "DATA_TYPE": "file_list", "absolute_path": None, "endpoint": endpoint,
            "length": len(entries), "path": path.rstrip("/") + "/", "rename_supported": True,
            "symlink_supported": True, "total": total}


def _options(body: dict) -> dict[str, Any]:
    show_hidden = body.get("show_hidden", True)
    limit, offset = body.get("limit", MAX_LIMIT), body.get("offset", 0)
    if not isinstance(show_hidden, bool):
        raise InvalidRequest("show_hidden must be a boolean")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= MAX_LIMIT:
        raise InvalidRequest(f"limit must be an integer from 0 to {MAX_LIMIT}")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidRequest("offset must be a non-negative integer")
    return {"show_hidden": show_hidden, "limit": limit, "offset": offset,
            "order": _order(body.get("orderby", "name")), "filters": _filters(body.get("filter"))}


def _order(orderby: Any) -> list[tuple[str, bool]]:
    clauses = [orderby] if isinstance(orderby, str) else orderby
    if not isinstance(clauses, list) or not all(isinstance(c, str) for c in clauses):
        raise InvalidRequest("orderby must be a string or a list of strings")
    order = []
    for clause in clauses:
        words = clause.split()
        if not words or len(words) > 2 or words[0] not in ORDER_FIELDS or \
                (len(words) == 2 and words[1].upper() not in ("ASC", "DESC")):
            raise InvalidRequest(f"orderby {clause!r}: a field of {sorted(ORDER_FIELDS)}, then ASC or DESC")
        order.append((words[0], len(words) == 2 and words[1].upper() == "DESC"))
    return order


def _filters(given: Any) -> list[tuple[str, Any]]:
    """The ``filter`` clauses (``field:value``, ``/``-separated, several strings for several
    params) as ``(test, value)``: ``type:`` a comma list of types; ``name:`` ``=exact``,
    ``~glob`` or an exact name. Other fields are refused (this local listing does not model them)."""
    if given is None:
        return []
    texts = [given] if isinstance(given, str) else given
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise InvalidRequest("filter must be a string or a list of strings")
    clauses: list[tuple[str, Any]] = []
    for text in texts:
        for clause in filter(None, text.split("/")):
            field, _, value = clause.partition(":")
            if field not in FILTER_FIELDS or not value:
                raise InvalidRequest(f"filter {clause!r}: the local ls filters on {sorted(FILTER_FIELDS)} only")
            if field == "type":
                kinds = set(value.split(","))
                if kinds - TYPES:
                    raise InvalidRequest(f"filter {clause!r}: types are {sorted(TYPES)}")
                clauses.append(("type", kinds))
            elif value.startswith("~"):
                clauses.append(("glob", value[1:]))
            else:
                clauses.append(("name", value.removeprefix("=")))
    return clauses


def _passes(entry: dict, clauses: list[tuple[str, Any]]) -> bool:
    for test, value in clauses:
        if test == "type" and entry["type"] not in value:
            return False
        if test == "glob" and not fnmatch.fnmatchcase(entry["name"], value):
            return False
        if test == "name" and entry["name"] != value:
            return False
    return True


def _error(fault: TransferFault, endpoint: str, path: str) -> ListingError:
    if fault.code == "ENDPOINT_NOT_FOUND":
        return ListingError("ClientError.NotFound", fault.description, 404)
    if fault.code == "PERMISSION_DENIED":
        return ListingError("EndpointPermissionDenied", f"Denied by endpoint: {fault.description}", 403)
    return ListingError("ClientError.BadRequest", f"{path!r} on {endpoint}: {fault.description}", 400)


def _kind(mode: int) -> str:
    return "dir" if stat_module.S_ISDIR(mode) else "file"


def _time(seconds: float) -> str:
    """Transfer's ``last_modified``: ``2022-01-06 16:23:33+00:00``."""
    return datetime.datetime.fromtimestamp(int(seconds), datetime.timezone.utc).isoformat(sep=" ")


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)
