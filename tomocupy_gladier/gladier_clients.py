"""Instantiating any Gladier client with its id storage in a file of our choice.

Gladier keeps a client's flow id, function ids and checksums in ``~/.gladier/<client>.cfg``
unless the class names ``secret_config_filename``. The local backend, the offline
definition/schema commands and tests each need their own file, for clients decorated with
``@generate_flow_definition`` (whose class hides behind a wrapper function) or not.
"""

from __future__ import annotations

import os
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
