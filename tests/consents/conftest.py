"""Fixtures of the consent tests: a desk with one person's case, and the audit events by type."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from gateway.audit.models import AuditEventRow
from gateway.bootstrap import Container
from tests.support import Desk, World

EventsOf = Callable[[str], list[dict[str, Any]]]


@pytest.fixture
def desk(client: TestClient, world: World) -> Desk:
    return Desk(client, world)


@pytest.fixture
def events_of(container: Container) -> EventsOf:
    """The audit events of one type, oldest first, as they were hashed."""

    def read(kind: str) -> list[dict[str, Any]]:
        with Session(container.engine) as session:
            rows = session.exec(
                select(AuditEventRow)
                .where(AuditEventRow.event_type == kind)
                .order_by(col(AuditEventRow.seq))
            ).all()
            return [json.loads(row.event) for row in rows]

    return read
