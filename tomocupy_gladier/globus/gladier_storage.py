"""Instantiating any Gladier client with its id storage in a file of our choice.

Gladier keeps a client's flow id, function ids and checksums in ``~/.gladier/<client>.cfg``
unless the class names ``secret_config_filename``. The local backend, the offline
definition/schema commands and tests each need their own file, for clients decorated with
``@generate_flow_definition`` (whose class hides behind a wrapper function) or not.
"""

from __future__ import annotations

import os
import pathlib
import typing as t


def decorated_parts(client_cls: t.Any) -> tuple[type, dict | None]:
    """The class behind a ``@generate_flow_definition`` client and the decorator's modifiers
    (None when ``client_cls`` is a plain class)."""
    inner = getattr(client_cls, "__wrapped__", None)
    if inner is None or not isinstance(inner, type):
        return client_cls, None
    # The decorator's wrapper closes over (cls, modifiers); read them back rather than
    # re-implementing its flow generation.
    cells = dict(zip(client_cls.__code__.co_freevars, client_cls.__closure__ or ()))
    modifiers = cells["modifiers"].cell_contents if "modifiers" in cells else {}
    return inner, modifiers


def client_with_storage(client_cls: t.Any, storage_file: str | os.PathLike[str], **client_kwargs: t.Any):
    """An instance of ``client_cls`` whose Gladier storage is ``storage_file``.

    The subclass keeps the class name, so Gladier's storage section (snake_case of the name)
    and the flow title are unchanged; a decorated client gets its flow definition generated
    with the decorator's modifiers, as the decorator would.
    """
    from gladier.utils.flow_generation import combine_tool_flows

    inner, modifiers = decorated_parts(client_cls)
    stored_cls = type(inner.__name__, (inner,), {
        "secret_config_filename": str(storage_file),
        "__module__": inner.__module__,
        "__doc__": inner.__doc__,
    })
    client = stored_cls(**client_kwargs)
    if modifiers is not None:
        client.flow_definition = combine_tool_flows(client, modifiers)
    return client


def _locked_secrets_config() -> type:
    """Gladier's id and token storage made safe for runs that start at the same time.

    Gladier rewrites its INI file in place on every change, so two processes (two scans
    finishing together, a watcher and a person) could interleave their writes and leave a
    file Gladier can no longer read. Here every read-change-write holds an flock on
    ``<file>.lock`` and the file is replaced whole through a temporary.
    """
    import contextlib
    import fcntl
    import threading

    from gladier.storage.tokens import GladierSecretsConfig

    class Locked(GladierSecretsConfig):
        def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
            self._held = threading.local()
            super().__init__(*args, **kwargs)

        @contextlib.contextmanager
        def _exclusive(self) -> t.Iterator[None]:
            if getattr(self._held, "depth", 0):  # already held by this thread: load() in set_value()
                self._held.depth += 1
                try:
                    yield
                finally:
                    self._held.depth -= 1
                return
            with open(f"{self.filename}.lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                self._held.depth = 1
                try:
                    yield
                finally:
                    self._held.depth = 0

        def load(self) -> None:
            with self._exclusive():
                super().load()

        def save(self) -> None:
            with self._exclusive():
                tmp = f"{self.filename}.{os.getpid()}.{threading.get_ident()}.tmp"
                with open(tmp, "w") as fh:
                    self.write(fh)
                os.chmod(tmp, self.DEFAULT_PERMISSION)
                os.replace(tmp, self.filename)

        def get_value(self, name: str) -> t.Any:
            with self._exclusive():
                return super().get_value(name)

        def set_value(self, name: str, value: str) -> None:
            with self._exclusive():
                super().set_value(name, value)

        def del_value(self, name: str) -> None:
            with self._exclusive():
                super().del_value(name)

        def write_tokens(self, tokens: t.Any) -> None:
            with self._exclusive():
                super().write_tokens(tokens)

        def read_tokens(self) -> t.Any:
            with self._exclusive():
                return super().read_tokens()

        def clear_tokens(self) -> None:
            with self._exclusive():
                super().clear_tokens()

    Locked.__name__ = Locked.__qualname__ = "LockedSecretsConfig"
    return Locked


def storage_client_id(client: t.Any) -> str:
    """The client id Gladier names a client's storage after: ``GLADIER_CLIENT_ID`` when set
    (a confidential client), else the class's own (Gladier's ``_determine_storage``)."""
    return os.getenv("GLADIER_CLIENT_ID") or client.client_id


def storage_file(client: t.Any) -> pathlib.Path:
    """The file Gladier keeps ``client``'s ids in (a class or an instance, decorated or not):
    its ``secret_config_filename``, else ``~/.gladier/<storage client id>.cfg``."""
    inner: t.Any = decorated_parts(client)[0]
    if inner.secret_config_filename:
        return pathlib.Path(inner.secret_config_filename)
    return pathlib.Path(f"~/.gladier/{storage_client_id(inner)}.cfg").expanduser()


def locked_storage(client: t.Any) -> t.Any:
    """The storage Gladier would give ``client`` (same file and sections), made safe for
    concurrent runs (see :func:`_locked_secrets_config`)."""
    from gladier.utils.name_generation import get_snake_case

    filename = storage_file(client)
    if not client.secret_config_filename:
        filename.parent.mkdir(exist_ok=True)  # ~/.gladier, as Gladier makes it
    return _locked_secrets_config()(filename, get_snake_case(client.__class__.__name__),
                                    tokens_section=f"tokens_{storage_client_id(client)}")
