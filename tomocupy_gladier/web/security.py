"""Who may see the pages and which files may be sent.

The server binds the loopback interface unless told otherwise; any other address needs a
token, checked on every request (``?token=``, the ``X-Token`` header or the cookie set after a
first good ``?token=``). Files are sent only from folders a run recorded, never outside them.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
import secrets
from pathlib import Path

from tomocupy_gladier.errors import UserError

TOKEN_COOKIE = "tomocupy_gladier_token"
TOKEN_HEADER = "X-Token"


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def new_token() -> str:
    return secrets.token_urlsafe(24)


def check_binding(host: str, token: str | None) -> None:
    """Refuse to serve beyond this machine without a token."""
    if not is_loopback(host) and not token:
        raise UserError(f"--host {host} makes the pages reachable from other machines: "
                        "give --token TOKEN or --generate-token")


def token_matches(expected: str | None, *offered: str | None) -> bool:
    """True when no token is required, or one of ``offered`` is it (constant-time compare)."""
    if not expected:
        return True
    return any(o is not None and hmac.compare_digest(o.encode(), expected.encode()) for o in offered)


def contained_file(root: str | Path, name: str, suffixes: tuple[str, ...]) -> Path | None:
    """``root/name`` when it is an existing file inside ``root`` (links resolved) with one of
    ``suffixes``; None otherwise (``..``, absolute names, links out, other kinds of file)."""
    if not name or "\x00" in name or Path(name).is_absolute():
        return None
    base = Path(root).resolve()
    path = (base / name).resolve()
    if not path.is_relative_to(base) or path.suffix.lower() not in suffixes or not path.is_file():
        return None
    return path


ZARR_METADATA = (".zarray", ".zattrs", ".zgroup", ".zmetadata", "zarr.json")
_ZARR_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def zarr_file(root: str | Path, volume: str, name: str) -> Path | None:
    """The file ``name`` (a chunk or a metadata document) of the Zarr folder ``root/volume``, or
    None: ``volume`` is one name ending ``.zarr``; ``name``'s parts are chunk keys or the Zarr
    metadata names, never hidden files, ``..`` or links out of the volume."""
    if not _ZARR_PART.fullmatch(volume) or not volume.endswith(".zarr") or not name:
        return None
    parts = name.split("/")
    if not all(_ZARR_PART.fullmatch(p) or p in ZARR_METADATA for p in parts) or ".." in parts:
        return None
    base = (Path(root) / volume).resolve()
    if not base.is_relative_to(Path(root).resolve()):
        return None
    path = (base / name).resolve()
    return path if path.is_relative_to(base) and path.is_file() else None
