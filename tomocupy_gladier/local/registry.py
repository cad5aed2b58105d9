"""The local function registry: what "registering a function with Globus Compute" means here.

A function is kept as the exact source text Globus Compute ships (``dill.source.getsource``,
the code serialization Gladier uses), under an id derived from a checksum the client gives
(Gladier's function checksum, see :mod:`tomocupy_gladier.clients.gladier_local`): the same function
always gets the same id, a changed function a new one.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from typing import Callable, NamedTuple

from .sqlite import SQLiteFile
from .timestamps import now_iso

# Fixed namespace so that ids are stable across machines and state folders.
FUNCTION_NAMESPACE = uuid.UUID("5c4b8e0e-6a0f-4d53-9a57-2f1c7b4e8d11")


class RegisteredFunction(NamedTuple):
    function_id: str
    name: str
    source: str
    checksum: str


def function_id_for(checksum: str) -> str:
    """The deterministic function id of a function with this Gladier checksum."""
    return str(uuid.uuid5(FUNCTION_NAMESPACE, checksum))


def function_source(function: Callable) -> str:
    """The source text Globus Compute would ship for ``function``."""
    import dill.source  # a dependency of globus-compute-sdk

    return dill.source.getsource(function, lstrip=True)


class FunctionRegistry(SQLiteFile):
    """Registered functions in SQLite; safe to open from several processes."""

    def __init__(self, path: str | os.PathLike) -> None:
        super().__init__(path, "CREATE TABLE IF NOT EXISTS functions (function_id TEXT PRIMARY KEY, "
                         "name TEXT, source TEXT, checksum TEXT, registered_at TEXT)")

    def register_source(self, name: str, source: str, checksum: str) -> str:
        """Store ``source`` (defining a function ``name``); return its id."""
        function_id = function_id_for(checksum)
        self._query(
            "INSERT OR REPLACE INTO functions VALUES (?,?,?,?,?)",
            (function_id, name, source, checksum, now_iso()),
        )
        return function_id

    def register(self, function: Callable, checksum: str | None = None) -> str:
        """Register a Python function; ``checksum`` defaults to the sha256 of its source (a
        client may pass its own, e.g. Gladier's function checksum)."""
        source = function_source(function)
        if checksum is None:
            checksum = hashlib.sha256(source.encode()).hexdigest()
        return self.register_source(function.__name__, source, checksum)

    def get(self, function_id: str) -> RegisteredFunction | None:
        """The registered function, or None."""
        rows = self._query(
            "SELECT function_id, name, source, checksum FROM functions WHERE function_id=?",
            (str(function_id),),
        )
        return RegisteredFunction(*rows[0]) if rows else None

    def list(self) -> list[RegisteredFunction]:
        """Every registered function."""
        rows = self._query(
            "SELECT function_id, name, source, checksum FROM functions ORDER BY name"
        )
        return [RegisteredFunction(*r) for r in rows]
