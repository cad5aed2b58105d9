"""Gladier's Compute manager with a function serialization that is not deprecated.

Gladier 0.11 registers functions with globus-compute-sdk's ``DillCodeSource`` (its
``ComputeManager.get_serialization_strategy``), "deprecated since version 4.0.0; use
PureSourceDill instead" (globus-compute-sdk ``serialize/concretes.py``). ``PureSourceDill``
sends the function's source text itself (``dill.source.getsource``), with no pickling: what
Compute ships of our functions is exactly their source, which is what the shims are written for
(they import the endpoint library inside their bodies), and what the local backend's registry
keeps. ``AllCodeStrategies``, which ALCF's page suggests for serialization errors, also pickles
bytecode (``DillCode``), which depends on the Python version: not wanted here.

Gladier computes a function's checksum with ``ComputeManager.get_serialization_strategy()``
(named by class, not by instance), so the checksum is redefined too: a function's checksum is
the sha256 of what is registered. A deployment made with the old strategy sees every function's
checksum change once, and Gladier registers them again.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable

from gladier.managers import ComputeManager
from globus_compute_sdk.serialize import ComputeSerializer, PureSourceDill


class SourceComputeManager(ComputeManager):
    """A ``ComputeManager`` that registers (and checksums) functions as their source text."""

    @staticmethod
    def get_serialization_strategy() -> Any:
        return PureSourceDill()

    @staticmethod
    def get_compute_function_checksum(compute_function: Callable[..., Any]) -> str:
        serialized = ComputeSerializer(strategy_code=PureSourceDill()).serialize(compute_function)
        return hashlib.sha256(serialized.encode()).hexdigest()
