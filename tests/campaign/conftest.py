"""Fixtures for campaign tests: a fake Flows service on loopback and a ledger."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tomocupy_gladier.campaign.fake_service import FakeFlowsService
from tomocupy_gladier.campaign.globus_service import GlobusRunService
from tomocupy_gladier.campaign.ledger import Ledger

from .helpers import globus_service


@pytest.fixture
def fake_flows() -> Iterator[FakeFlowsService]:
    """A healthy fake Flows service; tests change ``.faults`` to make it misbehave."""
    with FakeFlowsService(run_seconds=0.05) as service:
        yield service


@pytest.fixture
def service(fake_flows: FakeFlowsService) -> GlobusRunService:
    return globus_service(fake_flows)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger(tmp_path / "campaign.sqlite") as led:
        yield led
